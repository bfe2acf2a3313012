using System.Threading.Channels;
using Bench.Core.Comparison;
using Bench.Core.Models;
using Bench.Core.Protocol;
using Bench.Core.Instrument;

namespace Bench.Service;

/// <summary>The live comparison's latest figures, as the API and the page show them.</summary>
public sealed record ComparisonView(
    string Model, double ThroughMs, double? WindowRmseMv, double? WindowCorrelation, double? RmseMv, double? Correlation,
    int SpikesRecorded, int SpikesModel, double? Gamma, double? VictorPurpura, double? MeanSpikeTimeErrorMs, int Epochs,
    ulong ExcludedSamples, ulong HeldBackSamples, IReadOnlyList<FeatureRow> Features)
{
    /// <summary>The AP the feature table describes: its recorded spike (0 mV upward crossing), ms of session time; null when the table is empty.</summary>
    public double? FeaturesSpikeMs { get; init; }

    /// <summary>
    /// True when the latest pulse came after that AP and evoked none (a subthreshold pulse, a failure in the
    /// refractory period): the table then describes an earlier response, not the latest one.
    /// </summary>
    public bool FeaturesStale { get; init; }

    /// <summary>Onset of the latest pulse the model received, ms of session time (null before any).</summary>
    public double? LastPulseMs { get; init; }

    /// <summary>The model's parameters in use (every parameter, defaults included).</summary>
    public IReadOnlyDictionary<string, double>? ModelParameters { get; init; }

    /// <summary>How the feature table's threshold is defined, in one line for the page.</summary>
    public string ThresholdDefinition { get; init; } = ModelTrack.ThresholdDefinition;
}

/// <summary>One action-potential feature, recorded against predicted.</summary>
/// <param name="Name">The feature, with its unit.</param>
/// <param name="Recorded">On the recording.</param>
/// <param name="Model">On the model.</param>
/// <param name="Difference">Model − recorded.</param>
/// <param name="Uncertainty">What the recording's noise alone gives the difference (one standard uncertainty), when known.</param>
/// <param name="BeyondNoise">True when the difference is more than twice that: a real difference, not noise.</param>
public sealed record FeatureRow(string Name, double? Recorded, double? Model, double? Difference, double? Uncertainty = null, bool BeyondNoise = true);

/// <summary>The model's currents and gates over recent time, for the page's model panel.</summary>
public sealed record ModelObservables(double[] TimeMs,
    [property: System.Text.Json.Serialization.JsonPropertyName("i_na")] double?[] INa,
    [property: System.Text.Json.Serialization.JsonPropertyName("i_k")] double?[] IK,
    double?[] M, double?[] H, double?[] N);

/// <summary>
/// The service's side of the live comparison: feeds <see cref="LiveComparison"/> with the pipeline's samples, gaps,
/// pulses and commands (in session indices), and hands on the model's prediction as it catches up with the samples
/// (it may wait at a pulse for the pulse's report) together with its currents and gates, and the comparison's
/// published updates on <see cref="Updates"/>.
/// </summary>
internal sealed class ModelTrack
{
    /// <summary>The threshold's definition as the page states it: the analysis's own, so the page says what is measured.</summary>
    public const string ThresholdDefinition = Bench.Core.Analysis.ActionPotentialAnalysis.ThresholdDefinition;

    /// <summary>A pulse that evoked no AP within this time (ms) leaves the feature table describing an earlier AP.</summary>
    private const double ResponseWaitMs = 30;

    private readonly string modelName;
    private IReadOnlyDictionary<string, double> parameters;
    private readonly double nanoampsPerCode;
    private readonly double areaUm2;
    private readonly Calibration calibration;
    private LiveComparison comparison;
    private PredictionFeed predictions;
    private readonly double sampleRateHz;
    private ulong startIndex;
    private ulong lastPulseIndex = ulong.MaxValue;
    private double? featuresSpikeMs;
    private (IReadOnlyDictionary<string, double> Parameters, TaskCompletionSource Applied)? replacement;
    private readonly Lock replacementGate = new();
    private ulong observedThrough;
    private readonly List<(double T, double INa, double IK, double M, double H, double N)> observables = [];
    private readonly double[] observableValues;
    private readonly int iNa, iK, gateM, gateH, gateN;
    private List<FeatureRow> features = [];
    private int featureSpikes = -1;
    private double spikeChangeMs;
    private bool featuresFinal;
    private readonly ComparisonOptions? options;
    private readonly bool collectObservables;
    private readonly Channel<ComparisonUpdate> updates = Channel.CreateBounded<ComparisonUpdate>(
        new BoundedChannelOptions(64) { FullMode = BoundedChannelFullMode.DropOldest, SingleWriter = true });

    /// <summary>
    /// The comparison's published updates (bounded: a slow reader loses the oldest, never stalls the pump); completes
    /// when the comparison does. A parameter change goes on in the same channel with the new comparison's updates.
    /// </summary>
    public ChannelReader<ComparisonUpdate> Updates => updates.Reader;

    /// <summary>The live comparison behind the track.</summary>
    public LiveComparison Comparison => comparison;

    /// <summary>The model's name.</summary>
    public string ModelName => modelName;

    /// <param name="modelName">The catalog model.</param>
    /// <param name="parameters">Its parameter overrides.</param>
    /// <param name="sampleRateHz">The rig's sample rate.</param>
    /// <param name="nanoampsPerCode">The stimulus output's step.</param>
    /// <param name="areaUm2">The membrane area the stimulus current spreads over.</param>
    /// <param name="calibration">ADC counts to mV.</param>
    /// <param name="options">The comparison's windows and publishing interval.</param>
    /// <param name="collectObservables">Keep the model's currents and gates for a viewer (who drains them).</param>
    public ModelTrack(string modelName, IReadOnlyDictionary<string, double> parameters, double sampleRateHz, double nanoampsPerCode, double areaUm2, Calibration calibration,
        ComparisonOptions? options = null, bool collectObservables = true)
    {
        this.options = options;
        this.collectObservables = collectObservables;
        this.modelName = modelName;
        this.parameters = parameters;
        this.nanoampsPerCode = nanoampsPerCode;
        this.areaUm2 = areaUm2;
        this.calibration = calibration;
        this.sampleRateHz = sampleRateHz;
        comparison = Create(0);
        predictions = new PredictionFeed(comparison);
        var names = comparison.Model.ObservableNames;
        observableValues = new double[names.Count];
        iNa = IndexOf(names, "i_na");
        iK = IndexOf(names, "i_k_");
        gateM = IndexOf(names, "m");
        gateH = IndexOf(names, "h");
        gateN = IndexOf(names, "n");
    }

    private static int IndexOf(IReadOnlyList<string> names, string prefix)
    {
        for (int i = 0; i < names.Count; i++)
        {
            if (names[i] == prefix || (prefix.Length > 1 && names[i].StartsWith(prefix, StringComparison.Ordinal))) return i;
        }

        return -1;
    }

    /// <summary>The model's parameter overrides in use.</summary>
    public IReadOnlyDictionary<string, double> Parameters => parameters;

    /// <summary>
    /// Runs the model with other parameters from the next samples on (the membrane starts again from its initial
    /// state, and the comparison's figures from nothing): what a blocker or cooling does, live. Completes once the
    /// pump has taken the change.
    /// </summary>
    public Task ReplaceParametersAsync(IReadOnlyDictionary<string, double> overrides)
    {
        var applied = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (replacementGate)
        {
            replacement?.Applied.TrySetCanceled();
            replacement = (overrides, applied);
        }

        return applied.Task;
    }

    private LiveComparison Create(ulong firstIndex)
    {
        var created = LiveComparison.Create(modelName, parameters, new ComparisonSetup
        {
            ModelStartIndex = firstIndex,
            SampleRateHz = sampleRateHz,
            Calibration = calibration,
            NanoampsPerCode = nanoampsPerCode,
            PreparationAreaUm2 = areaUm2,
        }, options);
        created.Published += update => updates.Writer.TryWrite(update);
        created.Completed += () => updates.Writer.TryComplete();
        return created;
    }

    /// <summary>A command the rig accepted; the model plays it as the rig reports its pulses.</summary>
    public void AddCommand(StimulusCommand command, ulong nextIndex) => comparison.AddStimulus(command, nextIndex);

    /// <summary>A pulse as played, its onset in session indices.</summary>
    public void OnPulse(StimulusEvent pulse, ulong sessionOnsetIndex)
    {
        lastPulseIndex = sessionOnsetIndex;
        comparison.OnStimulusEvent(pulse with { OnsetIndex = sessionOnsetIndex });
    }

    /// <summary>Samples lost.</summary>
    public void OnGap(ulong first, ulong length) => comparison.OnGap(first, length);

    /// <summary>
    /// Samples received; then <paramref name="onPredicted"/> gets each run of newly predicted samples (first index and
    /// mV), which may lag the samples while the model waits for a pulse's report.
    /// </summary>
    public void OnSamples(ulong first, ReadOnlySpan<ushort> codes, Action<ulong, ReadOnlySpan<double>> onPredicted)
    {
        TakeReplacement(first);
        comparison.OnSamples(first, codes);
        if (comparison.ComparedThrough <= observedThrough) return;
        observedThrough = comparison.ComparedThrough;
        if (predictions.TryTake(out ulong from, out var mv)) onPredicted(from, mv);
        if (!collectObservables) return;
        comparison.Model.ReadObservables(observableValues);
        observables.Add((comparison.ComparedThrough * comparison.DtMs, Read(iNa), Read(iK), Read(gateM), Read(gateH), Read(gateN)));
    }

    /// <summary>A parameter change asked for: the new model starts at <paramref name="first"/>, the first sample it is given.</summary>
    private void TakeReplacement(ulong first)
    {
        (IReadOnlyDictionary<string, double> Parameters, TaskCompletionSource Applied) change;
        lock (replacementGate)
        {
            if (replacement is not { } r) return;
            change = r;
            replacement = null;
        }

        parameters = change.Parameters;
        comparison = Create(first);
        predictions = new PredictionFeed(comparison);
        startIndex = first;
        observedThrough = first;
        features = [];
        featureSpikes = -1;
        featuresFinal = false;
        featuresSpikeMs = null;
        lastPulseIndex = ulong.MaxValue;
        change.Applied.TrySetResult();
    }

    /// <summary>Session time (ms) of the comparison's start: 0, or where a parameter change started the model again.</summary>
    private double StartMs => startIndex * 1000 / sampleRateHz;

    private double Read(int index) => index < 0 ? double.NaN : observableValues[index];

    /// <summary>The currents and gates collected since the last call.</summary>
    public ModelObservables DrainObservables()
    {
        static double? V(double x) => double.IsFinite(x) ? Math.Round(x, 4) : null;
        var o = new ModelObservables([.. observables.Select(x => Math.Round(x.T, 3))], [.. observables.Select(x => V(x.INa))], [.. observables.Select(x => V(x.IK))],
            [.. observables.Select(x => V(x.M))], [.. observables.Select(x => V(x.H))], [.. observables.Select(x => V(x.N))]);
        observables.Clear();
        return o;
    }

    /// <summary>The figures now.</summary>
    public ComparisonView Snapshot()
    {
        var u = comparison.GetUpdate();
        static double? F(double x) => double.IsFinite(x) ? Math.Round(x, 4) : null;
        // The feature table changes only when a spike is added; the report behind it grows with the session.
        // (An AP's features are measured up to 15 ms after its spike, so the table is built again until then.)
        int spikes = u.WholeSpikes.SpikesRecorded + u.WholeSpikes.SpikesModel;
        if (spikes != featureSpikes)
        {
            featureSpikes = spikes;
            spikeChangeMs = u.TimeMs;
        }
        else if (featuresFinal)
        {
            return View(u, features);
        }

        featuresFinal = u.TimeMs - spikeChangeMs > 100;
        features = [];
        featuresSpikeMs = null;
        if (u.LastEpoch is not null || u.WholeSpikes.SpikesRecorded > 0)
        {
            var report = comparison.GetReport();
            // The rig's latest AP, with the model's paired with it when the model fired too (with its Na⁺ channels
            // blocked it does not: the rig's features are still shown).
            var last = report.ActionPotentials.LastOrDefault(a => a.Recorded is not null);
            if (last is not null)
            {
                featuresSpikeMs = last.RecordedSpikeMs is { } spike ? Math.Round(spike + StartMs, 3) : null;
                var r = last.Recorded!.Value;
                var m = last.Model;
                var noise = last.Uncertainty;
                // Without the model's AP (none paired) the row has the rig's value only, and no difference.
                FeatureRow Row(string name, Func<Bench.Core.Analysis.ActionPotentialFeatures, double> of, Func<ApFeatureDifferences, double> spread)
                {
                    double recorded = of(r);
                    if (m is not { } model) return new(name, F(recorded), null, null, null, BeyondNoise: false);
                    double difference = of(model) - recorded;
                    double? uncertainty = noise is { } n ? spread(n) : null;
                    return new(name, F(recorded), F(of(model)), F(difference), uncertainty is double x ? F(x) : null,
                        ApFeatureDifferences.BeyondNoise(difference, uncertainty ?? double.NaN));
                }

                features.Add(Row("threshold (mV)", a => a.ThresholdMv, d => d.ThresholdMv));
                features.Add(Row("peak (mV)", a => a.PeakMv, d => d.PeakMv));
                features.Add(Row("amplitude (mV)", a => a.AmplitudeMv, d => d.AmplitudeMv));
                features.Add(Row("half-width (ms)", a => a.HalfWidthMs, d => d.HalfWidthMs));
                features.Add(Row("AHP (mV)", a => a.AhpMinMv, d => d.AhpMv));
            }
        }

        return View(u, features);
    }

    private ComparisonView View(ComparisonUpdate u, List<FeatureRow> table)
    {
        static double? F(double x) => double.IsFinite(x) ? Math.Round(x, 4) : null;
        double dtMs = 1000 / sampleRateHz;
        double throughMs = StartMs + u.TimeMs;
        double? lastPulseMs = lastPulseIndex == ulong.MaxValue ? null : Math.Round(lastPulseIndex * dtMs, 3);
        // The latest pulse came after the AP in the table and its own AP has had time to come: it evoked none.
        bool stale = lastPulseMs is { } pulse && (featuresSpikeMs is not { } spike || spike < pulse) && throughMs - pulse > ResponseWaitMs;
        // A correlation needs the potential to move: at rest both traces are flat but for noise, and r of noise against
        // a flat line is undefined (not 0). So r is given only over a window (or a whole run) that holds a pulse.
        double windowMs = options?.WindowMs ?? new ComparisonOptions().WindowMs;
        double? windowR = lastPulseMs is { } p && throughMs - p <= windowMs ? F(u.Window.PearsonR) : null;
        double? wholeR = lastPulseMs is null ? null : F(u.Whole.PearsonR);
        return new ComparisonView(modelName, Math.Round(throughMs, 3), F(u.Window.RmseMv), windowR, F(u.Whole.RmseMv), wholeR,
            u.WholeSpikes.SpikesRecorded, u.WholeSpikes.SpikesModel, F(u.WholeSpikes.Gamma), F(u.WholeSpikes.VictorPurpura), F(u.WholeSpikes.MeanSpikeTimeErrorMs),
            u.Epochs, u.ExcludedSamples, u.HeldBackSamples, table)
        {
            FeaturesSpikeMs = table.Count > 0 ? featuresSpikeMs : null,
            FeaturesStale = stale,
            LastPulseMs = lastPulseMs,
            ModelParameters = ModelCatalog.Get(modelName).Resolve(parameters),
        };
    }
}
