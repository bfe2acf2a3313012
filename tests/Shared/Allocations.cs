namespace Bench.Tests;

/// <summary>
/// What a piece of work allocates on this thread, measured as the least over a few runs of it. Work that allocates
/// does so in every run; the runtime's own one-off work (tiered compilation, a helper built on first use) falls in one
/// at most, and a single measured run once failed a clean-clone test on exactly that.
/// </summary>
internal static class Allocations
{
    /// <summary>The least bytes allocated by one of three runs of <paramref name="work"/>, after a first run that warms it up.</summary>
    public static long Least(Action work)
    {
        work();
        return LeastOf([work, work, work]);
    }

    /// <summary>The least bytes allocated by one of <paramref name="runs"/> (each run once, in order: e.g. the thirds of a stream).</summary>
    public static long LeastOf(IEnumerable<Action> runs)
    {
        long least = long.MaxValue;
        foreach (var run in runs)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            run();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return least;
    }
}
