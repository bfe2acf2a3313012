using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Threading.Channels;
using Bench.Core.Protocol;
using Bench.Core.Instrument;
using Bench.Core.Stimulus;
using Bench.Rig.Transports;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bench.Rig.Session;

/// <summary>How a session behaves.</summary>
public sealed record RigSessionOptions
{
    /// <summary>
    /// How long a command waits for its Ack at least (PROTOCOL.md §6.1: 250 ms); longer when the link's measured round
    /// trip says so.
    /// </summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Sends of an idempotent command before giving up (see also <see cref="CommandPatience"/>).</summary>
    public int Attempts { get; init; } = 4;

    /// <summary>
    /// The least time a command is waited for, however many attempts that takes: a rig or host slowed down by load is
    /// given this long before the command is declared failed (a rig that is gone shows itself as a link error).
    /// </summary>
    public TimeSpan CommandPatience { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Heartbeat period (§6.3: 100 ms).</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Wait after opening before the first Hello; null: what the transport says its device needs
    /// (<see cref="IRigTransport.ResetDelay"/>: an Uno's bootloader after DTR resets it).
    /// </summary>
    public TimeSpan? ResetDelay { get; init; }

    /// <summary>Blocks kept for viewers; older ones are dropped when a viewer is slow.</summary>
    public int PreviewCapacity { get; init; } = 256;

    /// <summary>Finds the rig again after a disconnect (any port); the session keeps only a rig with the same unique id. Null: no reconnect.</summary>
    public Func<CancellationToken, Task<IRigTransport?>>? Reconnect { get; init; }

    /// <summary>Gives up reconnecting after this long.</summary>
    public TimeSpan ReconnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The session's clock and timers (the system's by default).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Where the session reports what it recovers from (a failed reconnect attempt, a rig that did not confirm a stop).</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;
}

/// <summary>
/// A conversation with one rig: handshake and version check, configuration, start and stop, stimulus scheduling,
/// heartbeats, and gap-accounted, time-aligned sample batches. One loop per connection (<see cref="RigLink"/>) owns
/// the link's state; callers reach it through requests. Samples go to a lossless channel (recording, comparison:
/// unbounded, so acquisition never waits on them) and a lossy one for viewers (bounded, oldest dropped). Every gap is
/// reported with its index and length, never filled. A lost link is reported, everything received is kept, and (when
/// <see cref="RigSessionOptions.Reconnect"/> is given) the same rig is looked for and resumed with the gap accounted
/// (<see cref="ReconnectPolicy"/>). Disposal stops stimulation first.
/// </summary>
public sealed class RigSession : IRigSession
{
    private readonly RigSessionOptions options;
    private readonly TimeProvider time;
    private readonly ILogger logger;
    private readonly long startTimestamp;
    private readonly Channel<SampleBatch> lossless = Channel.CreateUnbounded<SampleBatch>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly Channel<SampleBatch> preview;
    private readonly Channel<RigEvent> events = Channel.CreateUnbounded<RigEvent>(new UnboundedChannelOptions { SingleWriter = false });
    private readonly CancellationTokenSource lifetime = new();
    private readonly ConcurrentDictionary<int, double> outputCalibration = new();
    private readonly ConcurrentDictionary<ushort, byte> stimIdsPlayed = new();
    private readonly Lock healthLock = new();
    private readonly Lock roundTripLock = new();
    private readonly List<double> roundTripsMs = [];
    private readonly SemaphoreSlim commands = new(1, 1);
    private RigHealth health = new();
    private volatile RigLink link;
    private volatile StatusSnapshot? lastStatus;
    private Task supervisor = Task.CompletedTask;
    private volatile bool running;
    private volatile bool heartbeatsPaused;
    private double sampleRateHz;
    private int nextStimId = 1;
    private int disposed;

    private RigSession(IRigTransport transport, RigSessionOptions options)
    {
        this.options = options;
        time = options.TimeProvider;
        logger = options.Logger;
        startTimestamp = time.GetTimestamp();
        preview = Channel.CreateBounded<SampleBatch>(new BoundedChannelOptions(options.PreviewCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleWriter = true });
        link = new RigLink(this, transport, options, time);
    }

    /// <summary>The rig, as it described itself.</summary>
    public DeviceInfo Device { get; private set; } = null!;

    /// <summary>Where the rig is connected now.</summary>
    public string PortName => link.Transport.Name;

    /// <summary>The sample period the rig uses, in its clock ticks (after Configure).</summary>
    public uint PeriodTicks { get; private set; }

    /// <summary>The actual sample rate (Hz): clock / period.</summary>
    public double SampleRateHz => Volatile.Read(ref sampleRateHz);

    /// <inheritdoc/>
    public RigTiming Timing => RigTiming.BenchRig;

    /// <summary>Every sample batch, in order, nothing dropped (recording, comparison).</summary>
    public ChannelReader<SampleBatch> Samples => lossless.Reader;

    /// <summary>Recent sample batches for viewers; a slow viewer loses old ones, never stalls acquisition.</summary>
    public ChannelReader<SampleBatch> Preview => preview.Reader;

    /// <summary>Gaps, pulses played, unsolicited status, disconnects, reconnects.</summary>
    public ChannelReader<RigEvent> Events => events.Reader;

    /// <summary>The rig's clock against the host's, as last fitted (null before Configure).</summary>
    public ClockFit? Clock => Sequencer.Clock;

    /// <summary>Host seconds since the session began.</summary>
    public double HostSeconds => time.GetElapsedTime(startTimestamp).TotalSeconds;

    /// <summary>The session index of the next sample expected from the rig.</summary>
    public ulong NextSampleIndex => Sequencer.NextExpected;

    /// <summary>Acquisition is running (Start confirmed, no Stop since).</summary>
    public bool IsRunning => running;

    /// <summary>The link is up (false while the rig is lost or being looked for again).</summary>
    public bool IsConnected => !link.Ended;

    /// <summary>Health counters now.</summary>
    public RigHealth Health
    {
        get
        {
            lock (healthLock) return health;
        }
    }

    /// <summary>The rig's last Status.</summary>
    public Status? LastStatus => lastStatus?.Value;

    /// <summary>Round trips (ms) of heartbeats answered so far: command latency through the whole link and the rig.</summary>
    public IReadOnlyList<double> RoundTripsMs
    {
        get
        {
            lock (roundTripLock) return [.. roundTripsMs];
        }
    }

    internal SampleSequencer Sequencer { get; } = new();

    internal bool HeartbeatsPaused => heartbeatsPaused;

    internal ushort WatchdogMs => Device?.WatchdogMs ?? 0;

    /// <summary>Opens a session: resyncs, says Hello (resending as §9 prescribes), checks the protocol version, starts heartbeats.</summary>
    /// <exception cref="RigConnectionException">No rig answered, or it speaks another protocol; the message says which.</exception>
    public static async Task<RigSession> ConnectAsync(IRigTransport transport, RigSessionOptions? options = null, CancellationToken cancellationToken = default)
    {
        var session = new RigSession(transport, options ?? new RigSessionOptions());
        try
        {
            session.Device = await session.HandshakeAsync(session.link, cancellationToken).ConfigureAwait(false);
            session.link.StartHeartbeats();
            // A rig a previous host left running (no reset on open, e.g. native USB) starts from a known state.
            await session.SimpleCommandAsync(MessageKind.Stop, cancellationToken).ConfigureAwait(false);
            session.supervisor = Task.Run(session.SuperviseAsync, CancellationToken.None);
            return session;
        }
        catch (Exception e)
        {
            // Nothing is left running; the caller still owns the transport and closes it.
            await session.link.StopAsync().ConfigureAwait(false);
            session.lifetime.Dispose();
            if (e is RigDisconnectedException) throw new RigConnectionException($"{transport.Name} went away during the handshake: {e.Message}", e);
            throw;
        }
    }

    private async Task<DeviceInfo> HandshakeAsync(RigLink target, CancellationToken cancellationToken)
    {
        var wait = options.ResetDelay ?? target.Transport.ResetDelay;
        if (wait > TimeSpan.Zero) await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
        var reply = await target.Submit(new LinkRequest(RequestKind.Hello, Hello.Current, 8, cancellationToken)).WaitAsync(cancellationToken).ConfigureAwait(false);
        var info = (DeviceInfo)reply;
        if (info.ProtocolMajor != ProtocolLimits.Version)
        {
            throw new RigConnectionException($"the rig on {target.Transport.Name} speaks protocol {info.ProtocolMajor}.{info.ProtocolMinor}; this host speaks {ProtocolLimits.Version}.{ProtocolLimits.MinorVersion}: update one of them");
        }

        return info;
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
                    RigLink.WriteResync(transport.Output);
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

        var ack = await CommandAsync(new Configure((uint)Math.Round(sampleRateHz), 1, 0, [0]), cancellationToken).ConfigureAwait(false);
        PeriodTicks = ack.Info;
        double actual = (double)Device.ClockHz / ack.Info;
        Volatile.Write(ref this.sampleRateHz, actual);
        Sequencer.Configure(actual);
    }

    /// <summary>Starts acquisition; the rig's sample index restarts at 0 (the session's keeps counting).</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (PeriodTicks == 0) throw new InvalidOperationException("configure the sample rate before starting");
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
        var answer = await link.Submit(new LinkRequest(RequestKind.StopAll, new EmptyCommand(MessageKind.StopAll), options.Attempts, cancellationToken)).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (answer is Nack nack) throw Refused(MessageKind.StopAll, nack);
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
        ushort stimId = (ushort)Interlocked.Increment(ref nextStimId);
        var command = RigStimulus.ToCommand(protocol, Device, output, PeriodTicks, stimId, atDeviceSampleIndex,
            outputCalibration.TryGetValue(output, out double calibrated) ? calibrated : null);
        // A fresh heartbeat just before: the rig refuses a stimulus if none arrived within its watchdog time (§6.3).
        await SendAsync(new LinkRequest(RequestKind.Command, command, 2, cancellationToken) { Verify = true, HeartbeatFirst = true }, cancellationToken).ConfigureAwait(false);
        return command;
    }

    /// <inheritdoc/>
    public StimulusCommand CheckStimulus(StimulusProtocol protocol, int output = 0) =>
        RigStimulus.ToCommand(protocol, Device, output, PeriodTicks, 0, null, outputCalibration.TryGetValue(output, out double calibrated) ? calibrated : null);

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
    internal Task<Ack> SendCommandForTestAsync<T>(T message) where T : IMessage => CommandAsync(message, CancellationToken.None);

    /// <summary>Stops sending heartbeats, as a host that hung would (tests of the rig's watchdog).</summary>
    internal void PauseHeartbeatsForTest() => heartbeatsPaused = true;

    /// <summary>The session sample index of device sample <paramref name="deviceIndex"/> in the current run.</summary>
    public ulong ToSessionIndex(ulong deviceIndex) => Sequencer.ToSessionIndex(deviceIndex);

    private Task<Ack> SimpleCommandAsync(MessageKind kind, CancellationToken cancellationToken) => CommandAsync(new EmptyCommand(kind), cancellationToken);

    private Task<Ack> CommandAsync<T>(T message, CancellationToken cancellationToken) where T : IMessage =>
        SendAsync(new LinkRequest(RequestKind.Command, message, options.Attempts, cancellationToken), cancellationToken);

    private async Task<Ack> SendAsync(LinkRequest request, CancellationToken cancellationToken)
    {
        // One command at a time from this side too: a caller that gives up waiting does not leave the next one queued
        // behind a command the rig has not answered yet.
        await commands.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var answer = await link.Submit(request).ConfigureAwait(false);
            if (answer is Nack nack) throw Refused(request.Message.Kind, nack);
            return (Ack)answer;
        }
        finally
        {
            commands.Release();
        }
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

    // ---- what the link loop hands over (called only from the one loop) -----------------------------------------

    internal void OnBatch(SampleBatch batch)
    {
        ulong n = (ulong)batch.Codes.Length;
        lock (healthLock) health = health with { Samples = health.Samples + n };
        lossless.Writer.TryWrite(batch);
        preview.Writer.TryWrite(batch);
    }

    internal void OnGap(ulong start, ulong length, string cause, double now)
    {
        if (length == 0) return;
        lock (healthLock) health = health with { LostSamples = health.LostSamples + length, Gaps = health.Gaps + 1 };
        events.Writer.TryWrite(new GapEvent(now, start, length, cause));
    }

    internal void OnPulse(StimulusEvent pulse, double now)
    {
        stimIdsPlayed.TryAdd(pulse.StimId, 0);
        events.Writer.TryWrite(new PulsePlayedEvent(now, pulse, Sequencer.ToSessionIndex(pulse.OnsetIndex)));
    }

    internal bool WasPlayed(ushort stimId) => stimIdsPlayed.ContainsKey(stimId);

    internal void OnStatus(Status status, double now)
    {
        lastStatus = new StatusSnapshot(status);
        lock (healthLock)
        {
            health = health with
            {
                DeviceOverruns = status.Overruns, DeviceDroppedSamples = status.DroppedSamples,
                DeviceCrcErrors = status.RxCrcErrors, DeviceBufferHighWater = status.BufferHighWater,
            };
        }

        if ((status.Flags & Status.Reply) == 0) events.Writer.TryWrite(new StatusEvent(now, status));
    }

    internal void AddRoundTrip(double ms)
    {
        lock (roundTripLock)
        {
            if (roundTripsMs.Count < 1_000_000) roundTripsMs.Add(ms);
        }
    }

    internal void CountRetry()
    {
        lock (healthLock) health = health with { CommandRetries = health.CommandRetries + 1 };
    }

    internal void AddLinkErrors(long crc, long framing, long framesLost, long sequenceGaps)
    {
        lock (healthLock)
        {
            health = health with
            {
                CrcErrors = health.CrcErrors + crc, FramingErrors = health.FramingErrors + framing,
                FramesLost = health.FramesLost + framesLost, SequenceGaps = health.SequenceGaps + sequenceGaps,
            };
        }
    }

    // ---- the link going down, and coming back ---------------------------------------------------------------

    /// <summary>Watches the link; when it goes down, reports it and (if asked to) finds the same rig again.</summary>
    private async Task SuperviseAsync()
    {
        var policy = options.Reconnect is null ? null : new ReconnectPolicy(options.Reconnect, options.ReconnectTimeout, time, logger);
        while (true)
        {
            string? reason = await link.Completion.ConfigureAwait(false);
            if (reason is null || lifetime.IsCancellationRequested) break;
            // Samples stopped arriving with the last block, whenever the loss was noticed.
            double lostAt = Sequencer.LastBlockHostSeconds > 0 && running ? Sequencer.LastBlockHostSeconds : HostSeconds;
            lock (healthLock) health = health with { Disconnects = health.Disconnects + 1 };
            events.Writer.TryWrite(new DisconnectedEvent(HostSeconds, reason));
            await link.Transport.DisposeAsync().ConfigureAwait(false);
            if (policy is null) break;
            if (!await ReconnectAsync(policy, lostAt).ConfigureAwait(false))
            {
                if (!lifetime.IsCancellationRequested)
                {
                    string why = $"the rig did not come back within {options.ReconnectTimeout.TotalSeconds:0} s";
                    RigLog.GaveUp(logger, PortName, why);
                    events.Writer.TryWrite(new GaveUpEvent(HostSeconds, why, lostAt));
                }

                break;
            }
        }

        Complete();
    }

    private async Task<bool> ReconnectAsync(ReconnectPolicy policy, double lostAt)
    {
        while (!lifetime.IsCancellationRequested)
        {
            var transport = await policy.FindAsync(Device.UniqueId, lifetime.Token).ConfigureAwait(false);
            if (transport is null) return false;
            var candidate = new RigLink(this, transport, options, time);
            try
            {
                await HandshakeAsync(candidate, lifetime.Token).ConfigureAwait(false);
                link = candidate;
                candidate.StartHeartbeats();
                // A rig without reset-on-open may still be running from before: stop it, then configure again.
                await SimpleCommandAsync(MessageKind.Stop, lifetime.Token).ConfigureAwait(false);
                events.Writer.TryWrite(new ReconnectedEvent(HostSeconds, transport.Name));
                if (PeriodTicks != 0) await ConfigureAsync(SampleRateHz, lifetime.Token).ConfigureAwait(false);
                if (running)
                {
                    // Samples the rig took while away are lost; account for them by the host's clock, then resume.
                    var (start, length) = Sequencer.AccountOutage(lostAt, HostSeconds, SampleRateHz);
                    OnGap(start, length, "disconnected", HostSeconds);
                    await SimpleCommandAsync(MessageKind.Start, lifetime.Token).ConfigureAwait(false);
                }

                return true;
            }
            catch (Exception e) when (e is IOException or TimeoutException or RigCommandRefusedException or OperationCanceledException)
            {
                if (lifetime.IsCancellationRequested) return false;
                RigLog.ResumeFailed(logger, transport.Name, e.Message);
                await candidate.StopAsync().ConfigureAwait(false);
                await transport.DisposeAsync().ConfigureAwait(false);
                if (ReferenceEquals(link, candidate)) continue;
            }
        }

        return false;
    }

    private void Complete()
    {
        lossless.Writer.TryComplete();
        preview.Writer.TryComplete();
        events.Writer.TryComplete();
    }

    /// <summary>Stops stimulation first, then acquisition, then closes the link.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        var current = link;
        if (!current.Ended)
        {
            try
            {
                using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(1), time);
                await StopAllAsync(quick.Token).ConfigureAwait(false);
                if (running) await StopAsync(quick.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or TimeoutException or OperationCanceledException or RigCommandRefusedException)
            {
                RigLog.StopUnconfirmed(logger, PortName, e.Message, WatchdogMs);
            }
        }

        await lifetime.CancelAsync().ConfigureAwait(false);
        await link.StopAsync().ConfigureAwait(false);
        await supervisor.ConfigureAwait(false);
        Complete();
        await link.Transport.DisposeAsync().ConfigureAwait(false);
        lifetime.Dispose();
    }

    /// <summary>A Status kept whole: read from any thread, never half-written.</summary>
    private sealed record StatusSnapshot(Status Value);

    /// <summary>A command without payload.</summary>
    private readonly record struct EmptyCommand(MessageKind Kind) : IMessage
    {
        public int PayloadLength => 0;

        public void WritePayload(Span<byte> destination)
        {
        }
    }
}
