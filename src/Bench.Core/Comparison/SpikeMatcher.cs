using System.Runtime.InteropServices;
using Bench.Core.Analysis;

namespace Bench.Core.Comparison;

/// <summary>Which traces had a spike at a sample.</summary>
[Flags]
internal enum SpikesFound
{
    /// <summary>No spike.</summary>
    None = 0,

    /// <summary>The model's trace.</summary>
    Model = 1,

    /// <summary>The recording.</summary>
    Recorded = 2,
}

/// <summary>
/// The spikes of both traces and how they agree: detects them sample by sample (upward crossings, as
/// <see cref="OnlineSpikeDetector"/>), pairs rig and model spikes within the match window, and keeps the spike-train
/// metrics (coincidences and Γ, Victor–Purpura, timing errors) for the whole recording incrementally, moving its
/// matchers only over spikes whose outcome is settled. Detection allocates nothing per sample.
/// </summary>
internal sealed class SpikeMatcher
{
    private readonly ComparisonOptions options;
    private readonly double dtMs;
    private readonly List<double> recordedSpikes = new(4096);
    private readonly List<double> modelSpikes = new(4096);
    private readonly List<(int Recorded, int Model)> pairs = new(4096);
    private OnlineSpikeDetector recordedDetector;
    private OnlineSpikeDetector modelDetector;
    private bool previousPresent;
    private (int I, int J, int Pairs, double Sum, double SumAbs) timing;
    private (int I, int J, int Count) coincidence;
    private (int A, int B, double Done) vp;

    /// <param name="options">Detection level and dead time, match window, coincidence Δ and Victor–Purpura cost.</param>
    /// <param name="dtMs">The sample interval.</param>
    public SpikeMatcher(ComparisonOptions options, double dtMs)
    {
        this.options = options;
        this.dtMs = dtMs;
        recordedDetector = new OnlineSpikeDetector(options.DetectionMv, options.DeadTimeMs);
        modelDetector = new OnlineSpikeDetector(options.DetectionMv, options.DeadTimeMs);
    }

    /// <summary>Recorded spike times (ms from the model's start), in order.</summary>
    public List<double> RecordedSpikes => recordedSpikes;

    /// <summary>Model spike times, in order.</summary>
    public List<double> ModelSpikes => modelSpikes;

    /// <summary>Matched pairs so far (indices into the two spike lists).</summary>
    public List<(int Recorded, int Model)> Pairs => pairs;

    /// <summary>
    /// One compared sample at <paramref name="timeMs"/>: the model's potential always, the recording's when
    /// <paramref name="present"/>. Says which trace had a spike (its time is the last in its list).
    /// </summary>
    public SpikesFound Detect(double timeMs, double recordedMv, double predictedMv, bool present)
    {
        var found = SpikesFound.None;
        // The model's detector sees every sample (its state stays continuous); a spike counts only where both samples
        // of its crossing were recorded. The recording's detector starts afresh after a gap: no crossing spans one.
        if (modelDetector.Add(timeMs, predictedMv, dtMs) is double modelSpike && present && previousPresent)
        {
            modelSpikes.Add(modelSpike);
            found |= SpikesFound.Model;
        }

        if (present)
        {
            if (!previousPresent) recordedDetector = new OnlineSpikeDetector(options.DetectionMv, options.DeadTimeMs);
            if (recordedDetector.Add(timeMs, recordedMv, dtMs) is double recordedSpike)
            {
                recordedSpikes.Add(recordedSpike);
                found |= SpikesFound.Recorded;
            }
        }

        previousPresent = present;
        return found;
    }

    /// <summary>The spike metrics of the spikes from <paramref name="startMs"/> to before <paramref name="endMs"/> (an epoch).</summary>
    public SpikeMetrics Between(double startMs, double endMs, double durationMs)
    {
        var rs = CollectionsMarshal.AsSpan(recordedSpikes);
        var ms = CollectionsMarshal.AsSpan(modelSpikes);
        var r = rs[LowerBound(rs, startMs)..LowerBound(rs, endMs)];
        var m = ms[LowerBound(ms, startMs)..LowerBound(ms, endMs)];
        return SpikesOf(r, m, durationMs);
    }

    /// <summary>The spike metrics of the spikes from <paramref name="fromMs"/> on (the sliding window).</summary>
    public SpikeMetrics Since(double fromMs, double durationMs)
    {
        var rs = CollectionsMarshal.AsSpan(recordedSpikes);
        var ms = CollectionsMarshal.AsSpan(modelSpikes);
        return SpikesOf(rs[LowerBound(rs, fromMs)..], ms[LowerBound(ms, fromMs)..], durationMs);
    }

    /// <summary>
    /// The spike metrics of the whole recording: the incremental matchers moved up to <paramref name="horizonMs"/> (no
    /// spike later detected can be earlier), the Victor–Purpura pieces still open computed afresh.
    /// </summary>
    public SpikeMetrics Whole(double horizonMs, double durationMs)
    {
        AdvanceMatchers(horizonMs);
        var rs = CollectionsMarshal.AsSpan(recordedSpikes);
        var ms = CollectionsMarshal.AsSpan(modelSpikes);
        double vpTotal = vp.Done + SpikeTrainMetrics.VictorPurpuraSegmented(rs[vp.A..], ms[vp.B..], options.VictorPurpuraCostPerMs);
        return new SpikeMetrics(rs.Length, ms.Length, coincidence.Count,
            SpikeTrainMetrics.Gamma(coincidence.Count, rs.Length, ms.Length, durationMs, options.CoincidenceDeltaMs), vpTotal,
            timing.Pairs, timing.Pairs > 0 ? timing.SumAbs / timing.Pairs : double.NaN, timing.Pairs > 0 ? timing.Sum / timing.Pairs : double.NaN);
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
}
