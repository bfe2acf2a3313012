using System.Numerics;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Bench.Core.Analysis;
using Bench.Core.Models;
using Bench.Core.Protocol;
using MathNet.Numerics.Distributions;

namespace Bench.Core.Comparison;

/// <summary>
/// Compares a recording with a model sample for sample as the samples arrive. The model starts at the rig's sample 0
/// (its Start) and steps once per sample period with the stimulus the rig played in that period — sample k is the model's
/// potential at the start of period k, as the rig samples it — so an exact model reproduces the recording to the ADC's
/// resolution. Gaps never get invented data: the model steps through them to stay aligned, and their samples count in
/// no metric. The model waits at a scheduled pulse for the pulse's StimulusEvent (see <see cref="PlayedStimulus"/>).
/// Metrics: RMSE and correlation of V over a sliding window, the whole recording and each stimulus epoch; spikes on both
/// traces, matched pairs and their time differences, the coincidence factor Γ, the Victor–Purpura distance; a per-AP
/// feature table. Updates are published on <see cref="Updates"/> at most every <see cref="ComparisonOptions.PublishIntervalMs"/>
/// of sample time. Single-threaded (one caller feeds it); no allocation per sample.
/// </summary>
public sealed class LiveComparison
{
    private readonly INeuronModel model;
    private readonly ComparisonOptions options;
    private readonly PlayedStimulus stimulus;
    private readonly Channel<ComparisonUpdate> updates = Channel.CreateBounded<ComparisonUpdate>(
        new BoundedChannelOptions(64) { FullMode = BoundedChannelFullMode.DropOldest, SingleWriter = true });
    private readonly double dtMs;
    private readonly double unitsPerCode;
    private readonly double slopePerUnit;
    private readonly double mvPerCount;
    private readonly double offsetMv;
    private readonly ulong start;
    private readonly double[] recorded;
    private readonly double[] predicted;
    private readonly double[] drive;
    private readonly ulong mask;
    private readonly ulong windowSamples;
    private readonly ulong holdLimit;
    private readonly int apBefore;
    private readonly int apAfter;
    private readonly double[] apSegment;
    private readonly double[] apSlope;
    private readonly double[] apNoisy;
    private readonly double[] apDifferences;
    private readonly double[] noiseDraws = new double[NoiseDraws * 5];

    /// <summary>How many noisy copies of a model AP are measured to find its features' noise-based uncertainty.</summary>
    private const int NoiseDraws = 16;
    private readonly ulong publishSamples;
    private readonly List<double> recordedSpikes = new(4096);
    private readonly List<double> modelSpikes = new(4096);
    private readonly List<ActionPotentialFeatures?> recordedFeatures = new(4096);
    private readonly List<ActionPotentialFeatures?> modelFeatures = new(4096);
    private readonly List<ApFeatureDifferences?> modelUncertainty = new(4096);
    private readonly Queue<(int Spike, ulong Crossing, bool Model)> pendingAps = new(64);
    private readonly Queue<(ulong First, ulong End)> pendingGaps = new(16);
    private readonly List<(int Recorded, int Model)> pairs = new(4096);
    private readonly List<(EpochAccumulator Sums, ulong EndIndex)> closedEpochs = new(16);
    private readonly List<EpochMetrics> epochs = new(64);
    private readonly List<double>? traceRecorded;
    private readonly List<double>? traceStimulus;
    private readonly List<double>? tracePredicted;
    private ulong modelIndex;
    private ulong receivedEnd;
    private ulong excluded;
    private double reference = double.NaN;
    private Sums window;
    private ulong windowRecomputeAt;
    private Welford whole;
    private EpochAccumulator epoch;
    private OnlineSpikeDetector recordedDetector;
    private OnlineSpikeDetector modelDetector;
    private bool previousPresent;
    private (int I, int J, int Pairs, double Sum, double SumAbs) timing;
    private (int I, int J, int Count) coincidence;
    private (int A, int B, double Done) vp;
    private ulong lastPublished;
    private bool completed;

    /// <summary>Starts a comparison of a recording set up as <paramref name="setup"/> says with <paramref name="model"/> (fresh, at its initial state).</summary>
    public LiveComparison(INeuronModel model, ComparisonSetup setup, ComparisonOptions? options = null)
    {
        this.model = model;
        Setup = setup;
        this.options = options ??= new ComparisonOptions();
        if (!(setup.SampleRateHz > 0) || !double.IsFinite(setup.SampleRateHz)) throw new ArgumentException("the sample rate must be a positive number of Hz");
        if (!(options.WindowMs > 0)) throw new ArgumentException("the window must be longer than 0 ms");
        dtMs = 1000.0 / setup.SampleRateHz;
        unitsPerCode = setup.ModelUnitsPerCode;
        slopePerUnit = model.StimulusSlopeMvPerMsPerUnit;
        mvPerCount = setup.Calibration.MillivoltsPerCount;
        offsetMv = setup.Calibration.OffsetMv;
        start = setup.ModelStartIndex;
        modelIndex = receivedEnd = lastPublished = start;
        ulong wait = Samples(options.StimulusEventWaitMs);
        stimulus = new PlayedStimulus(setup.Stimulus?.Output ?? 0, wait);
        if (setup.Stimulus is { } command) stimulus.AddCommand(command, start);
        windowSamples = Math.Max(1, Samples(options.WindowMs));
        apBefore = (int)Samples(options.ApBeforeMs);
        apAfter = (int)Math.Max(1, Samples(options.ApAfterMs));
        // Samples received but not yet compared: a pulse and the wait for its event, plus the blocks in flight.
        holdLimit = stimulus.LongestPulseSamples + wait + Math.Max(1024, Samples(250));
        ulong behind = Math.Max(windowSamples, (ulong)(apBefore + apAfter)) + 2;
        ulong capacity = BitOperations.RoundUpToPowerOf2(behind + holdLimit + 1);
        mask = capacity - 1;
        recorded = new double[capacity];
        predicted = new double[capacity];
        drive = new double[capacity];
        apSegment = new double[apBefore + apAfter + 1];
        apSlope = new double[apBefore + apAfter + 1];
        apNoisy = new double[apBefore + apAfter + 1];
        apDifferences = new double[apBefore + apAfter + 1];
        publishSamples = double.IsPositiveInfinity(options.PublishIntervalMs) ? ulong.MaxValue : Samples(Math.Max(0, options.PublishIntervalMs));
        windowRecomputeAt = start + windowSamples;
        recordedDetector = new OnlineSpikeDetector(options.DetectionMv, options.DeadTimeMs);
        modelDetector = new OnlineSpikeDetector(options.DetectionMv, options.DeadTimeMs);
        epoch = new EpochAccumulator(0, null, start);
        if (options.RetainTrace)
        {
            traceRecorded = [];
            traceStimulus = [];
            tracePredicted = [];
        }
    }

    /// <summary>Builds the model by catalog name with parameter overrides and starts a comparison with it.</summary>
    /// <exception cref="ArgumentException">Unknown model or parameter, or a bad value; the message says which.</exception>
    public static LiveComparison Create(string modelName, IReadOnlyDictionary<string, double>? parameters, ComparisonSetup setup, ComparisonOptions? options = null) =>
        new(ModelCatalog.Get(modelName).Create(parameters), setup, options);

    /// <summary>How the comparison was set up.</summary>
    public ComparisonSetup Setup { get; }

    /// <summary>The model as it stands at <see cref="ComparedThrough"/> (read its observables; do not step it).</summary>
    public INeuronModel Model => model;

    /// <summary>The published updates (bounded: a slow reader loses the oldest, never stalls the comparison).</summary>
    public ChannelReader<ComparisonUpdate> Updates => updates.Reader;

    /// <summary>The newest update published.</summary>
    public ComparisonUpdate? Latest { get; private set; }

    /// <summary>Every sample before this device index has been compared or excluded.</summary>
    public ulong ComparedThrough => modelIndex;

    /// <summary>Index just past the newest sample received (or declared lost).</summary>
    public ulong ReceivedThrough => receivedEnd;

    /// <summary>The model's sample interval (ms).</summary>
    public double DtMs => dtMs;

    /// <summary>The stimulus as it drives the model.</summary>
    public PlayedStimulus Stimulus => stimulus;

    /// <summary>Another Stimulus the rig accepted during the recording (one at a time per output).</summary>
    /// <param name="command">The command.</param>
    /// <param name="earliestIndex">For a command without a start index: the newest sample index when it was sent.</param>
    public void AddStimulus(StimulusCommand command, ulong earliestIndex) => stimulus.AddCommand(command, Math.Max(earliestIndex, modelIndex));

    /// <summary>
    /// Samples as they arrive: raw ADC codes from device index <paramref name="firstIndex"/>, calibrated here. Samples the
    /// comparison already has are ignored; a jump past the newest one is a gap. <paramref name="predictedMv"/>, when given
    /// (at least as long as <paramref name="counts"/>), receives the model's potential for each sample, or NaN for samples
    /// still held back for their pulse's event (<see cref="CopyPredicted"/> has them later).
    /// </summary>
    public void OnSamples(ulong firstIndex, ReadOnlySpan<ushort> counts, Span<double> predictedMv = default)
    {
        if (completed) throw new InvalidOperationException("the comparison is complete");
        if (!predictedMv.IsEmpty && predictedMv.Length < counts.Length) throw new ArgumentException("predictedMv must hold one value per sample", nameof(predictedMv));
        ulong end = firstIndex + (ulong)counts.Length;
        if (end > receivedEnd && firstIndex >= start)
        {
            if (firstIndex > receivedEnd) ReceiveMissing(firstIndex);
            int skip = (int)(receivedEnd - firstIndex);
            var fresh = counts[skip..];
            while (!fresh.IsEmpty)
            {
                int take = (int)Math.Min((ulong)fresh.Length, Room());
                for (int k = 0; k < take; k++)
                {
                    recorded[(receivedEnd + (ulong)k) & mask] = (mvPerCount * fresh[k]) + offsetMv;
                }

                receivedEnd += (ulong)take;
                fresh = fresh[take..];
                Advance(force: false);
            }

            // A gap reported before these samples arrived starts where they end.
            while (pendingGaps.Count > 0 && pendingGaps.Peek().First <= receivedEnd)
            {
                var (_, gapEnd) = pendingGaps.Dequeue();
                if (gapEnd > receivedEnd) ReceiveMissing(gapEnd);
            }
        }

        if (!predictedMv.IsEmpty) CopyPredicted(firstIndex, predictedMv[..counts.Length]);
        MaybePublish();
    }

    /// <summary>
    /// Samples from <paramref name="firstLost"/> that never arrived (<paramref name="count"/> of them): excluded from every
    /// metric. A gap reported ahead of the samples before it (events and samples travel separately) waits for them.
    /// </summary>
    public void OnGap(ulong firstLost, ulong count)
    {
        if (completed) throw new InvalidOperationException("the comparison is complete");
        if (firstLost > receivedEnd)
        {
            pendingGaps.Enqueue((firstLost, firstLost + count));
            return;
        }

        ulong end = firstLost + count;
        if (end > receivedEnd) ReceiveMissing(end);
        MaybePublish();
    }

    /// <summary>A pulse as the rig played it, its onset in the samples' index.</summary>
    public void OnStimulusEvent(in StimulusEvent pulse)
    {
        if (completed) return;
        stimulus.OnEvent(pulse, receivedEnd, modelIndex);
        Advance(force: false);
        MaybePublish();
    }

    /// <summary>
    /// The recording has ended: pulses still awaiting their events are taken as scheduled, every sample received is
    /// compared, open spike pairs and epochs are closed, and a last update is published (then the channel completes).
    /// </summary>
    public void Complete()
    {
        if (completed) return;
        Advance(force: true);
        while (pendingAps.Count > 0) AnalyseAp(pendingAps.Dequeue(), modelIndex);
        closedEpochs.Add((epoch, modelIndex));
        epoch = new EpochAccumulator(epoch.Number + 1, null, modelIndex);
        FinishEpochs(double.PositiveInfinity);
        completed = true;
        Publish();
        updates.Writer.TryComplete();
    }

    /// <summary>The oldest index whose prediction is still held (older ones were overwritten: a long gap is stepped through at once).</summary>
    public ulong OldestPredicted => Math.Max(modelIndex > mask ? modelIndex - mask : 0, start);

    /// <summary>Copies the model's potential for device indices from <paramref name="firstIndex"/>; NaN where not computed (yet, or any more).</summary>
    /// <returns>How many leading values are real (the rest are NaN).</returns>
    public int CopyPredicted(ulong firstIndex, Span<double> destination)
    {
        int real = 0;
        ulong oldest = modelIndex > mask ? modelIndex - mask : 0;
        for (int k = 0; k < destination.Length; k++)
        {
            ulong i = firstIndex + (ulong)k;
            bool known = i < modelIndex && i >= oldest && i >= start;
            destination[k] = known ? predicted[i & mask] : double.NaN;
            if (known && real == k) real++;
        }

        return real;
    }

    /// <summary>The metrics now (what <see cref="Updates"/> publishes).</summary>
    public ComparisonUpdate GetUpdate()
    {
        double horizon = completed ? double.PositiveInfinity : TimeOf(modelIndex) - dtMs;
        AdvanceMatchers(horizon);
        var rs = CollectionsMarshal.AsSpan(recordedSpikes);
        var ms = CollectionsMarshal.AsSpan(modelSpikes);
        double now = TimeOf(modelIndex);
        var windowRecorded = rs[LowerBound(rs, now - options.WindowMs)..];
        var windowModel = ms[LowerBound(ms, now - options.WindowMs)..];
        var windowSpikes = SpikesOf(windowRecorded, windowModel, window.N * dtMs);
        double vpTotal = vp.Done + SpikeTrainMetrics.VictorPurpuraSegmented(rs[vp.A..], ms[vp.B..], options.VictorPurpuraCostPerMs);
        var wholeSpikes = new SpikeMetrics(rs.Length, ms.Length, coincidence.Count,
            SpikeTrainMetrics.Gamma(coincidence.Count, rs.Length, ms.Length, whole.N * dtMs, options.CoincidenceDeltaMs), vpTotal,
            timing.Pairs, timing.Pairs > 0 ? timing.SumAbs / timing.Pairs : double.NaN, timing.Pairs > 0 ? timing.Sum / timing.Pairs : double.NaN);
        return new ComparisonUpdate(modelIndex, now, window.Metrics(), windowSpikes, whole.Metrics(), wholeSpikes,
            epochs.Count > 0 ? epochs[^1] : null, epochs.Count, excluded, receivedEnd - modelIndex, stimulus.PulsesConfirmed, stimulus.PulsesAssumed);
    }

    /// <summary>Everything: the latest metrics, every epoch, the spike trains, matched pairs and the AP feature table.</summary>
    public ComparisonReport GetReport()
    {
        var update = GetUpdate();
        var rows = new List<ApComparison>();
        var matchedRecorded = new bool[recordedSpikes.Count];
        var matchedModel = new bool[modelSpikes.Count];
        foreach (var (r, m) in pairs)
        {
            matchedRecorded[r] = matchedModel[m] = true;
            var a = recordedFeatures[r];
            var b = modelFeatures[m];
            ApFeatureDifferences? diff = a is { } x && b is { } y
                ? new ApFeatureDifferences(y.ThresholdMv - x.ThresholdMv, y.PeakMv - x.PeakMv, y.AmplitudeMv - x.AmplitudeMv, y.HalfWidthMs - x.HalfWidthMs, y.AhpMinMv - x.AhpMinMv)
                : null;
            rows.Add(new ApComparison(recordedSpikes[r], modelSpikes[m], a, b, diff, diff is null ? null : modelUncertainty[m]));
        }

        for (int r = 0; r < matchedRecorded.Length; r++)
        {
            if (!matchedRecorded[r]) rows.Add(new ApComparison(recordedSpikes[r], null, recordedFeatures[r], null, null));
        }

        for (int m = 0; m < matchedModel.Length; m++)
        {
            if (!matchedModel[m]) rows.Add(new ApComparison(null, modelSpikes[m], null, modelFeatures[m], null));
        }

        rows.Sort((p, q) => (p.RecordedSpikeMs ?? p.ModelSpikeMs ?? 0).CompareTo(q.RecordedSpikeMs ?? q.ModelSpikeMs ?? 0));
        return new ComparisonReport(update, [.. epochs], [.. recordedSpikes], [.. modelSpikes],
            [.. pairs.Select(p => new SpikePair(recordedSpikes[p.Recorded], modelSpikes[p.Model]))], rows, stimulus.PulsesAborted, stimulus.EventsIgnored);
    }

    /// <summary>Every sample compared so far (needs <see cref="ComparisonOptions.RetainTrace"/>).</summary>
    public ComparisonTrace GetTrace()
    {
        if (traceRecorded is null) throw new InvalidOperationException("the comparison was not asked to retain its trace (ComparisonOptions.RetainTrace)");
        return new ComparisonTrace(start, dtMs, [.. traceRecorded], [.. traceStimulus!], [.. tracePredicted!]);
    }

    private ulong Samples(double ms) => (ulong)Math.Max(0, Math.Ceiling((ms * Setup.SampleRateHz / 1000) - 1e-9));

    private double TimeOf(ulong index) => (index - start) * dtMs;

    /// <summary>Samples that may still be received before the oldest held-back one would be overwritten.</summary>
    private ulong Room()
    {
        ulong held = receivedEnd - modelIndex;
        if (held >= holdLimit)
        {
            // The events stay away longer than the buffer holds: go on with the schedule.
            Advance(force: true);
            held = receivedEnd - modelIndex;
        }

        return Math.Max(1, holdLimit - held);
    }

    private void ReceiveMissing(ulong until)
    {
        while (receivedEnd < until)
        {
            ulong take = Math.Min(until - receivedEnd, Room());
            for (ulong k = 0; k < take; k++) recorded[(receivedEnd + k) & mask] = double.NaN;
            receivedEnd += take;
            Advance(force: false);
        }
    }

    private void Advance(bool force)
    {
        ulong limit = Math.Min(stimulus.KnownUntil(receivedEnd, force), receivedEnd);
        for (ulong i = modelIndex; i < limit; i++) Step(i);
        if (limit > modelIndex) modelIndex = limit;
    }

    private void Step(ulong i)
    {
        ulong r = i & mask;
        double stim = stimulus.CodeAt(i) * unitsPerCode;
        double v = model.VoltageMv + options.ModelOffsetMv;
        predicted[r] = v;
        drive[r] = stim;
        model.Step(stim, dtMs);
        while (stimulus.TryTakeOnset(i, out var pulse)) NewEpoch(i, pulse);

        double rec = recorded[r];
        bool present = !double.IsNaN(rec);
        if (i - start >= windowSamples)
        {
            ulong j = (i - windowSamples) & mask;
            if (!double.IsNaN(recorded[j])) window.Remove(recorded[j] - reference, predicted[j] - reference);
        }

        double t = TimeOf(i);
        if (present)
        {
            if (double.IsNaN(reference)) reference = rec;
            double a = rec - reference, b = v - reference;
            window.Add(a, b);
            whole.Add(a, b);
            epoch.Sums.Add(a, b);
        }
        else
        {
            excluded++;
        }

        // The model's detector sees every sample (its state stays continuous); a spike counts only where both samples
        // of its crossing were recorded. The recording's detector starts afresh after a gap: no crossing spans one.
        if (modelDetector.Add(t, v, dtMs) is double modelSpike && present && previousPresent) AddSpike(modelSpikes, modelFeatures, modelSpike, i, model: true);
        if (present)
        {
            if (!previousPresent) recordedDetector = new OnlineSpikeDetector(options.DetectionMv, options.DeadTimeMs);
            if (recordedDetector.Add(t, rec, dtMs) is double recordedSpike) AddSpike(recordedSpikes, recordedFeatures, recordedSpike, i, model: false);
        }

        previousPresent = present;
        if (traceRecorded is not null)
        {
            traceRecorded.Add(rec);
            traceStimulus!.Add(stim);
            tracePredicted!.Add(v);
        }

        while (pendingAps.Count > 0 && pendingAps.Peek().Crossing + (ulong)apAfter <= i) AnalyseAp(pendingAps.Dequeue(), i + 1);
        if (closedEpochs.Count > 0) FinishEpochs(t);
        if (i + 1 >= windowRecomputeAt)
        {
            // Sums with samples taken out drift; start them again from the samples every window length.
            RecomputeWindow(i + 1);
            windowRecomputeAt = i + 1 + windowSamples;
        }
    }

    private void AddSpike(List<double> spikes, List<ActionPotentialFeatures?> features, double timeMs, ulong index, bool model)
    {
        spikes.Add(timeMs);
        features.Add(null);
        if (model) modelUncertainty.Add(null);
        pendingAps.Enqueue((spikes.Count - 1, index, model));
    }

    private void RecomputeWindow(ulong end)
    {
        window = default;
        ulong from = end - start > windowSamples ? end - windowSamples : start;
        for (ulong j = from; j < end; j++)
        {
            double rec = recorded[j & mask];
            if (!double.IsNaN(rec)) window.Add(rec - reference, predicted[j & mask] - reference);
        }
    }

    /// <summary>
    /// Measures one action potential on the stretch around its crossing, up to <paramref name="stepped"/> (the samples
    /// the model has stepped so far; within one advance that is the current step, not where the advance began); none
    /// when a gap falls inside it.
    /// </summary>
    private void AnalyseAp((int Spike, ulong Crossing, bool Model) ap, ulong stepped)
    {
        ulong from = ap.Crossing >= start + (ulong)apBefore ? ap.Crossing - (ulong)apBefore : start;
        ulong to = Math.Min(ap.Crossing + (ulong)apAfter + 1, stepped);
        if (to <= from) return;
        int n = (int)(to - from);
        var source = ap.Model ? predicted : recorded;
        for (int k = 0; k < n; k++)
        {
            ulong r = (from + (ulong)k) & mask;
            apSegment[k] = source[r];
            apSlope[k] = drive[r] * slopePerUnit;
            if (double.IsNaN(apSegment[k]))
            {
                return;
            }
        }

        var spikes = ap.Model ? modelSpikes : recordedSpikes;
        var report = ActionPotentialAnalysis.Analyze(apSegment.AsSpan(0, n), dtMs, new ActionPotentialOptions { DetectionMv = options.DetectionMv, DeadTimeMs = options.DeadTimeMs },
            TimeOf(from), apSlope.AsSpan(0, Math.Max(0, n - 1)));
        var best = ApAt(report, spikes[ap.Spike]);

        (ap.Model ? modelFeatures : recordedFeatures)[ap.Spike] = best;
        if (ap.Model && best is { } measured) modelUncertainty[ap.Spike] = NoiseUncertainty(from, n, measured, spikes[ap.Spike]);
    }

    /// <summary>
    /// How much the recording's noise alone moves this model AP's features: the noise is estimated from the recording
    /// over the same stretch (the spread of its sample-to-sample steps, less the model's, so the AP's own steps do not
    /// count), added to the model's AP in <see cref="NoiseDraws"/> seeded draws, and each draw measured as the recording
    /// is. Per action potential, not per sample.
    /// </summary>
    private ApFeatureDifferences? NoiseUncertainty(ulong from, int n, ActionPotentialFeatures measured, double crossingMs)
    {
        // Robust noise: median |Δ(recorded − model)| / 0.6745 / √2 (a sample step holds two samples' noise).
        int m = 0;
        for (int k = 1; k < n; k++)
        {
            ulong a = (from + (ulong)k - 1) & mask, b = (from + (ulong)k) & mask;
            double d = (recorded[b] - predicted[b]) - (recorded[a] - predicted[a]);
            if (double.IsFinite(d)) apDifferences[m++] = Math.Abs(d);
        }

        if (m < 16) return null;
        var steps = apDifferences.AsSpan(0, m);
        steps.Sort();
        double sigma = steps[m / 2] / 0.6745 / Math.Sqrt(2);
        if (!(sigma > 0)) return new ApFeatureDifferences(0, 0, 0, 0, 0);
        var random = new Random(unchecked((int)(from * 2654435761UL)));
        var options = new ActionPotentialOptions { DetectionMv = this.options.DetectionMv, DeadTimeMs = this.options.DeadTimeMs };
        int draws = 0;
        for (int draw = 0; draw < NoiseDraws; draw++)
        {
            for (int k = 0; k < n; k++) apNoisy[k] = apSegment[k] + Normal.Sample(random, 0, sigma);
            var report = ActionPotentialAnalysis.Analyze(apNoisy.AsSpan(0, n), dtMs, options, TimeOf(from), apSlope.AsSpan(0, Math.Max(0, n - 1)));
            if (ApAt(report, crossingMs) is not { } x) continue;
            noiseDraws[(draws * 5) + 0] = x.ThresholdMv - measured.ThresholdMv;
            noiseDraws[(draws * 5) + 1] = x.PeakMv - measured.PeakMv;
            noiseDraws[(draws * 5) + 2] = x.AmplitudeMv - measured.AmplitudeMv;
            noiseDraws[(draws * 5) + 3] = x.HalfWidthMs - measured.HalfWidthMs;
            noiseDraws[(draws * 5) + 4] = x.AhpMinMv - measured.AhpMinMv;
            draws++;
        }

        if (draws < NoiseDraws / 2) return null;
        // Robust: the median shift (noise biases some features, e.g. the AHP's minimum) and 1.4826 × the median absolute
        // deviation about it (a standard deviation, unmoved by a rare draw that the analysis reads differently).
        double Spread(int feature)
        {
            var values = apDifferences.AsSpan(0, draws);
            for (int d = 0; d < draws; d++) values[d] = noiseDraws[(d * 5) + feature];
            values.Sort();
            double median = values[draws / 2];
            for (int d = 0; d < draws; d++) values[d] = Math.Abs(values[d] - median);
            values.Sort();
            double deviation = 1.4826 * values[draws / 2];
            return Math.Sqrt((median * median) + (deviation * deviation));
        }

        return new ApFeatureDifferences(Spread(0), Spread(1), Spread(2), Spread(3), Spread(4));
    }

    /// <summary>The AP whose peak is the first at or after the spike's crossing of <paramref name="crossingMs"/> (within a sample).</summary>
    private ActionPotentialFeatures? ApAt(ActionPotentialReport report, double crossingMs)
    {
        ActionPotentialFeatures? best = null;
        foreach (var f in report.Spikes)
        {
            if (f.PeakTimeMs >= crossingMs - dtMs && (best is null || f.PeakTimeMs < best.Value.PeakTimeMs)) best = f;
        }

        return best;
    }


    private void NewEpoch(ulong index, PlayedPulse pulse)
    {
        closedEpochs.Add((epoch, index));
        epoch = new EpochAccumulator(epoch.Number + 1, pulse, index);
    }

    /// <summary>Epochs whose spikes can no longer change (the horizon is a match window past their end) get their metrics.</summary>
    private void FinishEpochs(double horizonMs)
    {
        while (closedEpochs.Count > 0)
        {
            var (sums, endIndex) = closedEpochs[0];
            double startMs = TimeOf(sums.StartIndex), endMs = TimeOf(endIndex);
            if (endMs + Math.Max(options.MatchWindowMs, options.CoincidenceDeltaMs) >= horizonMs) return;
            closedEpochs.RemoveAt(0);
            var rs = CollectionsMarshal.AsSpan(recordedSpikes);
            var ms = CollectionsMarshal.AsSpan(modelSpikes);
            var r = rs[LowerBound(rs, startMs)..LowerBound(rs, endMs)];
            var m = ms[LowerBound(ms, startMs)..LowerBound(ms, endMs)];
            epochs.Add(new EpochMetrics(sums.Number, sums.Pulse, startMs, endMs, sums.Sums.Metrics(), SpikesOf(r, m, sums.Sums.N * dtMs)));
        }
    }

    private SpikeMetrics SpikesOf(ReadOnlySpan<double> r, ReadOnlySpan<double> m, double durationMs)
    {
        int coincidences = SpikeTrainMetrics.Coincidences(r, m, options.CoincidenceDeltaMs);
        var (n, sum, sumAbs) = SpikeTrainMetrics.MatchSums(r, m, options.MatchWindowMs);
        return new SpikeMetrics(r.Length, m.Length, coincidences, SpikeTrainMetrics.Gamma(coincidences, r.Length, m.Length, durationMs, options.CoincidenceDeltaMs),
            SpikeTrainMetrics.VictorPurpuraSegmented(r, m, options.VictorPurpuraCostPerMs), n, n > 0 ? sumAbs / n : double.NaN, n > 0 ? sum / n : double.NaN);
    }

    /// <summary>
    /// Moves the whole-recording matchers and the Victor–Purpura total over the spikes whose outcome is settled: no spike
    /// later detected can be earlier than <paramref name="horizonMs"/>.
    /// </summary>
    private void AdvanceMatchers(double horizonMs)
    {
        var rs = CollectionsMarshal.AsSpan(recordedSpikes);
        var ms = CollectionsMarshal.AsSpan(modelSpikes);
        var (ti, tj, tp, sum, sumAbs) = timing;
        while (true)
        {
            if (ti < rs.Length && tj < ms.Length)
            {
                double d = ms[tj] - rs[ti];
                if (d < -options.MatchWindowMs) tj++;
                else if (d > options.MatchWindowMs) ti++;
                else
                {
                    pairs.Add((ti, tj));
                    tp++;
                    sum += d;
                    sumAbs += Math.Abs(d);
                    ti++;
                    tj++;
                }
            }
            else if (ti < rs.Length && rs[ti] + options.MatchWindowMs < horizonMs) ti++;
            else if (tj < ms.Length && ms[tj] + options.MatchWindowMs < horizonMs) tj++;
            else break;
        }

        timing = (ti, tj, tp, sum, sumAbs);
        var (ci, cj, count) = coincidence;
        double delta = options.CoincidenceDeltaMs;
        while (true)
        {
            if (ci < rs.Length && cj < ms.Length)
            {
                double d = ms[cj] - rs[ci];
                if (d < -delta) cj++;
                else if (d > delta) ci++;
                else
                {
                    count++;
                    ci++;
                    cj++;
                }
            }
            else if (ci < rs.Length && rs[ci] + delta < horizonMs) ci++;
            else if (cj < ms.Length && ms[cj] + delta < horizonMs) cj++;
            else break;
        }

        coincidence = (ci, cj, count);
        double reach = options.VictorPurpuraCostPerMs > 0 ? 2 / options.VictorPurpuraCostPerMs : double.PositiveInfinity;
        while (true)
        {
            int endA = vp.A, endB = vp.B;
            if (endA >= rs.Length && endB >= ms.Length) break;
            SpikeTrainMetrics.NextPiece(rs, ms, options.VictorPurpuraCostPerMs, ref endA, ref endB);
            double last = Math.Max(endA > vp.A ? rs[endA - 1] : double.NegativeInfinity, endB > vp.B ? ms[endB - 1] : double.NegativeInfinity);
            bool closed = endA < rs.Length || endB < ms.Length || last + reach <= horizonMs;
            if (!closed) break;
            vp = (endA, endB, vp.Done + SpikeTrainMetrics.VictorPurpura(rs[vp.A..endA], ms[vp.B..endB], options.VictorPurpuraCostPerMs));
        }
    }

    private static int LowerBound(ReadOnlySpan<double> sorted, double value)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (sorted[mid] < value) lo = mid + 1; else hi = mid;
        }

        return lo;
    }

    private void MaybePublish()
    {
        if (publishSamples == ulong.MaxValue || modelIndex == lastPublished) return;
        if (modelIndex - lastPublished >= publishSamples) Publish();
    }

    private void Publish()
    {
        lastPublished = modelIndex;
        var update = GetUpdate();
        Latest = update;
        updates.Writer.TryWrite(update);
    }

    /// <summary>Sums of a window: shifted by a reference potential so that taking samples out loses little precision.</summary>
    private struct Sums
    {
        public long N;
        public double A, B, Aa, Bb, Ab, Ee, E;

        public void Add(double a, double b)
        {
            double e = a - b;
            N++;
            A += a;
            B += b;
            Aa += a * a;
            Bb += b * b;
            Ab += a * b;
            Ee += e * e;
            E += e;
        }

        public void Remove(double a, double b)
        {
            double e = a - b;
            N--;
            A -= a;
            B -= b;
            Aa -= a * a;
            Bb -= b * b;
            Ab -= a * b;
            Ee -= e * e;
            E -= e;
        }

        public readonly TraceMetrics Metrics()
        {
            if (N <= 0) return new TraceMetrics(0, double.NaN, double.NaN, double.NaN);
            double saa = Aa - (A * A / N), sbb = Bb - (B * B / N), sab = Ab - (A * B / N);
            double r = saa > 0 && sbb > 0 ? sab / Math.Sqrt(saa * sbb) : double.NaN;
            return new TraceMetrics(N, Math.Sqrt(Math.Max(0, Ee / N)), Math.Clamp(r, -1, 1), E / N);
        }
    }

    /// <summary>Welford's running co-moments: stable over any number of samples.</summary>
    private struct Welford
    {
        public long N;
        private double meanA, meanB, m2a, m2b, cab, ee, e;

        public void Add(double a, double b)
        {
            N++;
            double da = a - meanA;
            meanA += da / N;
            double db = b - meanB;
            meanB += db / N;
            m2a += da * (a - meanA);
            m2b += db * (b - meanB);
            cab += da * (b - meanB);
            double d = a - b;
            ee += d * d;
            e += d;
        }

        public readonly TraceMetrics Metrics()
        {
            if (N <= 0) return new TraceMetrics(0, double.NaN, double.NaN, double.NaN);
            double r = m2a > 0 && m2b > 0 ? cab / Math.Sqrt(m2a * m2b) : double.NaN;
            return new TraceMetrics(N, Math.Sqrt(ee / N), Math.Clamp(r, -1, 1), e / N);
        }
    }

    /// <summary>An epoch being accumulated.</summary>
    private struct EpochAccumulator(int number, PlayedPulse? pulse, ulong startIndex)
    {
        public Sums Sums;

        public readonly int Number => number;

        public readonly PlayedPulse? Pulse => pulse;

        public readonly ulong StartIndex => startIndex;
    }
}
