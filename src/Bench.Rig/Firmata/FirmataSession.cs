using System.Collections.Concurrent;
using System.Device.Analog;
using System.Device.Gpio;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Bench.Core.Protocol;
using Bench.Core.Instrument;
using Bench.Core.Stimulus;
using Bench.Core.Timing;
using Bench.Rig.Session;
using Bench.Rig.Transports;
using Iot.Device.Arduino;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bench.Rig.Firmata;

/// <summary>How to connect a Firmata board.</summary>
public sealed record FirmataSessionOptions
{
    /// <summary>How long to wait for the board to describe itself.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Recent sample batches kept for viewers.</summary>
    public int PreviewCapacity { get; init; } = 256;

    /// <summary>Where the session notes what it recovers from.</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;
}

/// <summary>
/// A stock Arduino running StandardFirmata or ConfigurableFirmata, as a rig (<see cref="IRigSession"/>), through
/// Iot.Device.Bindings' <see cref="ArduinoBoard"/>. The circuit is <see cref="FirmataWiring"/>: the membrane potential
/// through the reference front end on A0, stimulus current from D9 through a series resistor.
/// </summary>
/// <remarks>
/// <para>Firmata sends no timestamps and no sequence numbers. A0 is reported at the firmware's sampling interval
/// (whole milliseconds: 1 kHz at best); each sample's time is its index × the interval, and the board's clock is fitted
/// against the host's arrival times by their lower envelope (<see cref="DeviceClockMapping"/>), as for a Bench rig.
/// Samples the board did not send cannot be seen one by one; a loss shows as every arrival settling later than the
/// fitted clock by more than <see cref="LossThresholdMs"/> for <see cref="FirmataClock.WindowSeconds"/> s, and is then
/// reported as a gap of that many sample periods where it was noticed (<see cref="FirmataClock"/>).</para>
/// <para>Pulses are timed by the host (the firmware has no stimulus timer): each edge is a digital write at the
/// commanded host time, recorded on the sample clock through the fit. <see cref="Timing"/> states the uncertainties;
/// protocols the board cannot honour (negative or biphasic pulses, amplitudes other than the pin's current, phases
/// shorter than <see cref="MinimumPhaseMs"/>) are refused with the reason. Firmata has no watchdog: D9 is set low on
/// stop, on every error this session sees and when it is disposed; a host that crashes leaves the pin as it was
/// (hardware/README.md shows a hardware time-out for the stimulus line).</para>
/// </remarks>
public sealed partial class FirmataSession : IRigSession
{
    /// <summary>Board name in <see cref="Device"/>.</summary>
    public const string BoardName = "FIRMATA";

    /// <summary>How much later than the fitted sample clock arrivals must settle before samples count as lost (ms).</summary>
    public const double LossThresholdMs = 40;

    /// <summary>The shortest phase (and gap between pulses) a host-timed pulse may have (ms): ten times the edge uncertainty.</summary>
    public const double MinimumPhaseMs = 20;

    // The firmware's loop reads the serial input once per pass; a pass with one analog pin reporting is one analogRead
    // (0.11 ms at Arduino's ADC clock) and a few short checks, so a message waits at most about this long (an estimate
    // from the code, not a measurement).
    private const double FirmwareLoopMs = 0.3;

    private readonly IRigTransport transport;
    private readonly TransportStream stream;
    private readonly ArduinoBoard board;
    private readonly GpioController gpio;
    private readonly AnalogController analog;
    private readonly ILogger logger;
    private readonly int baud;
    private readonly long startTimestamp = Stopwatch.GetTimestamp();
    private readonly Channel<SampleBatch> lossless = Channel.CreateUnbounded<SampleBatch>(new UnboundedChannelOptions { SingleWriter = false });
    private readonly Channel<SampleBatch> preview;
    private readonly Channel<RigEvent> events = Channel.CreateUnbounded<RigEvent>(new UnboundedChannelOptions { SingleWriter = false });
    private readonly ConcurrentDictionary<int, double> outputCalibration = new();
    private readonly Lock sampleLock = new();
    private readonly Lock pinLock = new();
    private readonly Lock healthLock = new();
    private readonly List<ushort> pending = new(64);
    private readonly Timer flushTimer;
    private readonly AnalogInputPin a0;
    private FirmataClock? clock;
    private RigHealth health = new();
    private volatile ClockFit? published;
    private CancellationTokenSource? playing;
    private Task player = Task.CompletedTask;
    private double sampleRateHz;
    private uint periodMs;
    private long settledAt;           // Stopwatch timestamp after which a new sampling interval is in force
    private ulong runOffset;          // session index of this run's device sample 0
    private ulong deviceNext;         // device index of the next sample of this run
    private double pendingFirstArrival;
    private volatile bool running;
    private volatile bool connected = true;
    private int nextStimId;
    private int disposed;

    private FirmataSession(IRigTransport transport, TransportStream stream, ArduinoBoard board, FirmataSessionOptions options, int baud, string port)
    {
        this.transport = transport;
        this.stream = stream;
        this.board = board;
        this.baud = baud;
        logger = options.Logger;
        PortName = port;
        preview = Channel.CreateBounded<SampleBatch>(new BoundedChannelOptions(options.PreviewCapacity) { FullMode = BoundedChannelFullMode.DropOldest });
        FirmwareName = board.FirmwareName;
        FirmwareVersion = board.FirmwareVersion;
        FirmataVersion = board.FirmataVersion;
        gpio = board.CreateGpioController();
        analog = board.CreateAnalogController(0);
        // Opening A0 as an analog input makes the firmware report it from then on (StandardFirmata's pin-mode handler
        // does, and ArduinoBoard's disabling the event does not stop it): opened once here, so a run's samples are
        // exactly those reported after its Start, none lost to a pin being opened.
        a0 = analog.OpenPin(analog.ConvertAnalogChannelNumberToPinNumber(FirmataWiring.AnalogPin));
        a0.ValueChanged += OnValue;
        a0.EnableAnalogValueChangedEvent(null, 0);
        gpio.OpenPin(FirmataWiring.StimulusPin, PinMode.Output);
        gpio.Write(FirmataWiring.StimulusPin, PinValue.Low);
        Device = Describe(port, FirmwareName, FirmwareVersion, FirmataVersion);
        Timing = TimingFor(baud);
        stream.Lost += OnLinkLost;
        flushTimer = new Timer(_ => FlushPending(force: true), null, TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(20));
    }

    /// <summary>The firmware's name as it reports it (e.g. <c>StandardFirmata.ino</c>).</summary>
    public string FirmwareName { get; }

    /// <summary>The firmware's version.</summary>
    public Version FirmwareVersion { get; }

    /// <summary>The Firmata protocol version the firmware speaks.</summary>
    public Version FirmataVersion { get; }

    /// <inheritdoc/>
    public DeviceInfo Device { get; }

    /// <inheritdoc/>
    public string PortName { get; }

    /// <inheritdoc/>
    public uint PeriodTicks => periodMs;

    /// <inheritdoc/>
    public double SampleRateHz => Volatile.Read(ref sampleRateHz);

    /// <inheritdoc/>
    public RigTiming Timing { get; }

    /// <inheritdoc/>
    public ChannelReader<SampleBatch> Samples => lossless.Reader;

    /// <inheritdoc/>
    public ChannelReader<SampleBatch> Preview => preview.Reader;

    /// <inheritdoc/>
    public ChannelReader<RigEvent> Events => events.Reader;

    /// <inheritdoc/>
    public ClockFit? Clock => published;

    /// <inheritdoc/>
    public double HostSeconds => Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds;

    /// <inheritdoc/>
    public ulong NextSampleIndex
    {
        get
        {
            lock (sampleLock) return runOffset + deviceNext;
        }
    }

    /// <inheritdoc/>
    public bool IsRunning => running;

    /// <inheritdoc/>
    public bool IsConnected => connected;

    /// <inheritdoc/>
    public RigHealth Health
    {
        get
        {
            lock (healthLock) return health;
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<double> RoundTripsMs => [];

    /// <summary>
    /// Opens <paramref name="address"/>, waits for the board to finish booting (an Uno resets when its port opens),
    /// resets the firmware's pins and reporting (SYSTEM_RESET: every output low) and asks the board what it is.
    /// </summary>
    /// <exception cref="RigConnectionException">The port cannot be opened or no Firmata answers there; the message says what to check.</exception>
    public static async Task<FirmataSession> ConnectAsync(FirmataAddress address, FirmataSessionOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        options ??= new FirmataSessionOptions();
        var transport = SerialTransport.Open(address.Port, address.Baud);
        TransportStream? stream = null;
        ArduinoBoard? board = null;
        try
        {
            await QuietAsync(transport, options.ConnectTimeout, cancellationToken).ConfigureAwait(false);
            stream = new TransportStream(transport);
            board = new ArduinoBoard(stream, false);
            var describe = Task.Run(() => (board.FirmwareName, board.SupportedPinConfigurations.Count), CancellationToken.None);
            if (await Task.WhenAny(describe, Task.Delay(options.ConnectTimeout, cancellationToken)).ConfigureAwait(false) != describe || describe.IsFaulted)
            {
                cancellationToken.ThrowIfCancellationRequested();
                throw new RigConnectionException(NoAnswer(address, describe.Exception?.InnerException?.Message));
            }

            if (describe.Result.Count <= FirmataWiring.StimulusPin)
            {
                throw new RigConnectionException($"{address.Port}: the Firmata board reports only {describe.Result.Count} pins; Bench needs A0 and D9 (an Arduino Uno)");
            }

            return new FirmataSession(transport, stream, board, options, address.Baud, address.ToString());
        }
        catch (Exception e) when (e is not RigConnectionException and not OperationCanceledException)
        {
            stream?.Dispose();
            board?.Dispose();
            await transport.DisposeAsync().ConfigureAwait(false);
            throw new RigConnectionException(NoAnswer(address, e.Message), e);
        }
        catch
        {
            stream?.Dispose();
            board?.Dispose();
            await transport.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>What a Firmata board at <paramref name="address"/> reports (name, version), or null when none answers in time.</summary>
    public static async Task<(string Name, Version Firmware, Version Protocol)?> ProbeAsync(FirmataAddress address, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var session = await ConnectAsync(address, new FirmataSessionOptions { ConnectTimeout = timeout }, cancellationToken).ConfigureAwait(false);
            return (session.FirmwareName, session.FirmwareVersion, session.FirmataVersion);
        }
        catch (RigConnectionException)
        {
            return null;
        }
    }

    private static string NoAnswer(FirmataAddress address, string? why) =>
        $"no Firmata board answered on {address.Port} at {address.Baud} baud{(why is null ? "" : $" ({why})")}: is StandardFirmata loaded (57600 baud), " +
        $"or ConfigurableFirmata (add ?baud=115200 to the address)?";

    /// <summary>
    /// Lets the board boot (the reset delay of a real serial port), stops any reporting a previous host left on and
    /// resets the firmware (SYSTEM_RESET sets every output low), then discards input until the line is quiet: a
    /// capability query answered in the middle of the boot's own messages ends early.
    /// </summary>
    private static async Task QuietAsync(IRigTransport transport, TimeSpan answerTimeout, CancellationToken cancellationToken)
    {
        if (transport.ResetDelay > TimeSpan.Zero) await Task.Delay(transport.ResetDelay, cancellationToken).ConfigureAwait(false);
        // Reporting off on A0…A5, SYSTEM_RESET (every output low), then REPORT_FIRMWARE: its answer comes only once the
        // firmware runs its loop, i.e. after its boot (StandardFirmata blinks its version for about 2 s first).
        byte[] hello = [0xC0, 0, 0xC1, 0, 0xC2, 0, 0xC3, 0, 0xC4, 0, 0xC5, 0, 0xFF, 0xF0, 0x79, 0xF7];
        await transport.Output.WriteAsync(hello, cancellationToken).ConfigureAwait(false);
        var deadline = Stopwatch.GetTimestamp() + (long)(answerTimeout.TotalSeconds * Stopwatch.Frequency);
        var seen = new List<byte>();
        bool answered = false;
        while (Stopwatch.GetTimestamp() < deadline)
        {
            using var quiet = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            // Before the answer, wait as long as a boot takes; after it, until the line has been quiet a moment.
            quiet.CancelAfter(answered ? TimeSpan.FromMilliseconds(200) : answerTimeout);
            try
            {
                var result = await transport.Input.ReadAsync(quiet.Token).ConfigureAwait(false);
                if (!answered)
                {
                    foreach (var segment in result.Buffer) seen.AddRange(segment.Span);
                    answered = HasFirmwareReport(seen);
                }

                transport.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) throw new RigConnectionException("the port closed while the board was starting");
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                if (answered) return;   // the firmware has answered and the line is quiet
                break;
            }
        }

        // No answer: ArduinoBoard asks again and says what it finds (or the caller's message does).
    }

    /// <summary>Whether <paramref name="bytes"/> hold a complete REPORT_FIRMWARE sysex message (F0 79 … F7).</summary>
    private static bool HasFirmwareReport(List<byte> bytes)
    {
        for (int i = 0; i + 1 < bytes.Count; i++)
        {
            if (bytes[i] == 0xF0 && bytes[i + 1] == 0x79 && bytes.IndexOf(0xF7, i + 2) >= 0) return true;
        }

        return false;
    }

    /// <summary>What Bench knows of a Firmata board, in the form a Bench rig describes itself.</summary>
    private static DeviceInfo Describe(string port, string name, Version firmware, Version protocol)
    {
        // Firmata boards carry no unique id: this one names the firmware on this port (the catalog keys rigs by it).
        ulong id = 14695981039346656037UL;
        foreach (char c in $"{port}|{name}")
        {
            id ^= c;
            id *= 1099511628211UL;
        }

        return new DeviceInfo((byte)Math.Clamp(protocol.Major, 0, 255), (byte)Math.Clamp(protocol.Minor, 0, 255), (byte)Math.Clamp(firmware.Major, 0, 255),
            (byte)Math.Clamp(firmware.Minor, 0, 255), 0, BoardName, id, ClockHz: 1000, MaxSampleRateHz: 1000, AdcRefMv: 5000, AdcBits: 10, InputChannels: 1,
            GainCount: 1, MaxTrains: ProtocolLimits.MaxTrains, WatchdogMs: 0,
            [new OutputDescriptor(Unit: 1, DacBits: 1, MaxAmplitudeCode: 1, Scale: (uint)FirmataWiring.NominalNanoamps, MaxPhaseUs: 60_000_000, MaxCharge: 0)]);
    }

    private static RigTiming TimingFor(int baud)
    {
        // A sample: Firmata's loop samples when millis() has advanced past the interval; millis() ticks every 1.024 ms
        // and catches up by 2 now and then, so a sample lies up to one tick from index × interval (measured on simulated
        // StandardFirmata at 1 ms: FirmataTests).
        const double sample = 1.1;
        // An edge: the 3-byte message on the wire, the firmware's loop, and where the sample clock puts the host's time
        // (the fit's lower envelope stands for the earliest arrival: one sample's uncertainty plus its own message).
        double wireMs = 30_000.0 / baud;
        double edge = Math.Round(wireMs + FirmwareLoopMs + sample + wireMs, 1);
        return new RigTiming(sample, edge, true,
            string.Create(CultureInfo.InvariantCulture,
                $"Firmata board: samples at whole-millisecond intervals from the firmware's loop (no timestamps; times are index × interval, within ±{sample} ms); " +
                $"pulses timed by the host, each edge within about ±{edge} ms of where it is recorded (estimated from the link and the firmware's loop); no watchdog: a host crash leaves the stimulus pin as it was"))
        {
            MinimumPhaseMs = MinimumPhaseMs, BipolarPulses = false,
        };
    }

    /// <inheritdoc/>
    public Task ConfigureAsync(double sampleRateHz, CancellationToken cancellationToken = default)
    {
        double intervalMs = 1000.0 / sampleRateHz;
        double whole = Math.Round(intervalMs);
        if (!(sampleRateHz > 0) || whole < 1 || whole > 16383 || Math.Abs(intervalMs - whole) > 1e-6 * whole)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"a Firmata board samples every whole millisecond (1000 Hz, 500 Hz, 250 Hz, 200 Hz, … down to one sample per 16.383 s), not at {sampleRateHz} Hz: use --rate 1000"));
        }

        board.SetAnalogInputSamplingInterval(TimeSpan.FromMilliseconds(whole));
        // Firmata's loop catches up the time it is behind under the old interval in a burst of back-to-back passes; a
        // run started before that burst is over would begin with samples off the grid (measured: up to 18 at 1 ms after
        // StandardFirmata's default 19 ms). Start waits until it is over.
        settledAt = Stopwatch.GetTimestamp() + (long)(Math.Max(0.05, (periodMs == 0 ? 19 : periodMs) * 0.0005) * Stopwatch.Frequency);
        periodMs = (uint)whole;
        Volatile.Write(ref this.sampleRateHz, 1000.0 / whole);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (periodMs == 0) throw new InvalidOperationException("configure the sample rate before starting");
        if (running) return;
        long wait = settledAt - Stopwatch.GetTimestamp();
        if (wait > 0) await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency), cancellationToken).ConfigureAwait(false);
        lock (sampleLock)
        {
            runOffset += deviceNext;
            deviceNext = 0;
            pending.Clear();
            clock = new FirmataClock(periodMs / 1000.0, LossThresholdMs / 1000);
        }

        running = true;
    }

    /// <inheritdoc/>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await StopAllAsync(cancellationToken).ConfigureAwait(false);
        if (!running) return;
        running = false;   // the firmware goes on reporting A0; values are not samples until the next Start
        FlushPending(force: true);
    }

    /// <inheritdoc/>
    public async Task StopAllAsync(CancellationToken cancellationToken = default)
    {
        CancellationTokenSource? current;
        lock (pinLock) current = playing;
        if (current is not null) await current.CancelAsync().ConfigureAwait(false);
        await player.ConfigureAwait(false);
        PinLow();
    }

    /// <summary>
    /// Plays <paramref name="protocol"/> on D9, timed by this host: each pulse's onset and end are digital writes at the
    /// commanded times, and each pulse is reported (<see cref="PulsePlayedEvent"/>) at its end with the sample index where
    /// its onset was written and the measured uncertainty.
    /// </summary>
    /// <exception cref="StimulusProtocolException">The board cannot honour the protocol; the message says why.</exception>
    /// <exception cref="RigCommandRefusedException">Acquisition is not running, or the start has passed.</exception>
    public async Task<StimulusCommand> PlayAsync(StimulusProtocol protocol, int output = 0, ulong? atDeviceSampleIndex = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        if (periodMs == 0) throw new InvalidOperationException("configure the sample rate before playing a stimulus");
        ushort stimId = (ushort)Interlocked.Increment(ref nextStimId);
        var command = Check(protocol, output, stimId, atDeviceSampleIndex);
        if (!connected) throw Refused(NackCode.NotRunning, $"the Firmata board on {PortName} is no longer connected");
        if (!running) throw Refused(NackCode.NotRunning, "start acquisition first: a Firmata rig times pulses on its sample clock");
        // A stimulus whose last pulse has been reported may still be setting D9 low: let it finish.
        await Task.WhenAny(player, Task.Delay(100, cancellationToken)).ConfigureAwait(false);
        lock (pinLock)
        {
            if (!player.IsCompleted) throw Refused(NackCode.Busy, "a stimulus is already playing on D9");
            double now = HostSeconds;
            double startHost = atDeviceSampleIndex is { } index ? HostSecondsOfDeviceIndex(index) : now + 0.05;
            // Not enough time left to reach the first edge on time: refused as too late, as a Bench rig does.
            if (startHost < now + 0.005)
            {
                throw Refused(NackCode.TooLate, string.Create(CultureInfo.InvariantCulture,
                    $"the requested start sample has already passed (sample {atDeviceSampleIndex} falls {(now - startHost) * 1000:0} ms ago by the board's clock)"));
            }
            var cts = new CancellationTokenSource();
            playing?.Dispose();   // its player has finished
            playing = cts;
            player = Task.Factory.StartNew(() => Play(command, startHost, cts.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        return command;
    }

    /// <inheritdoc/>
    public StimulusCommand CheckStimulus(StimulusProtocol protocol, int output = 0)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        if (periodMs == 0) throw new InvalidOperationException("configure the sample rate before checking a stimulus");
        return Check(protocol, output, 0, null);
    }

    /// <summary>Converts and checks a protocol against what host-timed pulses on a digital pin can honour.</summary>
    private StimulusCommand Check(StimulusProtocol protocol, int output, ushort stimId, ulong? atDeviceSampleIndex)
    {
        var command = RigStimulus.ToCommand(protocol, Device, output, periodMs, stimId, atDeviceSampleIndex,
            outputCalibration.TryGetValue(output, out double calibrated) ? calibrated : null);
        double periodMsD = periodMs;
        for (int i = 0; i < command.Trains.Count; i++)
        {
            var t = command.Trains[i];
            string path = $"trains[{i}]";
            if (t.Phase1Code < 0) throw new StimulusProtocolException($"{path}.phase1_amplitude: a digital pin drives current one way only (0 or +{NanoampsPerCode(output):0.#} nA), not a negative pulse");
            if (t.Phase2Samples > 0 && t.Phase2Code != 0) throw new StimulusProtocolException($"{path}.phase2_amplitude: a digital pin plays no biphasic pulse (it gives 0 or +{NanoampsPerCode(output):0.#} nA only)");
            if (t.Phase1Code == 0) continue;
            double phaseMs = t.Phase1Samples * periodMsD;
            if (phaseMs < MinimumPhaseMs)
            {
                throw new StimulusProtocolException(string.Create(CultureInfo.InvariantCulture,
                    $"{path}.phase1_ms: {phaseMs} ms is shorter than the {MinimumPhaseMs} ms a host-timed pulse needs: each edge is uncertain by ±{Timing.StimulusTimeUncertaintyMs} ms on a Firmata board (a Bench rig times pulses to the sample)"));
            }

            double offMs = (t.IntervalSamples - t.Phase1Samples) * periodMsD;
            if (t.PulseCount > 1 && offMs < MinimumPhaseMs)
            {
                throw new StimulusProtocolException(string.Create(CultureInfo.InvariantCulture,
                    $"{path}.interval_ms: {offMs} ms between pulses is shorter than the {MinimumPhaseMs} ms host-timed edges need (at most {1000 / (2 * MinimumPhaseMs):0} pulses a second on a Firmata board)"));
            }
        }

        return command;
    }

    private static RigCommandRefusedException Refused(NackCode code, string why) =>
        new($"the Firmata rig refused the stimulus: {why}", new Nack(0, (byte)MessageKind.Stimulus, (byte)code, 0));

    private void Play(StimulusCommand command, double startHost, CancellationToken cancellationToken)
    {
        double at = startHost;
        try
        {
            double periodS = periodMs / 1000.0;
            for (byte train = 0; train < command.Trains.Count; train++)
            {
                var t = command.Trains[train];
                at += t.DelaySamples * periodS;
                for (ushort pulse = 0; pulse < t.PulseCount; pulse++)
                {
                    double onset = at + (pulse * t.IntervalSamples * periodS);
                    bool on = t.Phase1Code != 0;
                    (double Before, double After) written = default;
                    if (on)
                    {
                        if (!WaitUntil(onset, cancellationToken)) return;
                        written = Write(PinValue.High);
                        if (!WaitUntil(onset + (t.Phase1Samples * periodS), cancellationToken)) return;
                        Write(PinValue.Low);
                    }
                    else
                    {
                        written = (onset, onset);
                    }

                    // The edge happens once the message has crossed the wire and the firmware's loop has taken it.
                    ulong deviceOnset = DeviceIndexAt(written.Before + (30.0 / baud) + (FirmwareLoopMs / 2000));
                    byte flags = pulse == t.PulseCount - 1 && train == command.Trains.Count - 1 ? StimulusEvent.Last : (byte)0;
                    var played = new StimulusEvent(deviceOnset, command.StimId, command.Output, train, pulse, t.Phase1Code, 0, flags);
                    double lateMs = (written.Before - onset) * 1000;
                    events.Writer.TryWrite(new PulsePlayedEvent(HostSeconds, played, ToSessionIndex(deviceOnset))
                    {
                        CommandedHostSeconds = onset,
                        UncertaintyMs = Timing.StimulusTimeUncertaintyMs + ((written.After - written.Before) * 1000),
                        LateMs = lateMs,
                    });
                }

                at += t.PulseCount * t.IntervalSamples * periodS;
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or TimeoutException)
        {
            FirmataLog.StimulusFailed(logger, PortName, e.Message);
        }
        finally
        {
            PinLow();
        }
    }

    /// <summary>Sleeps until shortly before <paramref name="hostSeconds"/>, then spins to it (a sleep alone wakes ms late).</summary>
    private bool WaitUntil(double hostSeconds, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (cancellationToken.IsCancellationRequested) return false;
            double left = hostSeconds - HostSeconds;
            if (left <= 0) return true;
            if (left > 0.003) cancellationToken.WaitHandle.WaitOne(TimeSpan.FromSeconds(left - 0.002));
            else Thread.SpinWait(50);
        }
    }

    private (double Before, double After) Write(PinValue value)
    {
        lock (pinLock)
        {
            double before = HostSeconds;
            gpio.Write(FirmataWiring.StimulusPin, value);
            return (before, HostSeconds);
        }
    }

    /// <summary>D9 low, whatever happened; a board that is gone cannot be told, and says so in the log.</summary>
    private void PinLow()
    {
        if (!connected) return;
        try
        {
            Write(PinValue.Low);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or TimeoutException)
        {
            FirmataLog.StimulusFailed(logger, PortName, e.Message);
        }
    }

    /// <inheritdoc/>
    public double NanoampsPerCode(int output) => outputCalibration.TryGetValue(output, out double calibrated) ? calibrated : Device.Outputs[output].Scale;

    /// <inheritdoc/>
    public void UseOutputCalibration(int output, double nanoampsPerCode)
    {
        if (output < 0 || output >= Device.Outputs.Count) throw new ArgumentException($"output {output} does not exist: the rig has {Device.Outputs.Count}");
        if (!(nanoampsPerCode > 0) || !double.IsFinite(nanoampsPerCode)) throw new ArgumentException($"an output calibration is a positive number of nA per code, not {nanoampsPerCode}");
        outputCalibration[output] = nanoampsPerCode;
    }

    /// <inheritdoc/>
    public ulong ToSessionIndex(ulong deviceIndex)
    {
        lock (sampleLock) return runOffset + deviceIndex;
    }

    /// <summary>Host time (s, <see cref="HostSeconds"/>) at which device sample <paramref name="index"/> of this run was (or will be) taken.</summary>
    public double HostSecondsOfDeviceIndex(ulong index)
    {
        lock (sampleLock)
        {
            if (clock is null || clock.Mapping.Count == 0) return HostSeconds + ((index - (double)deviceNext) * periodMs / 1000.0);
            // The envelope is the earliest arrival: the sample was taken one message's wire time before it.
            return clock.Mapping.HostSeconds(index) - (30.0 / baud);
        }
    }

    /// <summary>The device sample index (this run) being taken at host time <paramref name="hostSeconds"/>.</summary>
    public ulong DeviceIndexAt(double hostSeconds)
    {
        lock (sampleLock)
        {
            if (clock is null || clock.Mapping.Count == 0) return deviceNext;
            double zero = clock.Mapping.HostSeconds(0) - (30.0 / baud);
            double k = (hostSeconds - zero) / clock.Mapping.SecondsPerSample;
            return k <= 0 ? 0 : (ulong)Math.Round(k);
        }
    }

    private void OnValue(object sender, ValueChangedEventArgs e)
    {
        // ArduinoBoard raises every open analog pin's event for every channel reported: only A0's values are ours.
        if (e.PinNumber != ((AnalogInputPin)sender).PinNumber) return;
        double now = HostSeconds;
        lock (sampleLock)
        {
            if (!running) return;
            ulong index = deviceNext + (ulong)pending.Count;
            ulong lost = clock!.Observe(index, now);
            if (lost > 0)
            {
                // Samples the board never sent: a gap before this one, so its index (and every later one) moves on.
                FlushLocked(now);
                ulong start = runOffset + deviceNext;
                deviceNext += lost;
                lock (healthLock) health = health with { LostSamples = health.LostSamples + lost, Gaps = health.Gaps + 1 };
                events.Writer.TryWrite(new GapEvent(now, start, lost, string.Create(CultureInfo.InvariantCulture,
                    $"the Firmata board's samples arrived at least {lost * periodMs} ms later than its clock for {FirmataClock.WindowSeconds} s: {lost} samples it did not send (where exactly, within those {FirmataClock.WindowSeconds} s, is not known)")));
            }

            published = clock.Fit;
            if (pending.Count == 0) pendingFirstArrival = now;
            pending.Add((ushort)Math.Min(e.RawValue, ushort.MaxValue));
            if (pending.Count >= 64 || now - pendingFirstArrival >= 0.004) FlushLocked(now);
        }
    }

    private void FlushPending(bool force)
    {
        lock (sampleLock)
        {
            if (pending.Count > 0 && (force || HostSeconds - pendingFirstArrival >= 0.004)) FlushLocked(HostSeconds);
        }
    }

    private void FlushLocked(double now)
    {
        if (pending.Count == 0) return;
        var batch = new SampleBatch(runOffset + deviceNext, [.. pending], now);
        deviceNext += (ulong)pending.Count;
        pending.Clear();
        lock (healthLock) health = health with { Samples = health.Samples + (ulong)batch.Codes.Length };
        lossless.Writer.TryWrite(batch);
        preview.Writer.TryWrite(batch);
    }

    private void OnLinkLost(string why)
    {
        if (!connected) return;
        connected = false;
        double now = HostSeconds;
        lock (healthLock) health = health with { Disconnects = health.Disconnects + 1 };
        string reason = $"the Firmata board on {PortName} went away ({why}); D9 stays as it was until the board is reset or powered off";
        FirmataLog.Lost(logger, PortName, reason);
        events.Writer.TryWrite(new DisconnectedEvent(now, reason));
        // Firmata boards carry no identity to find again: the session ends here.
        events.Writer.TryWrite(new GaveUpEvent(now, reason, now));
        Complete();
    }

    private void Complete()
    {
        FlushPending(force: true);
        lossless.Writer.TryComplete();
        preview.Writer.TryComplete();
        events.Writer.TryComplete();
    }

    /// <summary>Stops the stimulus (D9 low) and acquisition, then closes the board and the port.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        try
        {
            await StopAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or TimeoutException)
        {
            FirmataLog.StimulusFailed(logger, PortName, e.Message);
        }

        await flushTimer.DisposeAsync().ConfigureAwait(false);
        playing?.Dispose();
        if (connected)
        {
            // The last bytes (D9 low, reporting off) must leave before the port closes.
            await transport.Output.FlushAsync().ConfigureAwait(false);
        }

        connected = false;
        Complete();
        // The stream first: it wakes ArduinoBoard's reading thread, which the board's disposal waits for.
        stream.Dispose();
        a0.ValueChanged -= OnValue;
        if (connected) a0.DisableAnalogValueChangedEvent();
        a0.Dispose();
        analog.Dispose();
        gpio.Dispose();
        board.Dispose();
        await transport.DisposeAsync().ConfigureAwait(false);
    }

    private static partial class FirmataLog
    {
        [LoggerMessage(Level = LogLevel.Warning, Message = "{Port}: the stimulus pin could not be driven: {Reason}")]
        public static partial void StimulusFailed(ILogger logger, string port, string reason);

        [LoggerMessage(Level = LogLevel.Warning, Message = "{Port}: {Reason}")]
        public static partial void Lost(ILogger logger, string port, string reason);
    }
}
