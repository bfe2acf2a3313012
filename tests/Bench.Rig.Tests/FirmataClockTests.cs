using Bench.Rig.Firmata;

namespace Bench.Rig.Tests;

/// <summary>
/// A Firmata board's clock seen from its arrivals (synthetic streams, no board): the fit, and samples the board never
/// sent told apart from a host that was slow to read them.
/// </summary>
public sealed class FirmataClockTests
{
    private const double Period = 0.001;

    /// <summary>
    /// Feeds a 1 kHz board for <paramref name="seconds"/>: sample k taken at <paramref name="sampleTime"/>(k), read by the
    /// host in bursts every 8 ms (its reader rests between reads) plus <paramref name="extraDelay"/>(t); returns the
    /// samples reported lost and when.
    /// </summary>
    private static List<(double At, ulong Lost)> Run(double seconds, Func<ulong, double> sampleTime, Func<double, double>? extraDelay = null, int seed = 1)
    {
        var clock = new FirmataClock(Period, FirmataSession.LossThresholdMs / 1000);
        var random = new Random(seed);
        var lost = new List<(double, ulong)>();
        ulong index = 0;   // the host's count, moved on by every gap it reports
        for (ulong k = 0; sampleTime(k) < seconds; k++)
        {
            double taken = sampleTime(k);
            // The 3-byte message (0.52 ms at 57600 baud), then the next read of the host (every 8 ms, up to 1 ms late).
            double arrived = (Math.Ceiling((taken + 0.00052) / 0.008) * 0.008) + (random.NextDouble() * 0.001);
            arrived += extraDelay?.Invoke(arrived) ?? 0;
            ulong gap = clock.Observe(index, arrived);
            if (gap > 0) lost.Add((arrived, gap));
            index += gap + 1;
        }

        return lost;
    }

    [Fact]
    public void A_steady_board_read_in_bursts_loses_nothing_and_its_clock_is_fitted()
    {
        var clock = new FirmataClock(Period, 0.04);
        for (ulong k = 0; k < 10_000; k++) clock.Observe(k, (Math.Ceiling(((k * Period * 1.0002) + 0.00052) / 0.008) * 0.008) + 0.0005);
        Assert.True(clock.Fit is { IsFitted: true });
        Assert.InRange(clock.Fit!.DriftPpm, -250, -150);   // the board's clock runs 200 ppm slow
        // The line follows the earliest arrivals: sample k is known 0.52 ms (its message) after it was taken, at best.
        for (ulong k = 2000; k < 10_000; k += 1000) Assert.InRange(clock.Mapping.HostSeconds(k) - (k * Period * 1.0002), 0.0005, 0.0025);
        Assert.Empty(Run(10, k => k * Period));
        Assert.Empty(Run(10, k => k * Period * 1.0002));
    }

    [Fact]
    public void Samples_the_board_never_sent_are_reported_once_as_a_gap_of_their_number()
    {
        // 50 samples skipped at 4 s: every later sample is taken 50 ms later than its count says.
        var lost = Run(10, k => (k < 4000 ? k : k + 50) * Period);
        var (at, n) = Assert.Single(lost);
        Assert.InRange(n, 49UL, 51UL);
        Assert.InRange(at, 4.0, 4.0 + FirmataClock.WindowSeconds + 0.1);
    }

    [Fact]
    public void A_host_slow_to_read_loses_nothing()
    {
        // The host reads nothing for 300 ms at 5 s, then everything at once; and lags 30 ms (below the threshold) for 3 s.
        Assert.Empty(Run(10, k => k * Period, t => t is > 5.0 and < 5.3 ? 5.3 - t : 0));
        Assert.Empty(Run(12, k => k * Period, t => t is > 5.0 and < 8.0 ? 0.03 : 0));
    }
}
