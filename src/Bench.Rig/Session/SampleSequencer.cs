using Bench.Core.Timing;

namespace Bench.Rig.Session;

/// <summary>A fit of the rig's clock against the host's, as it stood at its last refit (immutable: safe to read anywhere).</summary>
/// <param name="IsFitted">Enough points have been seen for a fit.</param>
/// <param name="DriftPpm">How much faster the rig's clock runs than the host's (ppm).</param>
/// <param name="SecondsPerSample">Host seconds per sample period, as fitted.</param>
public sealed record ClockFit(bool IsFitted, double DriftPpm, double SecondsPerSample);

/// <summary>
/// The session's sample index: it keeps counting across runs and reconnects, finds gaps (a block that starts past
/// the next expected sample) and repeats, accounts for an outage by the host's clock, and fits the rig's clock to the
/// host's. Owned by the one link loop that receives blocks (and by the reconnect, which runs while no loop does).
/// </summary>
internal sealed class SampleSequencer
{
    private DeviceClockMapping? mapping;
    private ulong sessionOffset;
    private ulong nextExpected;
    private double lastRefitSeconds;
    private ClockFit? published;

    /// <summary>The session index of the next sample expected.</summary>
    public ulong NextExpected => Volatile.Read(ref nextExpected);

    /// <summary>Host seconds at which the last block arrived (0: none yet).</summary>
    public double LastBlockHostSeconds { get; private set; }

    /// <summary>The clock fit as last published.</summary>
    public ClockFit? Clock => Volatile.Read(ref published);

    /// <summary>A new sample period: the clock fit starts again.</summary>
    public void Configure(double sampleRateHz)
    {
        mapping = new DeviceClockMapping(1.0 / sampleRateHz);
        Volatile.Write(ref published, new ClockFit(false, 0, 1.0 / sampleRateHz));
    }

    /// <summary>A run starts: the rig's index restarts at 0, the session's goes on from the next expected sample.</summary>
    public void BeginRun()
    {
        Volatile.Write(ref sessionOffset, nextExpected);
        mapping?.Reset();
    }

    /// <summary>The session index of the rig's sample <paramref name="deviceIndex"/> in the current run.</summary>
    public ulong ToSessionIndex(ulong deviceIndex) => Volatile.Read(ref sessionOffset) + deviceIndex;

    /// <summary>
    /// Places a block of <paramref name="count"/> samples from the rig's <paramref name="deviceFirst"/>: false for a
    /// repeat of samples already received; else its session index, and the gap before it (length 0: none).
    /// </summary>
    public bool Accept(ulong deviceFirst, int count, double hostSeconds, out ulong sessionFirst, out ulong gapStart, out ulong gapLength)
    {
        sessionFirst = ToSessionIndex(deviceFirst);
        gapStart = nextExpected;
        gapLength = 0;
        if (count == 0 || sessionFirst < nextExpected) return false;
        gapLength = sessionFirst - nextExpected;
        Volatile.Write(ref nextExpected, sessionFirst + (ulong)count);
        LastBlockHostSeconds = hostSeconds;
        if (mapping is { } m)
        {
            m.Add(deviceFirst + (ulong)count - 1UL, hostSeconds);
            if (hostSeconds - lastRefitSeconds >= 1)
            {
                m.Refit();
                lastRefitSeconds = hostSeconds;
                if (m.IsFitted) Volatile.Write(ref published, new ClockFit(true, m.DriftPpm, m.SecondsPerSample));
            }
        }

        return true;
    }

    /// <summary>
    /// The link was down from <paramref name="lostAtHostSeconds"/> until <paramref name="nowHostSeconds"/>: the samples the
    /// rig took meanwhile never arrive. Returns the gap (start, length) and moves past it.
    /// </summary>
    public (ulong Start, ulong Length) AccountOutage(double lostAtHostSeconds, double nowHostSeconds, double sampleRateHz)
    {
        ulong missed = (ulong)Math.Round(Math.Max(0, nowHostSeconds - lostAtHostSeconds) * sampleRateHz);
        ulong start = nextExpected;
        Volatile.Write(ref nextExpected, start + missed);
        return (start, missed);
    }
}
