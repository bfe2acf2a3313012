using System.Collections.Concurrent;
using System.IO.Pipelines;
using Bench.Core.Protocol;
using Bench.Rig.Transports;

namespace Bench.Rig.Session;

/// <summary>What a request to the rig is, for the link loop's rules (§6.1).</summary>
internal enum RequestKind
{
    /// <summary>A command with an Ack/Nack, one at a time, resent on silence if idempotent.</summary>
    Command,

    /// <summary>StopAll: sent at once, beside any command in flight, resent until confirmed.</summary>
    StopAll,

    /// <summary>Hello: answered by DeviceInfo; the first is preceded by a resync delimiter (§9).</summary>
    Hello,
}

/// <summary>One request to the rig and, while the loop works on it, its state. Only the link loop touches the state.</summary>
internal sealed class LinkRequest
{
    public LinkRequest(RequestKind kind, IMessage message, int maxAttempts, CancellationToken cancellation)
    {
        Kind = kind;
        Message = message;
        MaxAttempts = maxAttempts;
        Cancellation = cancellation;
    }

    public RequestKind Kind { get; }

    public IMessage Message { get; }

    public int MaxAttempts { get; }

    public CancellationToken Cancellation { get; }

    /// <summary>A stimulus: never resent blindly; on silence the rig is asked whether it took it (§6.1).</summary>
    public bool Verify { get; init; }

    /// <summary>Send a heartbeat right before (the rig refuses a stimulus without a recent one, §6.3).</summary>
    public bool HeartbeatFirst { get; init; }

    /// <summary>Completes with the Ack, Nack or DeviceInfo; fails with the reason the rig did not answer.</summary>
    public TaskCompletionSource<IMessage> Reply { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Attempts { get; set; }

    public double DeadlineSeconds { get; set; }

    public double FirstSentSeconds { get; set; } = double.NaN;

    public ushort? VerifySeq { get; set; }

    public List<ushort> Seqs { get; } = [];
}

/// <summary>
/// One connection to a rig, and the one loop that owns it: the decoder, the encoder and its sequence numbers, the
/// table of requests awaiting replies, the heartbeat schedule and the command time-outs. Everything else reaches the
/// loop through a queue and a wake-up (<see cref="PipeReader.CancelPendingRead"/> on the transport's input, so the
/// loop has a single thing to wait for: bytes, work, or its timer). Frames go to the session in wire order.
/// </summary>
internal sealed class RigLink
{
    private readonly RigSession session;
    private readonly RigSessionOptions options;
    private readonly FrameDecoder decoder = new();
    private readonly FrameEncoder encoder = new();
    private readonly ConcurrentQueue<LinkRequest> outbox = new();
    private readonly Dictionary<ushort, LinkRequest> awaiting = [];
    private readonly List<LinkRequest> inFlight = [];
    private readonly Dictionary<ushort, double> heartbeatsSent = [];
    private volatile bool stopping;
    private readonly ITimer timer;
    private LinkRequest? command;
    private double nextHeartbeatSeconds;
    private double armedSeconds = double.PositiveInfinity;
    private double smoothedRttMs = double.NaN, rttVarianceMs;
    private long previousCrc, previousFraming, previousLost, previousGaps;
    // Samples of consecutive blocks of one read, handed on as one batch.
    private ushort[] batch = new ushort[1024];
    private int batchCount;
    private ulong batchFirst;
    private double batchHostSeconds;
    private volatile bool ended;

    public RigLink(RigSession session, IRigTransport transport, RigSessionOptions options, TimeProvider time)
    {
        this.session = session;
        Transport = transport;
        this.options = options;
        timer = time.CreateTimer(static s => ((RigLink)s!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        nextHeartbeatSeconds = double.PositiveInfinity;
        Completion = Task.Run(RunAsync, CancellationToken.None);
    }

    public IRigTransport Transport { get; }

    /// <summary>Ends with the reason the link went down (null: it was stopped).</summary>
    public Task<string?> Completion { get; }

    /// <summary>The loop has ended: nothing more can be sent here.</summary>
    public bool Ended => ended;

    /// <summary>Heartbeats keep the rig's watchdog fed from now on.</summary>
    public void StartHeartbeats()
    {
        heartbeatsWanted = true;
        Wake();
    }

    private volatile bool heartbeatsWanted;

    /// <summary>The version the rig spoke, when frames of another protocol version arrived.</summary>
    public byte? ForeignVersion => decoder.Counters.VersionErrors > 0 ? decoder.LastForeignVersion : null;

    /// <summary>Hands <paramref name="request"/> to the loop; its <see cref="LinkRequest.Reply"/> says how it went.</summary>
    public Task<IMessage> Submit(LinkRequest request)
    {
        if (ended) throw new RigDisconnectedException($"{Transport.Name} is disconnected");
        outbox.Enqueue(request);
        Wake();
        return request.Reply.Task;
    }

    private void OnTimer()
    {
        Volatile.Write(ref timerFired, 1);
        Wake();
    }

    private int timerFired;

    private void Wake()
    {
        try
        {
            Transport.Input.CancelPendingRead();
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
        {
            // The input is already completed: the loop is ending.
        }
    }

    /// <summary>Ends the loop (the transport stays open: the session disposes it).</summary>
    public async Task StopAsync()
    {
        stopping = true;
        Wake();
        await Completion.ConfigureAwait(false);
    }

    private async Task<string?> RunAsync()
    {
        var input = Transport.Input;
        string? reason = null;
        try
        {
            while (!stopping)
            {
                double now = session.HostSeconds;
                await SendDueAsync(now).ConfigureAwait(false);
                Arm();
                var result = await input.ReadAsync().ConfigureAwait(false);
                now = session.HostSeconds;
                if (!result.Buffer.IsEmpty)
                {
                    foreach (var segment in result.Buffer)
                    {
                        var span = segment.Span;
                        while (decoder.TryDecode(ref span, out var frame)) Dispatch(frame, now);
                    }

                    FlushBatch();
                    UpdateLinkHealth();
                }

                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    reason = "the rig closed the connection";
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
            reason = e is IOException ? e.Message : $"the link failed: {e.Message}";
        }

        ended = true;
        await timer.DisposeAsync().ConfigureAwait(false);
        FlushBatch();
        var failure = new RigDisconnectedException(reason ?? $"{Transport.Name} was closed");
        foreach (var r in inFlight) r.Reply.TrySetException(failure);
        command?.Reply.TrySetException(failure);
        while (pendingCommands.TryDequeue(out var queued)) queued.Reply.TrySetException(failure);
        while (outbox.TryDequeue(out var r)) r.Reply.TrySetException(failure);
        return stopping ? null : reason;
    }

    // ---- sending -------------------------------------------------------------------------------------------

    private async Task SendDueAsync(double now)
    {
        var output = Transport.Output;
        bool wrote = false;
        if (heartbeatsWanted && double.IsPositiveInfinity(nextHeartbeatSeconds)) nextHeartbeatSeconds = now;
        if (now >= nextHeartbeatSeconds)
        {
            if (!session.HeartbeatsPaused)
            {
                SendHeartbeat(output, now);
                wrote = true;
            }

            nextHeartbeatSeconds += options.HeartbeatInterval.TotalSeconds;
            if (nextHeartbeatSeconds <= now) nextHeartbeatSeconds = now + options.HeartbeatInterval.TotalSeconds;   // fell behind: no burst
        }

        // New requests: StopAll goes out at once, commands one at a time in order.
        int queued = outbox.Count;
        for (int i = 0; i < queued && outbox.TryDequeue(out var request); i++)
        {
            if (request.Cancellation.IsCancellationRequested)
            {
                request.Reply.TrySetCanceled(request.Cancellation);
                continue;
            }

            if (request.Kind == RequestKind.StopAll)
            {
                inFlight.Add(request);
                Send(output, request, now);
                wrote = true;
            }
            else
            {
                pendingCommands.Enqueue(request);
            }
        }

        while (command is null && pendingCommands.TryDequeue(out var next))
        {
            // A caller that gave up while its command waited in line: nothing is sent for it.
            if (next.Cancellation.IsCancellationRequested)
            {
                next.Reply.TrySetCanceled(next.Cancellation);
                continue;
            }

            command = next;
            if (command.Kind == RequestKind.Hello) WriteResync(output);
            Send(output, command, now);
            wrote = true;
        }

        wrote |= CheckDeadlines(output, now) | pendingFlush;
        pendingFlush = false;
        if (wrote)
        {
            var flushed = await output.FlushAsync().ConfigureAwait(false);
            if (flushed.IsCompleted) throw new RigDisconnectedException($"{Transport.Name} is disconnected");
        }
    }

    private readonly Queue<LinkRequest> pendingCommands = new();

    private void Send(PipeWriter output, LinkRequest request, double now)
    {
        if (request.HeartbeatFirst && !session.HeartbeatsPaused) SendHeartbeat(output, now);
        // A run's samples restart at the rig's index 0 right after its first Start leaves (the previous run's last
        // block came before the Stop's Ack), so the session index moves on here, in wire order.
        if (request.Attempts == 0 && request.Message.Kind == MessageKind.Start) session.Sequencer.BeginRun();
        ushort seq = encoder.Write(output, request.Message);
        request.Seqs.Add(seq);
        awaiting[seq] = request;
        request.Attempts++;
        if (double.IsNaN(request.FirstSentSeconds)) request.FirstSentSeconds = now;
        request.DeadlineSeconds = now + CommandTimeoutSeconds;
    }

    private void SendHeartbeat(PipeWriter output, double now)
    {
        ushort seq = encoder.Write(output, MessageKind.Heartbeat);
        if (heartbeatsSent.Count > 256) heartbeatsSent.Clear();
        heartbeatsSent[seq] = now;
    }

    internal static void WriteResync(PipeWriter output)
    {
        // A lone delimiter resyncs the rig's receiver (§9).
        output.GetSpan(1)[0] = 0;
        output.Advance(1);
    }

    /// <summary>
    /// The time a command waits for its answer: the protocol's 250 ms, or more when the link's measured round trip
    /// (smoothed, plus four deviations, as TCP does) says the rig or this host is slower now — a busy host is not a
    /// dead rig.
    /// </summary>
    private double CommandTimeoutSeconds
    {
        get
        {
            double floor = options.CommandTimeout.TotalSeconds;
            if (double.IsNaN(smoothedRttMs)) return floor;
            return Math.Clamp((smoothedRttMs + (4 * rttVarianceMs)) / 1000, floor, Math.Max(floor, 5));
        }
    }

    private bool CheckDeadlines(PipeWriter output, double now)
    {
        bool wrote = false;
        for (int i = inFlight.Count - 1; i >= 0; i--)
        {
            var r = inFlight[i];
            if (now < r.DeadlineSeconds) continue;
            if (IsLate(r, now)) continue;
            if (r.Attempts >= r.MaxAttempts && now - r.FirstSentSeconds >= options.CommandPatience.TotalSeconds)
            {
                inFlight.RemoveAt(i);
                Forget(r);
                r.Reply.TrySetException(new TimeoutException($"the rig on {Transport.Name} did not confirm StopAll; its watchdog stops the outputs within {session.WatchdogMs} ms of the last heartbeat"));
                continue;
            }

            session.CountRetry();
            Send(output, r, now);
            wrote = true;
        }

        if (command is { } c && now >= c.DeadlineSeconds && !IsLate(c, now))
        {
            wrote |= CommandTimedOut(output, c, now);
        }

        return wrote;
    }

    /// <summary>
    /// The loop itself woke well after the deadline: this host was descheduled, and the answer may be waiting unread.
    /// The attempt does not count; it gets its time again (up to 30 s in all, so a hung host still gives up).
    /// </summary>
    private bool IsLate(LinkRequest r, double now)
    {
        double lateness = now - r.DeadlineSeconds;
        if (lateness < 0.1 || now - r.FirstSentSeconds > 30) return false;
        r.DeadlineSeconds = now + CommandTimeoutSeconds;
        return true;
    }

    private bool CommandTimedOut(PipeWriter output, LinkRequest c, double now)
    {
        if (c.Verify)
        {
            if (c.VerifySeq is null)
            {
                // Never resend a stimulus blindly (§6.1): ask the rig whether it took it.
                ushort seq = encoder.Write(output, MessageKind.Heartbeat);
                heartbeatsSent[seq] = now;
                c.VerifySeq = seq;
                c.DeadlineSeconds = now + CommandTimeoutSeconds;
                return true;
            }

            FinishCommand(c);
            c.Reply.TrySetException(new TimeoutException($"the rig on {Transport.Name} did not answer the stimulus nor a heartbeat: it is unknown whether it plays it; send StopAll"));
            return false;
        }

        // A busy host or rig is not a dead one: a command is given up only after its attempts AND the session's
        // patience (a rig that is gone shows itself sooner, as a link error). Hello keeps to its own count (§9).
        if (c.Attempts >= c.MaxAttempts && (c.Kind == RequestKind.Hello || now - c.FirstSentSeconds >= options.CommandPatience.TotalSeconds))
        {
            FinishCommand(c);
            if (c.Kind == RequestKind.Hello)
            {
                c.Reply.TrySetException(ForeignVersion is { } v
                    ? new RigConnectionException($"the device on {Transport.Name} speaks protocol {v}; this host speaks {ProtocolLimits.Version}: update one of them")
                    : new RigConnectionException($"no Bench rig answered on {Transport.Name} ({c.Attempts} Hellos, {(now - c.FirstSentSeconds) * 1000:0} ms): is it the right port, and is the firmware flashed?"));
            }
            else
            {
                c.Reply.TrySetException(new TimeoutException($"the rig on {Transport.Name} did not answer {c.Message.Kind} ({c.Attempts} attempts in {(now - c.FirstSentSeconds) * 1000:0} ms)"));
            }

            return false;
        }

        if (c.Kind != RequestKind.Hello) session.CountRetry();
        Send(output, c, now);
        return true;
    }

    private void FinishCommand(LinkRequest c)
    {
        Forget(c);
        if (ReferenceEquals(command, c)) command = null;
    }

    private void Forget(LinkRequest r)
    {
        foreach (ushort seq in r.Seqs) awaiting.Remove(seq);
    }

    private void Arm()
    {
        double due = nextHeartbeatSeconds;
        foreach (var r in inFlight) due = Math.Min(due, r.DeadlineSeconds);
        if (command is not null) due = Math.Min(due, command.DeadlineSeconds);
        // A timer that fired must be set again even for the same deadline (it may have fired a little early).
        if (Interlocked.Exchange(ref timerFired, 0) == 0 && due == armedSeconds) return;
        armedSeconds = due;
        if (double.IsPositiveInfinity(due))
        {
            timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }

        // Whole milliseconds, rounded up (timers truncate): woken early, the loop would find nothing due.
        double waitMs = Math.Ceiling(Math.Max(0, due - session.HostSeconds) * 1000);
        timer.Change(TimeSpan.FromMilliseconds(waitMs), Timeout.InfiniteTimeSpan);
    }

    // ---- receiving -----------------------------------------------------------------------------------------

    private void Dispatch(Frame frame, double now)
    {
        switch (frame.Kind)
        {
            case MessageKind.SampleBlock when SampleBlock.TryParse(frame.Payload, out var block) == ParseError.None:
                OnSamples(block, now);
                break;
            case MessageKind.StimulusEvent when StimulusEvent.TryParse(frame.Payload, out var pulse) == ParseError.None:
                FlushBatch();
                session.OnPulse(pulse, now);
                break;
            case MessageKind.Ack when Ack.TryParse(frame.Payload, out var ack) == ParseError.None:
                Answer(ack.AckedSeq, ack);
                break;
            case MessageKind.Nack when Nack.TryParse(frame.Payload, out var nack) == ParseError.None:
                Answer(nack.AckedSeq, nack);
                break;
            case MessageKind.Status when Status.TryParse(frame.Payload, out var status) == ParseError.None:
                OnStatus(status, now);
                break;
            case MessageKind.DeviceInfo when DeviceInfo.TryParse(frame.Payload, out var info) == ParseError.None:
                if (command is { Kind: RequestKind.Hello } hello)
                {
                    // The handshake's round trip is the first measure of the link: a rig slow to answer now gets
                    // longer command time-outs from the start.
                    if (double.IsNaN(smoothedRttMs) && hello.Attempts == 1)
                    {
                        smoothedRttMs = (now - hello.FirstSentSeconds) * 1000;
                        rttVarianceMs = smoothedRttMs / 2;
                    }

                    FinishCommand(hello);
                    hello.Reply.TrySetResult(info!);
                }

                break;
            default:
                break;   // §7: a host ignores device frames it cannot parse
        }
    }

    private void Answer(ushort seq, IMessage answer)
    {
        if (!awaiting.TryGetValue(seq, out var r)) return;
        Forget(r);
        if (ReferenceEquals(command, r)) command = null;
        inFlight.Remove(r);
        r.Reply.TrySetResult(answer);
    }

    private void OnStatus(Status status, double now)
    {
        if ((status.Flags & Status.Reply) != 0 && heartbeatsSent.Remove(status.ReplySeq, out double sent))
        {
            double rttMs = (now - sent) * 1000;
            session.AddRoundTrip(rttMs);
            if (double.IsNaN(smoothedRttMs))
            {
                smoothedRttMs = rttMs;
                rttVarianceMs = rttMs / 2;
            }
            else
            {
                rttVarianceMs = (0.75 * rttVarianceMs) + (0.25 * Math.Abs(smoothedRttMs - rttMs));
                smoothedRttMs = (0.875 * smoothedRttMs) + (0.125 * rttMs);
            }
        }

        session.OnStatus(status, now);
        if (command is { VerifySeq: { } verify } c && (status.Flags & Status.Reply) != 0 && status.ReplySeq == verify && c.Message is StimulusCommand stim)
        {
            if (session.WasPlayed(stim.StimId) || (status.StimActiveMask & (1 << stim.Output)) != 0)
            {
                FinishCommand(c);
                c.Reply.TrySetResult(new Ack(c.Seqs[^1], (byte)MessageKind.Stimulus, 0));
            }
            else if (c.Attempts < c.MaxAttempts)
            {
                // The rig did not take it: one more try is safe.
                c.VerifySeq = null;
                session.CountRetry();
                Send(Transport.Output, c, now);
                pendingFlush = true;   // the loop flushes it next
            }
            else
            {
                FinishCommand(c);
                c.Reply.TrySetException(new TimeoutException($"the rig on {Transport.Name} did not take the stimulus ({c.Attempts} attempts); nothing is playing"));
            }
        }
    }

    private bool pendingFlush;

    private void OnSamples(SampleBlock block, double now)
    {
        int count = block.SampleCount * block.ChannelCount;
        if (!session.Sequencer.Accept(block.FirstSampleIndex, block.SampleCount, now, out ulong first, out ulong gapStart, out ulong gapLength)) return;
        if (gapLength > 0)
        {
            FlushBatch();
            session.OnGap(gapStart, gapLength, "samples lost on the link or at the rig", now);
        }

        if (batchCount > 0 && first != batchFirst + (ulong)batchCount) FlushBatch();
        if (batchCount == 0)
        {
            batchFirst = first;
            batchHostSeconds = now;
        }

        if (batch.Length < batchCount + count) Array.Resize(ref batch, Math.Max(batch.Length * 2, batchCount + count));
        block.CopyTo(batch.AsSpan(batchCount, count));
        batchCount += count;
    }

    private void FlushBatch()
    {
        if (batchCount == 0) return;
        session.OnBatch(new SampleBatch(batchFirst, batch.AsSpan(0, batchCount).ToArray(), batchHostSeconds));
        batchCount = 0;
    }

    private void UpdateLinkHealth()
    {
        // The decoder is per connection; the session's counters add up across reconnects.
        var c = decoder.Counters;
        long framing = c.CobsErrors + c.ShortFrames + c.Oversized + c.VersionErrors;
        long crc = c.CrcErrors - previousCrc, frameErrors = framing - previousFraming, lost = c.FramesLost - previousLost, gaps = c.SequenceGaps - previousGaps;
        if ((crc | frameErrors | lost | gaps) != 0) session.AddLinkErrors(crc, frameErrors, lost, gaps);
        (previousCrc, previousFraming, previousLost, previousGaps) = (c.CrcErrors, framing, c.FramesLost, c.SequenceGaps);
    }
}
