using Bench.Core.Comparison;
using Bench.Core.Protocol;
using Bench.Core.Rig;

namespace Bench.Service;

/// <summary>The live comparison's latest figures, as the API and the page show them.</summary>
public sealed record ComparisonView(
    string Model, double ThroughMs, double? WindowRmseMv, double? WindowCorrelation, double? RmseMv, double? Correlation,
    int SpikesRecorded, int SpikesModel, double? Gamma, double? VictorPurpura, double? MeanSpikeTimeErrorMs, int Epochs,
    ulong ExcludedSamples, ulong HeldBackSamples, IReadOnlyList<FeatureRow> Features);

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
/// (it may wait at a pulse for the pulse's report) together with its currents and gates.
/// </summary>
internal sealed class ModelTrack
{
    private readonly string modelName;
    private readonly IReadOnlyDictionary<string, double> parameters;
    private readonly double nanoampsPerCode;
    private readonly double areaUm2;
    private readonly Calibration calibration;
    private readonly LiveComparison comparison;
    private readonly PredictionFeed predictions;
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
        comparison = Create(sampleRateHz);
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

    private LiveComparison Create(double sampleRateHz) => LiveComparison.Create(modelName, parameters, new ComparisonSetup
    {
        SampleRateHz = sampleRateHz,
        Calibration = calibration,
        NanoampsPerCode = nanoampsPerCode,
        PreparationAreaUm2 = areaUm2,
    }, options);

    /// <summary>A command the rig accepted; the model plays it as the rig reports its pulses.</summary>
    public void AddCommand(StimulusCommand command, ulong nextIndex) => comparison.AddStimulus(command, nextIndex);

    /// <summary>A pulse as played, its onset in session indices.</summary>
    public void OnPulse(StimulusEvent pulse, ulong sessionOnsetIndex) => comparison.OnStimulusEvent(pulse with { OnsetIndex = sessionOnsetIndex });

    /// <summary>Samples lost.</summary>
    public void OnGap(ulong first, ulong length) => comparison.OnGap(first, length);

    /// <summary>
    /// Samples received; then <paramref name="onPredicted"/> gets each run of newly predicted samples (first index and
    /// mV), which may lag the samples while the model waits for a pulse's report.
    /// </summary>
    public void OnSamples(ulong first, ReadOnlySpan<ushort> codes, Action<ulong, ReadOnlySpan<double>> onPredicted)
    {
        comparison.OnSamples(first, codes);
        if (comparison.ComparedThrough <= observedThrough) return;
        observedThrough = comparison.ComparedThrough;
        if (predictions.TryTake(out ulong from, out var mv)) onPredicted(from, mv);
        if (!collectObservables) return;
        comparison.Model.ReadObservables(observableValues);
        observables.Add((comparison.ComparedThrough * comparison.DtMs, Read(iNa), Read(iK), Read(gateM), Read(gateH), Read(gateN)));
    }

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
        if (u.LastEpoch is not null || u.WholeSpikes.SpikesRecorded > 0)
        {
            var report = comparison.GetReport();
            var last = report.ActionPotentials.LastOrDefault(a => a.Recorded is not null && a.Model is not null);
            if (last is not null)
            {
                var r = last.Recorded!.Value;
                var m = last.Model!.Value;
                var noise = last.Uncertainty;
                FeatureRow Row(string name, double recorded, double model, double? uncertainty) =>
                    new(name, F(recorded), F(model), F(model - recorded), uncertainty is double x ? F(x) : null,
                        ApFeatureDifferences.BeyondNoise(model - recorded, uncertainty ?? double.NaN));
                features.Add(Row("threshold (mV)", r.ThresholdMv, m.ThresholdMv, noise?.ThresholdMv));
                features.Add(Row("peak (mV)", r.PeakMv, m.PeakMv, noise?.PeakMv));
                features.Add(Row("amplitude (mV)", r.AmplitudeMv, m.AmplitudeMv, noise?.AmplitudeMv));
                features.Add(Row("half-width (ms)", r.HalfWidthMs, m.HalfWidthMs, noise?.HalfWidthMs));
                features.Add(Row("AHP (mV)", r.AhpMinMv, m.AhpMinMv, noise?.AhpMv));
            }
        }

        return View(u, features);
    }

    private ComparisonView View(ComparisonUpdate u, IReadOnlyList<FeatureRow> table)
    {
        static double? F(double x) => double.IsFinite(x) ? Math.Round(x, 4) : null;
        return new ComparisonView(modelName, Math.Round(u.TimeMs, 3), F(u.Window.RmseMv), F(u.Window.PearsonR), F(u.Whole.RmseMv), F(u.Whole.PearsonR),
            u.WholeSpikes.SpikesRecorded, u.WholeSpikes.SpikesModel, F(u.WholeSpikes.Gamma), F(u.WholeSpikes.VictorPurpura), F(u.WholeSpikes.MeanSpikeTimeErrorMs),
            u.Epochs, u.ExcludedSamples, u.HeldBackSamples, table);
    }
}
