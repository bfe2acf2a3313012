using System.Globalization;
using System.Text.Json.Nodes;
using Bench.Core.Models;
using Bench.Rig.Transports;
using Bench.Service.Pipeline;

namespace Bench.Service.Practicals;

/// <summary>
/// The page's practical: one practical open at a time, its steps run one at a time (in any order, again if wanted) on
/// the connected rig's own pipeline and on the model, each table filled as its rows are measured (the live stream's
/// <c>practical</c> event), the student's answers kept, and the worksheet written on request beside each step's NWB
/// recording in <c>&lt;data&gt;/practicals/&lt;practical&gt;-&lt;time&gt;/</c>. While a step runs, the page's own
/// stimuli, recordings and changes to the rig are refused (they would fall into its trials).
/// </summary>
public sealed class PracticalSession : IAsyncDisposable
{
    private readonly RigHost host;
    private readonly LiveHub hub;
    private readonly TimeProvider time;
    private readonly object gate = new();
    private Practical? practical;
    private string student = "";
    private string? directory;
    private readonly Dictionary<string, StepResult> results = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<TableRow>> rows = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> failures = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> answers = new(StringComparer.Ordinal);
    private string? running;
    private string? progress;
    private CancellationTokenSource? cancel;
    private Task runTask = Task.CompletedTask;
    private string? worksheet;
    private long revision;

    /// <summary>The longest answer kept (a paragraph or two); a longer one is refused.</summary>
    public const int MaxAnswerChars = 4000;

    /// <summary>A session over <paramref name="host"/>'s rig, publishing through <paramref name="hub"/>.</summary>
    public PracticalSession(RigHost host, LiveHub hub, TimeProvider? time = null)
    {
        this.host = host;
        this.hub = hub;
        this.time = time ?? TimeProvider.System;
    }

    /// <summary>The built-in practicals: name, title and number of steps.</summary>
    public static IReadOnlyList<PracticalSummary> List() =>
        [.. PracticalFile.BuiltInNames.Select(n => PracticalFile.Load(n)).Select(p => new PracticalSummary(p.Name, p.Title, p.Steps.Count))];

    /// <summary>The practical open now, its steps' tables and results, and the answers.</summary>
    public PracticalView View()
    {
        lock (gate)
        {
            // Taken under the gate: a later view has a higher revision, so a page can drop a stale answer that arrives late.
            long taken = ++revision;
            if (practical is not { } p) return new PracticalView(null, null, null, student, [], null, null, null, new Dictionary<string, string>(), new JsonObject(), taken);
            var steps = p.Steps.Select(s =>
            {
                var (x, y) = PracticalRunner.Axes(s.Run);
                results.TryGetValue(s.Id, out var result);
                var table = result?.Rows ?? (rows.TryGetValue(s.Id, out var live) ? live : []);
                string state = running == s.Id ? "running" : failures.ContainsKey(s.Id) ? "failed" : result is not null ? "done" : "pending";
                return new PracticalStepView(s.Id, s.Text, Kind(s.Run), s.Questions, state, failures.GetValueOrDefault(s.Id), x, y,
                    [.. table.Select(RowView.From)],
                    result is null ? [] : [.. result.Results.Select(r => ResultView.From(r.Key, r.Value.Rig, r.Value.Model))],
                    result?.Method);
            }).ToList();
            return new PracticalView(p.Name, p.Title, p.Intro, student, steps, running, progress, worksheet is null ? null : Path.GetFileName(worksheet),
                new Dictionary<string, string>(answers), Worksheet.Results([.. results.Values]), taken);
        }
    }

    /// <summary>
    /// Opens a built-in practical (<paramref name="name"/>) or a teacher's file given as text (<paramref name="text"/>,
    /// YAML or JSON): its steps are listed, none run yet. The practical open before is let go (its worksheet, if
    /// written, stays in its folder).
    /// </summary>
    /// <exception cref="ArgumentException">Neither or both given, or no built-in of that name.</exception>
    /// <exception cref="PracticalFormatException">The file breaks a rule (the message names the line).</exception>
    /// <exception cref="InvalidOperationException">A step runs.</exception>
    public PracticalView Open(string? name, string? text, string? studentName)
    {
        if (string.IsNullOrWhiteSpace(name) == string.IsNullOrWhiteSpace(text)) throw new ArgumentException("give name (a built-in practical: GET /api/practicals) or text (a practical file's YAML or JSON), not both");
        // By name only a built-in (a name is never taken as a path on the service's disk).
        var opened = name is not null
            ? PracticalFile.BuiltInNames.Contains(name) ? PracticalFile.Load(name) : throw new ArgumentException($"no built-in practical '{name}': {string.Join(", ", PracticalFile.BuiltInNames)}")
            : PracticalFile.Parse(text!, "the practical file");
        string who = CheckStudent(studentName);
        lock (gate)
        {
            if (running is { } step) throw new InvalidOperationException($"step {step} of {practical!.Name} is running: wait for it to finish, or cancel it");
            practical = opened;
            student = who;
            directory = Path.Combine(host.Options.DataDirectory, "practicals",
                $"{opened.Name}-{time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}");
            results.Clear();
            rows.Clear();
            failures.Clear();
            answers.Clear();
            worksheet = null;
            progress = null;
        }

        return Publish();
    }

    /// <summary>Sets the student's name and answers (keys <c>step/question</c>, questions counted from 0); an empty answer removes it.</summary>
    /// <exception cref="ArgumentException">A key names no question of the practical, or an answer is too long.</exception>
    /// <exception cref="InvalidOperationException">No practical is open.</exception>
    public PracticalView Answer(string? studentName, IReadOnlyDictionary<string, string>? given)
    {
        lock (gate)
        {
            var p = practical ?? throw new InvalidOperationException("no practical is open: open one first (POST /api/practical)");
            var valid = p.Steps.SelectMany(s => s.Questions.Select((_, i) => Worksheet.AnswerKey(s.Id, i))).ToHashSet(StringComparer.Ordinal);
            foreach (var (key, value) in given ?? new Dictionary<string, string>())
            {
                if (!valid.Contains(key)) throw new ArgumentException($"'{key}' is no question of {p.Name}: the keys are {string.Join(", ", valid)}");
                if (value.Length > MaxAnswerChars) throw new ArgumentException($"the answer to {key} is {value.Length} characters: at most {MaxAnswerChars}");
            }

            if (studentName is not null) student = CheckStudent(studentName);
            foreach (var (key, value) in given ?? new Dictionary<string, string>())
            {
                if (string.IsNullOrWhiteSpace(value)) answers.Remove(key);
                else answers[key] = value;
            }
        }

        return Publish();
    }

    /// <summary>
    /// Starts step <paramref name="stepId"/> on the rig and the model (it runs in the background: its rows arrive as
    /// <c>practical</c> events, and the view says when it is done or why it failed).
    /// </summary>
    /// <exception cref="InvalidOperationException">No practical open, another step runs, no rig acquiring, no model, or the page records.</exception>
    /// <exception cref="ArgumentException">No such step.</exception>
    public PracticalView Run(string stepId)
    {
        string model = host.Options.Model ?? throw new InvalidOperationException("the service runs without a model (--model none): a practical compares the rig with a model; start it with --model");
        PracticalStep step;
        Practical p;
        lock (gate)
        {
            p = practical ?? throw new InvalidOperationException("no practical is open: open one first (POST /api/practical)");
            step = p.Steps.FirstOrDefault(s => s.Id == stepId) ?? throw new ArgumentException($"{p.Name} has no step '{stepId}': its steps are {string.Join(", ", p.Steps.Select(s => s.Id))}");
            if (running is { } other) throw new InvalidOperationException($"step {other} is running: wait for it to finish, or cancel it");
            var connection = host.LiveConnection ?? throw new InvalidOperationException("no rig is acquiring: connect one (the rig panel) and run the step again");
            if (connection.Rig.Session.Device.Outputs.Count == 0) throw new InvalidOperationException($"{connection.Rig.Session.Device.Board} has no stimulus output: a practical stimulates, so it needs a rig that can");
            var mark = host.BeginPracticalStep($"practical {p.Name}, step {step.Id},");
            running = step.Id;
            progress = $"step {step.Id}: starting";
            failures.Remove(step.Id);
            results.Remove(step.Id);
            rows[step.Id] = [];
            cancel = new CancellationTokenSource();
            var token = cancel.Token;
            runTask = Task.Run(async () =>
            {
                try
                {
                    using (mark)
                    {
                        await RunStepAsync(p, step, model, connection, token).ConfigureAwait(false);
                    }
                }
                finally
                {
                    // Only once the rig is the page's again: a view that says "done" means Play is accepted.
                    lock (gate)
                    {
                        running = null;
                        cancel?.Dispose();
                        cancel = null;
                    }

                    Publish();
                }
            });
        }

        return Publish();
    }

    /// <summary>Cancels the step running, if any, and waits for it to stop (the rig is left as it was before the step).</summary>
    public async Task<PracticalView> CancelAsync()
    {
        Task task;
        lock (gate)
        {
            cancel?.Cancel();
            task = runTask;
        }

        await task.ConfigureAwait(false);
        return View();
    }

    /// <summary>
    /// Writes the worksheet (HTML with its figures inline, and each step's table as CSV) into the practical's folder
    /// beside the steps' NWB recordings; steps not run are listed as such. Returns the view with its file name.
    /// </summary>
    /// <exception cref="InvalidOperationException">No practical open, or a step runs.</exception>
    public PracticalView Export()
    {
        lock (gate)
        {
            var p = practical ?? throw new InvalidOperationException("no practical is open: open one first (POST /api/practical)");
            if (running is { } step) throw new InvalidOperationException($"step {step} is running: export when it is done");
            var rigStatus = host.Status;
            string rig = rigStatus.Address is null ? "no rig connected" :
                rigStatus.Address == RigConnection.EmulatedAddress ? $"emulated rig {ParameterSet.Describe(host.Emulator.Parameters)}" : $"{rigStatus.Device?.Board} {rigStatus.Device?.UniqueId} on {rigStatus.Address}";
            string calibration = rigStatus.Calibration is { } c
                ? string.Create(CultureInfo.InvariantCulture, $"{c.MvPerCount:G6} mV/count, offset {c.OffsetMv:G6} mV ({c.Source})") : "—";
            var header = new WorksheetHeader(student, rig, calibration, $"{host.Options.Model} {ParameterSet.Describe(host.ModelParameters)}", time.GetUtcNow());
            var ordered = p.Steps.Where(s => results.ContainsKey(s.Id)).Select(s => results[s.Id]).ToList();
            worksheet = Worksheet.Write(directory!, p, header, ordered, answers);
        }

        return Publish();
    }

    /// <summary>A file of the open practical's folder (the worksheet, a table, a step's recording), or null.</summary>
    public string? File(string name)
    {
        lock (gate)
        {
            if (directory is null || name.Contains('/', StringComparison.Ordinal) || name.Contains('\\', StringComparison.Ordinal) || name.StartsWith('.')) return null;
            string path = Path.Combine(directory, name);
            return System.IO.File.Exists(path) ? path : null;
        }
    }

    /// <summary>The files in the open practical's folder (worksheet, tables, recordings).</summary>
    public IReadOnlyList<string> Files()
    {
        lock (gate)
        {
            if (directory is null || !Directory.Exists(directory)) return [];
            // Files still being written (a journal, a partial file) are not offered.
            return [.. Directory.EnumerateFiles(directory).Select(f => Path.GetFileName(f))
                .Where(n => !n.EndsWith(".partial", StringComparison.Ordinal) && !n.EndsWith(".journal", StringComparison.Ordinal)).Order(StringComparer.Ordinal)];
        }
    }

    private async Task RunStepAsync(Practical p, PracticalStep step, string modelName, RigHost.Connection connection, CancellationToken ct)
    {
        // A practical that needs its own model (hh-ions for concentrations) runs on it, from its defaults; the rig's
        // preparation is the service's model, so such a practical runs on the model alone unless the service runs it too.
        bool ownModel = p.Model is { } needed && needed != modelName;
        var descriptor = ModelCatalog.Get(ownModel ? p.Model! : modelName);
        var modelParameters = ownModel ? new Dictionary<string, double>(StringComparer.Ordinal) : new Dictionary<string, double>(host.ModelParameters, StringComparer.Ordinal);
        var emulatorParameters = new Dictionary<string, double>(host.Emulator.Parameters, StringComparer.Ordinal);
        double areaUm2 = host.Emulator.PreparationAreaUm2;
        var session = connection.Rig.Session;
        var device = session.Device;
        uint periodTicks = session.PeriodTicks;
        double perCode = session.NanoampsPerCode(0);
        double cm = descriptor.Resolve(modelParameters).TryGetValue("Cm", out double c) ? c : 1;
        bool emulated = connection.Rig.Address == RigConnection.EmulatedAddress;
        bool changed = false;
        var bench = RigTrialBench.Over(connection.Rig, connection.Pipeline);
        connection.Tap = bench;
        string stem = $"{p.Name}-{step.Id}";
        PracticalRunner? runner = null;

        async Task Record(string file)
        {
            Directory.CreateDirectory(directory!);
            string nwb = Path.Combine(directory!, file + ".nwb");
            System.IO.File.Delete(nwb);
            System.IO.File.Delete(nwb + ".journal");
            // The service's pipeline compares with its model: the recording holds the prediction, under the model's name.
            await bench.BeginRecordingAsync(nwb, ct, connection.Pipeline.Model is null ? null : (modelName, host.ModelParameters, areaUm2)).ConfigureAwait(false);
        }

        // The step's files are listed from its folder (Files), so what was written needs no keeping here.
        Task EndRecording() => bench.EndRecordingAsync();

        try
        {
            runner = new PracticalRunner(bench, new ModelTrialBench(descriptor, modelParameters, device, periodTicks, perCode, areaUm2), perCode, 1e5 / areaUm2 / cm,
                line => Progress(line))
            {
                ModelAlone = ModelTrialBench.OnIdealRig(descriptor, modelParameters, areaUm2),
                ModelInfo = (descriptor, modelParameters),
                RigUnavailable = ownModel ? $"this practical needs the model {p.Model}, and the page compares the rig with {modelName}: start the service with --model {p.Model} to run it on the rig too" : null,
                RowMeasured = (s, row) =>
                {
                    lock (gate)
                    {
                        if (rows.TryGetValue(s.Id, out var list)) list.Add(row);
                    }

                    Publish();
                },
                BeforeStep = s => s.Run is ConditionSeries or RestingSeries || runner!.StepOnModelAlone ? Task.CompletedTask : Record(stem),
                AfterStep = _ => EndRecording(),
                // The emulated preparation takes each condition (connected again with it), and the live model with it so
                // the page shows the two alike; a real rig's preparation cannot be changed unattended (model alone).
                ApplyCondition = async (s, id, changes, token) =>
                {
                    var model = new ModelTrialBench(descriptor, ParameterSet.With(modelParameters, changes), device, periodTicks, perCode, areaUm2);
                    if (!emulated || ownModel) return (null, model);
                    await EndRecording().ConfigureAwait(false);
                    connection.Tap = null;
                    changed = true;
                    Progress(id.Length == 0 ? $"step {s.Id}: the preparation as it was" : $"step {s.Id}: condition {id}");
                    await host.SetEmulatorParametersForPracticalAsync(ParameterSet.With(emulatorParameters, changes), token).ConfigureAwait(false);
                    await host.SetModelParametersForPracticalAsync(ParameterSet.With(modelParameters, changes), token).ConfigureAwait(false);
                    connection = host.LiveConnection ?? throw new InvalidOperationException("the emulated rig did not come back after its condition changed: connect it again");
                    bench = RigTrialBench.Over(connection.Rig, connection.Pipeline);
                    connection.Tap = bench;
                    if (id.Length > 0) await Record($"{stem}-{id}").ConfigureAwait(false);
                    return (bench, model);
                },
            };
            var result = await runner.RunStepAsync(p, step, ct).ConfigureAwait(false);
            lock (gate)
            {
                results[step.Id] = result;
                progress = $"step {step.Id}: done ({runner.Trials} trials)";
            }
        }
        catch (Exception e)
        {
            // A step runs in the background: whatever stops it is told on the page as the step's error, never lost.
            lock (gate)
            {
                failures[step.Id] = e is OperationCanceledException ? "cancelled" : e.Message;
                progress = $"step {step.Id}: {(e is OperationCanceledException ? "cancelled" : "failed")}";
            }
        }
        finally
        {
            connection.Tap = null;
            await bench.DisposeAsync().ConfigureAwait(false);
            if (changed)
            {
                // Back to the preparation and model as they were before the step (also after a failure or a cancel).
                try
                {
                    await host.SetEmulatorParametersForPracticalAsync(emulatorParameters, CancellationToken.None).ConfigureAwait(false);
                    await host.SetModelParametersForPracticalAsync(modelParameters, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e) when (e is InvalidOperationException or IOException or TimeoutException or RigConnectionException)
                {
                    lock (gate) failures[step.Id] = (failures.GetValueOrDefault(step.Id) is { } f ? f + "; " : "") + $"the emulated preparation could not be set back ({e.Message}): set it on the rig panel";
                }
            }
        }
    }

    private void Progress(string line)
    {
        lock (gate) progress = line;
        Publish();
    }

    private PracticalView Publish()
    {
        var view = View();
        hub.Publish("practical", view, remember: true);
        return view;
    }

    private static string CheckStudent(string? name)
    {
        string who = (name ?? "").Trim();
        if (who.Length > 200) throw new ArgumentException($"the student's name is {who.Length} characters: at most 200");
        return who;
    }

    private static string Kind(StepRun run) => run switch
    {
        ThresholdSearch => "threshold-search",
        StrengthDuration => "strength-duration",
        RefractorySeries => "refractory",
        CurrentSteps => "current-steps",
        ConditionSeries => "conditions",
        StepResponse => "step-response",
        RestingSeries => "resting-potential",
        ConductionSeries => "conduction",
        SynapticWeights => "synaptic-weights",
        TemporalSummation => "temporal-summation",
        SpatialSummation => "spatial-summation",
        _ => "",
    };



    /// <summary>Cancels a step still running and waits for it.</summary>
    public async ValueTask DisposeAsync() => await CancelAsync().ConfigureAwait(false);
}

/// <summary>A built-in practical, as GET /api/practicals lists it.</summary>
public sealed record PracticalSummary(string Name, string Title, int Steps);

/// <summary>The practical open on the page: its steps, the step running, the answers and the results so far.</summary>
/// <param name="Name">The practical's name (null: none open).</param>
/// <param name="Title">Its title.</param>
/// <param name="Intro">Its introduction.</param>
/// <param name="Student">The student's name.</param>
/// <param name="Steps">Each step, its state and its table.</param>
/// <param name="Running">The step running now, or null.</param>
/// <param name="Progress">What runs (or ran last), in a line.</param>
/// <param name="Worksheet">The worksheet's file name once written (GET /api/practical/files/{name}).</param>
/// <param name="Answers">The answers, keyed <c>step/question</c>.</param>
/// <param name="Results">The results so far, as <c>bench practical run</c> gives them.</param>
/// <param name="Revision">Rises with every view taken: of two views, the higher is the later state (the page keeps that one).</param>
public sealed record PracticalView(string? Name, string? Title, string? Intro, string Student, IReadOnlyList<PracticalStepView> Steps, string? Running,
    string? Progress, string? Worksheet, IReadOnlyDictionary<string, string> Answers, JsonObject Results, long Revision);

/// <summary>One step of the open practical.</summary>
/// <param name="Id">Its id.</param>
/// <param name="Text">What the student reads.</param>
/// <param name="Kind">What it runs (the file's run kind).</param>
/// <param name="Questions">Its questions (answers keyed <c>id/index</c>).</param>
/// <param name="State"><c>pending</c>, <c>running</c>, <c>done</c> or <c>failed</c>.</param>
/// <param name="Error">Why it failed.</param>
/// <param name="XTitle">The table's first column.</param>
/// <param name="YTitle">What each row measures.</param>
/// <param name="Rows">The table (filled as it is measured).</param>
/// <param name="Results">The step's results, once done.</param>
/// <param name="Method">How they were measured (and whether on the model alone), once done.</param>
public sealed record PracticalStepView(string Id, string Text, string Kind, IReadOnlyList<string> Questions, string State, string? Error, string XTitle, string YTitle,
    IReadOnlyList<RowView> Rows, IReadOnlyList<ResultView> Results, string? Method);

/// <summary>A row of a step's table: the rig, the model, and model − rig with its uncertainty.</summary>
public sealed record RowView(double X, string? Label, double? Rig, double? RigUncertainty, double? Model, double? ModelUncertainty, double? Difference,
    double? DifferenceUncertainty, bool BeyondUncertainty)
{
    internal static RowView From(TableRow row)
    {
        var (d, u, beyond) = Worksheet.Difference(row.Rig, row.Model);
        return new(row.X, row.Label, F(row.Rig.Value), F(row.Rig.Uncertainty), F(row.Model.Value), F(row.Model.Uncertainty), F(d), F(u), beyond);
    }

    internal static double? F(double x) => double.IsFinite(x) ? x : null;
}

/// <summary>A step's named result on the rig and the model (e.g. <c>rheobase_nA</c>); <c>never</c> when it was not reached up to the largest stimulus tried.</summary>
public sealed record ResultView(string Name, double? Rig, double? RigUncertainty, double? Model, double? ModelUncertainty, double? Difference, double? DifferenceUncertainty,
    bool BeyondUncertainty, bool RigNever, bool ModelNever)
{
    internal static ResultView From(string name, Measured rig, Measured model)
    {
        var (d, u, beyond) = Worksheet.Difference(rig, model);
        return new(name, RowView.F(rig.Value), RowView.F(rig.Uncertainty), RowView.F(model.Value), RowView.F(model.Uncertainty), RowView.F(d), RowView.F(u), beyond,
            double.IsPositiveInfinity(rig.Value), double.IsPositiveInfinity(model.Value));
    }
}

/// <summary>POST /api/practical: a built-in by name, or a teacher's file as text.</summary>
public sealed record OpenPracticalRequest(string? Name, string? Text, string? Student);

/// <summary>PUT /api/practical/answers.</summary>
public sealed record AnswersRequest(string? Student, Dictionary<string, string>? Answers);
