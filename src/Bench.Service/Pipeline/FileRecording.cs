using System.Text.Json.Nodes;
using Bench.Storage.Journal;

namespace Bench.Service.Pipeline;

/// <summary>
/// A recording into one NWB file that the caller names (<c>bench record --out</c>, a practical's step): a journal beside
/// the file while it runs (a crash leaves it for <c>bench recover</c>), converted to the file by <see cref="Finish"/>.
/// </summary>
/// <param name="nwbPath">The NWB file.</param>
/// <param name="rig">The rig recorded.</param>
/// <param name="model">The model compared live, if any.</param>
/// <param name="parameters">Its parameters, if any.</param>
/// <param name="areaUm2">The area its stimulus current spreads over, if any.</param>
internal sealed class FileRecording(string nwbPath, RigConnection rig, string? model = null, IReadOnlyDictionary<string, double>? parameters = null, double? areaUm2 = null)
    : JournalRecording
{
    private bool finished;

    /// <summary>The NWB file.</summary>
    public string NwbPath => nwbPath;

    /// <inheritdoc/>
    public override string JournalPath => JournalConverter.JournalPathFor(nwbPath);

    /// <summary>Why the journal stopped taking data (a full disk), if it did.</summary>
    public Exception? Failed { get; set; }

    /// <inheritdoc/>
    protected override JsonObject Header(ulong firstIndex)
    {
        var session = rig.Session;
        var d = session.Device;
        return JournalHeader.Create(Path.GetFileNameWithoutExtension(nwbPath), DateTime.UtcNow, session.PortName, d, rig.Calibration, rig.CalibrationSource, session.SampleRateHz,
            firstIndex, d.Outputs.Count > 0 ? session.NanoampsPerCode(0) : null, model, parameters, areaUm2, session.Timing.Description);
    }

    /// <summary>Ends the journal with <paramref name="summary"/> and writes the NWB file from it.</summary>
    public JournalConversion Finish(JsonObject summary)
    {
        Journal.WriteEnd(summary);
        Journal.Dispose();
        finished = true;
        return JournalConverter.ConvertAndRemoveJournal(Journal.Path, nwbPath);
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (!finished) base.Dispose(disposing);   // an error: the journal stays for bench recover
    }
}
