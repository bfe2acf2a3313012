using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Bench.Core.Protocol;
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
            if (!file.Exists) throw new UserErrorException($"export: capture {file.FullName} does not exist");
            string sidecarPath = RecordingSidecar.PathFor(file.FullName);
            if (!File.Exists(sidecarPath)) throw new UserErrorException($"export: the sidecar {sidecarPath} is missing: it holds the sample rate and calibration");
            JsonNode sidecar;
            try
            {
                sidecar = JsonNode.Parse(File.ReadAllText(sidecarPath))!;
            }
            catch (System.Text.Json.JsonException e)
            {
                throw new UserErrorException($"export: the sidecar {sidecarPath} is not valid JSON: {e.Message}");
            }

            if (sidecar["format"]?.GetValue<string>() != RecordingSidecar.Format) throw new UserErrorException($"export: {sidecarPath} is not a {RecordingSidecar.Format} sidecar");
            string target = parse.GetValue(outFile)?.FullName ?? Path.ChangeExtension(file.FullName, ".csv");
            long rows;
            ulong lost;
            try
            {
                (rows, lost) = Export(file.FullName, sidecar, target);
            }
            catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException)
            {
                throw new UserErrorException($"export: the sidecar {sidecarPath} lacks the sample rate or calibration this needs ({e.Message})");
            }
            output.WriteLine($$"""{"rows":{{rows}},"lost_samples":{{lost}},"out":"{{target.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)}}"}""");
            return 0;
        });
        return command;
    }

    private static (long Rows, ulong Lost) Export(string capturePath, JsonNode sidecar, string target)
    {
        double rate = sidecar["configuration"]!["sample_rate_hz"]!.GetValue<double>();
        double mvPerCount = sidecar["calibration"]!["mv_per_count"]!.GetValue<double>();
        double offsetMv = sidecar["calibration"]!["offset_mv"]!.GetValue<double>();
        // Pass 1: the pulses as played (onset and train from each StimulusEvent, phase lengths from the command).
        var pulses = new List<(ulong Start, ulong End, double Nanoamps)>();
        var trains = sidecar["stimulus_command"]?["trains"]?.AsArray();
        double perCode = sidecar["stimulus_command"]?["amplitude_nA_per_code"]?.GetValue<double>() ?? 0;
        Decode(capturePath, frame =>
        {
            if (frame.Kind != MessageKind.StimulusEvent || trains is null || StimulusEvent.TryParse(frame.Payload, out var e) != ParseError.None || e.Train >= trains.Count) return;
            var t = trains[e.Train]!;
            ulong p1 = t["phase1_samples"]!.GetValue<ulong>(), gap = t["interphase_samples"]!.GetValue<ulong>(), p2 = t["phase2_samples"]!.GetValue<ulong>();
            pulses.Add((e.OnsetIndex, e.OnsetIndex + p1, e.Phase1Code * perCode));
            if (p2 > 0) pulses.Add((e.OnsetIndex + p1 + gap, e.OnsetIndex + p1 + gap + p2, e.Phase2Code * perCode));
        });
        pulses.Sort((a, b) => a.Start.CompareTo(b.Start));

        long rows = 0;
        ulong lost = 0, expected = 0;
        int next = 0;
        using var writer = new StreamWriter(target + ".partial", false, new UTF8Encoding(false), 1 << 16);
        writer.WriteLine("time_ms,v_mV,stimulus_nA");
        var line = new StringBuilder();
        Decode(capturePath, frame =>
        {
            if (frame.Kind != MessageKind.SampleBlock || SampleBlock.TryParse(frame.Payload, out var block) != ParseError.None) return;
            if (block.FirstSampleIndex < expected) return;
            lost += block.FirstSampleIndex - expected;
            for (int i = 0; i < block.SampleCount; i++)
            {
                ulong index = block.FirstSampleIndex + (ulong)i;
                while (next < pulses.Count && pulses[next].End <= index) next++;
                double current = next < pulses.Count && pulses[next].Start <= index ? pulses[next].Nanoamps : 0;
                line.Clear();
                line.Append((index * 1000.0 / rate).ToString("R", CultureInfo.InvariantCulture)).Append(',')
                    .Append(((mvPerCount * block[i, 0]) + offsetMv).ToString("0.####", CultureInfo.InvariantCulture)).Append(',')
                    .Append(current.ToString("R", CultureInfo.InvariantCulture));
                writer.WriteLine(line);
                rows++;
            }

            expected = block.FirstSampleIndex + block.SampleCount;
        });
        writer.Close();
        File.Move(target + ".partial", target, overwrite: true);
        return (rows, lost);
    }

    private static void Decode(string path, Action<Frame> onFrame)
    {
        var decoder = new FrameDecoder();
        using var stream = File.OpenRead(path);
        var buffer = new byte[1 << 16];
        int n;
        while ((n = stream.Read(buffer)) > 0)
        {
            ReadOnlySpan<byte> span = buffer.AsSpan(0, n);
            while (decoder.TryDecode(ref span, out var frame)) onFrame(frame);
        }
    }
}
