using System.Diagnostics;
using Bench.Storage.Nwb;
using PureHDF.VOL.Native;
using Xunit.Abstractions;

namespace Bench.Storage.Tests;

/// <summary>Memory is measured here, so nothing else in this assembly runs at the same time.</summary>
[CollectionDefinition(nameof(Serial), DisableParallelization = true)]
public sealed class Serial;

[Collection(nameof(Serial))]
[Trait("Category", "EndToEnd")]
public sealed class NwbStreamingTests(ITestOutputHelper output) : IDisposable
{
    private readonly string dir = NwbTestData.TempDirectory();

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>A noisy membrane trace on a 12-bit ADC, deterministic (an LCG for the noise).</summary>
    private static short Trace(ulong i) => (short)(2048 + Math.Round(300 * Math.Sin(i / 80.0)) + (long)((i * 2654435761UL >> 7) % 9) - 4);

    [Fact]
    public void Two_million_samples_stream_in_chunks_without_holding_the_recording()
    {
        const int total = 2_000_000, chunk = 1000;
        const ulong gapAt = 1_000_000, gapLength = 1000;
        string path = Path.Combine(dir, "long.nwb");
        var recording = NwbTestData.Recording(total, [new NwbGap(gapAt, gapLength)]) with { ModelName = "hh", HasStimulusCurrent = true };
        // What the whole recording would take in memory: int16 counts, float64 times, float32 model, float32 stimulus.
        const long wholeSetBytes = total * (2L + 8 + 4 + 4);

        long baseline = GC.GetTotalMemory(forceFullCollection: true);
        long peak = 0;
        long countSum = 0;
        double stimulusSum = 0;
        int chunks = 0;
        IEnumerable<SampleChunk> Source()
        {
            // One buffer set, reused: the writer copies what it needs before Append returns.
            var counts = new short[chunk];
            var model = new float[chunk];
            var stimulus = new float[chunk];
            ulong index = 0;
            for (int written = 0; written < total; written += chunk)
            {
                if (index == gapAt) index += gapLength;
                for (int i = 0; i < chunk; i++)
                {
                    counts[i] = Trace(index + (ulong)i);
                    countSum += counts[i];
                    model[i] = (float)(-70 + (Math.Sin((index + (ulong)i) / 80.0) * 10));
                    stimulus[i] = (index + (ulong)i) % 20000 < 20 ? 2.5f : 0;
                    stimulusSum += stimulus[i];
                }

                yield return new SampleChunk(index, counts, model, stimulus);
                index += chunk;
                if (++chunks % 100 == 0) peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true) - baseline);
            }
        }

        var clock = Stopwatch.StartNew();
        var summary = NwbWriter.Write(path, recording, Source());
        clock.Stop();

        output.WriteLine($"{total:N0} samples in {chunks} chunks of {chunk}: {clock.Elapsed.TotalSeconds:F2} s (with 20 forced full GCs), "
            + $"{summary.FileBytes / 1e6:F2} MB on disk, peak managed heap growth {peak / 1e6:F1} MB (whole set {wholeSetBytes / 1e6:F0} MB)");
        Assert.Equal(total, summary.Samples);
        Assert.Equal(2000, chunks);
        // The writer holds one HDF5 chunk per dataset (65536 samples, 1.2 MB for all four) plus PureHDF's own buffers:
        // far below the 36 MB the recording would take. PureHDF's default cache would hold all of it.
        Assert.True(peak < wholeSetBytes / 4, $"managed heap grew by {peak / 1e6:F1} MB while writing; the whole set is {wholeSetBytes / 1e6:F0} MB");
        Assert.True(summary.FileBytes < wholeSetBytes, $"{summary.FileBytes} bytes: compression did nothing");

        var f = H5py.Read(path);
        var m = f["membrane"]!;
        Assert.Equal(total, (int)m["length"]!);
        Assert.Equal(total, (int)m["timestamps_length"]!);
        Assert.Equal(new[] { Trace(0), Trace(1), Trace(2) }, m["first"]!.AsArray().Select(v => (short)v!));
        Assert.Equal(Trace(total + gapLength - 1), (short)m["last"]!);
        Assert.Equal(countSum, (long)(double)m["sum"]!);
        Assert.Equal((total + gapLength - 1) / NwbTestData.RateHz, (double)m["last_time"]!);
        Assert.True((bool)m["times_increasing"]!);
        var jump = Assert.Single(m["jumps"]!.AsArray())!;
        Assert.Equal((int)gapAt - 1, (int)jump["index"]!);
        Assert.Equal((gapAt + gapLength) / NwbTestData.RateHz, (double)jump["after"]!);
        Assert.Equal([NwbWriter.ChunkSamples], m["chunks"]!.AsArray().Select(v => (int)v!));
        Assert.Equal(total, (int)f["model"]!["length"]!);
        Assert.Equal(total, (int)f["stimulus"]!["length"]!);
        // A 20-sample pulse every 20000 samples, 0 … 2,000,000, less the one at 1,000,000 that fell into the gap.
        Assert.Equal(100 * 20 * 2.5, stimulusSum);
        Assert.Equal(stimulusSum, (double)f["stimulus"]!["sum"]!);
    }

    [Fact]
    public void The_chunk_cache_writes_each_chunk_once_and_refuses_to_go_back()
    {
        var cache = new SequentialChunkCache();
        var written = new List<ulong>();
        Action<ulong, Memory<byte>> Writer(ulong index) => (_, _) => written.Add(index);

        var c0 = cache.GetChunk(0, () => new byte[4], Writer(0));
        Assert.Equal(c0, cache.GetChunk(0, () => new byte[4], Writer(0)));
        cache.GetChunk(1, () => new byte[4], Writer(1));
        Assert.Equal([0UL], written);
        cache.GetChunk(3, () => new byte[4], Writer(3));
        Assert.Equal([0UL, 1UL], written);
        Assert.Throws<InvalidOperationException>(() => cache.GetChunk(2, () => new byte[4], Writer(2)));

        var flushed = new List<ulong>();
        cache.Flush((index, _) => flushed.Add(index));
        Assert.Equal([3UL], flushed);
        Assert.Equal([0UL, 1UL], written);
    }

    [Fact]
    public void Pure_hdfs_default_cache_would_hold_every_chunk()
    {
        // Why SequentialChunkCache exists: the default keeps every chunk until the file is closed.
        var cache = new SimpleWritingChunkCache();
        var written = new List<ulong>();
        for (ulong i = 0; i < 10; i++) cache.GetChunk(i, () => new byte[4], (_, _) => written.Add(i));
        Assert.Empty(written);
    }
}
