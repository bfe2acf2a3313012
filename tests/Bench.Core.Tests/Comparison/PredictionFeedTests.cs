using Bench.Core.Comparison;
using Bench.Core.Rig;

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
}
