using System.Runtime.CompilerServices;
using Bench.Core.Stimulus;

namespace Bench.Core.Analysis;

/// <summary>The phases of an action potential as the lab material teaches them.</summary>
public enum ActionPotentialPhase
{
    /// <summary>At rest: the inside is negative because the membrane at rest is mostly permeable to K⁺, which leaks out.</summary>
    Rest,

    /// <summary>Depolarisation toward threshold (the stimulus charges the membrane).</summary>
    Depolarisation,

    /// <summary>Rising phase: Na⁺ channels open and Na⁺ rushes in.</summary>
    Rising,

    /// <summary>Overshoot: the inside becomes positive (V &gt; 0 mV), approaching E_Na.</summary>
    Overshoot,

    /// <summary>Falling phase: Na⁺ channels inactivate, K⁺ channels open and K⁺ flows out.</summary>
    Falling,

    /// <summary>After-hyperpolarisation: K⁺ channels still open push V below rest; the cell is refractory.</summary>
    AfterHyperpolarisation,

    /// <summary>Return to rest as the K⁺ channels close.</summary>
    ReturnToRest,
}

/// <summary>Features of one action potential.</summary>
/// <param name="ThresholdTimeMs">Time of threshold.</param>
/// <param name="ThresholdMv">Threshold (<see cref="ActionPotentialAnalysis.ThresholdDefinition"/>).</param>
/// <param name="PeakTimeMs">Time of the peak.</param>
/// <param name="PeakMv">Peak potential.</param>
/// <param name="AmplitudeMv">Peak − threshold.</param>
/// <param name="HalfWidthMs">Width at half amplitude (threshold + amplitude/2), interpolated.</param>
/// <param name="RiseTimeMs">10 % to 90 % of the amplitude on the upstroke, interpolated.</param>
/// <param name="AhpMinMv">Minimum after the peak, before the next spike, of the potential averaged over 0.5 ms (the
/// minimum of single noisy samples would sit about two noise standard deviations low).</param>
/// <param name="AhpTimeMs">Time of that minimum.</param>
/// <param name="IsiMs">Time since the previous spike's peak; NaN for the first.</param>
public readonly record struct ActionPotentialFeatures(
    double ThresholdTimeMs, double ThresholdMv, double PeakTimeMs, double PeakMv, double AmplitudeMv,
    double HalfWidthMs, double RiseTimeMs, double AhpMinMv, double AhpTimeMs, double IsiMs);

/// <summary>A stretch of samples in one phase.</summary>
/// <param name="Phase">The phase.</param>
/// <param name="StartMs">First sample's time.</param>
/// <param name="EndMs">Time just after the last sample (start of the next segment).</param>
public readonly record struct PhaseSegment(ActionPotentialPhase Phase, double StartMs, double EndMs);

/// <summary>Settings of the action-potential analysis.</summary>
public sealed record ActionPotentialOptions
{
    /// <summary>Spikes are upward crossings of this level (mV).</summary>
    public double DetectionMv { get; init; }

    /// <summary>Threshold criterion: the membrane's own dV/dt (mV/ms) reaching it on the upstroke.</summary>
    public double ThresholdSlopeMvPerMs { get; init; } = 10;

    /// <summary>dV/dt is taken over this span (ms), centred, whatever the sample interval: the same figure from a
    /// 20 kHz rig and a 40 kHz simulation, and noise of 0.2 mV moves it by about 1.4 mV/ms, not 6.</summary>
    public double SlopeSpanMs { get; init; } = 0.2;

    /// <summary>Minimum time between spikes (ms).</summary>
    public double DeadTimeMs { get; init; } = 1;

    /// <summary>How close to rest counts as "at rest" (mV).</summary>
    public double RestToleranceMv { get; init; } = 1;
}

/// <summary>Action potentials of a trace, their features and phases.</summary>
/// <param name="RestMv">Resting potential (median of the quiet samples).</param>
/// <param name="Spikes">Features of every action potential.</param>
/// <param name="RateHz">Spikes per second over the trace.</param>
public sealed record ActionPotentialReport(double RestMv, IReadOnlyList<ActionPotentialFeatures> Spikes, double RateHz);

/// <summary>
/// Measures action potentials. Threshold (<see cref="ThresholdDefinition"/>) is the potential at which the
/// membrane's own rate of rise first reaches 10 mV/ms on the way up to the peak: dV/dt over a centred 0.2 ms span, less
/// the slope the stimulus current gives by itself (I/Cm) when the stimulus is known, so a pulse that runs into the
/// upstroke does not pass for the threshold; scanning back from the steepest point of the upstroke to where that slope
/// was last below the criterion, and interpolated between the two samples. The same definition serves the command
/// line, the live comparison (rig and model alike), the page and the practicals.
/// </summary>
public static class ActionPotentialAnalysis
{
    /// <summary>The threshold's definition in one line, as the page and the worksheets state it.</summary>
    public const string ThresholdDefinition =
        "Threshold: the membrane potential where its own rate of rise first reaches 10 mV/ms on the way up to the peak (dV/dt over 0.2 ms, the stimulus current's share I/C removed).";

    /// <summary>Analyses a trace sampled every <paramref name="dtMs"/> from <paramref name="startTimeMs"/>.</summary>
    /// <param name="v">The potential (mV).</param>
    /// <param name="dtMs">Sample interval.</param>
    /// <param name="options">Detection level, threshold criterion, dead time.</param>
    /// <param name="startTimeMs">Time of the first sample.</param>
    /// <param name="stimulusSlopeMvPerMs">
    /// Optional: the slope the stimulus alone gives V over each interval (sample k to k + 1), e.g. I/Cm; empty when unknown.
    /// </param>
    public static ActionPotentialReport Analyze(ReadOnlySpan<double> v, double dtMs, ActionPotentialOptions? options = null, double startTimeMs = 0,
        ReadOnlySpan<double> stimulusSlopeMvPerMs = default)
    {
        if (!stimulusSlopeMvPerMs.IsEmpty && stimulusSlopeMvPerMs.Length < v.Length - 1)
        {
            throw new ArgumentException("the stimulus slope needs one value per sample interval");
        }

        return Analyze(v, dtMs, options, startTimeMs, new StimulusSlope(stimulusSlopeMvPerMs, null, 0));
    }

    /// <summary>
    /// As <see cref="Analyze(ReadOnlySpan{double}, double, ActionPotentialOptions?, double, ReadOnlySpan{double})"/>, with the
    /// stimulus's slope given as <paramref name="schedule"/>'s amplitudes times <paramref name="slopePerUnit"/> (mV/ms per
    /// unit) instead of an array of one value per step: the same values, read only around each upstroke. The result is
    /// identical to passing <c>schedule.Fill(slope, slopePerUnit)</c>'s array.
    /// </summary>
    public static ActionPotentialReport Analyze(ReadOnlySpan<double> v, double dtMs, StimulusSchedule schedule, double slopePerUnit,
        ActionPotentialOptions? options = null, double startTimeMs = 0)
    {
        if (schedule.Steps < v.Length - 1)
        {
            throw new ArgumentException("the stimulus slope needs one value per sample interval");
        }

        return Analyze(v, dtMs, options, startTimeMs, new StimulusSlope(default, schedule, slopePerUnit));
    }

    /// <summary>The stimulus's slope per step: an array, or a schedule's pieces times a factor (copied into a window on demand).</summary>
    private readonly ref struct StimulusSlope(ReadOnlySpan<double> values, StimulusSchedule? schedule, double scale)
    {
        public readonly ReadOnlySpan<double> Values = values;
        public readonly StimulusSchedule? Schedule = schedule;
        public readonly double Scale = scale;

        public int Length => Schedule?.Steps ?? Values.Length;

        public bool IsEmpty => Length == 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static ActionPotentialReport Analyze(ReadOnlySpan<double> v, double dtMs, ActionPotentialOptions? options, double startTimeMs,
        StimulusSlope stimulusSlopeMvPerMs)
    {
        options ??= new ActionPotentialOptions();
        double[]? window = null;
        double rest = EstimateRest(v, dtMs);
        var peaks = PeakIndices(v, dtMs, options);
        var features = new List<ActionPotentialFeatures>(peaks.Count);
        int lower = 0;
        for (int k = 0; k < peaks.Count; k++)
        {
            int p = peaks[k];
            var (onset, fraction) = ThresholdIndex(v, dtMs, stimulusSlopeMvPerMs, ref window, lower, p, options);
            double threshold = onset + 1 < v.Length ? v[onset] + (fraction * (v[onset + 1] - v[onset])) : v[onset];
            double amplitude = v[p] - threshold;
            int upper = k + 1 < peaks.Count ? peaks[k + 1] : v.Length;
            var (ahp, ahpMv) = AfterHyperpolarisation(v, dtMs, p, upper);

            double half = threshold + (amplitude / 2);
            double up = CrossingUp(v, onset, p, half);
            double down = CrossingDown(v, p, upper, half);
            double r10 = CrossingUp(v, onset, p, threshold + (0.1 * amplitude));
            double r90 = CrossingUp(v, onset, p, threshold + (0.9 * amplitude));
            double isi = k == 0 ? double.NaN : (p - peaks[k - 1]) * dtMs;
            features.Add(new ActionPotentialFeatures(
                startTimeMs + ((onset + fraction) * dtMs), threshold, startTimeMs + (p * dtMs), v[p], amplitude,
                (down - up) * dtMs, (r90 - r10) * dtMs, ahpMv, startTimeMs + (ahp * dtMs), isi));
            lower = p + 1;
        }

        double duration = (v.Length - 1) * dtMs;
        return new ActionPotentialReport(rest, features, duration > 0 ? features.Count / (duration / 1000) : 0);
    }

    /// <summary>The lowest 0.5 ms mean after the peak (before <paramref name="upper"/>), and the sample at its centre.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (int Index, double Mv) AfterHyperpolarisation(ReadOnlySpan<double> v, double dtMs, int peak, int upper)
    {
        int h = Math.Max(0, (int)Math.Round(0.25 / dtMs));
        int best = peak;
        double bestMean = double.PositiveInfinity;
        double sum = 0;
        int count = 0;
        // A running window [i − h, i + h] clipped to [peak, upper).
        int lo = peak, hi = peak;
        for (int i = peak; i < upper; i++)
        {
            int wantLo = Math.Max(peak, i - h), wantHi = Math.Min(upper, i + h + 1);
            while (hi < wantHi) { sum += v[hi++]; count++; }
            while (lo < wantLo) { sum -= v[lo++]; count--; }
            double mean = sum / count;
            if (mean < bestMean) (best, bestMean) = (i, mean);
        }

        return (best, double.IsFinite(bestMean) ? bestMean : v[peak]);
    }

    /// <summary>
    /// Where the threshold is: the sample before the crossing and the fraction of the interval after it. The membrane's own
    /// slope at sample i is (v[i + h] − v[i − h]) / (2h·dt) less the stimulus's mean slope over those intervals, h samples
    /// making half the span. From the steepest point of the rise before the peak, back to where that slope is last below
    /// the criterion; at the search's lower end when it never is.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (int Index, double Fraction) ThresholdIndex(ReadOnlySpan<double> v, double dtMs, StimulusSlope slope, ref double[]? window,
        int lower, int peak, ActionPotentialOptions options)
    {
        int h = Math.Max(1, (int)Math.Round(options.SlopeSpanMs / 2 / dtMs));
        int first = Math.Max(lower, h), last = Math.Min(peak, v.Length - 1 - h);
        if (last < first) return (Math.Max(lower, Math.Min(peak, v.Length - 1)), 0);

        // The stimulus's slope at steps k (read only for k in [first − h, last + h)): stim[k − offset] for k < length.
        ReadOnlySpan<double> stim = slope.Values;
        int offset = 0, length = slope.Length;
        if (slope.Schedule is { } schedule)
        {
            offset = first - h;
            int count = Math.Max(0, Math.Min(last + h, length) - offset);
            if (window is null || window.Length < count) window = new double[Math.Max(count, 4096)];
            schedule.FillRange(offset, window.AsSpan(0, count), slope.Scale);
            stim = window.AsSpan(0, count);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        double Own(ReadOnlySpan<double> v, ReadOnlySpan<double> stim, int i)
        {
            double slope = (v[i + h] - v[i - h]) / (2 * h * dtMs);
            if (length == 0) return slope;
            double sum = 0;
            for (int k = i - h; k < i + h; k++) sum += k < length ? stim[k - offset] : 0;
            return slope - (sum / (2 * h));
        }

        // The steepest point of the upstroke: the largest own slope in the 2 ms before the peak (not only along an
        // unbroken rise, which one noisy sample next to a rounded peak would cut short at the peak itself).
        int steepest = last;
        double steepestSlope = Own(v, stim, last);
        for (int i = last - 1; i >= Math.Max(first, peak - (int)Math.Round(2 / dtMs)); i--)
        {
            double own = Own(v, stim, i);
            if (own > steepestSlope) (steepest, steepestSlope) = (i, own);
        }

        double criterion = options.ThresholdSlopeMvPerMs;
        int j = steepest;
        double above = steepestSlope;
        while (j > first)
        {
            double below = Own(v, stim, j - 1);
            if (below < criterion)
            {
                // Between sample j − 1 (below) and j (at or above): where the slope reaches the criterion.
                double f = above > below ? (criterion - below) / (above - below) : 0;
                return (j - 1, Math.Clamp(f, 0, 1));
            }

            above = below;
            j--;
        }

        return (j, 0);
    }

    /// <summary>
    /// Resting potential: the median of samples where |dV/dt| &lt; 0.1 mV/ms (at most 200,000 of them, evenly spaced);
    /// the first sample if none is quiet.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double EstimateRest(ReadOnlySpan<double> v, double dtMs)
    {
        int stride = Math.Max(1, v.Length / 200_000);
        var quiet = new List<double>();
        for (int i = 1; i < v.Length; i += stride)
        {
            if (Math.Abs(v[i] - v[i - 1]) / dtMs < 0.1) quiet.Add(v[i]);
        }

        if (quiet.Count == 0)
        {
            return v.Length > 0 ? v[0] : double.NaN;
        }

        quiet.Sort();
        return quiet[quiet.Count / 2];
    }

    /// <summary>Labels the trace with the phases of each action potential.</summary>
    public static List<PhaseSegment> Phases(ReadOnlySpan<double> v, double dtMs, ActionPotentialReport report, ActionPotentialOptions? options = null, double startTimeMs = 0)
    {
        options ??= new ActionPotentialOptions();
        var labels = new ActionPotentialPhase[v.Length];
        double rest = report.RestMv, tol = options.RestToleranceMv;
        foreach (var ap in report.Spikes)
        {
            int onset = Index(ap.ThresholdTimeMs, startTimeMs, dtMs, v.Length);
            int peak = Index(ap.PeakTimeMs, startTimeMs, dtMs, v.Length);
            int ahp = Index(ap.AhpTimeMs, startTimeMs, dtMs, v.Length);
            int dep = onset;
            while (dep > 0 && v[dep - 1] > rest + tol && labels[dep - 1] == ActionPotentialPhase.Rest) dep--;
            for (int i = dep; i < onset; i++) labels[i] = ActionPotentialPhase.Depolarisation;

            int i2 = onset;
            for (; i2 <= peak && v[i2] < 0; i2++) labels[i2] = ActionPotentialPhase.Rising;
            for (; i2 < v.Length && i2 <= ahp && (v[i2] >= 0 || i2 <= peak); i2++) labels[i2] = v[i2] >= 0 ? ActionPotentialPhase.Overshoot : ActionPotentialPhase.Rising;
            for (; i2 < v.Length && i2 <= ahp && v[i2] >= rest; i2++) labels[i2] = ActionPotentialPhase.Falling;
            for (; i2 < v.Length && i2 <= ahp; i2++) labels[i2] = ActionPotentialPhase.AfterHyperpolarisation;
            for (; i2 < v.Length && v[i2] < rest - tol; i2++) labels[i2] = ActionPotentialPhase.ReturnToRest;
        }

        var segments = new List<PhaseSegment>();
        int start = 0;
        for (int i = 1; i <= v.Length; i++)
        {
            if (i == v.Length || labels[i] != labels[start])
            {
                segments.Add(new PhaseSegment(labels[start], startTimeMs + (start * dtMs), startTimeMs + (i * dtMs)));
                start = i;
            }
        }

        return segments;
    }

    private static int Index(double tMs, double startMs, double dtMs, int length) =>
        Math.Clamp((int)Math.Round((tMs - startMs) / dtMs), 0, length - 1);

    /// <summary>The peak after each spike that <see cref="SpikeDetector"/>'s rule finds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static List<int> PeakIndices(ReadOnlySpan<double> v, double dtMs, ActionPotentialOptions options)
    {
        var peaks = new List<int>();
        var detector = new OnlineSpikeDetector(options.DetectionMv, options.DeadTimeMs);
        for (int i = 0; i < v.Length; i++)
        {
            if (detector.Add(i * dtMs, v[i], dtMs) is null) continue;
            int p = i;
            for (int j = i; j < v.Length && v[j] >= options.DetectionMv; j++)
            {
                if (v[j] > v[p]) p = j;
            }

            peaks.Add(p);
        }

        return peaks;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double CrossingUp(ReadOnlySpan<double> v, int from, int to, double level)
    {
        for (int i = Math.Max(from, 1); i <= to; i++)
        {
            if (v[i - 1] < level && v[i] >= level) return i - 1 + ((level - v[i - 1]) / (v[i] - v[i - 1]));
        }

        return from;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double CrossingDown(ReadOnlySpan<double> v, int from, int to, double level)
    {
        for (int i = from + 1; i < to; i++)
        {
            if (v[i - 1] >= level && v[i] < level) return i - 1 + ((v[i - 1] - level) / (v[i - 1] - v[i]));
        }

        return double.NaN;
    }
}
