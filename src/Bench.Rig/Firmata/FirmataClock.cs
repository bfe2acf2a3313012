using Bench.Core.Timing;
using Bench.Rig.Session;

namespace Bench.Rig.Firmata;

/// <summary>
/// A Firmata board's sample clock as the host sees it: every sample's arrival goes into a lower-envelope fit
/// (<see cref="DeviceClockMapping"/>, as for a Bench rig), and samples the board never sent are inferred from the
/// arrivals settling later than the fit. A sample can only arrive after it was taken, so the earliest arrival of a
/// stretch, measured from the fitted line, is how far the board's count has fallen behind its clock: a host that
/// was slow to read gets its samples late and in a burst, but the newest of the burst is fresh again; samples that
/// were never sent leave every later arrival late by as many sample periods.
/// </summary>
internal sealed class FirmataClock
{
    /// <summary>How long every arrival must stay late before samples count as lost (s).</summary>
    public const double WindowSeconds = 2;

    private readonly double nominalSecondsPerSample;
    private readonly double thresholdSeconds;
    // Residuals of the last WindowSeconds, kept as a monotonic queue: its first entry is the window's minimum.
    private readonly LinkedList<(double HostSeconds, double ResidualS)> earliest = new();
    private double windowStart = double.NaN;
    private double lastRefit = double.NegativeInfinity;
    private (ulong Index, double HostSeconds)? newest;

    /// <summary>A clock for a board sampling every <paramref name="nominalSecondsPerSample"/>.</summary>
    /// <param name="nominalSecondsPerSample">The configured interval (s).</param>
    /// <param name="lossThresholdSeconds">How much later than the fit arrivals must settle to count as a loss.</param>
    public FirmataClock(double nominalSecondsPerSample, double lossThresholdSeconds)
    {
        this.nominalSecondsPerSample = nominalSecondsPerSample;
        thresholdSeconds = lossThresholdSeconds;
        Mapping = new DeviceClockMapping(nominalSecondsPerSample);
    }

    /// <summary>The fit (host seconds of a device index).</summary>
    public DeviceClockMapping Mapping { get; }

    /// <summary>The fit as last published.</summary>
    public ClockFit? Fit { get; private set; }

    /// <summary>
    /// Device sample <paramref name="index"/> arrived at <paramref name="hostSeconds"/>. Returns how many samples the
    /// board has not sent before it, as far as the arrivals show (0 almost always); the caller counts them as a gap,
    /// so this sample's index moves on by that many.
    /// </summary>
    public ulong Observe(ulong index, double hostSeconds)
    {
        // One point per burst of arrivals, its newest sample (the least delayed): at 1 kHz the host reads a burst every
        // few ms, and the fit needs no more.
        if (newest is { } n && hostSeconds - n.HostSeconds > 0.001) Mapping.Add(n.Index, n.HostSeconds);
        newest = (index, hostSeconds);
        if (hostSeconds - lastRefit >= 0.25)
        {
            Mapping.Refit();
            lastRefit = hostSeconds;
            Fit = new ClockFit(Mapping.IsFitted, Mapping.DriftPpm, Mapping.SecondsPerSample);
        }

        if (!Mapping.IsFitted) return 0;
        double residual = hostSeconds - Mapping.HostSeconds(index);
        while (earliest.Last is { } back && back.Value.ResidualS >= residual) earliest.RemoveLast();
        earliest.AddLast((hostSeconds, residual));
        while (earliest.First!.Value.HostSeconds < hostSeconds - WindowSeconds) earliest.RemoveFirst();
        if (double.IsNaN(windowStart)) windowStart = hostSeconds;
        if (hostSeconds - windowStart < WindowSeconds) return 0;   // a whole window observed since the last reset
        double behind = earliest.First.Value.ResidualS;
        if (behind < thresholdSeconds) return 0;
        earliest.Clear();
        windowStart = double.NaN;
        ulong lost = (ulong)Math.Round(behind / Mapping.SecondsPerSample);
        newest = (index + lost, hostSeconds);   // this sample, at its index after the gap
        return lost;
    }

    /// <summary>The nominal interval (s).</summary>
    public double NominalSecondsPerSample => nominalSecondsPerSample;
}
