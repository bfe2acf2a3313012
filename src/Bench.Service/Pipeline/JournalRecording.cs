using System.Text.Json.Nodes;
using Bench.Core.Protocol;
using Bench.Core.Stimulus;
using Bench.Storage.Journal;
using Bench.Storage.Recordings;

namespace Bench.Service.Pipeline;

/// <summary>
/// A recording into a journal (the service's and <c>bench record</c>'s alike): created when the pipeline attaches it,
/// so that its header names the exact first sample, the recording's time zero.
/// </summary>
internal abstract class JournalRecording : IRecordingTarget, IDisposable
{
    private RecordingJournalWriter? writer;

    /// <summary>The session index of the recording's first sample.</summary>
    protected ulong FirstIndex { get; private set; }

    /// <summary>The journal being written (once the pipeline has attached the recording).</summary>
    public RecordingJournalWriter Journal => writer ?? throw new InvalidOperationException("the recording has not begun");

    /// <summary>The journal, or null before the recording began.</summary>
    protected RecordingJournalWriter? JournalOrNull => writer;

    /// <summary>Where the journal goes (and stays for <c>bench recover</c> when the recording cannot be finished).</summary>
    public abstract string JournalPath { get; }

    /// <summary>The journal's header for a recording that starts at <paramref name="firstIndex"/>.</summary>
    protected abstract JsonObject Header(ulong firstIndex);

    /// <inheritdoc/>
    public void Begin(ulong firstIndex)
    {
        FirstIndex = firstIndex;
        writer = new RecordingJournalWriter(JournalPath, Header(firstIndex));
    }

    /// <inheritdoc/>
    public virtual void OnSamples(ulong first, ReadOnlySpan<ushort> codes) => Journal.WriteSamples(first, codes, []);

    /// <inheritdoc/>
    public void OnModel(ulong first, ReadOnlySpan<double> modelMv)
    {
        if (first + (ulong)modelMv.Length <= FirstIndex) return;
        if (first < FirstIndex)
        {
            // The model caught up across the recording's start: keep only the recording's part.
            modelMv = modelMv[(int)(FirstIndex - first)..];
            first = FirstIndex;
        }

        Journal.WriteModel(first, modelMv);
    }

    /// <inheritdoc/>
    public virtual void OnGap(ulong first, ulong length) => Journal.WriteGap(first, length);

    /// <inheritdoc/>
    public void OnPulse(JournalPulse pulse) => Journal.WritePulse(pulse);

    /// <inheritdoc/>
    public void OnPlayed(StimulusCommand command, StimulusProtocol protocol, string name, double nanoampsPerCode) =>
        Journal.WriteProtocol(new JsonObject
        {
            ["stim_id"] = command.StimId, ["name"] = name, ["protocol"] = JsonNode.Parse(protocol.ToJson()),
            ["command"] = StimulusCommandJson.ToJson(command, nanoampsPerCode),
        });

    /// <inheritdoc/>
    public void Flush() => writer?.Flush();

    /// <summary>Closes the journal without finishing it (it stays for <c>bench recover</c>).</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Closes the journal; a full disk loses only what was not yet flushed.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (!disposing) return;
        try
        {
            writer?.Dispose();
        }
        catch (IOException)
        {
            // What was flushed before is in the journal.
        }
    }
}
