using System.CommandLine;
using System.Globalization;
using System.Text;
using Bench.Rig.Recording;

namespace Bench.Cli;

/// <summary>
/// <c>bench export &lt;capture&gt; --format csv</c>: a recording's samples as <c>time_ms,v_mV,stimulus_nA</c> — the
/// potential calibrated with the recording's calibration, the stimulus current as the rig played it. Samples lost to
/// gaps are absent (the time column jumps), never filled in.
/// </summary>
internal static class ExportCommand
{
    public static Command Create(TextWriter output)
    {
        var capture = new Argument<FileInfo>("capture") { Description = "a capture written by bench record (its sidecar <capture>.json beside it)" };
        var format = new Option<string>("--format") { Description = "csv", DefaultValueFactory = _ => "csv" };
        format.AcceptOnlyFromAmong("csv");
        var outFile = new Option<FileInfo?>("--out") { Description = "where to write (default: the capture's name with .csv)" };
        var command = new Command("export", "Export a recording's samples (calibrated) and stimulus as CSV") { capture, format, outFile };
        command.SetAction(parse =>
        {
            var file = parse.GetValue(capture)!;
            RecordingReader reader;
            try
            {
                reader = RecordingReader.Open(file.FullName);
            }
            catch (RecordingFormatException e)
            {
                throw new UserErrorException($"export: {e.Message}");
            }

            string target = parse.GetValue(outFile)?.FullName ?? Path.ChangeExtension(file.FullName, ".csv");
            var (rows, lost) = Export(reader, target);
            output.WriteLine($$"""{"rows":{{rows}},"lost_samples":{{lost}},"out":"{{target.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}}"}""");
            return 0;
        });
        return command;
    }

    private static (long Rows, ulong Lost) Export(RecordingReader reader, string target)
    {
        var info = reader.Info;
        double rate = info.SampleRateHz;
        var calibration = info.Calibration;
        // Pass 1: the pulses as played (onset and train from each StimulusEvent, phase lengths from the command).
        var pulses = new List<(ulong Start, ulong End, double Nanoamps)>();
        var trains = info.Stimulus?.Trains;
        double perCode = info.NanoampsPerCode;
        foreach (var e in reader.Pulses())
        {
            if (trains is null || e.Train >= trains.Count) continue;
            var t = trains[e.Train];
            ulong p1 = t.Phase1Samples, gap = t.InterphaseSamples, p2 = t.Phase2Samples;
            pulses.Add((e.OnsetIndex, e.OnsetIndex + p1, e.Phase1Code * perCode));
            if (p2 > 0) pulses.Add((e.OnsetIndex + p1 + gap, e.OnsetIndex + p1 + gap + p2, e.Phase2Code * perCode));
        }

        pulses.Sort((a, b) => a.Start.CompareTo(b.Start));

        long rows = 0;
        ulong lost = 0;
        int next = 0;
        using var writer = new StreamWriter(target + ".partial", false, new UTF8Encoding(false), 1 << 16);
        writer.WriteLine("time_ms,v_mV,stimulus_nA");
        var line = new StringBuilder();
        foreach (var item in reader.Read())
        {
            if (item is RecordedGap gap)
            {
                lost += gap.Length;
                continue;
            }

            if (item is not RecordedSamples block) continue;
            for (int i = 0; i < block.Codes.Length; i++)
            {
                ulong index = block.FirstIndex + (ulong)i;
                while (next < pulses.Count && pulses[next].End <= index) next++;
                double current = next < pulses.Count && pulses[next].Start <= index ? pulses[next].Nanoamps : 0;
                line.Clear();
                line.Append((index * 1000.0 / rate).ToString("R", CultureInfo.InvariantCulture)).Append(',')
                    .Append(((calibration.MillivoltsPerCount * block.Codes[i]) + calibration.OffsetMv).ToString("0.####", CultureInfo.InvariantCulture)).Append(',')
                    .Append(current.ToString("R", CultureInfo.InvariantCulture));
                writer.WriteLine(line);
                rows++;
            }
        }

        writer.Close();
        File.Move(target + ".partial", target, overwrite: true);
        return (rows, lost);
    }
}
