using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Threading.Channels;
using Bench.Core.Protocol;
using Bench.Core.Rig;
using Bench.Core.Stimulus;
using Bench.Core.Timing;
using Bench.Rig.Transports;

namespace Bench.Rig.Session;

/// <summary>How a session behaves.</summary>
public sealed record RigSessionOptions
{
    /// <summary>How long a command waits for its Ack (PROTOCOL.md §6.1: 250 ms).</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Sends of an idempotent command before giving up.</summary>
    public int Attempts { get; init; } = 4;

    /// <summary>Heartbeat period (§6.3: 100 ms).</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Wait after opening for a board that resets on DTR (an Uno's bootloader: 1.5 s); zero for others.</summary>
    public TimeSpan ResetDelay { get; init; } = TimeSpan.Zero;

    /// <summary>Blocks kept for viewers; older ones are dropped when a viewer is slow.</summary>
    public int PreviewCapacity { get; init; } = 256;

    /// <summary>Finds the rig again after a disconnect (any port); the session keeps only a rig with the same unique id. Null: no reconnect.</summary>
    public Func<CancellationToken, Task<IRigTransport?>>? Reconnect { get; init; }

    /// <summary>Gives up reconnecting after this long.</summary>
    public TimeSpan ReconnectTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// A conversation with one rig: handshake and version check, configuration, start and stop, stimulus scheduling,
/// heartbeats, and one read loop that turns frames into gap-accounted, time-aligned sample batches.
/// Samples go to a lossless channel (recording, comparison: unbounded, so acquisition never waits on them) and a
/// lossy one for viewers (bounded, oldest dropped). Every gap is reported with its index and length, never filled.
/// A lost link is reported, everything received is kept, and (when <see cref="RigSessionOptions.Reconnect"/> is
/// given) the same rig is looked for on any port and resumed with the gap accounted. Disposal stops stimulation first.
/// </summary>
public sealed class RigSession : IAsyncDisposable
{
    private readonly RigSessionOptions options;
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private readonly SemaphoreSlim commandLock = new(1, 1);
    private readonly SemaphoreSlim writeLock = new(1, 1);
    private readonly Channel<SampleBatch> lossless = Channel.CreateUnbounded<SampleBatch>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly Channel<SampleBatch> preview;
    private readonly Channel<RigEvent> events = Channel.CreateUnbounded<RigEvent>(new UnboundedChannelOptions { SingleWriter = false });
    private readonly CancellationTokenSource lifetime = new();
    private readonly object pendingLock = new();
    private readonly Dictionary<ushort, TaskCompletionSource<IMessage>> pending = [];
    private IRigTransport transport;
    private FrameDecoder decoder = new();
    private FrameEncoder encoder = new();
    private TaskCompletionSource<DeviceInfo>? helloReply;
    private TaskCompletionSource<Status>? heartbeatReply;
    private ushort heartbeatSeq;
    private Task readLoop = Task.CompletedTask;
    private int generation;
    private int reconnecting;
    private Task heartbeatLoop = Task.CompletedTask;
    private readonly object healthLock = new();
    private RigHealth health = new();
    private long previousCrc, previousFraming, previousLost, previousGaps;
    private double sampleRateHz;
    private bool running;
    private ulong sessionOffset;
    private ulong nextExpected;
    private double lastRefit;
    private double lastBatchHostSeconds;
    private ushort nextStimId = 1;
    private readonly HashSet<ushort> stimIdsPlayed = [];
    private int disposed;
    private volatile bool heartbeatsPaused;
    private readonly Dictionary<ushort, double> heartbeatSent = [];
    private readonly List<double> roundTripsMs = [];

    private RigSession(IRigTransport transport, RigSessionOptions options)
    {
        this.transport = transport;
        this.options = options;
        preview = Channel.CreateBounded<SampleBatch>(new BoundedChannelOptions(options.PreviewCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleWriter = true });
    }

    /// <summary>The rig, as it described itself.</summary>
    public DeviceInfo Device { get; private set; } = null!;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, double> outputCalibration = new();

    /// <summary>Where the rig is connected now.</summary>
    public string PortName => transport.Name;

    /// <summary>The sample period the rig uses, in its clock ticks (after Configure).</summary>
    public uint PeriodTicks { get; private set; }

    /// <summary>The actual sample rate (Hz): clock / period.</summary>
    public double SampleRateHz => sampleRateHz;

    /// <summary>Every sample batch, in order, nothing dropped (recording, comparison).</summary>
    public ChannelReader<SampleBatch> Samples => lossless.Reader;

    /// <summary>Recent sample batches for viewers; a slow viewer loses old ones, never stalls acquisition.</summary>
    public ChannelReader<SampleBatch> Preview => preview.Reader;

    /// <summary>Gaps, pulses played, unsolicited status, disconnects.</summary>
    public ChannelReader<RigEvent> Events => events.Reader;

    /// <summary>Device sample index → host time, with drift.</summary>
    public DeviceClockMapping? Clock { get; private set; }

    /// <summary>Host seconds since the session began.</summary>
    public double HostSeconds => clock.Elapsed.TotalSeconds;

    /// <summary>Health counters now.</summary>
    public RigHealth Health
    {
        get
        {
            lock (healthLock) return health;
        }
    }

    // Health is updated from the read loop, the command caller and the reconnect task: one lock keeps every update.
    private void UpdateHealth(Func<RigHealth, RigHealth> change)
    {
        lock (healthLock) health = change(health);
    }

    /// <summary>The rig's last Status.</summary>
    public Status? LastStatus { get; private set; }

    /// <summary>Opens a session: resyncs, says Hello (resending as §9 prescribes), checks the protocol version, starts heartbeats.</summary>
    /// <exception cref="RigConnectionException">No rig answered, or it speaks another protocol; the message says which.</exception>
    public static async Task<RigSession> ConnectAsync(IRigTransport transport, RigSessionOptions? options = null, CancellationToken cancellationToken = default)
    {
        var session = new RigSession(transport, options ?? new RigSessionOptions());
        try
        {
            session.Device = await session.HandshakeAsync(cancellationToken).ConfigureAwait(false);
            await session.SendHeartbeatAsync().ConfigureAwait(false);
            session.heartbeatLoop = session.StartHeartbeats();
            // A rig a previous host left running (no reset on open, e.g. native USB) starts from a known state.
            await session.SimpleCommandAsync(MessageKind.Stop, cancellationToken).ConfigureAwait(false);
            return session;
        }
        catch
        {
            await session.lifetime.CancelAsync().ConfigureAwait(false);
            await Task.WhenAny(Task.WhenAll(session.readLoop, session.heartbeatLoop), Task.Delay(1000, CancellationToken.None)).ConfigureAwait(false);
            throw;
        }
    }

    private async Task<DeviceInfo> HandshakeAsync(CancellationToken cancellationToken)
    {
        if (options.ResetDelay > TimeSpan.Zero)
        {
            await Task.Delay(options.ResetDelay, cancellationToken).ConfigureAwait(false);
        }

        await writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // A new link: a new receiver and sender, and the link counters start again from zero.
            decoder = new FrameDecoder();
            encoder = new FrameEncoder();
            (previousCrc, previousFraming, previousLost, previousGaps) = (0, 0, 0, 0);
            int current = Interlocked.Increment(ref generation);
            var link = transport;
            readLoop = Task.Run(() => ReadLoopAsync(link, current), CancellationToken.None);
        }
        finally
        {
            writeLock.Release();
        }

        await WriteAsync(Resync).ConfigureAwait(false);
        for (int attempt = 0; attempt < 8; attempt++)
        {
            helloReply = new TaskCompletionSource<DeviceInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
            await WriteAsync(w => encoder.Write(w, Hello.Current)).ConfigureAwait(false);
            var done = await Task.WhenAny(helloReply.Task, Task.Delay(options.CommandTimeout, cancellationToken), readLoop).ConfigureAwait(false);
            if (done == helloReply.Task)
            {
                var info = await helloReply.Task.ConfigureAwait(false);
                if (info.ProtocolMajor != ProtocolLimits.Version)
                {
                    throw new RigConnectionException($"the rig on {transport.Name} speaks protocol {info.ProtocolMajor}.{info.ProtocolMinor}; this host speaks {ProtocolLimits.Version}.{ProtocolLimits.MinorVersion}: update one of them");
                }

                return info;
            }

            if (done == readLoop) break;
            cancellationToken.ThrowIfCancellationRequested();
            if (decoder.Counters.VersionErrors > 0)
            {
                throw new RigConnectionException($"the device on {transport.Name} speaks protocol {decoder.LastForeignVersion}; this host speaks {ProtocolLimits.Version}: update one of them");
            }
        }

        throw new RigConnectionException($"no Bench rig answered on {transport.Name} (8 Hellos, {8 * options.CommandTimeout.TotalMilliseconds:0} ms): is it the right port, and is the firmware flashed?");
    }

    // A lone delimiter resyncs the rig's receiver (§9).
    private static void Resync(IBufferWriter<byte> w)
    {
        w.GetSpan(1)[0] = 0;
        w.Advance(1);
    }

    /// <summary>
    /// Asks whatever is on <paramref name="transport"/> who it is, without starting a session: resync and Hello,
    /// resent every 250 ms, until a DeviceInfo or <paramref name="timeout"/>. Used to find rigs and to recognise one
    /// after a reconnect. Leaves the transport open and readable.
    /// </summary>
    public static async Task<DeviceInfo?> ProbeAsync(IRigTransport transport, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var decoder = new FrameDecoder();
        var encoder = new FrameEncoder();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var next = TimeSpan.Zero;
        var watch = Stopwatch.StartNew();
        try
        {
            while (true)
            {
                if (watch.Elapsed >= next)
                {
                    Resync(transport.Output);
                    encoder.Write(transport.Output, Hello.Current);
                    await transport.Output.FlushAsync(deadline.Token).ConfigureAwait(false);
                    next = watch.Elapsed + TimeSpan.FromMilliseconds(250);
                }

                using var slice = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
                slice.CancelAfter(TimeSpan.FromMilliseconds(250));
                ReadResult result;
                try
                {
                    result = await transport.Input.ReadAsync(slice.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!deadline.IsCancellationRequested)
                {
                    continue;
                }

                DeviceInfo? found = null;
                foreach (var segment in result.Buffer)
                {
                    var span = segment.Span;
                    while (found is null && decoder.TryDecode(ref span, out var frame))
                    {
                        if (frame.Kind == MessageKind.DeviceInfo && DeviceInfo.TryParse(frame.Payload, out var info) == ParseError.None) found = info;
                    }
                }

                transport.Input.AdvanceTo(result.Buffer.End);
                if (found is not null) return found;
                if (result.IsCompleted) return null;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Sets the sample rate (one channel, channel 0); the rig picks the nearest period of its clock.</summary>
    public async Task ConfigureAsync(double sampleRateHz, CancellationToken cancellationToken = default)
    {
        if (!(sampleRateHz >= 1) || sampleRateHz > Device.MaxSampleRateHz)
        {
            throw new ArgumentException($"sample rate {sampleRateHz} Hz is outside what the rig can do (1 … {Device.MaxSampleRateHz} Hz)");
        }

        var ack = await CommandAsync(new Configure((uint)Math.Round(sampleRateHz), 1, 0, [0]), idempotent: true, cancellationToken).ConfigureAwait(false);
        PeriodTicks = ack.Info;
        this.sampleRateHz = (double)Device.ClockHz / ack.Info;
        Clock = new DeviceClockMapping(1.0 / this.sampleRateHz);
    }

    /// <summary>Starts acquisition; the rig's sample index restarts at 0 (the session's keeps counting).</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (PeriodTicks == 0) throw new InvalidOperationException("configure the sample rate before starting");
        sessionOffset = nextExpected;
        Clock?.Reset();
        await SimpleCommandAsync(MessageKind.Start, cancellationToken).ConfigureAwait(false);
        running = true;
    }

    /// <summary>Stops acquisition and all stimuli.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        running = false;
        await SimpleCommandAsync(MessageKind.Stop, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Every output to zero now. Sent at once, beside any command in progress (§6.1 allows StopAll at any time), and
    /// resent until the rig confirms it.
    /// </summary>
    public async Task StopAllAsync(CancellationToken cancellationToken = default)
    {
        var stopAll = new EmptyCommand(MessageKind.StopAll);
        for (int attempt = 1; ; attempt++)
        {
            var (_, answer) = await SendAndAwaitAsync(stopAll, cancellationToken).ConfigureAwait(false);
            if (answer is Nack nack) throw Refused(MessageKind.StopAll, nack);
            if (answer is not null) return;
            if (attempt >= options.Attempts) throw new TimeoutException($"the rig on {transport.Name} did not confirm StopAll; its watchdog stops the outputs within {Device.WatchdogMs} ms of the last heartbeat");
            UpdateHealth(h => h with { CommandRetries = h.CommandRetries + 1 });
        }
    }

    /// <summary>
    /// Plays <paramref name="protocol"/> (in nA) on an output, from the rig's sample index <paramref name="atDeviceSampleIndex"/>
    /// or as soon as possible. The host checks the rig's limits first; the rig checks them again.
    /// </summary>
    /// <exception cref="StimulusProtocolException">The protocol cannot be played on this rig; nothing was sent.</exception>
    /// <exception cref="RigCommandRefusedException">The rig refused it.</exception>
    public async Task<StimulusCommand> PlayAsync(StimulusProtocol protocol, int output = 0, ulong? atDeviceSampleIndex = null, CancellationToken cancellationToken = default)
    {
        if (PeriodTicks == 0) throw new InvalidOperationException("configure the sample rate before playing a stimulus");
        var command = RigStimulus.ToCommand(protocol, Device, output, PeriodTicks, nextStimId++, atDeviceSampleIndex,
            outputCalibration.TryGetValue(output, out double calibrated) ? calibrated : null);
        // A fresh heartbeat just before: the rig refuses a stimulus if none arrived within its watchdog time (§6.3).
        await SendHeartbeatAsync().ConfigureAwait(false);
        await CommandAsync(command, idempotent: false, cancellationToken).ConfigureAwait(false);
        return command;
    }

    /// <summary>The nA per DAC code of an output: its calibration when one is in use, else its DeviceInfo's nominal step.</summary>
    public double NanoampsPerCode(int output) => outputCalibration.TryGetValue(output, out double calibrated) ? calibrated : Device.Outputs[output].Scale;

    /// <summary>
    /// Converts stimuli for <paramref name="output"/> with its measured nA per code from now on (see
    /// <see cref="RigStimulus.ToCommand"/>): amplitudes take the nearest code, and the current played is reported as
    /// code × this step.
    /// </summary>
    /// <exception cref="ArgumentException">No such output, or a step that is not a positive number.</exception>
    public void UseOutputCalibration(int output, double nanoampsPerCode)
    {
        if (output < 0 || output >= Device.Outputs.Count) throw new ArgumentException($"output {output} does not exist: the rig has {Device.Outputs.Count}");
        if (!(nanoampsPerCode > 0) || !double.IsFinite(nanoampsPerCode)) throw new ArgumentException($"an output calibration is a positive number of nA per code, not {nanoampsPerCode}");
        outputCalibration[output] = nanoampsPerCode;
    }

    /// <summary>Sends any command as it is, bypassing the host's checks (tests of the rig's own).</summary>
    internal Task<Ack> SendCommandForTestAsync<T>(T message) where T : IMessage => CommandAsync(message, idempotent: true, CancellationToken.None);

    /// <summary>Stops sending heartbeats, as a host that hung would (tests of the rig's watchdog).</summary>
    internal void PauseHeartbeatsForTest() => heartbeatsPaused = true;

    /// <summary>The session sample index of device sample <paramref name="deviceIndex"/> in the current run.</summary>
    public ulong ToSessionIndex(ulong deviceIndex) => sessionOffset + deviceIndex;

    private async Task SimpleCommandAsync(MessageKind kind, CancellationToken cancellationToken) =>
        await CommandAsync(new EmptyCommand(kind), idempotent: true, cancellationToken).ConfigureAwait(false);

    private async Task<Ack> CommandAsync<T>(T message, bool idempotent, CancellationToken cancellationToken) where T : IMessage
    {
        await commandLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            for (int attempt = 1; ; attempt++)
            {
                var (seq, answer) = await SendAndAwaitAsync(message, cancellationToken).ConfigureAwait(false);
                if (answer is Nack nack) throw Refused(message.Kind, nack);
                if (answer is Ack ack) return ack;

                if (readLoop.IsCompleted) throw new RigDisconnectedException($"{transport.Name} is disconnected");
                if (!idempotent && message is StimulusCommand stim)
                {
                    // Never resend a stimulus blindly (§6.1): ask the rig whether it took it.
                    var status = await HeartbeatAsync(cancellationToken).ConfigureAwait(false);
                    bool played;
                    lock (stimIdsPlayed) played = stimIdsPlayed.Contains(stim.StimId);
                    if (status is null)
                    {
                        throw new TimeoutException($"the rig on {transport.Name} did not answer the stimulus nor a heartbeat: it is unknown whether it plays it; send StopAll");
                    }

                    if (played || (status.Value.StimActiveMask & (1 << stim.Output)) != 0) return new Ack(seq, (byte)message.Kind, 0);
                }

                if (attempt >= (idempotent ? options.Attempts : 2))
                {
                    throw new TimeoutException($"the rig on {transport.Name} did not answer {message.Kind} ({attempt} attempts of {options.CommandTimeout.TotalMilliseconds:0} ms)");
                }

                UpdateHealth(h => h with { CommandRetries = h.CommandRetries + 1 });
            }
        }
        finally
        {
            commandLock.Release();
        }
    }

    /// <summary>Sends one frame of <paramref name="message"/> and waits one command timeout for its Ack or Nack (null: none came).</summary>
    private async Task<(ushort Seq, IMessage? Answer)> SendAndAwaitAsync<T>(T message, CancellationToken cancellationToken) where T : IMessage
    {
        var reply = new TaskCompletionSource<IMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        ushort seq = 0;
        await WriteAsync(w =>
        {
            seq = encoder.NextSeq;
            lock (pendingLock) pending[seq] = reply;
            encoder.Write(w, message);
        }).ConfigureAwait(false);
        var done = await Task.WhenAny(reply.Task, Task.Delay(options.CommandTimeout, cancellationToken)).ConfigureAwait(false);
        lock (pendingLock) pending.Remove(seq);
        cancellationToken.ThrowIfCancellationRequested();
        return (seq, done == reply.Task ? await reply.Task.ConfigureAwait(false) : null);
    }

    private static RigCommandRefusedException Refused(MessageKind kind, Nack nack)
    {
        string why = (NackCode)nack.Code switch
        {
            NackCode.OutOfRange => $"a value is beyond the rig's limits (payload offset {nack.Detail})",
            NackCode.Busy => "the rig is busy (running, or a stimulus is already playing on that output)",
            NackCode.NotConfigured => "configure the sample rate first",
            NackCode.NotRunning => "start acquisition first",
            NackCode.Watchdog => "the rig's watchdog stopped stimulation (no heartbeat); send StopAll to clear it",
            NackCode.TooLate => "the requested start sample has already passed",
            NackCode.BadLength => "the rig found the command too short (protocol mismatch?)",
            NackCode.UnknownKind => "the rig does not know this command (older firmware?)",
            _ => $"code {nack.Code}",
        };
        return new RigCommandRefusedException($"the rig refused {kind}: {why}", nack);
    }

    private async Task<Status?> HeartbeatAsync(CancellationToken cancellationToken)
    {
        var reply = new TaskCompletionSource<Status>(TaskCreationOptions.RunContinuationsAsynchronously);
        await WriteAsync(w =>
        {
            heartbeatSeq = encoder.NextSeq;
            heartbeatReply = reply;
            encoder.Write(w, MessageKind.Heartbeat);
        }).ConfigureAwait(false);
        var done = await Task.WhenAny(reply.Task, Task.Delay(options.CommandTimeout, cancellationToken)).ConfigureAwait(false);
        return done == reply.Task ? await reply.Task.ConfigureAwait(false) : null;
    }

    // Heartbeats have a thread of their own: they keep the rig's watchdog fed and must not wait for a busy thread pool.
    private Task StartHeartbeats() => Task.Factory.StartNew(() =>
    {
        var interval = options.HeartbeatInterval;
        var next = clock.Elapsed + interval;
        while (!lifetime.IsCancellationRequested)
        {
            var wait = next - clock.Elapsed;
            if (wait > TimeSpan.Zero && lifetime.Token.WaitHandle.WaitOne(wait)) break;
            next += interval;
            if (clock.Elapsed > next) next = clock.Elapsed + interval;   // fell behind: do not burst
            if (readLoop.IsCompleted || heartbeatsPaused) continue;
            try
            {
                SendHeartbeatAsync().GetAwaiter().GetResult();
            }

            catch (IOException)
            {
                // The read loop reports the disconnect.
            }
        }
    }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private Task SendHeartbeatAsync() => WriteAsync(w =>
    {
        heartbeatSeq = encoder.NextSeq;
        lock (heartbeatSent)
        {
            if (heartbeatSent.Count > 256) heartbeatSent.Clear();
            heartbeatSent[heartbeatSeq] = HostSeconds;
        }

        encoder.Write(w, MessageKind.Heartbeat);
    });

    /// <summary>Round trips (ms) of heartbeats answered so far: command latency through the whole link and the rig.</summary>
    public IReadOnlyList<double> RoundTripsMs
    {
        get
        {
            lock (heartbeatSent) return [.. roundTripsMs];
        }
    }

    private async Task WriteAsync(Action<IBufferWriter<byte>> write)
    {
        await writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            write(transport.Output);
            var result = await transport.Output.FlushAsync().ConfigureAwait(false);
            if (result.IsCompleted) throw new RigDisconnectedException($"{transport.Name} is disconnected");
        }
        catch (InvalidOperationException e)
        {
            throw new RigDisconnectedException($"{transport.Name} is disconnected", e);
        }
        finally
        {
            writeLock.Release();
        }
    }

    private async Task ReadLoopAsync(IRigTransport link, int myGeneration)
    {
        var input = link.Input;
        string reason = "the rig closed the connection";
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(lifetime.Token).ConfigureAwait(false);
                double now = HostSeconds;
                foreach (var segment in result.Buffer)
                {
                    var span = segment.Span;
                    while (decoder.TryDecode(ref span, out var frame)) Dispatch(frame, now);
                }

                input.AdvanceTo(result.Buffer.End);
                UpdateLinkHealth();
                if (result.IsCompleted) break;
            }
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (IOException e)
        {
            reason = e.Message;
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
        {
            reason = $"the link failed: {e.Message}";
        }

        // Only the current link's loop reports: one replaced or probed during a reconnect ends quietly.
        if (lifetime.IsCancellationRequested || myGeneration != Volatile.Read(ref generation)) return;
        UpdateHealth(h => h with { Disconnects = h.Disconnects + 1 });
        events.Writer.TryWrite(new DisconnectedEvent(HostSeconds, reason));
        lock (pendingLock)
        {
            foreach (var p in pending.Values) p.TrySetException(new RigDisconnectedException(reason));
        }

        if (options.Reconnect is not null && Interlocked.Exchange(ref reconnecting, 1) == 0) _ = Task.Run(ReconnectAsync, CancellationToken.None);
        else if (options.Reconnect is null) Complete();
    }

    private void Complete()
    {
        lossless.Writer.TryComplete();
        preview.Writer.TryComplete();
        events.Writer.TryComplete();
    }

    private async Task ReconnectAsync()
    {
        // Samples stopped arriving with the last batch, whenever the loss was noticed.
        double lostAt = lastBatchHostSeconds > 0 ? lastBatchHostSeconds : HostSeconds;
        var deadline = Stopwatch.StartNew();
        bool resumed = false;
        try
        {
            await transport.DisposeAsync().ConfigureAwait(false);
            while (!lifetime.IsCancellationRequested && deadline.Elapsed < options.ReconnectTimeout)
            {
                IRigTransport? candidate = null;
                try
                {
                    candidate = await options.Reconnect!(lifetime.Token).ConfigureAwait(false);
                    if (candidate is null)
                    {
                        await Task.Delay(200, lifetime.Token).ConfigureAwait(false);
                        continue;
                    }

                    var probed = await ProbeAsync(candidate, TimeSpan.FromSeconds(2), lifetime.Token).ConfigureAwait(false);
                    if (probed?.UniqueId != Device.UniqueId)
                    {
                        // Nothing, or another rig: not ours. Leave it alone and keep looking.
                        await candidate.DisposeAsync().ConfigureAwait(false);
                        await Task.Delay(200, lifetime.Token).ConfigureAwait(false);
                        continue;
                    }

                    transport = candidate;
                    await HandshakeAsync(lifetime.Token).ConfigureAwait(false);
                    // A rig without reset-on-open may still be running from before: stop it, then configure again.
                    await SimpleCommandAsync(MessageKind.Stop, lifetime.Token).ConfigureAwait(false);
                    events.Writer.TryWrite(new ReconnectedEvent(HostSeconds, candidate.Name));
                    if (PeriodTicks != 0) await ConfigureAsync(sampleRateHz, lifetime.Token).ConfigureAwait(false);
                    if (running)
                    {
                        // Samples the rig took while away are lost; account for them by the host's clock, then resume.
                        ulong missed = (ulong)Math.Round((HostSeconds - lostAt) * sampleRateHz);
                        ulong start = nextExpected;
                        nextExpected += missed;
                        RecordGap(start, missed, "disconnected", HostSeconds);
                        await StartAsync(lifetime.Token).ConfigureAwait(false);
                    }

                    resumed = true;
                    return;
                }
                catch (OperationCanceledException) when (lifetime.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (e is IOException or TimeoutException or RigCommandRefusedException or OperationCanceledException)
                {
                    if (candidate is not null) await candidate.DisposeAsync().ConfigureAwait(false);
                    await Task.Delay(200, CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            Volatile.Write(ref reconnecting, 0);
            // Whatever ended the search, readers of the channels must not wait for ever.
            if (!resumed) Complete();
        }
    }

    private void Dispatch(Frame frame, double now)
    {
        switch (frame.Kind)
        {
            case MessageKind.SampleBlock when SampleBlock.TryParse(frame.Payload, out var block) == ParseError.None:
                OnSamples(block, now);
                break;
            case MessageKind.StimulusEvent when StimulusEvent.TryParse(frame.Payload, out var pulse) == ParseError.None:
                lock (stimIdsPlayed) stimIdsPlayed.Add(pulse.StimId);
                events.Writer.TryWrite(new PulsePlayedEvent(now, pulse, ToSessionIndex(pulse.OnsetIndex)));
                break;
            case MessageKind.Ack when Ack.TryParse(frame.Payload, out var ack) == ParseError.None:
                Answer(ack.AckedSeq, ack);
                break;
            case MessageKind.Nack when Nack.TryParse(frame.Payload, out var nack) == ParseError.None:
                Answer(nack.AckedSeq, nack);
                break;
            case MessageKind.Status when Status.TryParse(frame.Payload, out var status) == ParseError.None:
                LastStatus = status;
                UpdateHealth(h => h with
                {
                    DeviceOverruns = status.Overruns, DeviceDroppedSamples = status.DroppedSamples,
                    DeviceCrcErrors = status.RxCrcErrors, DeviceBufferHighWater = status.BufferHighWater,
                });
                if ((status.Flags & Status.Reply) == 0)
                {
                    events.Writer.TryWrite(new StatusEvent(now, status));
                    break;
                }

                lock (heartbeatSent)
                {
                    if (heartbeatSent.Remove(status.ReplySeq, out double sent) && roundTripsMs.Count < 1_000_000) roundTripsMs.Add((now - sent) * 1000);
                }

                if (status.ReplySeq == heartbeatSeq) heartbeatReply?.TrySetResult(status);
                break;
            case MessageKind.DeviceInfo when DeviceInfo.TryParse(frame.Payload, out var info) == ParseError.None:
                helloReply?.TrySetResult(info!);
                break;
            default:
                break;   // §7: a host ignores device frames it cannot parse
        }
    }

    private void Answer(ushort seq, IMessage answer)
    {
        TaskCompletionSource<IMessage>? waiting;
        lock (pendingLock) pending.TryGetValue(seq, out waiting);
        waiting?.TrySetResult(answer);
    }

    private void OnSamples(SampleBlock block, double now)
    {
        ulong first = ToSessionIndex(block.FirstSampleIndex);
        int count = block.SampleCount * block.ChannelCount;
        if (count == 0) return;
        if (first < nextExpected) return;     // a repeat of what was already received
        if (first > nextExpected) RecordGap(nextExpected, first - nextExpected, "samples lost on the link or at the rig", now);
        var codes = new ushort[count];
        block.CopyTo(codes);
        nextExpected = first + (ulong)block.SampleCount;
        ulong periods = block.SampleCount;
        UpdateHealth(h => h with { Samples = h.Samples + periods });
        var batch = new SampleBatch(first, codes, now);
        lastBatchHostSeconds = now;
        lossless.Writer.TryWrite(batch);
        preview.Writer.TryWrite(batch);
        if (Clock is { } mapping)
        {
            mapping.Add(block.FirstSampleIndex + block.SampleCount - 1UL, now);
            if (now - lastRefit >= 1)
            {
                mapping.Refit();
                lastRefit = now;
            }
        }
    }

    private void RecordGap(ulong start, ulong length, string cause, double now)
    {
        if (length == 0) return;
        UpdateHealth(h => h with { LostSamples = h.LostSamples + length, Gaps = h.Gaps + 1 });
        events.Writer.TryWrite(new GapEvent(now, start, length, cause));
    }

    private void UpdateLinkHealth()
    {
        // The decoder is per connection; the session's counters add up across reconnects.
        var c = decoder.Counters;
        long framing = c.CobsErrors + c.ShortFrames + c.Oversized + c.VersionErrors;
        long crc = c.CrcErrors - previousCrc, frameErrors = framing - previousFraming, lost = c.FramesLost - previousLost, gaps = c.SequenceGaps - previousGaps;
        UpdateHealth(h => h with
        {
            CrcErrors = h.CrcErrors + crc, FramingErrors = h.FramingErrors + frameErrors,
            FramesLost = h.FramesLost + lost, SequenceGaps = h.SequenceGaps + gaps,
        });
        (previousCrc, previousFraming, previousLost, previousGaps) = (c.CrcErrors, framing, c.FramesLost, c.SequenceGaps);
    }

    /// <summary>Stops stimulation first, then acquisition, then closes the link.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        if (!readLoop.IsCompleted)
        {
            try
            {
                using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                await StopAllAsync(quick.Token).ConfigureAwait(false);
                if (running) await StopAsync(quick.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or TimeoutException or OperationCanceledException or RigCommandRefusedException)
            {
                // The rig is gone or silent; its own watchdog stops the outputs.
            }
        }

        await lifetime.CancelAsync().ConfigureAwait(false);
        await Task.WhenAny(Task.WhenAll(readLoop, heartbeatLoop), Task.Delay(1000)).ConfigureAwait(false);
        Complete();
        await transport.DisposeAsync().ConfigureAwait(false);
        lifetime.Dispose();
        commandLock.Dispose();
        writeLock.Dispose();
    }

    /// <summary>A command without payload.</summary>
    private readonly record struct EmptyCommand(MessageKind Kind) : IMessage
    {
        public int PayloadLength => 0;

        public void WritePayload(Span<byte> destination)
        {
        }
    }
}
