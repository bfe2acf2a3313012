using System.Buffers;
using System.Collections.Concurrent;
using Bench.Core.Models;
using Bench.Core.Protocol;
using Bench.Core.Instrument;
using Bench.Rig.Transports;

namespace Bench.Rig.Emulation;

/// <summary>
/// The device side of the protocol, as the reference firmware behaves (PROTOCOL.md §6), with a Bench.Core neuron
/// model as its preparation: the stimulus it actually plays drives the model, whose potential reaches the ADC through
/// the front end (gain, offset, seeded noise, ADC bits). It paces itself in device time, sends no faster than its
/// baud rate allows (so a slow link overruns its sample buffer, reported as on a real board), enforces the stimulus
/// limits and the heartbeat watchdog, and injects faults on request.
/// </summary>
public sealed class EmulatedRig
{
    private const uint ClockHz = 16_000_000;
    private const ushort WatchdogMs = 500;
    private EmulatorOptions options;
    private readonly Random random;
    private readonly TimeProvider time;
    private long lastPassTimestamp = long.MinValue;

    /// <summary>Builds the rig (its model is created on each Start).</summary>
    /// <param name="options">How it is built.</param>
    /// <param name="timeProvider">Its clock and timers (the system's by default; tests pass a fake one to step time).</param>
    public EmulatedRig(EmulatorOptions options, TimeProvider? timeProvider = null)
    {
        this.options = options;
        time = timeProvider ?? TimeProvider.System;
        random = new Random(options.Seed);
        var descriptor = ModelCatalog.Get(options.Model);
        descriptor.Resolve(options.Parameters);   // a bad --param fails now, not at Start
        Info = new DeviceInfo(
            ProtocolLimits.Version, ProtocolLimits.MinorVersion, 1, 0, 0, "EMU",
            options.UniqueId ?? (0xB3C4_0000_0000_0000UL | (uint)options.Seed),
            ClockHz, options.MaxSampleRateHz, (ushort)options.FrontEnd.AdcReferenceMv, (byte)options.FrontEnd.AdcBits, 1, 0, ProtocolLimits.MaxTrains, WatchdogMs,
            [new OutputDescriptor(Unit: 1, DacBits: 12, MaxAmplitudeCode: 2047, Scale: 1, MaxPhaseUs: 1_000_000, MaxCharge: 500_000)]);
    }

    /// <summary>How the rig is built.</summary>
    public EmulatorOptions Options => options;

    // NaN: the input is the preparation. Kept as the double's bits so the device loop reads it whole.
    private long referenceBits = BitConverter.DoubleToInt64Bits(double.NaN);

    /// <summary>
    /// The input switched to the rig's reference source at this potential (mV), as a calibration procedure switches a
    /// real rig's input to a known potential (the front end and its noise still apply); null: the input is the
    /// preparation again. The preparation goes on being stepped meanwhile, unseen.
    /// </summary>
    public double? ReferenceMv
    {
        get => double.IsNaN(ReferenceOrNaN) ? null : ReferenceOrNaN;
        set
        {
            if (value is { } mv && !double.IsFinite(mv)) throw new ArgumentOutOfRangeException(nameof(value), "a reference potential is a finite number of mV");
            Interlocked.Exchange(ref referenceBits, BitConverter.DoubleToInt64Bits(value ?? double.NaN));
        }
    }

    /// <summary>After a disconnect fault has fired, the rig that reappears keeps its link (the fault happens once).</summary>
    public void ClearDisconnectFault() => options = options with { Faults = options.Faults with { DisconnectAtSeconds = double.NaN } };

    /// <summary>Sample blocks the drop fault threw away (first index, samples), for tests that check what the host reports.</summary>
    public ConcurrentQueue<(ulong FirstIndex, int Samples)> DroppedBlocks { get; } = new();

    /// <summary>What the rig answers to Hello.</summary>
    public DeviceInfo Info { get; }

    /// <summary>
    /// The clock's timestamp at the start of the device loop's last complete pass: everything due by then has been
    /// acquired, answered and written to the link. A test that steps a fake clock waits for it before the next step,
    /// so the rig acts at every step whatever the machine's load (there is nothing else to wait for during a stall).
    /// </summary>
    internal long LastPassTimestamp => Interlocked.Read(ref lastPassTimestamp);

    /// <summary>The reference potential (NaN: none), for the device loop.</summary>
    internal double ReferenceOrNaN => BitConverter.Int64BitsToDouble(Interlocked.Read(ref referenceBits));

    /// <summary>Why the last <see cref="RunAsync"/> returned: "closed" (the host went away), "disconnect" (fault), "cancelled".</summary>
    public string? EndReason { get; private set; }

    /// <summary>Serves one connection until the host closes it, a disconnect fault fires, or <paramref name="cancellationToken"/> ends it.</summary>
    public async Task RunAsync(IRigTransport transport, CancellationToken cancellationToken)
    {
        using var connection = new Connection(this, transport);
        EndReason = await connection.RunAsync(cancellationToken).ConfigureAwait(false);
    }

    private double Gaussian()
    {
        double u1 = 1 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>The state of one connection (the device resets its link state when a host connects).</summary>
    private sealed class Connection : IDisposable
    {
        private readonly EmulatedRig rig;
        private readonly IRigTransport transport;
        private readonly FrameDecoder decoder = new();
        private readonly FrameEncoder encoder = new();
        private readonly ConcurrentQueue<byte[]> commands = new();
        // Replies are encoded when they go out, so sequence numbers follow the order on the wire.
        private readonly Queue<IMessage> replies = new();
        // The device's sample buffer: each sample with its index, so that a gap after an overrun starts a new block.
        private readonly Queue<(ulong Index, ushort Code)> buffer = new();
        private readonly List<StimulusEvent> ended = [];
        private readonly Queue<StimulusEvent> events = new();
        private readonly ArrayBufferWriter<byte> wire = new(1 << 16);
        private readonly ArrayBufferWriter<byte> scratch = new(ProtocolLimits.MaxWireLength);
        private readonly long startTimestamp;
        // Set by the receiver (a command arrived) and by the pacing timer: the device loop sleeps until one of them.
        private readonly AutoResetEvent wake = new(false);
        private long lastHeartbeatTicks = long.MinValue;
        private PulsePlayer? player;
        private INeuronModel? model;
        private bool configured;
        private bool running;
        private bool draining;
        private bool watchdogTripped;
        private bool hostSpoke;
        private uint periodTicks;
        private int blockSamples;
        private ulong sampleIndex;
        private double startDeviceSeconds;
        private double credit;
        private double lastCreditSeconds;
        private uint overruns;
        private uint dropped;
        private bool inOverrun;
        private int highWater;

        public Connection(EmulatedRig rig, IRigTransport transport)
        {
            this.rig = rig;
            this.transport = transport;
            startTimestamp = rig.time.GetTimestamp();
        }

        private EmulatorOptions Options => rig.options;

        public void Dispose() => wake.Dispose();

        private TimeSpan Elapsed => rig.time.GetElapsedTime(startTimestamp);

        private double DeviceSeconds => Elapsed.TotalSeconds * Options.Speed * (1 + (Options.Faults.DriftPpm * 1e-6));

        /// <summary>The device time at the host's <paramref name="timestamp"/> (of <see cref="TimeProvider.GetTimestamp"/>).</summary>
        private double DeviceSecondsAt(long timestamp) =>
            rig.time.GetElapsedTime(startTimestamp, timestamp).TotalSeconds * Options.Speed * (1 + (Options.Faults.DriftPpm * 1e-6));

        /// <summary>
        /// A pass this much later than its tick means this emulator was descheduled (a board never is): its watchdog,
        /// whose heartbeats waited unread meanwhile, does not count that time against the host.
        /// </summary>
        private static readonly TimeSpan FreezeMargin = TimeSpan.FromMilliseconds(50);

        private double SampleRateHz => (double)ClockHz / periodTicks;

        // The device loop has a thread of its own, as a device has its own processor: it must not wait for a busy
        // thread pool (a starved pool would delay its clock, its watchdog and its link).
        public Task<string> RunAsync(CancellationToken cancellationToken) =>
            Task.Factory.StartNew(() => Run(cancellationToken), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        private string Run(CancellationToken cancellationToken)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var stopping = stop.Token.Register(() => wake.Set());
            // The rig's receiver has a thread of its own too: heartbeats must be seen on time whatever the pool is doing.
            var reading = Task.Factory.StartNew(() => ReadLoop(stop.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            // The device wakes once per tick (a firmware's main loop, batched): each wake acquires what is due and
            // writes it in one go, so neither this process nor the host wakes per sample or per millisecond.
            var tick = TimeSpan.FromMilliseconds(Math.Clamp(Options.TickMs, 0.5, 100));
            // On the system clock the loop sleeps in its own timed wait (no timer thread, no pool thread woken per
            // tick); another clock (a test's) drives it through its timers.
            bool systemClock = ReferenceEquals(rig.time, TimeProvider.System);
            using var pacing = systemClock ? null : rig.time.CreateTimer(_ => wake.Set(), null, tick, tick);
            var nextTick = Elapsed + tick;
            long previousPass = long.MinValue;
            string reason = "cancelled";
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    if (reading.IsCompleted)
                    {
                        reason = "closed";
                        break;
                    }

                    // Read before the device time, so that a clock stepped meanwhile makes the pass look older, never newer.
                    long passTimestamp = rig.time.GetTimestamp();
                    if (systemClock && previousPass != long.MinValue) ForgiveFreeze(rig.time.GetElapsedTime(previousPass, passTimestamp) - tick - FreezeMargin);
                    previousPass = passTimestamp;
                    double now = DeviceSeconds;
                    if (running && now - startDeviceSeconds >= Options.Faults.DisconnectAtSeconds)
                    {
                        reason = "disconnect";
                        break;
                    }

                    Tick(now);
                    if (!Send(now))
                    {
                        reason = "closed";
                        break;
                    }

                    Interlocked.Exchange(ref rig.lastPassTimestamp, passTimestamp);

                    if (!systemClock)
                    {
                        wake.WaitOne();
                        continue;
                    }

                    var elapsed = Elapsed;
                    if (elapsed >= nextTick) nextTick = elapsed > nextTick + tick ? elapsed + tick : nextTick + tick;
                    var rest = nextTick - elapsed;
                    // Whole milliseconds, rounded up: a wait of less than 1 ms would return at once and spin.
                    if (rest > TimeSpan.Zero) wake.WaitOne((int)Math.Ceiling(rest.TotalMilliseconds));
                }
            }
            finally
            {
                stop.Cancel();
                transport.Output.Complete();
                reading.Wait(500, CancellationToken.None);
            }

            return reason;
        }

        private void ReadLoop(CancellationToken token)
        {
            var input = transport.Input;
            try
            {
                while (!token.IsCancellationRequested)
                {
                    // Synchronous on purpose: this loop owns its thread (see Run).
                    var result = input.ReadAsync(token).AsTask().GetAwaiter().GetResult();
                    foreach (var segment in result.Buffer)
                    {
                        var span = segment.Span;
                        while (decoder.TryDecode(ref span, out var frame))
                        {
                            // StopAll and Heartbeat act at once (§6.1), whatever the command slot holds.
                            if (frame.Kind == MessageKind.Heartbeat) Volatile.Write(ref lastHeartbeatTicks, rig.time.GetTimestamp());
                            var copy = new byte[ProtocolLimits.HeaderLength + frame.Payload.Length];
                            copy[0] = frame.Version;
                            copy[1] = frame.KindCode;
                            System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(copy.AsSpan(2), frame.Seq);
                            frame.Payload.CopyTo(copy.AsSpan(ProtocolLimits.HeaderLength));
                            commands.Enqueue(copy);
                        }
                    }

                    input.AdvanceTo(result.Buffer.End);
                    if (!commands.IsEmpty) wake.Set();   // answer now, not at the next tick
                    if (result.IsCompleted) break;
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (IOException)
            {
                // The host went away.
            }
            finally
            {
                try
                {
                    wake.Set();   // the device loop notices the host is gone
                }
                catch (ObjectDisposedException)
                {
                    // It already stopped.
                }
            }
        }

        private void Tick(double now)
        {
            while (commands.TryDequeue(out var frame)) Handle(frame, now);

            // The watchdog: a stimulus playing or scheduled with no heartbeat for watchdog_ms is stopped.
            if (player is { Finished: false } && HeartbeatAgeMs() > WatchdogMs)
            {
                // At its deadline, as a board's would: what was due before it was acquired and played first (a pass that
                // comes late must not cut pulses the rig had time to play).
                long deadline = Volatile.Read(ref lastHeartbeatTicks) + (long)(WatchdogMs / 1000.0 * rig.time.TimestampFrequency);
                if (running) Acquire(Math.Min(now, DeviceSecondsAt(deadline)));
                AbortStimulus();
                watchdogTripped = true;
                Reply(StatusNow(reply: false, 0));
            }

            if (running) Acquire(now);
        }

        /// <summary>Moves the last heartbeat on by <paramref name="frozen"/> (when positive), unless a newer one came meanwhile.</summary>
        private void ForgiveFreeze(TimeSpan frozen)
        {
            if (frozen <= TimeSpan.Zero) return;
            long last = Volatile.Read(ref lastHeartbeatTicks);
            if (last == long.MinValue) return;
            Interlocked.CompareExchange(ref lastHeartbeatTicks, last + (long)(frozen.TotalSeconds * rig.time.TimestampFrequency), last);
        }

        private double HeartbeatAgeMs()
        {
            long last = Volatile.Read(ref lastHeartbeatTicks);
            // Real milliseconds whatever --speed: the watchdog watches the host, which lives in real time.
            return last == long.MinValue ? double.PositiveInfinity : rig.time.GetElapsedTime(last).TotalMilliseconds;
        }

        private void Acquire(double now)
        {
            ulong due = (ulong)Math.Max(0, Math.Floor((now - startDeviceSeconds) * SampleRateHz));
            double dtMs = 1000.0 / SampleRateHz;
            var frontEnd = Options.FrontEnd;
            double densityPerCode = rig.Info.Outputs[0].Scale * 1e5 / Options.PreparationAreaUm2;
            // The link runs alongside acquisition in device time: each sample period adds its share of the byte budget,
            // so catching up after the emulator itself was delayed does not look like a slow link.
            double bytesPerSample = Options.Baud > 0 ? Options.Baud / 10.0 / SampleRateHz : 0;
            while (sampleIndex < due)
            {
                // §5.6: the output change and the period's ADC conversion start together, so sample k is the potential
                // at the start of period k; the period's stimulus then acts over it.
                short code = player is null ? (short)0 : player.CodeAt(sampleIndex, ended);
                double reference = rig.ReferenceOrNaN;
                double v = (double.IsNaN(reference) ? model!.VoltageMv : reference) + (Options.NoiseMv * rig.Gaussian());
                model!.Step(code * densityPerCode, dtMs);
                if (buffer.Count >= Options.BufferCapacitySamples)
                {
                    // Overrun: the sample is lost and the next block's first index jumps past it.
                    dropped++;
                    if (!inOverrun) overruns++;
                    inOverrun = true;
                }
                else
                {
                    inOverrun = false;
                    buffer.Enqueue((sampleIndex, frontEnd.ToCode(v)));
                    highWater = Math.Max(highWater, buffer.Count);
                }

                sampleIndex++;
                foreach (var e in ended) events.Enqueue(e);
                ended.Clear();
                if (player is { Finished: true }) player = null;
                if (Options.Baud > 0) credit = Math.Min(credit + bytesPerSample, MaxCredit);
                // Answers and pulse reports go before samples, as the firmware sends them between blocks: a device that
                // catches up after its process was descheduled must not hold every block back behind one answer (its
                // buffer would overrun while the link is idle).
                if (!Stalled(now))
                {
                    SendControl();
                    if (replies.Count == 0 && events.Count == 0) SendBlocks();
                }
            }

            lastCreditSeconds = now;
        }

        private double MaxCredit => (Options.Baud / 10.0 * 0.02) + ProtocolLimits.MaxWireLength;

        private bool Stalled(double now)
        {
            double acquired = now - startDeviceSeconds;
            return running && acquired >= Options.Faults.StallAtSeconds && acquired < Options.Faults.StallAtSeconds + Options.Faults.StallSeconds;
        }

        /// <summary>Moves complete blocks from the sample buffer onto the wire while the byte budget allows.</summary>
        private void SendBlocks()
        {
            Span<ushort> block = stackalloc ushort[ProtocolLimits.MaxSampleValues];
            int minimum = draining ? 1 : Math.Max(1, blockSamples);
            while (buffer.Count >= minimum && credit >= ProtocolLimits.MaxWireLength)
            {
                // A block holds consecutive sample periods only: it ends early where an overrun left a gap.
                ulong first = buffer.Peek().Index;
                int n = 0;
                while (n < blockSamples && buffer.Count > 0 && buffer.Peek().Index == first + (ulong)n) block[n++] = buffer.Dequeue().Code;
                scratch.ResetWrittenCount();
                encoder.WriteSampleBlock(scratch, first, 1, block[..n]);
                if (!Emit(scratch.WrittenSpan)) rig.DroppedBlocks.Enqueue((first, n));
            }
        }

        private void Handle(byte[] frame, double now)
        {
            var kind = (MessageKind)frame[1];
            ushort seq = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(frame.AsSpan(2));
            var payload = frame.AsSpan(ProtocolLimits.HeaderLength);
            hostSpoke = true;
            switch (kind)
            {
                case MessageKind.Hello:
                    Reply(rig.Info);
                    return;
                case MessageKind.Heartbeat:
                    Reply(StatusNow(reply: true, seq));
                    return;
                case MessageKind.StopAll:
                    // In wire order with the other commands: a Stimulus sent after it is judged after it.
                    AbortStimulus();
                    watchdogTripped = false;
                    Ack(seq, kind);
                    return;
                case MessageKind.Configure:
                    if (Configure.TryParse(payload, out var configure) != ParseError.None) { Nack(seq, kind, NackCode.BadLength, Configure.FixedLength); return; }
                    if (ConfigureRefusal(configure!) is ushort offset) { Nack(seq, kind, NackCode.OutOfRange, offset); return; }
                    if (running) { Nack(seq, kind, NackCode.Busy, 0); return; }
                    periodTicks = (uint)Math.Max(1, Math.Round((double)ClockHz / configure!.SampleRateHz));
                    blockSamples = configure.BlockSamples != 0 ? configure.BlockSamples : (int)Math.Clamp(SampleRateHz / 1000, 1, ProtocolLimits.MaxSampleValues);
                    configured = true;
                    Ack(seq, kind, periodTicks);
                    return;
                case MessageKind.Start:
                    if (!configured) { Nack(seq, kind, NackCode.NotConfigured, 0); return; }
                    if (!running)
                    {
                        model = ModelCatalog.Get(Options.Model).Create(Options.Parameters);
                        sampleIndex = 0;
                        buffer.Clear();
                        draining = false;
                        overruns = dropped = 0;
                        highWater = 0;
                        startDeviceSeconds = now;
                        running = true;
                    }

                    Ack(seq, kind);
                    return;
                case MessageKind.Stop:
                    AbortStimulus();
                    running = false;
                    draining = true;   // the samples still buffered go out in a last, shorter block
                    Ack(seq, kind);
                    return;
                case MessageKind.Stimulus:
                    HandleStimulus(seq, payload);
                    return;
                default:
                    Nack(seq, (MessageKind)frame[1], NackCode.UnknownKind, 0);
                    return;
            }
        }

        private ushort? ConfigureRefusal(Configure c)
        {
            if (c.ChannelMask == 0 || (c.ChannelMask >> rig.Info.InputChannels) != 0) return Configure.ChannelMaskOffset;
            int channels = System.Numerics.BitOperations.PopCount(c.ChannelMask);
            if (c.SampleRateHz < 1 || (ulong)c.SampleRateHz * (ulong)channels > rig.Info.MaxSampleRateHz) return Configure.SampleRateHzOffset;
            if (c.BlockSamples * channels > ProtocolLimits.MaxSampleValues) return Configure.BlockSamplesOffset;
            for (int i = 0; i < c.Gains.Count; i++)
            {
                if (c.Gains[i] >= Math.Max((int)rig.Info.GainCount, 1)) return (ushort)(Configure.GainsOffset + i);
            }

            return null;
        }

        private void HandleStimulus(ushort seq, ReadOnlySpan<byte> payload)
        {
            var kind = MessageKind.Stimulus;
            if (StimulusCommand.TryParse(payload, out var stimulus) != ParseError.None) { Nack(seq, kind, NackCode.BadLength, StimulusCommand.FixedLength); return; }
            if (StimulusLimits.Check(stimulus!, rig.Info, periodTicks == 0 ? 800 : periodTicks) is { } refusal) { Nack(seq, kind, NackCode.OutOfRange, refusal.Offset); return; }
            if (!running) { Nack(seq, kind, NackCode.NotRunning, 0); return; }
            if (watchdogTripped || HeartbeatAgeMs() > WatchdogMs) { Nack(seq, kind, NackCode.Watchdog, 0); return; }
            if (player is { Finished: false }) { Nack(seq, kind, NackCode.Busy, 0); return; }
            bool atIndex = (stimulus!.Flags & StimulusCommand.AtIndex) != 0;
            if (atIndex && stimulus.StartIndex < sampleIndex) { Nack(seq, kind, NackCode.TooLate, 0); return; }
            player = new PulsePlayer(stimulus, atIndex ? stimulus.StartIndex : sampleIndex);
            Ack(seq, kind);
        }

        private void AbortStimulus()
        {
            if (player is null) return;
            player.Abort(ended);
            foreach (var e in ended) events.Enqueue(e);
            ended.Clear();
            player = null;
        }

        private Status StatusNow(bool reply, ushort replySeq)
        {
            byte flags = (byte)((reply ? Status.Reply : 0) | (configured ? Status.Configured : 0) | (running ? Status.Running : 0)
                | (player is { Finished: false } ? Status.Stimulating : 0) | (watchdogTripped ? Status.WatchdogTripped : 0));
            var c = decoder.Counters;
            return new Status(sampleIndex, (ulong)(Elapsed.TotalMicroseconds * Options.Speed), reply ? replySeq : (ushort)0, flags,
                (byte)(player is { Finished: false } ? 1 : 0), (ushort)Math.Min(highWater, ushort.MaxValue),
                (ushort)Math.Min(Options.BufferCapacitySamples, ushort.MaxValue), overruns, dropped, (ushort)c.CrcErrors,
                (ushort)(c.CobsErrors + c.ShortFrames + c.Oversized + c.VersionErrors), (ushort)c.FramesLost);
        }

        private void Ack(ushort seq, MessageKind kind, uint info = 0) => Reply(new Ack(seq, (byte)kind, info));

        private void Nack(ushort seq, MessageKind kind, NackCode code, ushort detail) => Reply(new Nack(seq, (byte)kind, (byte)code, detail));

        private void Reply(IMessage message) => replies.Enqueue(message);

        /// <summary>Sends replies and stimulus events within the byte budget, with the blocks acquisition queued, then writes it all.</summary>
        private bool Send(double now)
        {
            if (Options.Baud <= 0)
            {
                credit = double.MaxValue;
            }
            else if (!running)
            {
                // Idle: the budget still refills with time (while running, acquisition refills it sample by sample).
                credit = Math.Min(credit + (Math.Max(0, now - lastCreditSeconds) * Options.Baud / 10.0), MaxCredit);
                lastCreditSeconds = now;
            }

            // A device speaks only after the host has (§6.1); a stall holds everything back.
            if (Stalled(now) || !hostSpoke) return true;
            SendControl();

            if (running || draining) SendBlocks();
            if (draining && buffer.Count == 0) draining = false;
            if (wire.WrittenCount == 0) return true;
            try
            {
                var result = transport.Output.WriteAsync(wire.WrittenMemory).AsTask().GetAwaiter().GetResult();
                wire.ResetWrittenCount();
                return !result.IsCompleted;
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                return false;
            }
        }

        /// <summary>Answers, then pulse reports, onto the wire within the byte budget.</summary>
        private void SendControl()
        {
            if (!hostSpoke) return;
            while (replies.Count > 0 && credit >= ProtocolLimits.MaxWireLength)
            {
                scratch.ResetWrittenCount();
                encoder.Write(scratch, replies.Dequeue());
                Emit(scratch.WrittenSpan);
            }

            while (events.Count > 0 && credit >= ProtocolLimits.MaxWireLength)
            {
                scratch.ResetWrittenCount();
                encoder.Write(scratch, events.Dequeue());
                Emit(scratch.WrittenSpan);
            }
        }

        /// <summary>Puts a frame on the wire (unless the drop fault loses it: then false).</summary>
        private bool Emit(ReadOnlySpan<byte> frame)
        {
            if (Options.Baud > 0) credit -= frame.Length;
            var faults = Options.Faults;
            if (faults.DropProbability > 0 && rig.random.NextDouble() < faults.DropProbability) return false;
            var span = wire.GetSpan(frame.Length);
            frame.CopyTo(span);
            if (faults.CorruptProbability > 0)
            {
                for (int i = 0; i < frame.Length; i++)
                {
                    if (rig.random.NextDouble() < faults.CorruptProbability) span[i] ^= (byte)(1 << rig.random.Next(8));
                }
            }

            wire.Advance(frame.Length);
            return true;
        }
    }
}
