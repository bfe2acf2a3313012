using Bench.Core.Models;
using Bench.Core.Protocol;

namespace Bench.Core.Comparison;

/// <summary>
/// Compares a recording with a model sample for sample as the samples arrive. The model starts at the rig's sample 0
/// (its Start) and steps once per sample period with the stimulus the rig played in that period — sample k is the model's
/// potential at the start of period k, as the rig samples it — so an exact model reproduces the recording to the ADC's
/// resolution. Gaps never get invented data: the model steps through them to stay aligned, and their samples count in
/// no metric. The model waits at a scheduled pulse for the pulse's StimulusEvent (see <see cref="PlayedStimulus"/>).
/// Metrics: RMSE and correlation of V over a sliding window, the whole recording and each stimulus epoch; spikes on both
/// traces, matched pairs and their time differences, the coincidence factor Γ, the Victor–Purpura distance; a per-AP
/// feature table. An update is handed to <see cref="Published"/> at most every <see cref="ComparisonOptions.PublishIntervalMs"/>
/// of sample time. Single-threaded (one caller feeds it); no allocation per sample.
/// </summary>
/// <remarks>
/// This class conducts; the parts do the work: <see cref="SampleAligner"/> lines the samples up with the model's,
/// <see cref="TraceAccumulators"/> keeps the potential's metrics, <see cref="SpikeMatcher"/> the spikes and their
/// metrics, <see cref="LiveApAnalyser"/> the AP features and their noise uncertainty.
/// </remarks>
public sealed class LiveComparison
{
    private readonly INeuronModel model;
    private readonly ComparisonOptions options;
    private readonly PlayedStimulus stimulus;
    private readonly SampleClock clock;
    private readonly double unitsPerCode;
    private readonly ulong publishSamples;
    private readonly SampleAligner samples;
    private readonly TraceAccumulators metrics;
    private readonly SpikeMatcher spikes;
    private readonly LiveApAnalyser aps;
    private readonly List<double>? traceRecorded;
    private readonly List<double>? traceStimulus;
    private readonly List<double>? tracePredicted;
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
        ulong start = setup.ModelStartIndex;
        clock = new SampleClock(start, setup.SampleRateHz);
        unitsPerCode = setup.ModelUnitsPerCode;
        lastPublished = start;
        ulong wait = clock.Samples(options.StimulusEventWaitMs);
        stimulus = new PlayedStimulus(setup.Stimulus?.Output ?? 0, wait);
        if (setup.Stimulus is { } command) stimulus.AddCommand(command, start);
        ulong windowSamples = Math.Max(1, clock.Samples(options.WindowMs));
        int apBefore = (int)clock.Samples(options.ApBeforeMs);
        int apAfter = (int)Math.Max(1, clock.Samples(options.ApAfterMs));
        // Samples received but not yet compared: a pulse and the wait for its event, plus the blocks in flight.
        ulong holdLimit = stimulus.LongestPulseSamples + wait + Math.Max(1024, clock.Samples(250));
        ulong behind = Math.Max(windowSamples, (ulong)(apBefore + apAfter)) + 2;
        samples = new SampleAligner(start, setup.Calibration.MillivoltsPerCount, setup.Calibration.OffsetMv, holdLimit, behind);
        spikes = new SpikeMatcher(options, clock.DtMs);
        metrics = new TraceAccumulators(samples, clock, windowSamples, Math.Max(options.MatchWindowMs, options.CoincidenceDeltaMs));
        aps = new LiveApAnalyser(samples, spikes, clock, model.StimulusSlopeMvPerMsPerUnit, options, apBefore, apAfter);
        publishSamples = double.IsPositiveInfinity(options.PublishIntervalMs) ? ulong.MaxValue : clock.Samples(Math.Max(0, options.PublishIntervalMs));
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

    /// <summary>
    /// Each update as it is published (on the feeding thread; a handler must be quick and must not feed the comparison).
    /// Whoever hands updates on to other threads (a channel, a queue) does so in its handler.
    /// </summary>
    public event Action<ComparisonUpdate>? Published;

    /// <summary>Raised once, after the last update, when <see cref="Complete"/> ends the comparison.</summary>
    public event Action? Completed;

    /// <summary>How the comparison was set up.</summary>
    public ComparisonSetup Setup { get; }

    /// <summary>The model as it stands at <see cref="ComparedThrough"/> (read its observables; do not step it).</summary>
    public INeuronModel Model => model;

    /// <summary>The newest update published.</summary>
    public ComparisonUpdate? Latest { get; private set; }

    /// <summary>Every sample before this device index has been compared or excluded.</summary>
    public ulong ComparedThrough => samples.ComparedThrough;

    /// <summary>Index just past the newest sample received (or declared lost).</summary>
    public ulong ReceivedThrough => samples.ReceivedEnd;

    /// <summary>The model's sample interval (ms).</summary>
    public double DtMs => clock.DtMs;

    /// <summary>The stimulus as it drives the model.</summary>
    public PlayedStimulus Stimulus => stimulus;

    /// <summary>Another Stimulus the rig accepted during the recording (one at a time per output).</summary>
    /// <param name="command">The command.</param>
    /// <param name="earliestIndex">For a command without a start index: the newest sample index when it was sent.</param>
    public void AddStimulus(StimulusCommand command, ulong earliestIndex) => stimulus.AddCommand(command, Math.Max(earliestIndex, samples.ComparedThrough));

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
        if (samples.HasNew(firstIndex, end))
        {
            if (firstIndex > samples.ReceivedEnd) ReceiveMissing(firstIndex);
            int skip = (int)(samples.ReceivedEnd - firstIndex);
            var fresh = counts[skip..];
            while (!fresh.IsEmpty)
            {
                int take = (int)Math.Min((ulong)fresh.Length, Room());
                samples.Store(fresh[..take]);
                fresh = fresh[take..];
                Advance(force: false);
            }

            // A gap reported before these samples arrived starts where they end.
            while (samples.TryTakeDueGap(out ulong gapEnd))
            {
                if (gapEnd > samples.ReceivedEnd) ReceiveMissing(gapEnd);
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
        if (firstLost > samples.ReceivedEnd)
        {
            samples.DeferGap(firstLost, firstLost + count);
            return;
        }

        ulong end = firstLost + count;
        if (end > samples.ReceivedEnd) ReceiveMissing(end);
        MaybePublish();
    }

    /// <summary>A pulse as the rig played it, its onset in the samples' index.</summary>
    public void OnStimulusEvent(in StimulusEvent pulse)
    {
        if (completed) return;
        stimulus.OnEvent(pulse, samples.ReceivedEnd, samples.ComparedThrough);
        Advance(force: false);
        MaybePublish();
    }

    /// <summary>
    /// The recording has ended: pulses still awaiting their events are taken as scheduled, every sample received is
    /// compared, open spike pairs and epochs are closed, and a last update is published (then <see cref="Completed"/> is raised).
    /// </summary>
    public void Complete()
    {
        if (completed) return;
        Advance(force: true);
        aps.Flush(samples.ComparedThrough);
        metrics.CloseAt(samples.ComparedThrough);
        metrics.FinishEpochs(double.PositiveInfinity, spikes);
        completed = true;
        Publish();
        Completed?.Invoke();
    }

    /// <summary>The oldest index whose prediction is still held (older ones were overwritten: a long gap is stepped through at once).</summary>
    public ulong OldestPredicted => samples.OldestPredicted;

    /// <summary>Copies the model's potential for device indices from <paramref name="firstIndex"/>; NaN where not computed (yet, or any more).</summary>
    /// <returns>How many leading values are real (the rest are NaN).</returns>
    public int CopyPredicted(ulong firstIndex, Span<double> destination) => samples.CopyPredicted(firstIndex, destination);

    /// <summary>The metrics now (what <see cref="Published"/> is given).</summary>
    public ComparisonUpdate GetUpdate()
    {
        ulong through = samples.ComparedThrough;
        double now = clock.TimeOf(through);
        double horizon = completed ? double.PositiveInfinity : now - clock.DtMs;
        var wholeSpikes = spikes.Whole(horizon, metrics.WholeSamples * clock.DtMs);
        var windowSpikes = spikes.Since(now - options.WindowMs, metrics.WindowSamples * clock.DtMs);
        var epochs = metrics.Epochs;
        return new ComparisonUpdate(through, now, metrics.Window, windowSpikes, metrics.Whole, wholeSpikes,
            epochs.Count > 0 ? epochs[^1] : null, epochs.Count, metrics.Excluded, samples.ReceivedEnd - through, stimulus.PulsesConfirmed, stimulus.PulsesAssumed);
    }

    /// <summary>Everything: the latest metrics, every epoch, the spike trains, matched pairs and the AP feature table.</summary>
    public ComparisonReport GetReport()
    {
        var update = GetUpdate();
        var rows = aps.Table();
        var recordedSpikes = spikes.RecordedSpikes;
        var modelSpikes = spikes.ModelSpikes;
        return new ComparisonReport(update, [.. metrics.Epochs], [.. recordedSpikes], [.. modelSpikes],
            [.. spikes.Pairs.Select(p => new SpikePair(recordedSpikes[p.Recorded], modelSpikes[p.Model]))], rows, stimulus.PulsesAborted, stimulus.EventsIgnored);
    }

    /// <summary>Every sample compared so far (needs <see cref="ComparisonOptions.RetainTrace"/>).</summary>
    public ComparisonTrace GetTrace()
    {
        if (traceRecorded is null) throw new InvalidOperationException("the comparison was not asked to retain its trace (ComparisonOptions.RetainTrace)");
        return new ComparisonTrace(clock.Start, clock.DtMs, [.. traceRecorded], [.. traceStimulus!], [.. tracePredicted!]);
    }

    /// <summary>Samples that may still be received before the oldest held-back one would be overwritten.</summary>
    private ulong Room()
    {
        if (samples.Full)
        {
            // The events stay away longer than the buffer holds: go on with the schedule.
            Advance(force: true);
        }

        return samples.Room;
    }

    private void ReceiveMissing(ulong until)
    {
        while (samples.ReceivedEnd < until)
        {
            samples.StoreMissing(Math.Min(until - samples.ReceivedEnd, Room()));
            Advance(force: false);
        }
    }

    private void Advance(bool force)
    {
        ulong received = samples.ReceivedEnd;
        ulong from = samples.ComparedThrough;
        ulong limit = Math.Min(stimulus.KnownUntil(received, force), received);
        for (ulong i = from; i < limit; i++) Step(i);
        if (limit > from) samples.ComparedThrough = limit;
    }

    /// <summary>One sample period: the model steps with the stimulus played in it, and every part takes the sample.</summary>
    private void Step(ulong i)
    {
        double stim = stimulus.CodeAt(i) * unitsPerCode;
        double v = model.VoltageMv + options.ModelOffsetMv;
        samples.SetModel(i, v, stim);
        model.Step(stim, clock.DtMs);
        while (stimulus.TryTakeOnset(i, out var pulse)) metrics.NewEpoch(i, pulse);

        double rec = samples.Recorded[i & samples.Mask];
        bool present = !double.IsNaN(rec);
        metrics.Add(i, rec, v, present);
        double t = clock.TimeOf(i);
        var found = spikes.Detect(t, rec, v, present);
        if (found != SpikesFound.None)
        {
            // Model first, as the spikes were detected: each AP is measured in the order its spike came.
            if ((found & SpikesFound.Model) != 0) aps.OnSpike(i, model: true);
            if ((found & SpikesFound.Recorded) != 0) aps.OnSpike(i, model: false);
        }

        if (traceRecorded is not null)
        {
            traceRecorded.Add(rec);
            traceStimulus!.Add(stim);
            tracePredicted!.Add(v);
        }

        aps.AfterStep(i);
        if (metrics.HasClosedEpochs) metrics.FinishEpochs(t, spikes);
        metrics.AfterStep(i);
    }

    private void MaybePublish()
    {
        ulong through = samples.ComparedThrough;
        if (publishSamples == ulong.MaxValue || through == lastPublished) return;
        if (through - lastPublished >= publishSamples) Publish();
    }

    private void Publish()
    {
        lastPublished = samples.ComparedThrough;
        var update = GetUpdate();
        Latest = update;
        Published?.Invoke(update);
    }
}
