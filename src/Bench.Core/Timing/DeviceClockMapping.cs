namespace Bench.Core.Timing;

/// <summary>
/// Maps a device's sample index to host time, t_host(k) = a + b·k, as PROTOCOL.md §8 specifies: points
/// (last sample index of a block, host time it arrived) over a sliding window, fitted by their lower envelope
/// (transport delays only ever add), with the device's clock drift from the slope. Pure: the caller supplies host times.
/// </summary>
public sealed class DeviceClockMapping
{
    private readonly double windowSeconds;
    private readonly int maxPoints;
    private readonly List<(double X, double Y)> points = [];
    private double originX = double.NaN;
    private double originY;
    private double a;
    private double b;

    /// <summary>Creates a mapping for a device whose nominal sample period is <paramref name="nominalSecondsPerSample"/>.</summary>
    public DeviceClockMapping(double nominalSecondsPerSample, double windowSeconds = 30, int maxPoints = 4096)
    {
        if (!(nominalSecondsPerSample > 0)) throw new ArgumentException("the nominal sample period must be positive");
        NominalSecondsPerSample = nominalSecondsPerSample;
        this.windowSeconds = windowSeconds;
        this.maxPoints = maxPoints;
        b = nominalSecondsPerSample;
    }

    /// <summary>The device's nominal sample period (s), T / clock_hz.</summary>
    public double NominalSecondsPerSample { get; }

    /// <summary>The fitted seconds per sample.</summary>
    public double SecondsPerSample => b;

    /// <summary>Device clock error: positive when the device runs fast against the host (ppm).</summary>
    public double DriftPpm => ((NominalSecondsPerSample / b) - 1) * 1e6;

    /// <summary>True once the window spans at least 2 s and the slope is fitted rather than nominal.</summary>
    public bool IsFitted { get; private set; }

    /// <summary>Points in the window.</summary>
    public int Count => points.Count;

    /// <summary>Forgets everything (after a Start the index restarts).</summary>
    public void Reset()
    {
        points.Clear();
        originX = double.NaN;
        IsFitted = false;
        b = NominalSecondsPerSample;
        a = 0;
    }

    /// <summary>Adds a point: the device sample <paramref name="sampleIndex"/> was known on the host at <paramref name="hostSeconds"/>.</summary>
    public void Add(ulong sampleIndex, double hostSeconds)
    {
        if (double.IsNaN(originX))
        {
            originX = sampleIndex;
            originY = hostSeconds;
        }

        double x = sampleIndex - originX, y = hostSeconds - originY;
        if (points.Count > 0 && x <= points[^1].X) return;   // indices only grow; a repeat carries nothing new
        points.Add((x, y));
        int drop = 0;
        while (drop < points.Count - 1 && points[drop].Y < y - windowSeconds) drop++;
        if (drop > 0) points.RemoveRange(0, drop);
        if (points.Count > maxPoints)
        {
            // Thin evenly: keep every other point, always the newest.
            for (int i = points.Count - 2; i >= 0; i -= 2) points.RemoveAt(i);
        }
    }

    /// <summary>Refits the line from the points in the window (call at least once a second).</summary>
    public void Refit()
    {
        if (points.Count == 0) return;
        double span = points[^1].Y - points[0].Y;
        if (span < 2 || points.Count < 2)
        {
            b = NominalSecondsPerSample;
            a = points.Min(p => p.Y - (b * p.X));
            IsFitted = false;
            return;
        }

        // Lower convex hull (Andrew's monotone chain; the points are sorted by x).
        var hull = new List<(double X, double Y)>();
        foreach (var p in points)
        {
            while (hull.Count >= 2 && Cross(hull[^2], hull[^1], p) <= 0) hull.RemoveAt(hull.Count - 1);
            hull.Add(p);
        }

        double mean = points.Average(p => p.X);
        int edge = 0;
        while (edge < hull.Count - 2 && hull[edge + 1].X < mean) edge++;
        var (x0, y0) = hull[edge];
        var (x1, y1) = hull[edge + 1];
        double slope = (y1 - y0) / (x1 - x0);
        // A burst after a stall (samples arriving at one host time) can leave a hull edge flat: time that does not
        // advance is no clock (its drift would be infinite), so there is no fit until the points say more.
        if (!(slope > 0) || !double.IsFinite(slope))
        {
            b = NominalSecondsPerSample;
            a = points.Min(p => p.Y - (b * p.X));
            IsFitted = false;
            return;
        }

        b = slope;
        a = y0 - (b * x0);
        IsFitted = true;
    }

    /// <summary>Host time (s) of device sample <paramref name="sampleIndex"/>.</summary>
    public double HostSeconds(ulong sampleIndex) => double.IsNaN(originX) ? double.NaN : originY + a + (b * (sampleIndex - originX));

    private static double Cross((double X, double Y) o, (double X, double Y) p, (double X, double Y) q) =>
        ((p.X - o.X) * (q.Y - o.Y)) - ((p.Y - o.Y) * (q.X - o.X));
}
