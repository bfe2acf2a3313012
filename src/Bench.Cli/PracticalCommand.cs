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
        var model = new Option<string>("--model") { Description = "the model beside the rig", DefaultValueFactory = _ => "hh" };
        var param = new Option<string[]>("--param") { Description = "a model parameter, name=value (repeatable)" };
        var rigParam = new Option<string[]>("--rig-param") { Description = "with the emulated rig: its preparation's parameter, name=value (repeatable; e.g. gNa=80 for a preparation unlike the model)" };
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
            var (descriptor, parameters) = ComparisonOutput.Model("practical", null, parse.GetValue(model), parse.GetValue(param) ?? []);
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
            RigConnection rig;
            try
            {
                rig = await RigConnection.OpenAsync(address, new RigConnectOptions
                {
                    SampleRateHz = parse.GetValue(rate),
                    Emulator = new EmulatorOptions { Parameters = rigParameters },
                    Logger = new TextWriterLogger(error, "practical"),
                }, cancellationToken);
            }
            catch (Exception e) when (e is RigConnectionException or TimeoutException or RigCommandRefusedException or IOException or ArgumentException)
            {
                throw new UserErrorException($"practical: {e.Message}");
            }

            await using (rig)
            {
                var session = rig.Session;
                double perCode = session.NanoampsPerCode(0);
                await using var rigBench = await RigTrialBench.StartAsync(rig, cancellationToken);
                var modelBench = new ModelTrialBench(descriptor, parameters, session.Device, session.PeriodTicks, perCode, areaUm2);
                double cm = descriptor.Resolve(parameters).TryGetValue("Cm", out double c) ? c : 1;
                var runner = new PracticalRunner(rigBench, modelBench, perCode, 1e5 / areaUm2 / cm, line => error.WriteLine($"bench: {line}"));
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
                    address == RigConnection.EmulatedAddress ? $"emulated rig {Describe(rigParameters)}" : $"{session.Device.Board} {session.Device.UniqueId:x16} on {address}",
                    string.Create(CultureInfo.InvariantCulture, $"{rig.Calibration.MillivoltsPerCount:G6} mV/count, offset {rig.Calibration.OffsetMv:G6} mV ({rig.CalibrationSource})"),
                    $"{descriptor.Name} {Describe(parameters)}", DateTimeOffset.UtcNow);
                string worksheet = Worksheet.Write(directory, practical, header, steps);
                output.WriteLine(new JsonObject
                {
                    ["practical"] = practical.Name, ["results"] = Worksheet.Results(steps), ["worksheet"] = worksheet, ["trials"] = runner.Trials,
                }.ToJsonString());
                return 0;
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

    private static string Describe(Dictionary<string, double> parameters) =>
        parameters.Count == 0 ? "(defaults)" : "(" + string.Join(", ", parameters.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key}={p.Value}"))) + ")";
}
