using System.Runtime.CompilerServices;

namespace Bench.Core.Comparison;

/// <summary>
/// The potential's agreement, kept three ways as samples are compared: over a sliding window (sums in and out, started
/// again from the samples every window length so they do not drift), over the whole recording (Welford: stable over any
/// length) and per stimulus epoch (each pulse's onset opens one; a closed epoch gets its metrics, spikes included, once
/// its spikes can no longer change). Gaps count in none of them. No allocation per sample.
/// </summary>
internal sealed class TraceAccumulators
{
    private readonly SampleAligner samples;
    private readonly SampleClock clock;
    private readonly ulong windowSamples;
    private readonly double settleMs;
    private readonly List<(EpochAccumulator Sums, ulong EndIndex)> closedEpochs = new(16);
    private readonly List<EpochMetrics> epochs = new(64);
    private double reference = double.NaN;
    private Sums window;
    private ulong windowRecomputeAt;
    private Welford whole;
    private EpochAccumulator epoch;

    /// <param name="samples">The aligned samples (the window takes its oldest sample out from there).</param>
    /// <param name="clock">The comparison's clock.</param>
    /// <param name="windowSamples">The sliding window's length.</param>
    /// <param name="settleMs">How long after an epoch's end its spikes may still change (the spike matcher's reach).</param>
    public TraceAccumulators(SampleAligner samples, SampleClock clock, ulong windowSamples, double settleMs)
    {
        this.samples = samples;
        this.clock = clock;
        this.windowSamples = windowSamples;
        this.settleMs = settleMs;
        windowRecomputeAt = clock.Start + windowSamples;
        epoch = new EpochAccumulator(0, null, clock.Start);
    }

    /// <summary>Samples not compared: gaps and samples never received.</summary>
    public ulong Excluded { get; private set; }

    /// <summary>The potential over the sliding window.</summary>
    public TraceMetrics Window => window.Metrics();

    /// <summary>Samples in the sliding window.</summary>
    public long WindowSamples => window.N;

    /// <summary>The potential over everything compared.</summary>
    public TraceMetrics Whole => whole.Metrics();

    /// <summary>Samples compared in all.</summary>
    public long WholeSamples => whole.N;

    /// <summary>Completed epochs, oldest first.</summary>
    public List<EpochMetrics> Epochs => epochs;

    /// <summary>True when a closed epoch awaits its metrics.</summary>
    public bool HasClosedEpochs => closedEpochs.Count > 0;

    /// <summary>A pulse's onset at <paramref name="index"/>: the epoch so far closes and the pulse's opens.</summary>
    public void NewEpoch(ulong index, PlayedPulse? pulse)
    {
        closedEpochs.Add((epoch, index));
        epoch = new EpochAccumulator(epoch.Number + 1, pulse, index);
    }

    /// <summary>
    /// Sample <paramref name="index"/> compared: <paramref name="recordedMv"/> (NaN: lost) against
    /// <paramref name="predictedMv"/>; the sample a window length older leaves the window.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(ulong index, double recordedMv, double predictedMv, bool present)
    {
        if (index - clock.Start >= windowSamples)
        {
            ulong j = (index - windowSamples) & samples.Mask;
            if (!double.IsNaN(samples.Recorded[j])) window.Remove(samples.Recorded[j] - reference, samples.Predicted[j] - reference);
        }

        if (present)
        {
            // Sums about the first sample's potential lose little precision when samples are taken out again.
            if (double.IsNaN(reference)) reference = recordedMv;
            double a = recordedMv - reference, b = predictedMv - reference;
            window.Add(a, b);
            whole.Add(a, b);
            epoch.Sums.Add(a, b);
        }
        else
        {
            Excluded++;
        }
    }

    /// <summary>After sample <paramref name="index"/>: every window length, the window's sums start again from its samples.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AfterStep(ulong index)
    {
        if (index + 1 >= windowRecomputeAt)
        {
            // Sums with samples taken out drift; start them again from the samples every window length.
            RecomputeWindow(index + 1);
            windowRecomputeAt = index + 1 + windowSamples;
        }
    }

    /// <summary>The recording has ended at <paramref name="end"/>: the open epoch closes (its metrics come with <see cref="FinishEpochs"/>).</summary>
    public void CloseAt(ulong end)
    {
        closedEpochs.Add((epoch, end));
        epoch = new EpochAccumulator(epoch.Number + 1, null, end);
    }

    /// <summary>Epochs whose spikes can no longer change (the horizon is the matcher's reach past their end) get their metrics.</summary>
    public void FinishEpochs(double horizonMs, SpikeMatcher spikes)
    {
        while (closedEpochs.Count > 0)
        {
            var (sums, endIndex) = closedEpochs[0];
            double startMs = clock.TimeOf(sums.StartIndex), endMs = clock.TimeOf(endIndex);
            if (endMs + settleMs >= horizonMs) return;
            closedEpochs.RemoveAt(0);
            epochs.Add(new EpochMetrics(sums.Number, sums.Pulse, startMs, endMs, sums.Sums.Metrics(), spikes.Between(startMs, endMs, sums.Sums.N * clock.DtMs)));
        }
    }

    private void RecomputeWindow(ulong end)
    {
        window = default;
        ulong from = end - clock.Start > windowSamples ? end - windowSamples : clock.Start;
        for (ulong j = from; j < end; j++)
        {
            double rec = samples.Recorded[j & samples.Mask];
            if (!double.IsNaN(rec)) window.Add(rec - reference, samples.Predicted[j & samples.Mask] - reference);
        }
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
