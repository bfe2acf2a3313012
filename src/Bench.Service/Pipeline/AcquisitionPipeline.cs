using Bench.Core.Protocol;
using Bench.Core.Stimulus;
using Bench.Rig.Session;
using Bench.Storage.Journal;

namespace Bench.Service.Pipeline;

/// <summary>Where a recording's data goes: the journal of the service's recording or of <c>bench record</c>.</summary>
internal interface IRecordingTarget
{
    /// <summary>The recording starts with session sample <paramref name="firstIndex"/>.</summary>
    void Begin(ulong firstIndex);

    /// <summary>Samples as received (raw ADC codes).</summary>
    void OnSamples(ulong first, ReadOnlySpan<ushort> codes);

    /// <summary>The model's prediction for samples already taken.</summary>
    void OnModel(ulong first, ReadOnlySpan<double> modelMv);

    /// <summary>Samples that never arrived.</summary>
    void OnGap(ulong first, ulong length);

    /// <summary>A pulse as the rig played it.</summary>
    void OnPulse(JournalPulse pulse);

    /// <summary>A protocol as sent.</summary>
    void OnPlayed(StimulusCommand command, StimulusProtocol protocol, string name, double nanoampsPerCode);

    /// <summary>Hands what is buffered to the operating system.</summary>
    void Flush();
}

/// <summary>What a pipeline reports as it goes (the service's live view, <c>bench record</c>'s output).</summary>
internal interface IPipelineObserver
{
    /// <summary>A batch, after the model and the recording have taken it.</summary>
    void OnBatch(SampleBatch batch);

    /// <summary>The model's prediction as it catches up with the samples.</summary>
    void OnPredicted(ulong first, ReadOnlySpan<double> modelMv);

    /// <summary>A gap, pulse, disconnect, reconnect or give-up, with the command of a pulse (null for others).</summary>
    void OnEvent(RigEvent e, PlayedProtocol? played);

    /// <summary>The recording could not take more (disk full, a write error): it was detached, everything before is in it.</summary>
    void OnRecordingFailed(IRecordingTarget recording, Exception error);

    /// <summary>A turn is over (at least every 250 ms): time to publish, outside the turn.</summary>
    void OnTurnEnd();
}

/// <summary>A stimulus the rig accepted, and what to call it.</summary>
internal sealed record PlayedProtocol(StimulusCommand Command, StimulusProtocol Protocol, string Name);

/// <summary>
/// The one path from a session to the comparison, the recording and the viewers, used by the service and
/// <c>bench record</c>. One pump owns the model and the recording and takes, in turns, every event and batch in
/// order (a pulse's report before the samples after it). A caller that must act between batches (play a stimulus so
/// its pulses are known before they are reported; attach or detach a recording) waits for the end of the current turn
/// — never for disk or network work, which happens outside turns or only in the pump. A recording that fails (a full
/// disk) is detached and reported; acquisition, comparison and the live view go on.
/// </summary>
internal sealed class AcquisitionPipeline : IAsyncDisposable
{
    private readonly SemaphoreSlim turn = new(1, 1);
    private readonly IPipelineObserver observer;
    private readonly TimeProvider time;
    private readonly Action<ulong, ReadOnlySpan<double>> onPredicted;
    private readonly List<PlayedProtocol> played = [];
    private IRecordingTarget? recording;
    private Task pump = Task.CompletedTask;
    private ulong nextIndex;
    private ulong endIndex = ulong.MaxValue;
    private ulong samplesReceived;
    private volatile string? lostReason;

    public AcquisitionPipeline(RigConnection rig, ModelTrack? model, IPipelineObserver observer, TimeProvider? time = null)
    {
        Rig = rig;
        Model = model;
        this.observer = observer;
        this.time = time ?? TimeProvider.System;
        onPredicted = OnPredicted;
        nextIndex = rig.Session.NextSampleIndex;
    }

    /// <summary>The connected rig.</summary>
    public RigConnection Rig { get; }

    /// <summary>The comparison's model (null: none).</summary>
    public ModelTrack? Model { get; }

    /// <summary>The session index of the next sample the pipeline will take.</summary>
    public ulong NextIndex => Interlocked.Read(ref nextIndex);

    /// <summary>Samples taken so far.</summary>
    public ulong SamplesReceived => Interlocked.Read(ref samplesReceived);

    /// <summary>Why the pipeline stopped for good (the rig did not come back, or the pump failed); null while it runs.</summary>
    public string? LostReason => lostReason;

    /// <summary>The pump has ended (the session's channels completed, or the pump failed).</summary>
    public Task Completion => pump;

    /// <summary>Starts the pump (the rig should be acquiring).</summary>
    public void Start() => pump = Task.Run(PumpAsync, CancellationToken.None);

    /// <summary>
    /// Plays a protocol now (at the next sample the rig can arm). The pump waits while it is sent, so the model and the
    /// recording know the command before its pulses are reported (acquisition goes on; batches wait in the session).
    /// </summary>
    public async Task<StimulusCommand> PlayAsync(StimulusProtocol protocol, string name, ulong? atDeviceSampleIndex, CancellationToken cancellationToken)
    {
        await turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Once sending starts the caller's cancellation no longer applies: a played stimulus must be accounted for.
            var command = await Rig.Session.PlayAsync(protocol, atDeviceSampleIndex: atDeviceSampleIndex, cancellationToken: CancellationToken.None).ConfigureAwait(false);
            var entry = new PlayedProtocol(command, protocol, name);
            played.Add(entry);
            Model?.AddCommand(command, NextIndex);
            double perCode = Rig.Session.NanoampsPerCode(command.Output);
            Record(r => r.OnPlayed(command, protocol, name, perCode));
            return command;
        }
        finally
        {
            turn.Release();
        }
    }

    /// <summary>
    /// Plays a protocol at a sample index of the rig's: no earlier than <paramref name="earliestIndex"/>, and at least 100 ms
    /// ahead of the samples received, so the request reaches the rig before that sample does. A rig that answers "too late"
    /// (this computer was slow to ask) is asked again twice as far ahead, up to <paramref name="attempts"/> requests.
    /// </summary>
    /// <param name="protocol">What to play.</param>
    /// <param name="name">What to call it.</param>
    /// <param name="earliestIndex">The first sample index it may start at.</param>
    /// <param name="attempts">Requests before a "too late" is the caller's.</param>
    /// <param name="beforeEach">Called with each start index before it is asked for (e.g. to watch for its samples).</param>
    /// <param name="cancellationToken">Cancels before sending.</param>
    /// <returns>The command the rig accepted and the index it starts at.</returns>
    public async Task<(StimulusCommand Command, ulong StartIndex)> PlayAheadAsync(StimulusProtocol protocol, string name, ulong earliestIndex, int attempts,
        Action<ulong>? beforeEach, CancellationToken cancellationToken)
    {
        double rate = Rig.Session.SampleRateHz, leadS = 0.1;
        for (int attempt = 1; ; attempt++)
        {
            ulong start = Math.Max(earliestIndex, NextIndex + (ulong)Math.Round(leadS * rate));
            beforeEach?.Invoke(start);
            try
            {
                return (await PlayAsync(protocol, name, start, cancellationToken).ConfigureAwait(false), start);
            }
            catch (RigCommandRefusedException e) when (e.Nack.Code == (byte)NackCode.TooLate && attempt < attempts)
            {
                leadS *= 2;
            }
        }
    }

    /// <summary>Attaches a recording between two turns: it takes every batch from the next one on.</summary>
    public async Task AttachAsync(IRecordingTarget target, CancellationToken cancellationToken)
    {
        await turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (recording is not null) throw new InvalidOperationException("a recording is already attached: stop it first");
            target.Begin(NextIndex);
            recording = target;
        }
        finally
        {
            turn.Release();
        }
    }

    /// <summary>Detaches the recording between two turns (flushed); null if none was attached.</summary>
    public async Task<IRecordingTarget?> DetachAsync()
    {
        await turn.WaitAsync().ConfigureAwait(false);
        try
        {
            var r = recording;
            recording = null;
            if (r is not null)
            {
                try
                {
                    r.Flush();
                }
                catch (IOException e)
                {
                    observer.OnRecordingFailed(r, e);
                }
            }

            return r;
        }
        finally
        {
            turn.Release();
        }
    }

    /// <summary>
    /// Samples from this session index on are not taken (<c>bench record --duration</c>: the recording, the model and
    /// the counts end exactly there; the rig may send a little more before it is stopped).
    /// </summary>
    public ulong EndIndex
    {
        get => Interlocked.Read(ref endIndex);
        set => Interlocked.Exchange(ref endIndex, value);
    }

    /// <summary>The recording attached now.</summary>
    public IRecordingTarget? Recording => Volatile.Read(ref recording);

    private async Task PumpAsync()
    {
        var session = Rig.Session;
        var samples = session.Samples;
        var events = session.Events;
        // One pending wait per channel at a time (a fresh WaitToReadAsync every turn would pile up waiters while a
        // channel stays quiet), and one tick so health and metrics are published when no samples come.
        Task<bool>? waitSamples = null, waitEvents = null;
        Task? tick = null;
        bool samplesOpen = true, eventsOpen = true;
        try
        {
            while (samplesOpen || eventsOpen)
            {
                if (samplesOpen) waitSamples ??= samples.WaitToReadAsync().AsTask();
                if (eventsOpen) waitEvents ??= events.WaitToReadAsync().AsTask();
                tick ??= Task.Delay(TimeSpan.FromMilliseconds(250), time);
                await Task.WhenAny(waitSamples ?? tick, waitEvents ?? tick, tick).ConfigureAwait(false);
                if (waitSamples is { IsCompleted: true })
                {
                    samplesOpen = await waitSamples.ConfigureAwait(false);
                    waitSamples = null;
                }

                if (waitEvents is { IsCompleted: true })
                {
                    eventsOpen = await waitEvents.ConfigureAwait(false);
                    waitEvents = null;
                }

                bool ticked = tick.IsCompleted;
                if (ticked) tick = null;
                await turn.WaitAsync().ConfigureAwait(false);
                try
                {
                    // The journal hands its buffer on when it is written to; during a stall nothing is, so the tick does.
                    if (ticked) Record(r => r.Flush());
                    while (events.TryRead(out var e)) OnEvent(e);
                    while (samples.TryRead(out var batch))
                    {
                        while (events.TryRead(out var e)) OnEvent(e);   // a pulse is reported before the samples after it
                        OnBatch(batch);
                    }
                }
                finally
                {
                    turn.Release();
                }

                observer.OnTurnEnd();
            }

            lostReason ??= "the rig's session ended";
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            lostReason = "the acquisition pipeline failed: " + e.Message;
            // Nothing reads the rig any more: let it go, so its watchdog turns the stimulus off.
            await session.DisposeAsync().ConfigureAwait(false);
        }

        // The last flush is a turn of its own: a recording detached meanwhile (and being finished) is not touched.
        await turn.WaitAsync().ConfigureAwait(false);
        try
        {
            Record(r => r.Flush());
        }
        finally
        {
            turn.Release();
        }

        observer.OnTurnEnd();
    }

    private void OnEvent(RigEvent e)
    {
        PlayedProtocol? stimulus = null;
        if (e is GapEvent { StartIndex: var gapStart } && gapStart >= EndIndex) return;
        if (e is PulsePlayedEvent { SessionOnsetIndex: var onset } && onset >= EndIndex) return;
        switch (e)
        {
            case GapEvent gap:
                Model?.OnGap(gap.StartIndex, gap.Length);
                Record(r => r.OnGap(gap.StartIndex, gap.Length));
                break;
            case PulsePlayedEvent pulse:
                stimulus = played.LastOrDefault(p => p.Command.StimId == pulse.Pulse.StimId);
                if (stimulus is null) break;
                Model?.OnPulse(pulse.Pulse, pulse.SessionOnsetIndex);
                var journalPulse = JournalPulse.From(pulse.Pulse, pulse.SessionOnsetIndex, stimulus.Command.Trains[pulse.Pulse.Train], Rig.Session.NanoampsPerCode(stimulus.Command.Output))
                    with { UncertaintyMs = pulse.UncertaintyMs ?? 0, LateMs = pulse.LateMs ?? 0 };
                Record(r => r.OnPulse(journalPulse));
                break;
            case DisconnectedEvent:
                Record(r => r.Flush());
                break;
            case GaveUpEvent gaveUp:
                lostReason = $"the rig was lost ({gaveUp.Reason})";
                break;
            default:
                break;
        }

        observer.OnEvent(e, stimulus);
    }

    private void OnBatch(SampleBatch batch)
    {
        if (batch.FirstSampleIndex >= EndIndex) return;
        if (batch.FirstSampleIndex + (ulong)batch.Codes.Length > EndIndex) batch = batch with { Codes = batch.Codes[..(int)(EndIndex - batch.FirstSampleIndex)] };
        var codes = batch.Codes;
        Interlocked.Add(ref samplesReceived, (ulong)codes.Length);
        Interlocked.Exchange(ref nextIndex, batch.FirstSampleIndex + (ulong)codes.Length);
        Record(r => r.OnSamples(batch.FirstSampleIndex, codes));
        Model?.OnSamples(batch.FirstSampleIndex, codes, onPredicted);
        observer.OnBatch(batch);
    }

    private void OnPredicted(ulong first, ReadOnlySpan<double> mv)
    {
        if (recording is { } r)
        {
            try
            {
                r.OnModel(first, mv);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Fail(r, e);
            }
        }

        observer.OnPredicted(first, mv);
    }

    /// <summary>Hands something to the recording; a write that fails detaches it (everything before stays in it).</summary>
    private void Record(Action<IRecordingTarget> write)
    {
        if (recording is not { } r) return;
        try
        {
            write(r);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Fail(r, e);
        }
    }

    private void Fail(IRecordingTarget r, Exception e)
    {
        recording = null;
        observer.OnRecordingFailed(r, e);
    }

    /// <summary>Waits for the pump to take what the session still delivers (after the session was disposed).</summary>
    public async ValueTask DisposeAsync()
    {
        await Rig.DisposeAsync().ConfigureAwait(false);
        await pump.ConfigureAwait(false);
        // The turn stays usable: the recording is detached after the pump has taken the last batches.
    }
}
