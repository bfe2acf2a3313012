using System.Diagnostics;
using System.Globalization;
using Bench.Core.Instrument;
using Bench.Storage.Nwb;

namespace Bench.Benchmarks;

/// <summary>
/// <c>nwb [minutes] [--gaps] [--keep PATH]</c>: writes a long recording at 20 kHz (a noisy synthetic trace, with the model's prediction
/// and the stimulus current) through <see cref="NwbWriter"/> and prints the time, the file's size and the process's peak
/// working set: the figure README gives for an hour. Without gaps the file takes starting_time and rate; with
/// <c>--gaps</c> a 100-sample gap every 10 s makes it write a timestamp per sample.
/// </summary>
internal static class NwbLongWrite
{
    public static int Run(string[] args)
    {
        double minutes = args.Length > 0 && double.TryParse(args[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double m) ? m : 60;
        bool gaps = args.Contains("--gaps");
        const double rate = 20_000;
        long total = (long)(minutes * 60 * rate);
        const int block = 4096;
        const ulong every = 200_000, lost = 100;
        var gapList = new List<NwbGap>();
        if (gaps)
        {
            for (ulong at = every; at < (ulong)total; at += every) gapList.Add(new NwbGap(at, lost));
        }

        long received = total - gapList.Sum(g => (long)g.LostSamples);
        int keepAt = Array.IndexOf(args, "--keep");
        string? keep = keepAt >= 0 && keepAt + 1 < args.Length ? Path.GetFullPath(args[keepAt + 1]) : null;
        string path = keep ?? Path.Combine(Path.GetTempPath(), $"bench-nwb-{Environment.ProcessId}.nwb");
        var recording = new NwbRecording($"bench-long-{minutes}", "Bench long-write benchmark", DateTimeOffset.UtcNow, new NwbDevice("EMU", "1.0.0", "1.0", 1),
            new Calibration(0.0390625, -100), "nominal", rate, received, null, [], gapList)
        {
            ModelName = "hh", HasStimulusCurrent = true, StimulusNanoampsPerCode = 1,
        };
        var random = new Random(1);
        var counts = new short[block];
        var model = new float[block];
        var current = new float[block];
        var watch = Stopwatch.StartNew();
        using (var writer = NwbWriter.Create(path, recording, overwrite: true))
        {
            ulong index = 0;
            int nextGap = 0;
            while ((long)index < total)
            {
                int n = (int)Math.Min(block, (ulong)total - index);
                if (nextGap < gapList.Count && gapList[nextGap].FirstLostSample < index + (ulong)n) n = (int)(gapList[nextGap].FirstLostSample - index);
                if (n == 0)
                {
                    index += gapList[nextGap++].LostSamples;
                    continue;
                }

                for (int i = 0; i < n; i++)
                {
                    double v = -70 + (10 * Math.Sin((index + (ulong)i) * 0.001)) + (random.NextDouble() - 0.5);
                    counts[i] = (short)Math.Round((v + 100) / 0.0390625);
                    model[i] = (float)v;
                    current[i] = (index + (ulong)i) % 20_000 < 20 ? 300 : 0;
                }

                writer.Append(new SampleChunk(index, counts.AsMemory(0, n), model.AsMemory(0, n), current.AsMemory(0, n)));
                index += (ulong)n;
            }

            writer.Complete();
        }

        double seconds = watch.Elapsed.TotalSeconds;
        long bytes = new FileInfo(path).Length;
        long peak = Process.GetCurrentProcess().PeakWorkingSet64;
        if (keep is null) File.Delete(path);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{{\"minutes\":{minutes},\"samples\":{received},\"gaps\":{gapList.Count},\"seconds\":{seconds:0.00},\"file_mb\":{bytes / 1e6:0.0},\"peak_working_set_mb\":{peak / 1e6:0}}}"));
        return 0;
    }
}
