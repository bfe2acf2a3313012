using System.Runtime.CompilerServices;
namespace Bench.Core.Analysis;

/// <summary>Finds spikes as upward threshold crossings, placed by linear interpolation between samples.</summary>
public static class SpikeDetector
{
    /// <summary>
    /// Times (ms) of upward crossings of <paramref name="thresholdMv"/>. After a crossing, further crossings
    /// within <paramref name="deadTimeMs"/> are ignored (noise riding on one spike).
    /// </summary>
    /// <param name="voltageMv">Samples at t0, t0 + dt, ….</param>
    /// <param name="dtMs">Sample interval.</param>
    /// <param name="thresholdMv">Crossing level (0 mV: the overshoot).</param>
    /// <param name="deadTimeMs">Minimum time between reported spikes.</param>
    /// <param name="startTimeMs">Time of the first sample.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static List<double> Detect(ReadOnlySpan<double> voltageMv, double dtMs, double thresholdMv = 0, double deadTimeMs = 1, double startTimeMs = 0)
    {
        var times = new List<double>();
        var detector = new OnlineSpikeDetector(thresholdMv, deadTimeMs);
        for (int i = 0; i < voltageMv.Length; i++)
        {
            if (detector.Add(startTimeMs + (i * dtMs), voltageMv[i], dtMs) is double t) times.Add(t);
        }

        return times;
    }
}

/// <summary>
/// Online upward-crossing detector: the same rule as <see cref="SpikeDetector.Detect"/>, one sample at a time,
/// allocation-free, for live streams.
/// </summary>
public struct OnlineSpikeDetector
{
    private readonly double threshold;
    private readonly double deadTime;
    private double previous;
    private double lastSpike;
    private bool primed;

    /// <summary>Creates a detector.</summary>
    public OnlineSpikeDetector(double thresholdMv = 0, double deadTimeMs = 1)
    {
        threshold = thresholdMv;
        deadTime = deadTimeMs;
        previous = 0;
        lastSpike = double.NegativeInfinity;
        primed = false;
    }

    /// <summary>Feeds the sample at <paramref name="timeMs"/>; returns the spike time when this sample completes a crossing.</summary>
    public double? Add(double timeMs, double vMv, double dtMs)
    {
        double? spike = null;
        if (primed && previous < threshold && vMv >= threshold)
        {
            double t = timeMs - dtMs + ((threshold - previous) / (vMv - previous) * dtMs);
            if (t - lastSpike >= deadTime)
            {
                lastSpike = t;
                spike = t;
            }
        }

        previous = vMv;
        primed = true;
        return spike;
    }
}
