using Bench.Core.Comparison;
using Bench.Core.Instrument;

namespace Bench.Core.Tests.Comparison;

public class PredictionFeedTests
{
    [Fact]
    public void Every_predicted_sample_is_handed_on_once_in_order()
    {
        var comparison = LiveComparison.Create("hh", null, new ComparisonSetup { SampleRateHz = 20_000, Calibration = FrontEnd.Emulated.Calibration });
        var feed = new PredictionFeed(comparison);
        Assert.False(feed.TryTake(out _, out _));
        var rest = Enumerable.Repeat((ushort)768, 100).ToArray();
        comparison.OnSamples(0, rest);
        Assert.True(feed.TryTake(out ulong first, out var mv));
        Assert.Equal(0UL, first);
        Assert.Equal(100, mv.Length);
        Assert.InRange(mv[99], -71, -69);   // the teaching model at rest
        Assert.False(feed.TryTake(out _, out _));
        comparison.OnSamples(100, rest.AsSpan(0, 50));
        Assert.True(feed.TryTake(out first, out mv));
        Assert.Equal(100UL, first);
        Assert.Equal(50, mv.Length);
    }

    [Fact]
    public void After_a_gap_longer_than_the_comparison_holds_every_sample_that_arrived_gets_its_prediction()
    {
        // A two-second stall (issue 12 §4.6): the gap and the samples after it are stepped in one go, and the start of
        // the gap is no longer held; the samples after it must still get their predictions (they came out NaN).
        var comparison = LiveComparison.Create("hh", null, new ComparisonSetup { SampleRateHz = 20_000, Calibration = FrontEnd.Emulated.Calibration });
        var feed = new PredictionFeed(comparison);
        var rest = Enumerable.Repeat((ushort)768, 200).ToArray();
        comparison.OnSamples(0, rest);
        Assert.True(feed.TryTake(out _, out _));
        comparison.OnGap(200, 40_000);
        comparison.OnSamples(40_200, rest);
        var got = new Dictionary<ulong, double>();
        while (feed.TryTake(out ulong first, out var mv))
        {
            for (int i = 0; i < mv.Length; i++) got[first + (ulong)i] = mv[i];
        }

        for (ulong i = 40_200; i < comparison.ComparedThrough; i++)
        {
            Assert.True(got.TryGetValue(i, out double v) && double.IsFinite(v), $"sample {i} has no prediction");
        }

        Assert.True(comparison.ComparedThrough > 40_200);
    }
}
