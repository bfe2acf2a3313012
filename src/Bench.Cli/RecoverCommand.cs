using System.CommandLine;
using System.Text.Json;
using Bench.Storage.Catalog;
using Bench.Storage.Journal;
using Bench.Storage.Recordings;

namespace Bench.Cli;

/// <summary>
/// <c>bench recover &lt;file.nwb&gt;</c>: rebuilds a recording's NWB file from the journal written beside it
/// (<c>file.nwb.journal</c>) after a crash or a pulled cable, up to the last samples that reached the disk. Damaged
/// records are skipped (their samples count as lost) and reported. Once the file is written and read back with the same
/// number of samples, the journal is removed (<c>--keep-journal</c> keeps it).
/// </summary>
internal static class RecoverCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var file = new Argument<FileInfo>("file") { Description = "the NWB file to rebuild (its journal file.nwb.journal beside it)" };
        var force = new Option<bool>("--force") { Description = "replace the NWB file if one exists" };
        var dataDir = new Option<string?>("--data-dir") { Description = "the catalog to mark the recording recovered in (default: the usual data directory)" };
        var keep = new Option<bool>("--keep-journal") { Description = "keep the journal after the file is written and verified" };
        var command = new Command("recover", "Rebuild a recording's NWB file from its journal after a crash") { file, force, dataDir, keep };
        command.SetAction(parse =>
        {
            string nwb = parse.GetValue(file)!.FullName;
            string journal = JournalConverter.JournalPathFor(nwb);
            if (!File.Exists(journal)) throw new UserErrorException($"recover: there is no journal {journal}: only a recording interrupted before it finished has one (a finished recording's NWB file is complete)");
            if (JournalConverter.IsBeingWritten(journal))
            {
                throw new UserErrorException($"recover: {journal} is still being written: the recording is in progress (in bench serve or bench record); stop it, and its NWB file is written without recovery");
            }

            if (File.Exists(nwb) && !parse.GetValue(force)) throw new UserErrorException($"recover: {nwb} exists: add --force to replace it with what the journal holds");
            JournalConversion result;
            try
            {
                result = JournalConverter.Convert(journal, nwb, overwrite: true);
            }
            catch (InvalidDataException e)
            {
                throw new UserErrorException($"recover: {e.Message}");
            }

            MarkRecovered(parse.GetValue(dataDir), nwb, result);
            // The journal goes only once the file reads back whole: it is the recording until then.
            long readBack = ReadBack(nwb);
            bool removed = false;
            if (readBack == result.Nwb.Samples && !parse.GetValue(keep))
            {
                File.Delete(journal);
                removed = true;
            }

            output.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["out"] = nwb, ["samples"] = result.Nwb.Samples, ["lost_samples"] = result.Nwb.LostSamples, ["duration_s"] = result.DurationS,
                ["ended_normally"] = result.Complete, ["discarded_bytes"] = result.DiscardedBytes, ["skipped_bytes"] = result.SkippedBytes,
                ["damaged_stretches"] = result.DamagedStretches, ["bytes"] = result.Nwb.FileBytes, ["verified_samples"] = readBack, ["journal_removed"] = removed,
            }));
            if (result.DamagedStretches > 0)
            {
                error.WriteLine($"bench: recover: {result.DamagedStretches} damaged stretch(es) of the journal ({result.SkippedBytes} bytes) were skipped; their samples are counted as lost");
            }

            if (readBack != result.Nwb.Samples)
            {
                error.WriteLine($"bench: recover: {nwb} reads back {readBack} samples of {result.Nwb.Samples}: the journal is kept");
                return 1;
            }

            return 0;
        });
        return command;
    }

    private static long ReadBack(string nwb)
    {
        try
        {
            return RecordingReader.Open(nwb).Read().OfType<RecordedSamples>().Sum(s => (long)s.Codes.Length);
        }
        catch (RecordingFormatException)
        {
            return -1;
        }
    }

    private static void MarkRecovered(string? dataDir, string nwb, JournalConversion result)
    {
        string directory = Path.GetFullPath(dataDir ?? BenchDataDirectory.Default);
        if (!File.Exists(Path.Combine(directory, BenchCatalog.FileName))) return;
        var catalog = new BenchCatalog(directory);
        var record = catalog.ListRecordings().FirstOrDefault(r => catalog.FullPathOf(r) == nwb);
        if (record is null) return;
        catalog.UpdateRecording(result.Update(record, result.Complete ? RecordingStatus.Complete : RecordingStatus.Recovered));
    }
}
