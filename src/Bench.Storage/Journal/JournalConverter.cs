using System.Globalization;
using System.Text.Json.Nodes;
using Bench.Core.Instrument;
using Bench.Storage.Nwb;

namespace Bench.Storage.Journal;

/// <summary>What converting a journal produced.</summary>
/// <param name="Nwb">The NWB file written.</param>
/// <param name="Complete">True when the journal ended normally; false when it was cut short (a crash) and the file holds what reached the disk.</param>
/// <param name="DiscardedBytes">Bytes of a last record cut short by the crash, which were left out.</param>
/// <param name="DurationS">Device time from the first sample to the last, in seconds.</param>
/// <param name="RmseMv">The model comparison's RMSE over the recording (mV), if there was a model.</param>
public sealed record JournalConversion(NwbWriteSummary Nwb, bool Complete, long DiscardedBytes, double DurationS, double? RmseMv)
{
    /// <summary>Bytes of damaged records skipped (their samples count as lost).</summary>
    public long SkippedBytes { get; init; }

    /// <summary>How many damaged stretches were skipped.</summary>
    public int DamagedStretches { get; init; }

    /// <summary>The file's <c>session_start_time</c>: host time of the recording's first sample.</summary>
    public DateTimeOffset? SessionStartUtc { get; init; }

    /// <summary><paramref name="record"/> as this conversion leaves it: what the file holds, with <paramref name="status"/>.</summary>
    public Catalog.RecordingRecord Update(Catalog.RecordingRecord record, Catalog.RecordingStatus status) => record with
    {
        Samples = Nwb.Samples, LostSamples = (long)Nwb.LostSamples, DurationS = DurationS, RmseMv = RmseMv, Status = status,
        // The catalog's start is the file's time zero (asked for, the recording began a little before its first sample).
        StartedUtc = SessionStartUtc?.UtcDateTime ?? record.StartedUtc,
    };
}

/// <summary>
/// Writes the NWB file of a recording from its journal: at the normal end of a recording, and by <c>bench recover</c>
/// after a crash (then up to the last intact record). Sample indices are counted from the recording's first sample, so
/// its timestamps start at 0 s at <c>session_start_time</c>.
/// </summary>
public static class JournalConverter
{
    /// <summary>The journal beside an NWB file.</summary>
    public static string JournalPathFor(string nwbPath) => nwbPath + ".journal";

    /// <summary>
    /// True while a recording still writes the journal: its writer holds the file open, which on Linux .NET marks with
    /// a shared lock, so asking for the file alone fails.
    /// </summary>
    public static bool IsBeingWritten(string journalPath)
    {
        try
        {
            using var probe = new FileStream(journalPath, FileMode.Open, FileAccess.Read, FileShare.None);
            return false;
        }
        catch (IOException) when (File.Exists(journalPath))
        {
            return true;
        }
    }

    /// <summary>
    /// Ends a recording's journal the safe way: writes the NWB file from it (to <c>x.nwb.partial</c>, moved into place
    /// only once complete), lets <paramref name="record"/> store the result (the catalog's entry), and only then deletes
    /// the journal. If any step fails the journal stays, no NWB file is left claiming the recording, and the exception
    /// says that <c>bench recover</c> can retry: the journal is the recording until its file is complete and recorded.
    /// </summary>
    /// <param name="journalPath">The journal (ended, or cut short by a crash).</param>
    /// <param name="nwbPath">The NWB file to write (it must not exist).</param>
    /// <param name="record">Stores the result (e.g. updates the catalog); a failure here undoes the file.</param>
    /// <exception cref="JournalConversionException">The file could not be written or the result not stored; the journal is kept.</exception>
    public static JournalConversion ConvertAndRemoveJournal(string journalPath, string nwbPath, Action<JournalConversion>? record = null)
    {
        JournalConversion result;
        try
        {
            result = Convert(journalPath, nwbPath);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new JournalConversionException(journalPath, nwbPath, $"the NWB file {nwbPath} could not be written from its journal: {e.Message}", e);
        }

        try
        {
            record?.Invoke(result);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The file is complete but nothing records it: remove it, so the journal stays the one account of the
            // recording and a retry (bench recover, or the service's next start) does not find a file in the way.
            File.Delete(nwbPath);
            throw new JournalConversionException(journalPath, nwbPath, $"the NWB file {nwbPath} was written but could not be recorded, so it was removed: {e.Message}", e);
        }

        File.Delete(journalPath);
        return result;
    }

    /// <summary>Reads <paramref name="journalPath"/> and writes <paramref name="nwbPath"/> (replacing it if <paramref name="overwrite"/>).</summary>
    /// <exception cref="InvalidDataException">The journal is not one, or its header is damaged.</exception>
    public static JournalConversion Convert(string journalPath, string nwbPath, bool overwrite = false)
    {
        // Two streaming passes: the description (counts, gaps, pulses) first, then the samples into the file.
        var journal = RecordingJournal.Scan(journalPath);
        var h = journal.Header;
        double rate = h["sample_rate_hz"]!.GetValue<double>();
        var device = h["device"]!.AsObject();
        var calibration = h["calibration"]!.AsObject();
        // Time zero is the session index at which the recording started (its header says), so samples lost right at
        // the start count as a gap; a journal without it starts at its first sample.
        ulong firstSample = journal.FirstSampleIndex;
        ulong started0 = h["first_sample_index"]?.GetValue<ulong>() ?? firstSample;
        ulong origin = Math.Min(started0, firstSample);
        var gaps = Gaps(journal, origin);
        var pulses = journal.Pulses.Where(p => p.OnsetIndex >= origin).OrderBy(p => p.OnsetIndex).ToList();
        var events = pulses.Select(p => new NwbStimulusEvent(
            p.OnsetIndex - origin, p.Phase1Samples + (p.Phase2Samples > 0 ? p.InterphaseSamples + p.Phase2Samples : 0), p.Train, p.Pulse, p.Phase1Nanoamps, p.Phase2Nanoamps)
        {
            StimId = p.StimId, Output = p.Output, Flags = p.Flags, Phase1Code = p.Phase1Code, Phase2Code = p.Phase2Code,
            OnsetUncertaintyMs = p.UncertaintyMs, LateMs = p.LateMs,
        }).ToList();
        bool hasModel = journal.SampleCount > 0 && journal.HasModel;
        var protocols = new JsonArray([.. journal.Protocols.Select(p => (JsonNode)Rebased(p, origin))]);
        DateTimeOffset started = DateTimeOffset.Parse(h["started_utc"]!.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        string? model = hasModel ? h["model"]?.GetValue<string>() : null;
        var recording = new NwbRecording(
            h["name"]?.GetValue<string>() ?? Path.GetFileNameWithoutExtension(nwbPath),
            $"Bench recording '{h["name"]}' of rig {device["board"]} {device["unique_id"]}"
                + (journal.End is null ? " (recovered after an interruption: up to the last samples that reached the disk)" : "")
                + (journal.End?["ended_early"]?.GetValue<string>() is { } early ? $" (ended early: {early})" : "")
                + (h["timing"]?.GetValue<string>() is { } timing ? $". Timing: {timing}" : ""),
            started.AddSeconds(((double)origin - started0) / rate),
            new NwbDevice(device["board"]!.GetValue<string>(), device["firmware"]!.GetValue<string>(), device["protocol"]!.GetValue<string>(),
                ulong.Parse(device["unique_id"]!.GetValue<string>(), NumberStyles.HexNumber, CultureInfo.InvariantCulture)),
            new Calibration(calibration["mv_per_count"]!.GetValue<double>(), calibration["offset_mv"]!.GetValue<double>()),
            calibration["source"]?.GetValue<string>() ?? "unknown",
            rate,
            journal.SampleCount,
            protocols.Count == 0 ? null : new JsonObject { ["played"] = protocols }.ToJsonString(),
            events,
            gaps)
        {
            ModelName = model,
            HasStimulusCurrent = true,
            StimulusNanoampsPerCode = h["nanoamps_per_code"]?.GetValue<double>(),
            BenchJson = BenchMetadata(h, journal, model).ToJsonString(),
        };

        double sumSquares = 0;
        long compared = 0;
        var chunks = Chunks(journalPath, journal.IntactBytes, origin, pulses, recording.Calibration, hasModel, (recorded, predicted) =>
        {
            double d = recorded - predicted;
            sumSquares += d * d;
            compared++;
        });
        var summary = NwbWriter.Write(nwbPath, recording, chunks, overwrite);
        ulong last = journal.SampleCount == 0 ? origin : journal.EndSampleIndex;
        // A calibration no front end can have (stored before calibrations were checked) makes the differences
        // overflow: an infinite RMSE is no figure, and the catalog would refuse it, so there is none.
        double rmse = compared > 0 ? Math.Sqrt(sumSquares / compared) : double.NaN;
        return new JournalConversion(summary, journal.End is not null, journal.DiscardedBytes, (last - origin) / rate,
            hasModel && double.IsFinite(rmse) ? rmse : null)
        {
            SkippedBytes = journal.SkippedBytes, DamagedStretches = journal.DamagedStretches, SessionStartUtc = recording.StartTimeUtc,
        };
    }

    /// <summary>
    /// A protocol record as the file keeps it: a command's start index counted from the recording's time zero, as every
    /// other index in the file is (a start before it, or none, is left to the pulses' own onsets).
    /// </summary>
    private static JsonObject Rebased(JsonObject played, ulong origin)
    {
        var copy = played.DeepClone().AsObject();
        if (copy["command"] is JsonObject command && command["start_index"]?.GetValue<ulong>() is { } start)
        {
            bool atIndex = command["at_index"]?.GetValue<bool>() == true && start >= origin;
            command["start_index"] = atIndex ? start - origin : 0;
            command["at_index"] = atIndex;
        }

        return copy;
    }

    /// <summary>What Bench reads back from the file besides NWB's fields: the model compared live and how, the rig's
    /// clock and the recording's summary.</summary>
    private static JsonObject BenchMetadata(JsonObject header, RecordingJournal journal, string? model)
    {
        var o = new JsonObject
        {
            ["format"] = "bench-nwb-1",
            ["port"] = header["port"]?.DeepClone(),
            ["device"] = header["device"]?.DeepClone(),
            ["calibration"] = header["calibration"]?.DeepClone(),
            ["nanoamps_per_code"] = header["nanoamps_per_code"]?.DeepClone(),
            ["session_first_sample_index"] = header["first_sample_index"]?.DeepClone(),
            ["ended_normally"] = journal.End is not null,
            ["damaged_bytes_skipped"] = journal.SkippedBytes,
        };
        if (model is not null)
        {
            o["model"] = new JsonObject
            {
                ["name"] = model,
                ["parameters"] = header["model_parameters"]?.DeepClone() ?? new JsonObject(),
                ["preparation_area_um2"] = header["preparation_area_um2"]?.DeepClone(),
                // Units, defaults and ranges from the parameters' one declaration (absent for a model this build lacks).
                ["parameter_declarations"] = Bench.Core.Models.ModelCatalog.TryGet(model)?.DeclarationsJson(),
            };
        }

        if (journal.End is { } end)
        {
            o["summary"] = end.DeepClone();
            if (end["clock"] is JsonNode clock) o["clock"] = clock.DeepClone();
        }

        return o;
    }

    /// <summary>
    /// The gaps, from the samples themselves: wherever the index jumps, the samples in between were lost. (The gap
    /// records agree with the jumps; a journal cut by a crash may lack the record of the last one.) Gaps recorded
    /// after the last sample (the stream ended inside one) are kept too.
    /// </summary>
    private static List<NwbGap> Gaps(RecordingJournal journal, ulong origin)
    {
        var gaps = new List<NwbGap>();
        ulong expected = origin;
        if (journal.SampleCount > 0)
        {
            if (journal.FirstSampleIndex > origin) gaps.Add(new NwbGap(0, journal.FirstSampleIndex - origin));
            foreach (var (from, first) in journal.Jumps)
            {
                if (first > from) gaps.Add(new NwbGap(from - origin, first - from));
            }

            expected = journal.EndSampleIndex;
        }

        foreach (var (firstLost, length) in journal.Gaps)
        {
            ulong end = firstLost + length;
            if (end <= expected) continue;
            ulong from = Math.Max(firstLost, expected);
            gaps.Add(new NwbGap(from - origin, end - from));
            expected = end;
        }

        return gaps;
    }

    /// <summary>
    /// The samples, streamed from the journal, with the current as played and the model's values: written with the
    /// samples, or in model records that follow them (both in increasing index order, so one cursor walks them). A
    /// sample the model never reached (the recording was cut short while the model waited) gets NaN: no prediction,
    /// none invented.
    /// </summary>
    private static IEnumerable<SampleChunk> Chunks(string journalPath, long lengthLimit, ulong origin, List<JournalPulse> pulses, Calibration calibration, bool hasModel, Action<double, double> compare)
    {
        int next = 0;
        using var models = hasModel ? JournalRecordReader.Model(journalPath, lengthLimit).GetEnumerator() : null;
        (ulong FirstIndex, float[] ModelMv)? run = null;
        bool more = true;
        foreach (var (first, codes, embedded) in JournalRecordReader.Samples(journalPath, lengthLimit))
        {
            var modelMv = hasModel ? new float[codes.Length] : null;
            var counts = new short[codes.Length];
            var current = new float[codes.Length];
            for (int i = 0; i < codes.Length; i++)
            {
                counts[i] = (short)codes[i];
                ulong index = first + (ulong)i;
                // The current as played at this sample: phase 1, the interphase gap (0), phase 2.
                while (next < pulses.Count && End(pulses[next]) <= index) next++;
                current[i] = next < pulses.Count ? (float)CurrentAt(pulses[next], index) : 0;
                if (modelMv is null) continue;
                if (embedded.Length > 0)
                {
                    modelMv[i] = embedded[i];
                }
                else
                {
                    while (more && (run is null || run.Value.FirstIndex + (ulong)run.Value.ModelMv.Length <= index))
                    {
                        more = models!.MoveNext();
                        run = more ? models.Current : null;
                    }

                    modelMv[i] = run is { } r && r.FirstIndex <= index ? r.ModelMv[index - r.FirstIndex] : float.NaN;
                }

                if (!float.IsNaN(modelMv[i])) compare(calibration.ToMillivolts(codes[i]), modelMv[i]);
            }

            yield return new SampleChunk(first - origin, counts, modelMv ?? default(ReadOnlyMemory<float>), current);
        }
    }

    private static ulong End(JournalPulse p) => p.OnsetIndex + p.Phase1Samples + (p.Phase2Samples > 0 ? p.InterphaseSamples + p.Phase2Samples : 0);

    private static double CurrentAt(JournalPulse p, ulong index)
    {
        if (index < p.OnsetIndex) return 0;
        ulong k = index - p.OnsetIndex;
        if (k < p.Phase1Samples) return p.Phase1Nanoamps;
        k -= p.Phase1Samples;
        if (k < p.InterphaseSamples) return 0;
        k -= p.InterphaseSamples;
        return k < p.Phase2Samples ? p.Phase2Nanoamps : 0;
    }
}

/// <summary>
/// A recording's NWB file could not be written from its journal, or not recorded; the journal is kept, and the message
/// names it and says that <c>bench recover</c> can write the file from it.
/// </summary>
public sealed class JournalConversionException : IOException
{
    /// <summary>Creates the exception for <paramref name="journalPath"/>, saying what failed (<paramref name="what"/>).</summary>
    public JournalConversionException(string journalPath, string nwbPath, string what, Exception innerException)
        : base($"{what}; the journal {journalPath} is kept: `bench recover {nwbPath}` writes the file from it once the cause is fixed", innerException)
    {
        JournalPath = journalPath;
    }

    /// <summary>Creates the exception.</summary>
    public JournalConversionException()
    {
    }

    /// <summary>Creates the exception with its message.</summary>
    public JournalConversionException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with its message and cause.</summary>
    public JournalConversionException(string message, Exception innerException) : base(message, innerException)
    {
    }

    /// <summary>The journal, kept.</summary>
    public string JournalPath { get; } = "";
}
