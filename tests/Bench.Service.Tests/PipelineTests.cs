using System.Text.Json.Nodes;
using Bench.Storage.Journal;
using Bench.Storage.Tests;

namespace Bench.Service.Tests;

/// <summary>The live view's pieces and the recording journal, on their own.</summary>
[Trait("Category", "EndToEnd")]
public sealed class PipelineTests
{
    [Fact]
    public void Decimation_keeps_each_buckets_extremes_and_breaks_at_gaps()
    {
        var d = new TraceDecimator(bucketSamples: 20);
        for (ulong i = 0; i < 60; i++) d.Add(i, i == 25 ? 40 : -70.0 + (i % 3));
        d.Gap(60, 50);   // samples 60..109 lost
        for (ulong i = 110; i < 125; i++) d.Add(i, -65);
        d.Add(140, -60);   // closes bucket 6 (120..124); bucket 7 stays open
        var chunk = d.Drain(20_000);
        // Buckets 3 and 4 (samples 60..99) were lost entirely; bucket 5 kept its samples 110..119.
        Assert.Equal([0.0, 1, 2, 3, 4, 5, 6], chunk.TimeMs);
        Assert.Equal([-70.0, -70, -70, null, null, -65, -65], chunk.MinMv);
        Assert.Equal([-68.0, 40, -68, null, null, -65, -65], chunk.MaxMv);
        Assert.Equal(1.0, chunk.BucketMs);
        Assert.Empty(d.Drain(20_000).TimeMs);
    }

    [Fact]
    public void Decimation_allocates_nothing_per_sample()
    {
        var d = new TraceDecimator(20, capacityBuckets: 100_000);
        ulong i = 0;
        Assert.Equal(0, Allocations.Least(() =>
        {
            for (int k = 0; k < 50_000; k++, i++) d.Add(i, Math.Sin(i * 0.01));
        }));
    }

    [Fact]
    public async Task A_viewer_that_never_reads_loses_its_own_frames_and_holds_up_nobody()
    {
        var hub = new LiveHub();
        var stalled = hub.Subscribe(out var unsubscribeStalled);
        var reading = hub.Subscribe(out var unsubscribeReading);
        int received = 0;
        var reader = Task.Run(async () =>
        {
            await foreach (var _ in reading.ReadAllAsync()) received++;
        });
        for (int round = 0; round < 100; round++)
        {
            for (int i = 0; i < 50; i++) hub.Publish("trace", new { round, i });
            // The reading viewer keeps up (it is given the time to); the stalled one never reads.
            await Eventually.True(() => reading.Count == 0, "the reading viewer took its frames");
        }

        Assert.True(stalled.Count <= 64);
        Assert.Equal(5_000 - 64, hub.Dropped);
        unsubscribeReading();
        await reader;
        Assert.Equal(5_000, received);
        unsubscribeStalled();
        Assert.Equal(0, hub.ViewerCount);
    }

    [Fact]
    public void A_journal_cut_short_is_read_up_to_its_last_intact_record()
    {
        string dir = Directory.CreateTempSubdirectory("bench-journal-").FullName;
        string path = Path.Combine(dir, "x.nwb.journal");
        using (var w = new RecordingJournalWriter(path, new JsonObject { ["name"] = "x" }))
        {
            w.WriteSamples(0, [1, 2, 3], []);
            w.WriteGap(3, 2);
            w.WriteSamples(5, [4, 5], []);
            w.WriteModel(0, [-70f, -69f, -68f]);
            w.WritePulse(new JournalPulse(5, 1, 0, 0, 300, 20, 0, 0, 0));
        }

        long full = new FileInfo(path).Length;
        var whole = RecordingJournal.Read(path);
        Assert.Equal(5, whole.SampleCount);
        Assert.Equal([(3UL, 2UL)], whole.Gaps);
        Assert.Equal(-69f, whole.Model[0].ModelMv[1]);
        Assert.Equal(300, whole.Pulses[0].Phase1Nanoamps);
        Assert.Null(whole.End);
        Assert.Equal(0, whole.DiscardedBytes);

        // A crash in the middle of the last record: everything before it is still read.
        using (var f = new FileStream(path, FileMode.Open)) f.SetLength(full - 5);
        var cut = RecordingJournal.Read(path);
        Assert.Empty(cut.Pulses);
        Assert.Equal(5, cut.SampleCount);
        Assert.True(cut.DiscardedBytes > 0);

        // A flipped byte inside a record: reading stops before it (its CRC fails).
        var bytes = File.ReadAllBytes(path);
        bytes[cut.IntactBytes - 10] ^= 0x40;
        File.WriteAllBytes(path, bytes);
        Assert.True(RecordingJournal.Read(path).IntactBytes < cut.IntactBytes);
        File.WriteAllText(path, "not a journal");
        Assert.Throws<InvalidDataException>(() => RecordingJournal.Read(path));
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void A_journal_cut_by_a_crash_becomes_NWB_with_every_gap_counted_and_no_prediction_invented()
    {
        string dir = Directory.CreateTempSubdirectory("bench-journal-").FullName;
        string nwb = Path.Combine(dir, "cut.nwb");
        var header = new JsonObject
        {
            ["name"] = "cut", ["started_utc"] = "2026-11-25T10:00:00.0000000Z", ["sample_rate_hz"] = 20_000.0, ["first_sample_index"] = 100,
            ["device"] = new JsonObject { ["board"] = "EMU", ["unique_id"] = "b3c4000000000001", ["firmware"] = "1.0.0", ["protocol"] = "1.0" },
            ["calibration"] = new JsonObject { ["mv_per_count"] = 0.0390625, ["offset_mv"] = -100.0, ["source"] = "test" },
            ["nanoamps_per_code"] = 1.0, ["model"] = "hh",
        };
        using (var w = new RecordingJournalWriter(JournalConverter.JournalPathFor(nwb), header))
        {
            // Samples 100..104 never arrived (the start of the recording); 105..204 did; then a jump to 250 whose gap
            // record the crash cut off; the model caught up only with the first run.
            w.WriteSamples(105, Enumerable.Repeat((ushort)768, 100).ToArray(), []);
            w.WriteModel(105, Enumerable.Repeat(-70f, 100).ToArray());
            w.WritePulse(new JournalPulse(120, 1, 0, 0, 300, 20, 0, 0, 0));
            w.WriteSamples(250, Enumerable.Repeat((ushort)769, 50).ToArray(), []);
        }

        var result = JournalConverter.Convert(JournalConverter.JournalPathFor(nwb), nwb);
        Assert.False(result.Complete);
        Assert.Equal(150, result.Nwb.Samples);
        Assert.Equal(50UL, result.Nwb.LostSamples);
        var file = H5py.Read(nwb);
        var gaps = file["intervals"]!["invalid_times"]!["rows"]!.AsArray();
        Assert.Equal([0L, 105L], gaps.Select(g => (long)g!["first_lost_sample"]!));
        Assert.Equal([5L, 45L], gaps.Select(g => (long)g!["lost_samples"]!));
        Assert.Equal(5 / 20_000.0, (double)file["membrane"]!["first_time"]!, 12);
        Assert.Equal(50, (long)file["model"]!["nan_count"]!);
        Assert.Equal(20L, (long)file["intervals"]!["stimulus_events"]!["rows"]![0]!["onset_sample"]!);
        Assert.StartsWith("2026-11-25T10:00:00", (string?)file["session_start_time"]);
        Assert.Equal(20 * 300.0, (double)file["stimulus"]!["sum"]!, 6);
        Directory.Delete(dir, recursive: true);
    }
}
