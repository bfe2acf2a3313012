using System.CommandLine;
using System.Text.Json;
using Bench.Storage.Catalog;
using Bench.Storage.Journal;

namespace Bench.Cli;

/// <summary>
/// <c>bench recover &lt;file.nwb&gt;</c>: rebuilds a recording's NWB file from the journal written beside it
/// (<c>file.nwb.journal</c>) after a crash or a pulled cable, up to the last samples that reached the disk.
/// </summary>
internal static class RecoverCommand
{
    public static Command Create(TextWriter output)
    {
        var file = new Argument<FileInfo>("file") { Description = "the NWB file to rebuild (its journal file.nwb.journal beside it)" };
        var force = new Option<bool>("--force") { Description = "replace the NWB file if one exists" };
        var dataDir = new Option<string?>("--data-dir") { Description = "the catalog to mark the recording recovered in (default: the usual data directory)" };
        var command = new Command("recover", "Rebuild a recording's NWB file from its journal after a crash") { file, force, dataDir };
        command.SetAction(parse =>
        {
            string nwb = parse.GetValue(file)!.FullName;
            string journal = JournalConverter.JournalPathFor(nwb);
            if (!File.Exists(journal)) throw new UserErrorException($"recover: there is no journal {journal}: only a recording interrupted before it finished has one (a finished recording's NWB file is complete)");
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
            output.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["out"] = nwb, ["samples"] = result.Nwb.Samples, ["lost_samples"] = result.Nwb.LostSamples, ["duration_s"] = result.DurationS,
                ["ended_normally"] = result.Complete, ["discarded_bytes"] = result.DiscardedBytes, ["bytes"] = result.Nwb.FileBytes,
            }));
            return 0;
        });
        return command;
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
