using System.CommandLine;
using System.Text.Json.Nodes;
using Bench.Storage.Recordings;

namespace Bench.Cli;

/// <summary>
/// <c>bench export &lt;recording&gt; [--format csv|xlsx]</c>: a recording's samples as <c>time_ms,v_mV,stimulus_nA</c>
/// (CSV) or a spreadsheet with the units in its header (xlsx) — the potential calibrated with the recording's
/// calibration, the stimulus current as the rig played it. Samples lost to gaps are absent (the time column jumps),
/// never filled in.
/// </summary>
internal static class ExportCommand
{
    public static Command Create(TextWriter output)
    {
        var recording = new Argument<FileInfo>("recording") { Description = "an NWB file Bench wrote (the page's recordings, bench record), or a raw capture with its sidecar" };
        var format = new Option<string?>("--format") { Description = "csv, or xlsx for a spreadsheet (default: from --out's extension, else csv)" };
        format.AcceptOnlyFromAmong("csv", "xlsx");
        var outFile = new Option<FileInfo?>("--out") { Description = "where to write (default: the recording's name with .csv or .xlsx)" };
        var from = new Option<double>("--from-s") { Description = "export from this time (s from the recording's start)", DefaultValueFactory = _ => 0 };
        var to = new Option<double?>("--to-s") { Description = "export up to this time (s; default: the end)" };
        var command = new Command("export", "Export a recording's samples (calibrated) and stimulus as CSV or a spreadsheet") { recording, format, outFile, from, to };
        command.SetAction(parse =>
        {
            var file = parse.GetValue(recording)!;
            var target = parse.GetValue(outFile);
            string chosen = parse.GetValue(format)
                ?? (target?.Extension.Equals(".xlsx", StringComparison.OrdinalIgnoreCase) == true ? "xlsx" : "csv");
            double fromS = parse.GetValue(from);
            double toS = parse.GetValue(to) ?? double.PositiveInfinity;
            if (!(fromS >= 0) || !(toS > fromS)) throw new UserErrorException("export: --from-s must be 0 or more and --to-s after it (seconds from the recording's start)");
            string path = target?.FullName ?? Path.ChangeExtension(file.FullName, "." + chosen);
            if (target?.Directory is { Exists: false } dir) throw new UserErrorException($"export: folder {dir.FullName} does not exist");
            if (string.Equals(path, file.FullName, StringComparison.Ordinal)) throw new UserErrorException("export: --out would replace the recording itself: name another file");
            RecordingReader reader;
            try
            {
                reader = RecordingReader.Open(file.FullName);
            }
            catch (RecordingFormatException e)
            {
                throw new UserErrorException($"export: {e.Message}");
            }

            ExportResult result;
            try
            {
                result = chosen == "xlsx" ? RecordingExport.Spreadsheet(reader, path, fromS, toS) : RecordingExport.Csv(reader, path, fromS, toS);
            }
            catch (ExportTooLargeException e)
            {
                throw new UserErrorException($"export: {e.Message}");
            }
            catch (RecordingFormatException e)
            {
                throw new UserErrorException($"export: {e.Message}");
            }

            output.WriteLine(new JsonObject { ["rows"] = result.Rows, ["lost_samples"] = result.LostSamples, ["format"] = chosen, ["out"] = result.Path }.ToJsonString());
            return 0;
        });
        return command;
    }
}
