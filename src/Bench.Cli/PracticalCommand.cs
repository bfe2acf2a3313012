using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Bench.Core.Stimulus;
using Bench.Rig.Emulation;
using Bench.Rig.Session;
using Bench.Rig.Transports;
using Bench.Service.Pipeline;
using Bench.Service.Practicals;

namespace Bench.Cli;

/// <summary>
/// <c>bench practical list | show NAME | validate FILE | run NAME|FILE</c>: guided lab practicals, each step run on the rig
/// and on the model side by side, written as a worksheet (HTML and CSV). The last line of <c>run</c> is JSON:
/// <c>{"practical", "results", "worksheet"}</c>.
/// </summary>
internal static class PracticalCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var list = new Command("list", "The built-in practicals");
        list.SetAction(_ =>
        {
            foreach (string name in PracticalFile.BuiltInNames) output.WriteLine($"{name,-20} {PracticalFile.Load(name).Title}");
            return 0;
        });

        var showName = new Argument<string>("name") { Description = "a built-in practical" };
        var show = new Command("show", "Print a built-in practical's file, to copy and change") { showName };
        show.SetAction(parse =>
        {
            try
            {
                output.Write(PracticalFile.BuiltInText(parse.GetValue(showName)!));
            }
            catch (ArgumentException e)
            {
                throw new UserErrorException($"practical: {e.Message}");
            }

            return 0;
        });

        var validateFile = new Argument<FileInfo>("file") { Description = "a practical file (YAML or JSON)" };
        var validate = new Command("validate", "Check a practical file against its schema") { validateFile };
        validate.SetAction(parse =>
        {
            var practical = Load(parse.GetValue(validateFile)!.FullName);
            output.WriteLine($"{parse.GetValue(validateFile)!.Name}: valid: {practical.Name}, {practical.Steps.Count} step(s)");
            return 0;
        });

        var which = new Argument<string>("practical") { Description = "a built-in practical's name (bench practical list), or a practical file" };
        var port = new Option<string>("--port") { Description = "the rig (default: the emulated rig)", DefaultValueFactory = _ => RigConnection.EmulatedAddress };
        var model = new Option<string?>("--model") { Description = "the model beside the rig (default: the one the practical names, else hh)" };
        var param = new Option<string[]>("--param") { Description = "a model parameter, name=value (repeatable)" };
        var rigParam = new Option<string[]>("--rig-param") { Description = "with the emulated rig, whose preparation is the --model: its parameter, name=value (repeatable; e.g. gNa=80 for a preparation unlike the model)" };
        var area = new Option<double?>("--area-um2") { Description = "membrane area the stimulus current spreads over (µm²; the emulated rig's: 1000000)" };
        var outDir = new Option<DirectoryInfo?>("--out") { Description = "where the worksheet goes (default: ./<practical>-worksheet)" };
        var student = new Option<string?>("--student") { Description = "the student's name, for the worksheet" };
        var rate = new Option<double>("--rate") { Description = "sample rate (Hz)", DefaultValueFactory = _ => 20_000 };
        var run = new Command("run", "Run a practical on the rig and the model, unattended, and write its worksheet")
        {
            which, port, model, param, rigParam, area, outDir, student, rate,
        };
        run.SetAction(async (parse, cancellationToken) =>
        {
            var practical = Load(parse.GetValue(which)!);
            var (descriptor, parameters) = ComparisonOutput.Model("practical", null, parse.GetValue(model) ?? practical.Model ?? "hh", parse.GetValue(param) ?? []);
            double areaUm2 = ComparisonOutput.Area("practical", parse.GetValue(area), null);
            string address = parse.GetValue(port)!;
            var rigParameters = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (string text in parse.GetValue(rigParam) ?? [])
            {
                if (address != RigConnection.EmulatedAddress) throw new UserErrorException("practical: --rig-param sets the emulated rig's preparation: use it with --port emulated");
                try
                {
                    var (k, v) = Bench.Core.Models.ModelCatalog.ParseAssignment(text);
                    rigParameters[k] = v;
                }
                catch (ArgumentException e)
                {
                    throw new UserErrorException($"practical: --rig-param {e.Message}");
                }
            }

            string directory = parse.GetValue(outDir)?.FullName ?? Path.GetFullPath($"{practical.Name}-worksheet");
            // Every condition a step applies must be a valid set of the model's parameters, before anything runs.
            foreach (var step in practical.Steps)
            {
                var conditions = step.Run switch { ConditionSeries c => c.Conditions, RestingSeries r => r.Conditions, _ => [] };
                foreach (var condition in conditions)
                {
                    try
                    {
                        descriptor.Resolve(ParameterSet.With(parameters, condition.Parameters));
                    }
                    catch (ArgumentException e)
                    {
                        throw new UserErrorException($"practical: step {step.Id}, condition {condition.Id}: {e.Message}");
                    }
                }
            }

            RigConnectOptions Options(Dictionary<string, double> preparation) => new()
            {
                SampleRateHz = parse.GetValue(rate),
                Emulator = new EmulatorOptions { Model = descriptor.Name, Parameters = preparation },
                Logger = new TextWriterLogger(error, "practical"),
            };
            RigConnection rig;
            try
            {
                rig = await RigConnection.OpenAsync(address, Options(rigParameters), cancellationToken);
            }
            catch (Exception e) when (e is RigConnectionException or TimeoutException or RigCommandRefusedException or IOException or ArgumentException)
            {
                throw new UserErrorException($"practical: {e.Message}");
            }

            var session = rig.Session;
            var device = session.Device;
            if (device.Outputs.Count == 0)
            {
                await rig.DisposeAsync();
                throw new UserErrorException($"practical: {device.Board} on {address} has no stimulus output: a practical stimulates, so it needs a rig that can");
            }

            uint periodTicks = session.PeriodTicks;
            double perCode = session.NanoampsPerCode(0);
            var calibration = rig.Calibration;
            string calibrationSource = rig.CalibrationSource;
            RigTrialBench? rigBench = null;
            try
            {
                rigBench = await RigTrialBench.StartAsync(rig, cancellationToken);
                var modelBench = new ModelTrialBench(descriptor, parameters, device, periodTicks, perCode, areaUm2);
                double cm = descriptor.Resolve(parameters).TryGetValue("Cm", out double c) ? c : 1;
                Directory.CreateDirectory(directory);
                var recordings = new List<string>();
                Task Record(string stem)
                {
                    // Each step's (or condition's) trials on the rig, as an NWB file beside the worksheet (replacing an earlier run's).
                    string nwb = Path.Combine(directory, $"{stem}.nwb");
                    File.Delete(nwb);
                    File.Delete(nwb + ".journal");
                    return rigBench.BeginRecordingAsync(nwb, cancellationToken);
                }

                async Task EndRecording()
                {
                    if (await rigBench.EndRecordingAsync() is { } written) recordings.Add(written);
                }

                PracticalRunner? runner = null;
                runner = new PracticalRunner(rigBench, modelBench, perCode, 1e5 / areaUm2 / cm, line => error.WriteLine($"bench: {line}"))
                {
                    ModelAlone = ModelTrialBench.OnIdealRig(descriptor, parameters, areaUm2),
                    ModelInfo = (descriptor, parameters),
                    // A step under conditions is recorded condition by condition (each on its own preparation).
                    // A step on the model alone has nothing of the rig's to keep.
                    BeforeStep = step => step.Run is ConditionSeries or RestingSeries || runner!.StepOnModelAlone ? Task.CompletedTask : Record($"{practical.Name}-{step.Id}"),
                    AfterStep = _ => EndRecording(),
                    // A condition changes the model's parameters, and the emulated preparation's by starting it again with them;
                    // a real rig's preparation cannot be changed unattended (null: the step runs on the model alone).
                    ApplyCondition = async (step, id, changes, ct) =>
                    {
                        var model = new ModelTrialBench(descriptor, ParameterSet.With(parameters, changes), device, periodTicks, perCode, areaUm2);
                        if (address != RigConnection.EmulatedAddress) return (null, model);
                        await EndRecording();
                        var (oldBench, oldRig) = (rigBench, rig);
                        rigBench = null;   // the finally below must not dispose these twice
                        await oldBench.DisposeAsync();
                        await oldRig.DisposeAsync();
                        try
                        {
                            rig = await RigConnection.OpenAsync(address, Options(ParameterSet.With(rigParameters, changes)), ct);
                        }
                        catch (Exception e) when (e is RigConnectionException or TimeoutException or RigCommandRefusedException or IOException or ArgumentException)
                        {
                            throw new InvalidOperationException($"step {step.Id}: the emulated preparation could not be started with condition '{id}': {e.Message}", e);
                        }

                        rigBench = await RigTrialBench.StartAsync(rig, ct);
                        if (id.Length > 0) await Record($"{practical.Name}-{step.Id}-{id}");
                        return (rigBench, model);
                    },
                };
                IReadOnlyList<StepResult> steps;
                try
                {
                    steps = await runner.RunAsync(practical, cancellationToken);
                }
                catch (Exception e) when (e is InvalidOperationException or StimulusProtocolException)
                {
                    throw new UserErrorException($"practical: {e.Message}");
                }

                var header = new WorksheetHeader(parse.GetValue(student) ?? "",
                    address == RigConnection.EmulatedAddress ? $"emulated rig {ParameterSet.Describe(rigParameters)}" : $"{device.Board} {device.UniqueId:x16} on {address}",
                    string.Create(CultureInfo.InvariantCulture, $"{calibration.MillivoltsPerCount:G6} mV/count, offset {calibration.OffsetMv:G6} mV ({calibrationSource})"),
                    $"{descriptor.Name} {ParameterSet.Describe(parameters)}", DateTimeOffset.UtcNow);
                string worksheet = Worksheet.Write(directory, practical, header, steps);
                output.WriteLine(new JsonObject
                {
                    ["practical"] = practical.Name, ["results"] = Worksheet.Results(steps), ["worksheet"] = worksheet, ["trials"] = runner.Trials,
                    ["recordings"] = new JsonArray([.. recordings.Select(r => (JsonNode)r)]),
                }.ToJsonString());
                return 0;
            }
            finally
            {
                if (rigBench is not null) await rigBench.DisposeAsync();
                await rig.DisposeAsync();
            }
        });

        return new Command("practical", "Guided lab practicals: each step on the rig and on the model, with a worksheet") { list, show, validate, run };
    }


    private static Practical Load(string nameOrPath)
    {
        try
        {
            return PracticalFile.Load(nameOrPath);
        }
        catch (Exception e) when (e is PracticalFormatException or ArgumentException)
        {
            throw new UserErrorException($"practical: {e.Message}");
        }
    }

}
