using System.CommandLine;
using Bench.Core.Comparison;

namespace Bench.Cli;

/// <summary>
/// <c>bench compare &lt;recording&gt;</c>: replays a recording through the live comparison with a model and prints the
/// comparison table, then one JSON line (<c>rmse_mV</c>, <c>gamma</c>, <c>spikes_recorded</c>, <c>spikes_model</c>,
/// <c>mean_spike_time_error_ms</c>, …) as the last line.
/// </summary>
internal static class CompareCommand
{
    public static Command Create(TextWriter output)
    {
        var recording = new Argument<FileInfo>("recording") { Description = "an NWB file Bench wrote (the page's recordings, bench record), or a raw capture with its sidecar" };
        var model = new Option<string?>("--model") { Description = "the model (default: the one the recording was compared with, else hh)" };
        var param = new Option<string[]>("--param") { Description = "set a model parameter, name=value (repeatable)" };
        var options = ComparisonOptionsArguments.Create();
        var command = new Command("compare", "Compare a recording with a model, sample for sample, driven by the stimulus as the rig played it")
        {
            recording, model, param,
        };
        options.AddTo(command);
        command.SetAction(parse =>
        {
            var reader = ComparisonOutput.Open("compare", parse.GetValue(recording)!);
            var (descriptor, parameters) = ComparisonOutput.Model("compare", reader.Info.Model, parse.GetValue(model), parse.GetValue(param) ?? []);
            double area = ComparisonOutput.Area("compare", parse.GetValue(options.Area), reader.Info.Model);
            var comparisonOptions = options.Read(parse, "compare");
            var comparison = ComparisonOutput.Run(reader, descriptor, parameters, area, comparisonOptions);
            var report = comparison.GetReport();
            string described = parameters.Count == 0 ? "defaults" : ModelFitter.Describe(parameters);
            ComparisonOutput.PrintTable(output, $"{Path.GetFileName(reader.Info.CapturePath)} against {descriptor.Name} ({described}):", report, comparisonOptions);
            output.WriteLine(ComparisonOutput.Json(report, comparisonOptions, descriptor.Name, parameters).ToJsonString());
            return 0;
        });
        return command;
    }
}

/// <summary>The comparison settings shared by compare, fit and record --compare.</summary>
internal sealed class ComparisonOptionsArguments
{
    public Option<double?> Area { get; } = new("--area-um2") { Description = "membrane area the stimulus current spreads over (µm²; the emulated rig's: 1000000, so 1 nA = 0.1 µA/cm²)" };

    public Option<double> Window { get; } = new("--window-ms") { Description = "sliding window of the live metrics (ms)", DefaultValueFactory = _ => 500 };

    public Option<double> Delta { get; } = new("--delta-ms") { Description = "coincidence window of Gamma (ms)", DefaultValueFactory = _ => 2 };

    public Option<double> Q { get; } = new("--vp-q") { Description = "Victor-Purpura cost of moving a spike (1/ms)", DefaultValueFactory = _ => 0.5 };

    public static ComparisonOptionsArguments Create() => new();

    public void AddTo(Command command)
    {
        command.Options.Add(Area);
        command.Options.Add(Window);
        command.Options.Add(Delta);
        command.Options.Add(Q);
    }

    public ComparisonOptions Read(ParseResult parse, string command, double publishIntervalMs = double.PositiveInfinity, bool retainTrace = false)
    {
        double window = parse.GetValue(Window), delta = parse.GetValue(Delta), q = parse.GetValue(Q);
        if (!(window > 0) || window > 600_000) throw new UserErrorException($"{command}: --window-ms must be above 0 and at most 600000");
        if (!(delta > 0) || delta > 1000) throw new UserErrorException($"{command}: --delta-ms must be above 0 and at most 1000");
        if (!(q >= 0) || !double.IsFinite(q)) throw new UserErrorException($"{command}: --vp-q must be 0 or more (1/ms)");
        return new ComparisonOptions { WindowMs = window, CoincidenceDeltaMs = delta, VictorPurpuraCostPerMs = q, PublishIntervalMs = publishIntervalMs, RetainTrace = retainTrace };
    }
}
