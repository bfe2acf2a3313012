using Bench.Rig.Session;

namespace Bench.Rig.Tests;

internal static class RigTestHelpers
{
    /// <summary>Reads sample batches until at least <paramref name="samples"/> have arrived.</summary>
    public static async Task<List<SampleBatch>> Collect(RigSession session, ulong samples, TimeSpan timeout)
    {
        var batches = new List<SampleBatch>();
        ulong got = 0;
        using var cts = new CancellationTokenSource(timeout);
        while (got < samples)
        {
            var b = await session.Samples.ReadAsync(cts.Token);
            batches.Add(b);
            got += (ulong)b.Codes.Length;
        }

        return batches;
    }

    /// <summary>
    /// Skips the batches already queued, then reads until <paramref name="samples"/> more have arrived: samples the rig
    /// sent after everything the host had seen so far. What the rig reports (a pulse, a status) goes before the samples
    /// after it, so once they are here, any such report is in <see cref="RigSession.Events"/> too.
    /// </summary>
    public static async Task<List<SampleBatch>> CollectMore(RigSession session, ulong samples, TimeSpan timeout)
    {
        while (session.Samples.TryRead(out _))
        {
        }

        return await Collect(session, samples, timeout);
    }

    /// <summary>
    /// Ends the session and returns every batch and event it still held. After disposal its channels are complete and
    /// nothing more can arrive, so the test reads the final account without waiting for stragglers.
    /// </summary>
    public static async Task<(List<SampleBatch> Batches, List<RigEvent> Events)> EndAsync(RigSession session)
    {
        await session.DisposeAsync();
        var batches = new List<SampleBatch>();
        await foreach (var b in session.Samples.ReadAllAsync()) batches.Add(b);
        var events = new List<RigEvent>();
        await foreach (var e in session.Events.ReadAllAsync()) events.Add(e);
        return (batches, events);
    }

    /// <summary>Every event queued so far.</summary>
    public static List<RigEvent> Drain(RigSession session)
    {
        var list = new List<RigEvent>();
        while (session.Events.TryRead(out var e)) list.Add(e);
        return list;
    }

    /// <summary>
    /// Wherever consecutive batches' indices jump, a gap of exactly that start and length was reported, and no gap was
    /// reported anywhere else.
    /// </summary>
    public static void AssertGapsMatchJumps(List<SampleBatch> batches, List<GapEvent> gaps, ulong blockSamples)
    {
        int jumps = 0;
        for (int i = 1; i < batches.Count; i++)
        {
            ulong end = batches[i - 1].FirstSampleIndex + (ulong)batches[i - 1].Codes.Length;
            ulong jump = batches[i].FirstSampleIndex - end;
            if (jump == 0) continue;
            jumps++;
            Assert.Contains(gaps, g => g.StartIndex == end && g.Length == jump);
            Assert.True(jump % blockSamples == 0, $"jump of {jump} at {end}: batches {string.Join(" ", batches.Skip(Math.Max(0, i - 3)).Take(6).Select(b => $"{b.FirstSampleIndex}+{b.Codes.Length}"))}");
        }

        Assert.Equal(jumps, gaps.Count);
    }
}
