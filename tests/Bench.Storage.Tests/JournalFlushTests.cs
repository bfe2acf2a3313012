using System.Text.Json.Nodes;
using Bench.Storage.Journal;
using Microsoft.Extensions.Time.Testing;

namespace Bench.Storage.Tests;

/// <summary>
/// The journal hands its buffer to the operating system once <see cref="RecordingJournalWriter.FlushInterval"/> has
/// passed since the last flush, and not before: timed by a fake clock, so the test says exactly when.
/// </summary>
public sealed class JournalFlushTests : IDisposable
{
    private readonly string dir = NwbTestData.TempDirectory();

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>Samples that another process would find in the file now (what survives a crash of the writer).</summary>
    private static long OnDisk(string path) => RecordingJournal.Scan(path).SampleCount;

    [Fact]
    public void Records_reach_the_file_when_the_flush_interval_has_passed_and_not_before()
    {
        var clock = new FakeTimeProvider();
        string path = Path.Combine(dir, "x.nwb.journal");
        ushort[] block = [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009];
        using var writer = new RecordingJournalWriter(path, new JsonObject { ["name"] = "x" }, clock);
        Assert.Equal(TimeSpan.FromMilliseconds(200), RecordingJournalWriter.FlushInterval);

        // The header is flushed at once; samples written within the interval stay in the writer's buffer.
        writer.WriteSamples(0, block, []);
        Assert.Equal(0, OnDisk(path));
        clock.Advance(TimeSpan.FromMilliseconds(199));
        writer.WriteSamples(10, block, []);
        writer.WriteGap(20, 5);
        Assert.Equal(0, OnDisk(path));

        // 200 ms after the last flush: the next record takes everything written so far to the file.
        clock.Advance(TimeSpan.FromMilliseconds(1));
        writer.WriteSamples(25, block, []);
        Assert.Equal(30, OnDisk(path));
        Assert.Equal([(20UL, 5UL)], RecordingJournal.Scan(path).Gaps);

        // The interval starts again from that flush.
        clock.Advance(TimeSpan.FromMilliseconds(150));
        writer.WriteSamples(35, block, []);
        Assert.Equal(30, OnDisk(path));
        clock.Advance(TimeSpan.FromMilliseconds(50));
        writer.WriteModel(35, new float[10]);
        Assert.Equal(40, OnDisk(path));
    }

    [Fact]
    public void Protocols_and_the_end_are_flushed_at_once_and_restart_the_interval()
    {
        var clock = new FakeTimeProvider();
        string path = Path.Combine(dir, "y.nwb.journal");
        using var writer = new RecordingJournalWriter(path, new JsonObject { ["name"] = "y" }, clock);
        writer.WriteSamples(0, new ushort[20], []);
        clock.Advance(TimeSpan.FromMilliseconds(100));
        writer.WriteProtocol(new JsonObject { ["stim_id"] = 2 });
        Assert.Equal(20, OnDisk(path));
        Assert.Single(RecordingJournal.Scan(path).Protocols);

        // 150 ms after the protocol's flush (250 ms after the header's): not yet.
        clock.Advance(TimeSpan.FromMilliseconds(150));
        writer.WriteSamples(20, new ushort[20], []);
        Assert.Equal(20, OnDisk(path));
        writer.WriteEnd(new JsonObject { ["samples"] = 40 });
        var journal = RecordingJournal.Scan(path);
        Assert.Equal(40, journal.SampleCount);
        Assert.NotNull(journal.End);
    }
}
