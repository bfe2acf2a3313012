using System.Globalization;
using System.Text.Json.Nodes;
using Bench.Core.Comparison;
using Bench.Core.Models;
using Bench.Storage.Recordings;

namespace Bench.Cli;

/// <summary>What <c>bench compare</c>, <c>bench fit</c> and <c>bench record --compare</c> share: opening a recording, the model, the table and the JSON.</summary>
internal static class ComparisonOutput
{
    /// <summary>The preparation area the emulated rig uses (10⁶ µm²: 1 nA = 0.1 µA/cm²).</summary>
    public const double DefaultAreaUm2 = 1e6;

    public static RecordingReader Open(string command, FileInfo file)
    {
        RecordingReader reader;
        try
        {
            reader = RecordingReader.Open(file.FullName);
        }
        catch (RecordingFormatException e)
        {
            throw new UserErrorException($"{command}: {e.Message}");
        }

        if (reader.Info.StimulusCommandMissing is { } missing) throw new UserErrorException($"{command}: {missing}");
        return reader;
    }

    /// <summary>The model to compare with: --model, else the one the recording was compared with, else hh; --param on top of its recorded parameters.</summary>
    public static (ModelDescriptor Model, Dictionary<string, double> Parameters) Model(string command, RecordedModel? recorded, string? name, IEnumerable<string> assignments)
    {
        string chosen = name ?? recorded?.Name ?? "hh";
        ModelDescriptor model;
        try
        {
            model = ModelCatalog.Get(chosen);
        }
        catch (ArgumentException e)
        {
            throw new UserErrorException($"{command}: {e.Message}");
        }

        var parameters = new Dictionary<string, double>(StringComparer.Ordinal);
        if (recorded is not null && recorded.Name == chosen)
        {
            foreach (var (k, v) in recorded.Parameters) parameters[k] = v;
        }

        foreach (string text in assignments)
        {
            try
            {
                var (k, v) = ModelCatalog.ParseAssignment(text);
                parameters[k] = v;
            }
            catch (ArgumentException e)
            {
                throw new UserErrorException($"{command}: --param {e.Message}");
            }
        }

        try
        {
            model.Resolve(parameters);
        }
        catch (ArgumentException e)
        {
            throw new UserErrorException($"{command}: {e.Message} (--param name=value; bench simulate --list-models lists them)");
        }

        return (model, parameters);
    }

    public static double Area(string command, double? area, RecordedModel? recorded)
    {
        double a = area ?? recorded?.PreparationAreaUm2 ?? DefaultAreaUm2;
        if (!(a > 0) || !double.IsFinite(a)) throw new UserErrorException($"{command}: --area-um2 must be a positive number of µm² (the emulated rig's is 1000000)");
        return a;
    }

    /// <summary>Feeds a whole recording, in capture order, into a comparison and completes it.</summary>
    public static LiveComparison Run(RecordingReader reader, ModelDescriptor model, IReadOnlyDictionary<string, double> parameters, double areaUm2, ComparisonOptions options)
    {
        var comparison = new LiveComparison(model.Create(parameters), reader.Info.ToComparisonSetup(areaUm2), options);
        // A recording made on the page may hold several protocols; the first is in the setup.
        foreach (var more in reader.Info.Stimuli.Skip(1)) comparison.AddStimulus(more, 0);
        foreach (var item in reader.Read())
        {
            switch (item)
            {
                case RecordedSamples s: comparison.OnSamples(s.FirstIndex, s.Codes); break;
                case RecordedGap g: comparison.OnGap(g.FirstIndex, g.Length); break;
                case RecordedPulse p: comparison.OnStimulusEvent(p.Pulse); break;
            }
        }

        comparison.Complete();
        return comparison;
    }

    public static JsonNode? Number(double value) => double.IsFinite(value) ? JsonValue.Create(value) : null;

    private static string F(double value, string format) => double.IsFinite(value) ? value.ToString(format, CultureInfo.InvariantCulture) : "-";

    /// <summary>The summary keys (stable: scripts and checks read them).</summary>
    public static JsonObject Summary(ComparisonUpdate u, ComparisonOptions options) => new()
    {
        ["rmse_mV"] = Number(u.Whole.RmseMv),
        ["r"] = Number(u.Whole.PearsonR),
        ["mean_error_mV"] = Number(u.Whole.MeanErrorMv),
        ["gamma"] = Number(u.WholeSpikes.Gamma),
        ["coincidence_delta_ms"] = options.CoincidenceDeltaMs,
        ["victor_purpura"] = Number(u.WholeSpikes.VictorPurpura),
        ["victor_purpura_q_per_ms"] = options.VictorPurpuraCostPerMs,
        ["spikes_recorded"] = u.WholeSpikes.SpikesRecorded,
        ["spikes_model"] = u.WholeSpikes.SpikesModel,
        ["coincidences"] = u.WholeSpikes.Coincidences,
        ["matched_spikes"] = u.WholeSpikes.MatchedPairs,
        ["mean_spike_time_error_ms"] = Number(u.WholeSpikes.MeanSpikeTimeErrorMs),
        ["mean_spike_time_offset_ms"] = Number(u.WholeSpikes.MeanSpikeTimeOffsetMs),
        ["samples_compared"] = u.Whole.Samples,
        ["samples_excluded"] = u.ExcludedSamples,
        ["pulses_confirmed"] = u.PulsesConfirmed,
        ["pulses_assumed"] = u.PulsesAssumed,
    };

    /// <summary>The full JSON of a finished comparison: the summary keys, every epoch and the AP table.</summary>
    public static JsonObject Json(ComparisonReport report, ComparisonOptions options, string model, IReadOnlyDictionary<string, double> parameters)
    {
        var o = Summary(report.Update, options);
        o["model"] = model;
        o["params"] = new JsonObject(parameters.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));
        var epochs = new JsonArray();
        foreach (var e in report.Epochs)
        {
            epochs.Add(new JsonObject
            {
                ["epoch"] = e.Number, ["start_ms"] = e.StartMs, ["end_ms"] = e.EndMs,
                ["train"] = e.Pulse?.Train, ["pulse"] = e.Pulse?.Pulse, ["confirmed"] = e.Pulse?.Confirmed,
                ["rmse_mV"] = Number(e.Trace.RmseMv), ["r"] = Number(e.Trace.PearsonR),
                ["spikes_recorded"] = e.Spikes.SpikesRecorded, ["spikes_model"] = e.Spikes.SpikesModel,
                ["gamma"] = Number(e.Spikes.Gamma), ["mean_spike_time_error_ms"] = Number(e.Spikes.MeanSpikeTimeErrorMs),
            });
        }

        o["epochs"] = epochs;
        var aps = new JsonArray();
        foreach (var row in report.ActionPotentials)
        {
            aps.Add(new JsonObject
            {
                ["recorded_ms"] = row.RecordedSpikeMs is double r ? Number(r) : null,
                ["model_ms"] = row.ModelSpikeMs is double m ? Number(m) : null,
                ["recorded"] = Features(row.Recorded),
                ["model"] = Features(row.Model),
                ["difference"] = Differences(row.Differences),
                // The standard uncertainty the recording's noise alone gives each difference, and whether the difference is
                // beyond twice it (a difference within it is no difference).
                ["uncertainty"] = Differences(row.Uncertainty),
                ["beyond_noise"] = row.Differences is { } d ? new JsonObject
                {
                    ["threshold_mV"] = Beyond(d.ThresholdMv, row.Uncertainty?.ThresholdMv), ["peak_mV"] = Beyond(d.PeakMv, row.Uncertainty?.PeakMv),
                    ["amplitude_mV"] = Beyond(d.AmplitudeMv, row.Uncertainty?.AmplitudeMv), ["half_width_ms"] = Beyond(d.HalfWidthMs, row.Uncertainty?.HalfWidthMs),
                    ["ahp_mV"] = Beyond(d.AhpMv, row.Uncertainty?.AhpMv),
                } : null,
            });
        }

        o["action_potentials"] = aps;
        return o;
    }

    private static JsonObject? Differences(ApFeatureDifferences? d) => d is { } x ? new JsonObject
    {
        ["threshold_mV"] = Number(x.ThresholdMv), ["peak_mV"] = Number(x.PeakMv), ["amplitude_mV"] = Number(x.AmplitudeMv),
        ["half_width_ms"] = Number(x.HalfWidthMs), ["ahp_mV"] = Number(x.AhpMv),
    } : null;

    private static bool Beyond(double difference, double? uncertainty) => ApFeatureDifferences.BeyondNoise(difference, uncertainty ?? double.NaN);

    /// <summary>A difference as the table shows it: the value and its noise uncertainty, marked "~" when within the noise.</summary>
    private static string WithNoise(double difference, double? uncertainty, string format)
    {
        if (!double.IsFinite(difference)) return "-";
        string text = difference.ToString(format, CultureInfo.InvariantCulture);
        if (uncertainty is not double u || !double.IsFinite(u)) return text;
        return text + "±" + u.ToString(format, CultureInfo.InvariantCulture) + (ApFeatureDifferences.BeyondNoise(difference, u) ? " " : "~");
    }

    private static JsonObject? Features(Core.Analysis.ActionPotentialFeatures? f) => f is { } x ? new JsonObject
    {
        ["threshold_mV"] = Number(x.ThresholdMv), ["peak_mV"] = Number(x.PeakMv), ["amplitude_mV"] = Number(x.AmplitudeMv),
        ["half_width_ms"] = Number(x.HalfWidthMs), ["ahp_mV"] = Number(x.AhpMinMv),
    } : null;

    /// <summary>The human-readable table.</summary>
    public static void PrintTable(TextWriter output, string title, ComparisonReport report, ComparisonOptions options)
    {
        var u = report.Update;
        var s = u.WholeSpikes;
        output.WriteLine(title);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  samples: {u.Whole.Samples} compared, {u.ExcludedSamples} excluded (gaps); pulses: {u.PulsesConfirmed} as reported, {u.PulsesAssumed} assumed as scheduled"));
        output.WriteLine($"  V:      RMSE {F(u.Whole.RmseMv, "0.000")} mV   r {F(u.Whole.PearsonR, "0.00000")}   mean recorded - model {F(u.Whole.MeanErrorMv, "0.000")} mV");
        output.WriteLine($"  spikes: recorded {s.SpikesRecorded}, model {s.SpikesModel}, coincident within {F(options.CoincidenceDeltaMs, "0.##")} ms {s.Coincidences}   Gamma {F(s.Gamma, "0.000")}   Victor-Purpura (q {F(options.VictorPurpuraCostPerMs, "0.###")}/ms) {F(s.VictorPurpura, "0.000")}");
        output.WriteLine($"          matched {s.MatchedPairs}: mean |model - recorded| {F(s.MeanSpikeTimeErrorMs, "0.000")} ms, mean model - recorded {F(s.MeanSpikeTimeOffsetMs, "0.000")} ms");
        if (report.Epochs.Count > 0)
        {
            output.WriteLine("  epoch  start_ms  pulse   rmse_mV        r  rec  model  gamma  |dt|_ms");
            foreach (var e in report.Epochs)
            {
                string pulse = e.Pulse is { } p ? $"{p.Train}.{p.Pulse}{(p.Confirmed ? "" : "*")}" : "-";
                output.WriteLine($"  {e.Number,5}  {F(e.StartMs, "0.00"),8}  {pulse,5}  {F(e.Trace.RmseMv, "0.000"),8}  {F(e.Trace.PearsonR, "0.0000"),7}  {e.Spikes.SpikesRecorded,3}  {e.Spikes.SpikesModel,5}  {F(e.Spikes.Gamma, "0.00"),5}  {F(e.Spikes.MeanSpikeTimeErrorMs, "0.000"),7}");
            }
        }

        if (report.ActionPotentials.Count > 0)
        {
            output.WriteLine("  action potentials, model - recorded (± what the recording's noise alone gives; ~ within it, so no difference):");
            output.WriteLine("    rec_ms  model_ms   dt_ms     thresh_mV        peak_mV        ampl_mV      half_w_ms         ahp_mV");
            foreach (var row in report.ActionPotentials)
            {
                var d = row.Differences;
                var noise = row.Uncertainty;
                double dt = row.RecordedSpikeMs is double r && row.ModelSpikeMs is double m ? m - r : double.NaN;
                output.WriteLine($"  {F(row.RecordedSpikeMs ?? double.NaN, "0.000"),8}  {F(row.ModelSpikeMs ?? double.NaN, "0.000"),8}  {F(dt, "0.000"),6}  "
                    + $"{WithNoise(d?.ThresholdMv ?? double.NaN, noise?.ThresholdMv, "0.00"),12}  {WithNoise(d?.PeakMv ?? double.NaN, noise?.PeakMv, "0.00"),13}  "
                    + $"{WithNoise(d?.AmplitudeMv ?? double.NaN, noise?.AmplitudeMv, "0.00"),13}  {WithNoise(d?.HalfWidthMs ?? double.NaN, noise?.HalfWidthMs, "0.000"),13}  "
                    + $"{WithNoise(d?.AhpMv ?? double.NaN, noise?.AhpMv, "0.00"),13}");
            }

            output.WriteLine("  " + Core.Analysis.ActionPotentialAnalysis.ThresholdDefinition);
        }
    }
}
