using System.Text.Json.Nodes;
using Bench.Service.Pipeline;
using Bench.Storage.Journal;

namespace Bench.Service.Practicals;

/// <summary>
/// The rig's recording of one practical step, as every recording is made: a journal beside the NWB file while the step
/// runs (a crash leaves it for <c>bench recover</c>), converted to the NWB file when the step ends.
/// </summary>
internal sealed class StepRecording(string nwbPath, RigConnection rig, string stepName) : JournalRecording
{
    private bool finished;

    /// <summary>The NWB file.</summary>
    public string NwbPath => nwbPath;

    /// <inheritdoc/>
    public override string JournalPath => JournalConverter.JournalPathFor(nwbPath);

    /// <inheritdoc/>
    protected override JsonObject Header(ulong firstIndex)
    {
        var session = rig.Session;
        return JournalHeader.Create(stepName, DateTime.UtcNow, rig.Address, session.Device, rig.Calibration, rig.CalibrationSource, session.SampleRateHz, firstIndex,
            session.Device.Outputs.Count > 0 ? session.NanoampsPerCode(0) : null, null, null);
    }

    /// <summary>Ends the journal and writes the NWB file from it.</summary>
    public JournalConversion Finish()
    {
        Journal.WriteEnd(new JsonObject { ["purpose"] = $"practical step {stepName}" });
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
