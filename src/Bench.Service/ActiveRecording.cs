using System.Globalization;
using System.Text.Json.Nodes;
using Bench.Core.Protocol;
using Bench.Core.Rig;
using Bench.Core.Stimulus;
using Bench.Storage.Catalog;
using Bench.Storage.Journal;

namespace Bench.Service;

/// <summary>A recording as the API shows it.</summary>
public sealed record RecordingInfo(string Name, string File, string RigUniqueId, DateTime StartedUtc, double DurationS, long Samples, long LostSamples,
    double SampleRateHz, string? Model, double? RmseMv, string Status)
{
    /// <summary>From the catalog's record.</summary>
    public static RecordingInfo From(RecordingRecord r) => new(r.Id, r.RelativePath, r.RigUniqueId, r.StartedUtc, r.DurationS, r.Samples, r.LostSamples,
        r.SampleRateHz, r.Model, r.RmseMv, r.Status.ToString().ToLowerInvariant());
}

/// <summary>
/// A recording in progress: the journal (<c>recordings/name.nwb.journal</c>, flushed every 200 ms) takes every
/// sample, gap, pulse and protocol as the pipeline sees them; stopping writes <c>recordings/name.nwb</c> from it. After
/// a crash the journal stays, and the service (at its next start) or <c>bench recover</c> writes the NWB file from it.
/// </summary>
internal sealed class ActiveRecording
{
    private readonly BenchCatalog catalog;
    private readonly RecordingRecord record;
    private readonly string nwbPath;
    private readonly ulong firstIndex;
    private readonly RecordingFiles.Use use;
    private ulong? lastIndex;
    private ulong lost;

    private ActiveRecording(BenchCatalog catalog, RecordingRecord record, string nwbPath, RecordingJournalWriter journal, ulong firstIndex, RecordingFiles.Use use)
    {
        this.catalog = catalog;
        this.record = record;
        this.nwbPath = nwbPath;
        Journal = journal;
        this.firstIndex = firstIndex;
        this.use = use;
    }

    /// <summary>For tests: called with the NWB file's path when a recording starts finishing, to act in the middle of a stop.</summary>
    internal static Action<string>? Finishing { get; set; }

    /// <summary>The journal being written.</summary>
    public RecordingJournalWriter Journal { get; }

    /// <summary>The recording as it stands.</summary>
    public RecordingInfo Info => RecordingInfo.From(record with
    {
        Samples = Journal.SampleCount,
        LostSamples = (long)lost,
        DurationS = lastIndex is { } l ? (l + 1 - firstIndex) / record.SampleRateHz : 0,
    });

    /// <summary>Creates the journal and the catalog entry.</summary>
    /// <exception cref="ArgumentException">The name is not allowed.</exception>
    /// <exception cref="InvalidOperationException">A recording of that name exists.</exception>
    public static ActiveRecording Start(BenchCatalog catalog, string name, string? model, IReadOnlyDictionary<string, double> modelParameters,
        RigSessionView rig, ulong nextSampleIndex)
    {
        string relative = RecordingNames.RelativeFilePath(RecordingNames.Validate(name));
        string nwb = RecordingNames.ResolveInside(catalog.DataDirectory, relative);
        // The name is this recording's until its file is written (a delete of the same name waits or is refused).
        var use = RecordingFiles.Claim(nwb, name);
        try
        {
            return Create(catalog, name, relative, nwb, model, modelParameters, rig, nextSampleIndex, use);
        }
        catch
        {
            use.Dispose();
            throw;
        }
    }

    private static ActiveRecording Create(BenchCatalog catalog, string name, string relative, string nwb, string? model, IReadOnlyDictionary<string, double> modelParameters,
        RigSessionView rig, ulong nextSampleIndex, RecordingFiles.Use use)
    {
        if (catalog.GetRecording(name) is not null || File.Exists(nwb) || File.Exists(JournalConverter.JournalPathFor(nwb)))
        {
            throw new InvalidOperationException($"a recording named '{name}' exists: choose another name or delete it first");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(nwb)!);
        var device = rig.Device;
        string uid = RigIds.Format(device.UniqueId);
        var now = DateTime.UtcNow;
        var header = JournalHeader.Create(name, now, rig.Address, device, rig.Calibration, rig.CalibrationSource, rig.SampleRateHz, nextSampleIndex,
            rig.NanoampsPerCode, model, modelParameters);
        var journal = new RecordingJournalWriter(JournalConverter.JournalPathFor(nwb), header);
        var record = new RecordingRecord(name, relative, uid, now, 0, 0, 0, rig.SampleRateHz, model, null, RecordingStatus.Recording);
        try
        {
            catalog.UpsertRig(device, rig.Address);
            catalog.AddRecording(record);
        }
        catch
        {
            journal.Dispose();
            File.Delete(journal.Path);
            throw;
        }

        return new ActiveRecording(catalog, record, nwb, journal, nextSampleIndex, use);
    }

    /// <summary>Takes a batch (after the model has predicted it).</summary>
    public void OnSamples(ulong first, ReadOnlySpan<ushort> codes, ReadOnlySpan<float> modelMv)
    {
        Journal.WriteSamples(first, codes, modelMv);
        lastIndex = first + (ulong)codes.Length - 1;
    }

    /// <summary>Takes the model's prediction for samples already taken.</summary>
    public void OnModel(ulong first, ReadOnlySpan<double> modelMv)
    {
        if (first + (ulong)modelMv.Length <= firstIndex) return;
        if (first < firstIndex)
        {
            // The model caught up across the recording's start: keep only the recording's part.
            modelMv = modelMv[(int)(firstIndex - first)..];
            first = firstIndex;
        }

        Journal.WriteModel(first, modelMv);
    }

    /// <summary>Takes a gap.</summary>
    public void OnGap(ulong first, ulong length)
    {
        Journal.WriteGap(first, length);
        lost += length;
    }

    /// <summary>Records a protocol as sent.</summary>
    public void OnPlayed(StimulusCommand command, StimulusProtocol protocol, string name) =>
        Journal.WriteProtocol(new JsonObject { ["stim_id"] = command.StimId, ["name"] = name, ["protocol"] = JsonNode.Parse(protocol.ToJson()) });

    /// <summary>
    /// Ends the journal, writes the NWB file from it, and updates the catalog; the journal is removed only once the NWB
    /// file is complete and catalogued. Until this returns, the recording's name stays in use (a delete waits for it).
    /// </summary>
    /// <exception cref="JournalConversionException">The NWB file could not be written or catalogued; the journal is kept for <c>bench recover</c>.</exception>
    public RecordingInfo Finish()
    {
        try
        {
            Finishing?.Invoke(nwbPath);
            var info = Info;
            Journal.WriteEnd(new JsonObject { ["samples"] = info.Samples, ["lost_samples"] = info.LostSamples, ["ended_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture) });
            Journal.Dispose();
            RecordingRecord? done = null;
            JournalConverter.ConvertAndRemoveJournal(Journal.Path, nwbPath, result =>
            {
                done = result.Update(record, RecordingStatus.Complete);
                catalog.UpdateRecording(done);
            });
            return RecordingInfo.From(done!);
        }
        finally
        {
            use.Dispose();
        }
    }

    /// <summary>
    /// Writes the NWB file of every recording a crash interrupted (catalog status <c>recording</c>, journal on disk),
    /// up to the last samples that reached the disk. Returns a line per recording for the log; one that cannot be
    /// recovered is reported and left as it is (the journal stays for <c>bench recover</c> or a person to look at).
    /// </summary>
    public static IReadOnlyList<string> RecoverInterrupted(BenchCatalog catalog)
    {
        var report = new List<string>();
        foreach (var r in catalog.ListRecordings().Where(r => r.Status == RecordingStatus.Recording))
        {
            string nwb = catalog.FullPathOf(r);
            string journal = JournalConverter.JournalPathFor(nwb);
            if (!File.Exists(journal)) continue;
            try
            {
                var result = JournalConverter.Convert(journal, nwb, overwrite: true);
                catalog.UpdateRecording(result.Update(r, RecordingStatus.Recovered));
                report.Add($"recovered '{r.Id}' ({result.Nwb.Samples} samples) interrupted by an earlier crash");
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                report.Add($"could not recover '{r.Id}' from {journal}: {e.Message}");
            }
        }

        return report;
    }
}

/// <summary>What a recording needs to know of the connected rig.</summary>
internal sealed record RigSessionView(DeviceInfo Device, string Address, Calibration Calibration, string CalibrationSource, double SampleRateHz, double? NanoampsPerCode);
