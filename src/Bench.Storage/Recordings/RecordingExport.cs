using System.Globalization;
using System.Text;
using MiniExcelLibs;

namespace Bench.Storage.Recordings;

/// <summary>What an export wrote.</summary>
/// <param name="Rows">Sample rows written.</param>
/// <param name="LostSamples">Samples lost on the link within the exported span (absent: the time column jumps).</param>
/// <param name="Path">The file written.</param>
public sealed record ExportResult(long Rows, ulong LostSamples, string Path);

/// <summary>A spreadsheet cannot hold the rows asked for; the message says how many and what to do.</summary>
public sealed class ExportTooLargeException : IOException
{
    /// <summary>Creates the exception.</summary>
    public ExportTooLargeException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public ExportTooLargeException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public ExportTooLargeException(string message, Exception innerException) : base(message, innerException)
    {
    }
}

/// <summary>
/// A recording's samples as a table a student opens: time (ms), membrane potential (mV, calibrated as recorded), the
/// stimulus current as the rig played it (nA) and, for a recording compared live, the model's prediction (mV). Samples lost on the link are absent (the time column jumps), never
/// filled in. CSV for scripts; .xlsx for a spreadsheet, which opens it with its units and numbers as numbers, whatever
/// the computer's decimal separator. Both are written under a temporary name and moved into place when complete.
/// </summary>
public static class RecordingExport
{
    /// <summary>Rows of samples a spreadsheet sheet holds besides its header (Excel's and LibreOffice's limit).</summary>
    public const long SpreadsheetRows = 1_048_575;

    /// <summary>The CSV header: names a script reads, with the unit in each.</summary>
    public const string CsvHeader = "time_ms,v_mV,stimulus_nA";

    /// <summary>The CSV header's extra column for a recording compared live.</summary>
    public const string CsvModelColumn = "model_mV";

    /// <summary>The spreadsheet's column titles, units in brackets (the model's last, when there is one).</summary>
    public static IReadOnlyList<string> SpreadsheetHeader { get; } = ["time (ms)", "membrane potential (mV)", "stimulus (nA)", "model (mV)"];

    /// <summary>Writes the samples from <paramref name="fromS"/> to <paramref name="toS"/> (seconds from the recording's start) as CSV.</summary>
    public static ExportResult Csv(RecordingReader reader, string target, double fromS = 0, double toS = double.PositiveInfinity)
    {
        ArgumentNullException.ThrowIfNull(reader);
        string partial = target + ".partial";
        long rows = 0;
        ulong lost;
        try
        {
            using (var writer = new StreamWriter(partial, false, new UTF8Encoding(false), 1 << 16))
            {
                bool model = reader.Info.HasModelPrediction;
                writer.WriteLine(model ? CsvHeader + "," + CsvModelColumn : CsvHeader);
                var line = new StringBuilder();
                lost = Walk(reader, fromS, toS, (timeMs, mv, nanoamps, modelMv) =>
                {
                    line.Clear();
                    line.Append(timeMs.ToString("R", CultureInfo.InvariantCulture)).Append(',')
                        .Append(mv.ToString("0.####", CultureInfo.InvariantCulture)).Append(',')
                        .Append(nanoamps.ToString("R", CultureInfo.InvariantCulture));
                    // A model value never computed (the recording stopped while the model waited) is an empty cell.
                    if (model) line.Append(',').Append(double.IsNaN(modelMv) ? "" : modelMv.ToString("0.####", CultureInfo.InvariantCulture));
                    writer.WriteLine(line);
                    rows++;
                });
            }

            File.Move(partial, target, overwrite: true);
        }
        catch
        {
            File.Delete(partial);
            throw;
        }

        return new ExportResult(rows, lost, target);
    }

    /// <summary>Writes the samples from <paramref name="fromS"/> to <paramref name="toS"/> as an .xlsx workbook (one sheet).</summary>
    /// <exception cref="ExportTooLargeException">More rows than a sheet holds; nothing is written.</exception>
    public static ExportResult Spreadsheet(RecordingReader reader, string target, double fromS = 0, double toS = double.PositiveInfinity)
    {
        ArgumentNullException.ThrowIfNull(reader);
        string partial = target + ".partial";
        long rows = 0;
        ulong lost = 0;
        try
        {
            using (var stream = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                stream.SaveAs(Rows(), printHeader: true, sheetName: "samples", excelType: ExcelType.XLSX);
            }

            File.Move(partial, target, overwrite: true);
        }
        catch
        {
            File.Delete(partial);
            throw;
        }

        return new ExportResult(rows, lost, target);

        // Streamed row by row: the workbook never holds the recording in memory.
        IEnumerable<Dictionary<string, object>> Rows()
        {
            bool model = reader.Info.HasModelPrediction;
            using var blocks = Blocks(reader, fromS, toS, l => lost += l).GetEnumerator();
            while (blocks.MoveNext())
            {
                foreach (var (timeMs, mv, nanoamps, modelMv) in blocks.Current)
                {
                    if (++rows > SpreadsheetRows)
                    {
                        throw new ExportTooLargeException(
                            $"the span holds more than {SpreadsheetRows:N0} samples, more than a spreadsheet sheet holds: export a shorter span (--from-s, --to-s) or as CSV");
                    }

                    var row = new Dictionary<string, object>
                    {
                        [SpreadsheetHeader[0]] = timeMs, [SpreadsheetHeader[1]] = Math.Round(mv, 4), [SpreadsheetHeader[2]] = nanoamps,
                    };
                    if (model) row[SpreadsheetHeader[3]] = double.IsNaN(modelMv) ? null! : Math.Round(modelMv, 4);
                    yield return row;
                }
            }
        }
    }

    private static ulong Walk(RecordingReader reader, double fromS, double toS, Action<double, double, double, double> row)
    {
        ulong lost = 0;
        foreach (var block in Blocks(reader, fromS, toS, l => lost += l))
        {
            foreach (var (t, v, i, m) in block) row(t, v, i, m);
        }

        return lost;
    }

    /// <summary>The rows, a block at a time, within [from, to); lost samples within the span are counted.</summary>
    private static IEnumerable<List<(double TimeMs, double Mv, double Nanoamps, double ModelMv)>> Blocks(RecordingReader reader, double fromS, double toS, Action<ulong> lost)
    {
        var info = reader.Info;
        double rate = info.SampleRateHz;
        ulong from = (ulong)Math.Max(0, Math.Ceiling(fromS * rate));
        ulong to = double.IsPositiveInfinity(toS) ? ulong.MaxValue : (ulong)Math.Max(0, Math.Ceiling(toS * rate));
        var calibration = info.Calibration;
        ulong expected = from;
        var rows = new List<(double, double, double, double)>(4096);
        foreach (var block in reader.SamplesWithCurrent())
        {
            ulong first = block.FirstIndex, end = first + (ulong)block.Codes.Length;
            if (end <= from) continue;
            if (first > expected) lost(Math.Min(first, to) - expected);
            if (first >= to) break;
            rows.Clear();
            for (ulong index = Math.Max(first, from); index < Math.Min(end, to); index++)
            {
                int i = (int)(index - first);
                rows.Add((index * 1000.0 / rate, (calibration.MillivoltsPerCount * block.Codes[i]) + calibration.OffsetMv, block.StimulusNanoamps![i],
                    block.ModelMv is { } m ? m[i] : double.NaN));
            }

            expected = Math.Min(end, to);
            yield return rows;
        }
    }
}
