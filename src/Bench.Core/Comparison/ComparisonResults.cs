using Bench.Core.Analysis;
using Bench.Core.Instrument;

namespace Bench.Core.Comparison;

/// <summary>How a comparison is set up: the recording's clock, calibration and stimulus, and how the model receives it.</summary>
public sealed record ComparisonSetup
{
    /// <summary>The rig's sample rate (Hz); the model steps once per sample, dt = 1000 / rate ms.</summary>
    public required double SampleRateHz { get; init; }

    /// <summary>ADC counts → membrane mV.</summary>
    public required Calibration Calibration { get; init; }

    /// <summary>The Stimulus the rig accepted (null: none played).</summary>
    public Protocol.StimulusCommand? Stimulus { get; init; }

    /// <summary>The output's current per DAC code (nA), as DeviceInfo's scale (or a calibration of the output) says.</summary>
    public double NanoampsPerCode { get; init; } = 1;

    /// <summary>
    /// Membrane area the injected current spreads over (µm²), to turn nA into the model's µA/cm² as the emulated rig does:
    /// 10⁶ µm² makes 1 nA = 0.1 µA/cm².
    /// </summary>
    public double PreparationAreaUm2 { get; init; } = 1e6;

    /// <summary>The device sample index at which the model starts from its initial state (the rig's Start: index 0).</summary>
    public ulong ModelStartIndex { get; init; }

    /// <summary>The model's stimulus per DAC code in its own units (µA/cm² for the membrane models).</summary>
    public double ModelUnitsPerCode => NanoampsPerCode * 1e5 / PreparationAreaUm2;
}

/// <summary>Settings of a comparison.</summary>
public sealed record ComparisonOptions
{
    /// <summary>Length of the sliding window (ms of samples).</summary>
    public double WindowMs { get; init; } = 500;

    /// <summary>Δ of the coincidence factor Γ (ms).</summary>
    public double CoincidenceDeltaMs { get; init; } = 2;

    /// <summary>q of the Victor–Purpura distance (1/ms): shifting a spike by more than 2/q costs as much as deleting and inserting it.</summary>
    public double VictorPurpuraCostPerMs { get; init; } = 0.5;

    /// <summary>Largest spike-time difference still reported as a matched pair (ms).</summary>
    public double MatchWindowMs { get; init; } = 10;

    /// <summary>Spikes are upward crossings of this level (mV), on both traces.</summary>
    public double DetectionMv { get; init; }

    /// <summary>Minimum time between spikes of one trace (ms).</summary>
    public double DeadTimeMs { get; init; } = 1;

    /// <summary>Each action potential is measured on the stretch from this long before its crossing…</summary>
    public double ApBeforeMs { get; init; } = 5;

    /// <summary>…to this long after it (ms); the after-hyperpolarisation must fall within it.</summary>
    public double ApAfterMs { get; init; } = 15;

    /// <summary>
    /// Updates are published at most once per this much sample time (ms); 0 publishes after every call that advanced,
    /// +∞ never (use <see cref="LiveComparison.GetUpdate"/>).
    /// </summary>
    public double PublishIntervalMs { get; init; } = 50;

    /// <summary>How long past a pulse's scheduled end its StimulusEvent is waited for before the schedule is assumed (ms).</summary>
    public double StimulusEventWaitMs { get; init; } = 250;

    /// <summary>Added to the model's potential before it is compared (a fitted junction or electrode offset, mV).</summary>
    public double ModelOffsetMv { get; init; }

    /// <summary>Keep every sample (recorded, predicted, stimulus) for <see cref="LiveComparison.GetTrace"/> (offline use: fitting).</summary>
    public bool RetainTrace { get; init; }
}

/// <summary>Agreement of the potential over a stretch of compared samples (gaps excluded).</summary>
/// <param name="Samples">Samples compared.</param>
/// <param name="RmseMv">Root mean square of recorded − predicted (mV); NaN with no samples.</param>
/// <param name="PearsonR">Correlation of recorded and predicted; NaN when either is constant.</param>
/// <param name="MeanErrorMv">Mean of recorded − predicted (mV): an offset.</param>
public readonly record struct TraceMetrics(long Samples, double RmseMv, double PearsonR, double MeanErrorMv);

/// <summary>Agreement of the spike trains over a stretch.</summary>
/// <param name="SpikesRecorded">Spikes in the recording.</param>
/// <param name="SpikesModel">Spikes of the model.</param>
/// <param name="Coincidences">Pairs within ±Δ.</param>
/// <param name="Gamma">Coincidence factor Γ (Jolivet et al. 2008); NaN when undefined.</param>
/// <param name="VictorPurpura">Victor–Purpura distance at the configured q.</param>
/// <param name="MatchedPairs">Pairs within the match window.</param>
/// <param name="MeanSpikeTimeErrorMs">Mean |model − recorded| spike time over matched pairs (ms); NaN with none.</param>
/// <param name="MeanSpikeTimeOffsetMs">Mean model − recorded over matched pairs (ms): positive when the model fires late.</param>
public readonly record struct SpikeMetrics(int SpikesRecorded, int SpikesModel, int Coincidences, double Gamma, double VictorPurpura,
    int MatchedPairs, double MeanSpikeTimeErrorMs, double MeanSpikeTimeOffsetMs);

/// <summary>One stimulus epoch: from a pulse's onset to the next one's (epoch 0: before the first pulse).</summary>
/// <param name="Number">0 before the first pulse, then 1, 2, … per pulse.</param>
/// <param name="Pulse">The pulse that opened it (null for epoch 0).</param>
/// <param name="StartMs">Its first sample's time (ms from the model's start).</param>
/// <param name="EndMs">Time just past its last sample.</param>
/// <param name="Trace">Agreement of the potential.</param>
/// <param name="Spikes">Agreement of the spikes.</param>
public sealed record EpochMetrics(int Number, PlayedPulse? Pulse, double StartMs, double EndMs, TraceMetrics Trace, SpikeMetrics Spikes);

/// <summary>A recorded spike and the model's spike paired with it.</summary>
/// <param name="RecordedMs">Recorded spike time (ms from the model's start).</param>
/// <param name="ModelMs">Model spike time.</param>
public readonly record struct SpikePair(double RecordedMs, double ModelMs)
{
    /// <summary>Model − recorded (ms).</summary>
    public double DifferenceMs => ModelMs - RecordedMs;
}

/// <summary>Differences of one action potential's features, model − recorded (or, as an uncertainty, their spread).</summary>
public readonly record struct ApFeatureDifferences(double ThresholdMv, double PeakMv, double AmplitudeMv, double HalfWidthMs, double AhpMv)
{
    /// <summary>True when <paramref name="difference"/> is beyond what the recording's noise alone gives (more than twice
    /// its standard uncertainty <paramref name="uncertainty"/>); a difference with no uncertainty known counts.</summary>
    public static bool BeyondNoise(double difference, double uncertainty) =>
        double.IsFinite(difference) && (!double.IsFinite(uncertainty) || Math.Abs(difference) > 2 * uncertainty);
}

/// <summary>One row of the action-potential table: a recorded AP, the model's AP paired with it, and their differences.</summary>
/// <param name="RecordedSpikeMs">The recorded spike (null: the model fired and the recording did not).</param>
/// <param name="ModelSpikeMs">The model's spike (null: the recording fired and the model did not).</param>
/// <param name="Recorded">Features of the recorded AP (null when not measurable, e.g. a gap inside it).</param>
/// <param name="Model">Features of the model's AP.</param>
/// <param name="Differences">Model − recorded, when both were measured.</param>
/// <param name="Uncertainty">
/// The standard uncertainty of each difference that the recording's noise alone causes: the spread of the model AP's
/// features measured again with noise of the recording's level added (16 draws). A difference within twice it is
/// no difference (<see cref="ApFeatureDifferences.BeyondNoise"/>). Null when the noise could not be estimated.
/// </param>
public sealed record ApComparison(double? RecordedSpikeMs, double? ModelSpikeMs, ActionPotentialFeatures? Recorded, ActionPotentialFeatures? Model,
    ApFeatureDifferences? Differences, ApFeatureDifferences? Uncertainty = null);

/// <summary>What the comparison publishes as samples arrive: cheap to build, the latest state of the metrics.</summary>
/// <param name="ThroughIndex">Every sample before this device index has been compared (or excluded as a gap).</param>
/// <param name="TimeMs">Its time from the model's start (ms).</param>
/// <param name="Window">The potential over the sliding window.</param>
/// <param name="WindowSpikes">The spikes over the sliding window.</param>
/// <param name="Whole">The potential over everything compared so far.</param>
/// <param name="WholeSpikes">The spikes over everything so far (pairs near the newest sample are still open).</param>
/// <param name="LastEpoch">The newest completed epoch (null before any).</param>
/// <param name="Epochs">Completed epochs.</param>
/// <param name="ExcludedSamples">Samples not compared: gaps and samples never received.</param>
/// <param name="HeldBackSamples">Samples received but not yet compared: their pulse's StimulusEvent has not arrived.</param>
/// <param name="PulsesConfirmed">Pulses driven into the model as their events reported them.</param>
/// <param name="PulsesAssumed">Pulses driven as scheduled because their events did not arrive.</param>
public sealed record ComparisonUpdate(
    ulong ThroughIndex, double TimeMs, TraceMetrics Window, SpikeMetrics WindowSpikes, TraceMetrics Whole, SpikeMetrics WholeSpikes,
    EpochMetrics? LastEpoch, int Epochs, ulong ExcludedSamples, ulong HeldBackSamples, long PulsesConfirmed, long PulsesAssumed);

/// <summary>Everything a finished (or running) comparison knows.</summary>
/// <param name="Update">The latest metrics.</param>
/// <param name="Epochs">Every completed epoch.</param>
/// <param name="RecordedSpikesMs">Recorded spike times.</param>
/// <param name="ModelSpikesMs">Model spike times.</param>
/// <param name="Pairs">Matched spike pairs.</param>
/// <param name="ActionPotentials">The AP feature table, in time order.</param>
/// <param name="PulsesAborted">Pulses the rig reported as cut short.</param>
/// <param name="EventsIgnored">StimulusEvents that matched no scheduled pulse or came too late.</param>
public sealed record ComparisonReport(ComparisonUpdate Update, IReadOnlyList<EpochMetrics> Epochs, IReadOnlyList<double> RecordedSpikesMs,
    IReadOnlyList<double> ModelSpikesMs, IReadOnlyList<SpikePair> Pairs, IReadOnlyList<ApComparison> ActionPotentials,
    long PulsesAborted, long EventsIgnored);

/// <summary>Every sample of a comparison, for offline work (fitting). Index k is device sample <see cref="StartIndex"/> + k.</summary>
/// <param name="StartIndex">Device index of element 0 (the model's start).</param>
/// <param name="DtMs">Sample interval.</param>
/// <param name="RecordedMv">Calibrated recording; NaN where nothing was received (gaps).</param>
/// <param name="Stimulus">The stimulus the model received over each sample period, in the model's units.</param>
/// <param name="PredictedMv">The model's potential (offset included).</param>
public sealed record ComparisonTrace(ulong StartIndex, double DtMs, double[] RecordedMv, double[] Stimulus, double[] PredictedMv);
