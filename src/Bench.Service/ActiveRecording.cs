using System.Globalization;
using System.Text.Json.Nodes;
using Bench.Core.Protocol;
using Bench.Core.Instrument;
using Bench.Service.Pipeline;
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
internal sealed class ActiveRecording : JournalRecording
{
    private readonly BenchCatalog catalog;
    private readonly RecordingRecord record;
    private readonly string nwbPath;
    private readonly RecordingFiles.Use use;
    private readonly Func<ulong, JsonObject> header;
    private ulong? lastIndex;
    private ulong lost;

    private ActiveRecording(BenchCatalog catalog, RecordingRecord record, string nwbPath, Func<ulong, JsonObject> header, RecordingFiles.Use use)
    {
        this.catalog = catalog;
        this.record = record;
        this.nwbPath = nwbPath;
        this.header = header;
        this.use = use;
    }

    /// <summary>Why the recording stopped before it was asked to (a full disk, the rig lost for good); null: it did not.</summary>
    public string? EndedEarly { get; set; }

    /// <summary>The NWB file it is written to.</summary>
    public string NwbPath => nwbPath;

    /// <summary>For tests: called with the NWB file's path when a recording starts finishing, to act in the middle of a stop.</summary>
    internal static Action<string>? Finishing { get; set; }

    /// <summary>The recording as it stands.</summary>
    public RecordingInfo Info => RecordingInfo.From(record with
    {
        Samples = JournalOrNull?.SampleCount ?? 0,
        LostSamples = (long)lost,
        DurationS = lastIndex is { } l ? (l + 1 - FirstIndex) / record.SampleRateHz : 0,
    });

    /// <summary>Creates the journal and the catalog entry.</summary>
    /// <exception cref="ArgumentException">The name is not allowed.</exception>
    /// <exception cref="InvalidOperationException">A recording of that name exists.</exception>
    public static ActiveRecording Start(BenchCatalog catalog, string name, string? model, IReadOnlyDictionary<string, double> modelParameters,
        double preparationAreaUm2, RigSessionView rig)
    {
        string relative = RecordingNames.RelativeFilePath(RecordingNames.Validate(name));
        string nwb = RecordingNames.ResolveInside(catalog.DataDirectory, relative);
        // The name is this recording's until its file is written (a delete of the same name waits or is refused).
        var use = RecordingFiles.Claim(nwb, name);
        try
        {
            return Create(catalog, name, relative, nwb, model, modelParameters, preparationAreaUm2, rig, use);
        }
        catch
        {
            use.Dispose();
            throw;
        }
    }

    private static ActiveRecording Create(BenchCatalog catalog, string name, string relative, string nwb, string? model, IReadOnlyDictionary<string, double> modelParameters,
        double preparationAreaUm2, RigSessionView rig, RecordingFiles.Use use)
    {
        if (catalog.GetRecording(name) is not null || File.Exists(nwb) || File.Exists(JournalConverter.JournalPathFor(nwb)))
        {
            throw new InvalidOperationException($"a recording named '{name}' exists: choose another name or delete it first");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(nwb)!);
        var device = rig.Device;
        string uid = RigIds.Format(device.UniqueId);
        var now = DateTime.UtcNow;
        var record = new RecordingRecord(name, relative, uid, now, 0, 0, 0, rig.SampleRateHz, model, null, RecordingStatus.Recording);
        catalog.UpsertRig(device, rig.Address);
        catalog.AddRecording(record);
        // The journal's header names the first sample (the recording's time zero), known only when the pipeline attaches it.
        JsonObject Header(ulong firstSampleIndex) => JournalHeader.Create(name, DateTime.UtcNow, rig.Address, device, rig.Calibration, rig.CalibrationSource,
            rig.SampleRateHz, firstSampleIndex, rig.NanoampsPerCode, model, modelParameters, preparationAreaUm2, rig.Timing);
        return new ActiveRecording(catalog, record, nwb, Header, use);
    }

    /// <inheritdoc/>
    public override string JournalPath => JournalConverter.JournalPathFor(nwbPath);

    /// <inheritdoc/>
    protected override JsonObject Header(ulong firstIndex) => header(firstIndex);

    /// <summary>
    /// A recording that never began (its journal could not be created): the catalog entry and the name are given up.
    /// </summary>
    public void Abandon()
    {
        try
        {
            catalog.DeleteRecording(record.Id);
        }
        finally
        {
            use.Dispose();
        }
    }

    /// <inheritdoc/>
    public override void OnSamples(ulong first, ReadOnlySpan<ushort> codes)
    {
        base.OnSamples(first, codes);
        lastIndex = first + (ulong)codes.Length - 1;
    }

    /// <inheritdoc/>
    public override void OnGap(ulong first, ulong length)
    {
        base.OnGap(first, length);
        lost += length;
    }

    /// <summary>The session's clock fit (drift against the host) when the recording stops, kept in the file.</summary>
    public JsonObject? Clock { get; set; }

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
            var end = new JsonObject { ["samples"] = info.Samples, ["lost_samples"] = info.LostSamples, ["ended_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture) };
            if (EndedEarly is { } why) end["ended_early"] = why;
            if (Clock is not null) end["clock"] = Clock.DeepClone();
            try
            {
                Journal.WriteEnd(end);
            }
            finally
            {
                // A journal that cannot take its end record (a full disk) is still closed: its samples are on disk.
                try
                {
                    Journal.Dispose();
                }
                catch (IOException)
                {
                    // What did not fit is lost; the journal holds everything before it.
                }
            }

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
internal sealed record RigSessionView(DeviceInfo Device, string Address, Calibration Calibration, string CalibrationSource, double SampleRateHz, double? NanoampsPerCode, string? Timing = null);
