using System.Diagnostics;
using System.Globalization;
using Bench.Core.Protocol;
using Bench.Core.Rig;
using Bench.Core.Stimulus;
using Bench.Rig.Emulation;
using Bench.Rig.Session;
using Bench.Rig.Transports;
using Bench.Storage.Catalog;
using Bench.Storage.Journal;

namespace Bench.Service;

/// <summary>
/// The service's one rig: connects it (the embedded emulated rig by default, or a port), keeps it acquiring, and runs
/// the one-way pipeline on every sample batch: calibration → model comparison → recording journal → decimated live
/// view. Acquisition never waits for a viewer; a lost rig is reported and the service keeps running.
/// </summary>
public sealed class RigHost : IAsyncDisposable
{
    private readonly ServiceOptions options;
    private readonly LiveHub hub;
    private readonly BenchCatalog catalog;
    private readonly SemaphoreSlim gate = new(1, 1);
    private readonly Lock pipeline = new();
    private Connection? connection;
    private string? lastError;

    /// <summary>Builds the host (nothing is connected until <see cref="ConnectAsync"/>).</summary>
    public RigHost(ServiceOptions options, LiveHub hub, BenchCatalog catalog)
    {
        this.options = options;
        this.hub = hub;
        this.catalog = catalog;
    }

    /// <summary>The address of the embedded emulated rig.</summary>
    public const string EmulatedAddress = "emulated";

    /// <summary>The rig's state for the API and the page.</summary>
    public RigStatus Status
    {
        get
        {
            var c = connection;
            if (c is null) return new RigStatus("disconnected", null, null, null, 0, null, null, lastError);
            var s = c.Session;
            return new RigStatus(c.Lost ? "lost" : "connected", c.Address, DeviceView.From(s.Device), CalibrationView.From(c.Calibration, c.CalibrationSource, s.Device.Outputs.Count > 0 ? s.NanoampsPerCode(0) : null),
                s.SampleRateHz, HealthView.From(s.Health, c), c.Recording?.Info, lastError);
        }
    }

    /// <summary>The connected session, if any.</summary>
    internal RigSession? Session => connection?.Session;

    /// <summary>
    /// Connects <paramref name="address"/> (<see cref="EmulatedAddress"/>, a serial path, <c>tcp://</c> or <c>usb:</c>),
    /// replacing any current rig, and starts acquiring at <paramref name="sampleRateHz"/>.
    /// </summary>
    /// <exception cref="RigConnectionException">Nothing answers there; the message says why.</exception>
    public async Task<RigStatus> ConnectAsync(string address, double sampleRateHz, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await CloseAsync().ConfigureAwait(false);
            await OpenAsync(address, sampleRateHz, cancellationToken).ConfigureAwait(false);
            return Status;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Opens a rig and starts its pipeline; on any failure nothing is left open (a serial port stays free).</summary>
    private async Task OpenAsync(string address, double sampleRateHz, CancellationToken cancellationToken)
    {
        lastError = null;
        var stopEmulator = new CancellationTokenSource();
        Task? emulatorTask = null;
        RigSession? session = null;
        try
        {
            IRigTransport transport;
            if (address == EmulatedAddress)
            {
                var emulated = new EmulatedRig(options.Emulator);
                var (host, device) = InMemoryTransport.CreatePair("emulated");
                emulatorTask = Task.Run(async () =>
                {
                    await emulated.RunAsync(device, stopEmulator.Token).ConfigureAwait(false);
                    if (emulated.EndReason == "disconnect") device.Disconnect();   // a disconnect fault: the cable is pulled
                }, CancellationToken.None);
                transport = host;
            }
            else
            {
                transport = await RigAddress.OpenAsync(address, cancellationToken: cancellationToken).ConfigureAwait(false);
            }

            try
            {
                session = await RigSession.ConnectAsync(transport, new RigSessionOptions { ResetDelay = address.StartsWith("/dev/ttyACM", StringComparison.Ordinal) ? TimeSpan.FromSeconds(1.5) : TimeSpan.Zero }, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await transport.DisposeAsync().ConfigureAwait(false);
                throw;
            }

            if (sampleRateHz > session.Device.MaxSampleRateHz)
            {
                throw new ArgumentException($"{session.Device.Board} samples at most {session.Device.MaxSampleRateHz} Hz, not {sampleRateHz}");
            }

            // Past the handshake the request's cancellation no longer applies: a half-configured rig helps nobody.
            await session.ConfigureAsync(sampleRateHz, CancellationToken.None).ConfigureAwait(false);
            catalog.UpsertRig(session.Device, address);
            // The rig's stored calibration, applied automatically on connect (else its front end's nominal one).
            var (calibration, source, nanoampsPerCode) = RigCalibrations.For(catalog, session.Device);
            if (nanoampsPerCode is { } step && session.Device.Outputs.Count > 0) session.UseOutputCalibration(0, step);
            var c = new Connection(this, address, session, calibration, source, stopEmulator, emulatorTask);
            await session.StartAsync(CancellationToken.None).ConfigureAwait(false);
            c.Pump = Task.Run(() => c.PumpAsync(), CancellationToken.None);
            connection = c;
            hub.Publish("status", Status, remember: true);
        }
        catch (Exception e)
        {
            if (session is not null) await session.DisposeAsync().ConfigureAwait(false);
            await stopEmulator.CancelAsync().ConfigureAwait(false);
            if (emulatorTask is not null) await emulatorTask.ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
            stopEmulator.Dispose();
            if (e is not OperationCanceledException) lastError = e.Message;
            hub.Publish("status", Status, remember: true);
            throw;
        }
    }

    /// <summary>Stops stimulation and acquisition and lets the rig go (an open recording is finished first).</summary>
    public async Task DisconnectAsync()
    {
        await gate.WaitAsync().ConfigureAwait(false);
        try
        {
            await CloseAsync().ConfigureAwait(false);
            hub.Publish("status", Status, remember: true);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Changes the sample rate: the rig is connected afresh at the new rate (its session, comparison and live view start
    /// again from sample 0). An open recording must be stopped first.
    /// </summary>
    public async Task<RigStatus> ConfigureAsync(double sampleRateHz, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var c = RequireConnection();
            if (c.Recording is not null) throw new InvalidOperationException("a recording is running: stop it before changing the sample rate");
            if (sampleRateHz > c.Session.Device.MaxSampleRateHz) throw new ArgumentException($"{c.Session.Device.Board} samples at most {c.Session.Device.MaxSampleRateHz} Hz, not {sampleRateHz}");
            string address = c.Address;
            double previous = c.Session.SampleRateHz;
            await CloseAsync().ConfigureAwait(false);
            try
            {
                await OpenAsync(address, sampleRateHz, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ArgumentException or RigCommandRefusedException or TimeoutException)
            {
                // Refused at the new rate: back to the old one, so acquisition is not left stopped.
                await OpenAsync(address, previous, CancellationToken.None).ConfigureAwait(false);
                throw;
            }

            return Status;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Plays a protocol now (at the next sample the rig can arm); the comparison's model receives it as played.</summary>
    /// <exception cref="StimulusProtocolException">The rig cannot play it exactly; nothing was sent.</exception>
    public async Task<StimulusCommand> PlayAsync(StimulusProtocol protocol, string name, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var c = RequireConnection();
            // The pipeline pauses while the command is sent, so the pulse's report cannot be processed before the
            // comparison and the recording know the command (acquisition goes on; its batches wait in the session).
            // Once sending starts the request's cancellation no longer applies: a played stimulus must be accounted for.
            await c.Processing.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var command = await c.Session.PlayAsync(protocol, cancellationToken: CancellationToken.None).ConfigureAwait(false);
                c.OnPlayed(command, protocol, name);
                return command;
            }
            finally
            {
                c.Processing.Release();
            }
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Stops every stimulus at once (also on a rig whose pipeline failed, as long as its link answers).</summary>
    public async Task StopAllAsync(CancellationToken cancellationToken)
    {
        var c = connection ?? throw new InvalidOperationException("no rig is connected: nothing to stop");
        await c.Session.StopAllAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Starts recording into the data directory under <paramref name="name"/> (validated).</summary>
    public async Task<RecordingInfo> StartRecordingAsync(string name, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var c = RequireConnection();
            RecordingInfo info;
            lock (pipeline)
            {
                if (c.Recording is not null) throw new InvalidOperationException($"already recording '{c.Recording.Info.Name}': stop it first");
                var view = new RigSessionView(c.Session.Device, c.Address, c.Calibration, c.CalibrationSource, c.Session.SampleRateHz,
                    c.Session.Device.Outputs.Count > 0 ? c.Session.NanoampsPerCode(0) : null);
                c.Recording = ActiveRecording.Start(catalog, name, options.Model, options.ModelParameters, view, c.NextIndex);
                info = c.Recording.Info;
            }

            hub.Publish("status", Status, remember: true);
            return info;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Stops the recording and writes its NWB file (also for a rig that was lost: everything received is in it).</summary>
    public async Task<RecordingInfo> StopRecordingAsync()
    {
        await gate.WaitAsync().ConfigureAwait(false);
        try
        {
            var c = connection ?? throw new InvalidOperationException("nothing is being recorded");
            ActiveRecording recording;
            lock (pipeline)
            {
                recording = c.Recording ?? throw new InvalidOperationException("nothing is being recorded");
                c.Recording = null;
            }

            var info = await Task.Run(recording.Finish).ConfigureAwait(false);
            hub.Publish("status", Status, remember: true);
            return info;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>The comparison's latest figures, or null when there is no model to compare with.</summary>
    public ComparisonView? Comparison => connection?.ComparisonSnapshot();

    private Connection RequireConnection() => connection is { Lost: false } c ? c : throw new InvalidOperationException(connection is null ? "no rig is connected: connect one first (POST /api/devices/connect)" : "the rig's connection was lost: reconnect it");

    private async Task CloseAsync()
    {
        var c = connection;
        if (c is null) return;
        connection = null;
        await c.CloseAsync().ConfigureAwait(false);
    }

    /// <summary>Disconnects.</summary>
    public async ValueTask DisposeAsync()
    {
        await DisconnectAsync().ConfigureAwait(false);
        gate.Dispose();
    }

    /// <summary>One connected rig and its pipeline.</summary>
    internal sealed class Connection
    {
        private readonly RigHost host;
        private readonly CancellationTokenSource stopEmulator;
        private readonly Task? emulatorTask;
        private readonly TraceDecimator recordedTrace, modelTrace;
        private readonly ModelTrack? model;
        private readonly Action<ulong, ReadOnlySpan<double>> onPredicted;
        private long lastTraceTicks, lastHealthTicks;

        public Connection(RigHost host, string address, RigSession session, Calibration calibration, string calibrationSource, CancellationTokenSource stopEmulator, Task? emulatorTask)
        {
            this.host = host;
            Address = address;
            Session = session;
            Calibration = calibration;
            CalibrationSource = calibrationSource;
            this.stopEmulator = stopEmulator;
            this.emulatorTask = emulatorTask;
            // ~1 ms buckets: a thousand points a second per trace whatever the rate.
            int bucket = Math.Max(1, (int)Math.Round(session.SampleRateHz / 1000));
            recordedTrace = new TraceDecimator(bucket);
            modelTrace = new TraceDecimator(bucket);
            model = host.options.Model is null ? null : new ModelTrack(host.options.Model, host.options.ModelParameters, session.SampleRateHz,
                session.Device.Outputs.Count > 0 ? session.NanoampsPerCode(0) : 1, host.options.Emulator.PreparationAreaUm2, calibration);
            onPredicted = OnPredicted;
        }

        public string Address { get; }

        public RigSession Session { get; }

        public Calibration Calibration { get; }

        public string CalibrationSource { get; }

        public Task? Pump { get; set; }

        public bool Lost { get; private set; }

        public ActiveRecording? Recording { get; set; }

        /// <summary>Held while the pipeline processes a turn, or while a stimulus command is being sent.</summary>
        public SemaphoreSlim Processing { get; } = new(1, 1);

        public ulong SamplesReceived { get; private set; }

        /// <summary>The session index of the next sample to arrive.</summary>
        public ulong NextIndex { get; private set; }

        public List<(StimulusCommand Command, string Name)> Played { get; } = [];

        public void OnPlayed(StimulusCommand command, StimulusProtocol protocol, string name)
        {
            lock (host.pipeline)
            {
                Played.Add((command, name));
                model?.AddCommand(command, NextIndex);
                Recording?.OnPlayed(command, protocol, name);
            }
        }

        public ComparisonView? ComparisonSnapshot()
        {
            lock (host.pipeline) return model?.Snapshot();
        }

        public async Task PumpAsync()
        {
            var samples = Session.Samples;
            var events = Session.Events;
            // One pending wait per channel at a time (a fresh WaitToReadAsync every turn would pile up waiters while
            // a channel stays quiet), and one tick so health and metrics are published when no samples come.
            Task<bool>? waitSamples = null, waitEvents = null;
            Task? tick = null;
            bool samplesOpen = true, eventsOpen = true;
            try
            {
                while (samplesOpen || eventsOpen)
                {
                    if (samplesOpen) waitSamples ??= samples.WaitToReadAsync().AsTask();
                    if (eventsOpen) waitEvents ??= events.WaitToReadAsync().AsTask();
                    tick ??= Task.Delay(250);
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

                    if (tick.IsCompleted) tick = null;
                    await Processing.WaitAsync().ConfigureAwait(false);
                    try
                    {
                        lock (host.pipeline)
                        {
                            while (events.TryRead(out var e)) OnEvent(e);
                            while (samples.TryRead(out var batch))
                            {
                                while (events.TryRead(out var e)) OnEvent(e);   // a pulse is reported before the samples after it
                                OnBatch(batch);
                            }

                            PublishPeriodic();
                        }
                    }
                    finally
                    {
                        Processing.Release();
                    }
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                host.lastError = "the acquisition pipeline failed: " + e.Message;
                // Nothing reads the rig any more: let it go, so its watchdog turns the stimulus off.
                await Session.DisposeAsync().ConfigureAwait(false);
            }

            Lost = true;
            lock (host.pipeline) Recording?.Journal.Flush();
            host.hub.Publish("status", host.Status, remember: true);
        }

        private void OnEvent(RigEvent e)
        {
            switch (e)
            {
                case GapEvent gap:
                    recordedTrace.Gap(gap.StartIndex, gap.Length);
                    modelTrace.Gap(gap.StartIndex, gap.Length);
                    model?.OnGap(gap.StartIndex, gap.Length);
                    Recording?.OnGap(gap.StartIndex, gap.Length);
                    host.hub.Publish("gap", new { start_ms = gap.StartIndex * 1000.0 / Session.SampleRateHz, length_samples = gap.Length });
                    break;
                case PulsePlayedEvent pulse:
                    {
                        var command = Played.LastOrDefault(p => p.Command.StimId == pulse.Pulse.StimId);
                        if (command.Command is null) break;
                        var t = command.Command.Trains[pulse.Pulse.Train];
                        double perCode = Session.NanoampsPerCode(command.Command.Output);
                        model?.OnPulse(pulse.Pulse, pulse.SessionOnsetIndex);
                        var journalPulse = JournalPulse.From(pulse.Pulse, pulse.SessionOnsetIndex, t, perCode);
                        Recording?.Journal.WritePulse(journalPulse);
                        host.hub.Publish("stimulus", new StimulusMarker(
                            pulse.SessionOnsetIndex * 1000.0 / Session.SampleRateHz, command.Name, pulse.Pulse.Train, pulse.Pulse.Pulse,
                            journalPulse.Phase1Nanoamps, t.Phase1Samples * 1000.0 / Session.SampleRateHz,
                            journalPulse.Phase2Nanoamps, t.Phase2Samples * 1000.0 / Session.SampleRateHz));
                        break;
                    }

                case DisconnectedEvent d:
                    host.lastError = $"the rig was lost: {d.Reason}";
                    Recording?.Journal.Flush();
                    host.hub.Publish("status", host.Status, remember: true);
                    break;
                case ReconnectedEvent:
                    host.lastError = null;
                    host.hub.Publish("status", host.Status, remember: true);
                    break;
                default:
                    break;
            }
        }

        private void OnBatch(SampleBatch batch)
        {
            var codes = batch.Codes;
            Recording?.OnSamples(batch.FirstSampleIndex, codes, []);
            for (int i = 0; i < codes.Length; i++) recordedTrace.Add(batch.FirstSampleIndex + (ulong)i, Calibration.ToMillivolts(codes[i]));
            SamplesReceived += (ulong)codes.Length;
            NextIndex = batch.FirstSampleIndex + (ulong)codes.Length;
            model?.OnSamples(batch.FirstSampleIndex, codes, onPredicted);
        }

        /// <summary>The model's prediction, as it catches up with the samples.</summary>
        private void OnPredicted(ulong first, ReadOnlySpan<double> mv)
        {
            for (int i = 0; i < mv.Length; i++) modelTrace.Add(first + (ulong)i, mv[i]);
            Recording?.OnModel(first, mv);
        }

        private void PublishPeriodic()
        {
            long now = Stopwatch.GetTimestamp();
            if (Stopwatch.GetElapsedTime(lastTraceTicks, now).TotalMilliseconds >= 50)
            {
                lastTraceTicks = now;
                var recorded = recordedTrace.Drain(Session.SampleRateHz);
                if (recorded.TimeMs.Length > 0) host.hub.Publish("trace", new { series = "recorded", recorded.BucketMs, recorded.TimeMs, recorded.MinMv, recorded.MaxMv });
                var predicted = modelTrace.Drain(Session.SampleRateHz);
                if (predicted.TimeMs.Length > 0) host.hub.Publish("trace", new { series = "model", predicted.BucketMs, predicted.TimeMs, predicted.MinMv, predicted.MaxMv });
                if (model is not null) host.hub.Publish("model", model.DrainObservables());
            }

            if (Stopwatch.GetElapsedTime(lastHealthTicks, now).TotalMilliseconds >= 500)
            {
                lastHealthTicks = now;
                host.hub.Publish("health", HealthView.From(Session.Health, this), remember: true);
                if (model is not null) host.hub.Publish("metrics", model.Snapshot(), remember: true);
            }
        }

        public async Task CloseAsync()
        {
            try
            {
                try
                {
                    await Session.StopAllAsync().ConfigureAwait(false);
                }
                catch (Exception e) when (e is TimeoutException or RigDisconnectedException or RigCommandRefusedException or ObjectDisposedException or InvalidOperationException or IOException)
                {
                    // The rig is gone or refused: disposing the session below still stops what can be stopped.
                }

                // Stop, then let the pump take what was still queued (into the recording too), then finish the recording.
                await Session.DisposeAsync().ConfigureAwait(false);
                if (Pump is not null) await Pump.ConfigureAwait(false);
                ActiveRecording? recording;
                lock (host.pipeline)
                {
                    recording = Recording;
                    Recording = null;
                }

                recording?.Finish();
            }
            finally
            {
                await stopEmulator.CancelAsync().ConfigureAwait(false);
                if (emulatorTask is not null) await emulatorTask.ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
                stopEmulator.Dispose();
            }
        }
    }
}

/// <summary>A pulse as played, for the page's markers: onset (ms of session time), its protocol, and its phases.</summary>
public sealed record StimulusMarker(double OnsetMs, string Protocol, int Train, int Pulse,
    [property: System.Text.Json.Serialization.JsonPropertyName("phase1_nA")] double Phase1Nanoamps, double Phase1Ms,
    [property: System.Text.Json.Serialization.JsonPropertyName("phase2_nA")] double Phase2Nanoamps, double Phase2Ms);

/// <summary>The rig's state: <c>disconnected</c>, <c>connected</c> or <c>lost</c>, and what is known about it.</summary>
public sealed record RigStatus(string State, string? Address, DeviceView? Device, CalibrationView? Calibration, double SampleRateHz, HealthView? Health, RecordingInfo? Recording, string? Error);

/// <summary>A rig's identity for the API.</summary>
public sealed record DeviceView(string Board, string UniqueId, string Firmware, string Protocol, uint MaxSampleRateHz, int AdcBits)
{
    /// <summary>From the rig's DeviceInfo.</summary>
    public static DeviceView From(DeviceInfo d) => new(d.Board, d.UniqueId.ToString("x16", CultureInfo.InvariantCulture),
        $"{d.FirmwareMajor}.{d.FirmwareMinor}.{d.FirmwarePatch}", $"{d.ProtocolMajor}.{d.ProtocolMinor}", d.MaxSampleRateHz, d.AdcBits);
}

/// <summary>ADC counts → mV in use, where it came from, and the stimulus output's nA per DAC code in use.</summary>
public sealed record CalibrationView(double MvPerCount, double OffsetMv, string Source, double? NanoampsPerCode)
{
    /// <summary>From a calibration.</summary>
    public static CalibrationView From(Calibration c, string source, double? nanoampsPerCode) => new(c.MillivoltsPerCount, c.OffsetMv, source, nanoampsPerCode);
}

/// <summary>Link health for the page.</summary>
public sealed record HealthView(ulong SamplesReceived, long Gaps, ulong LostSamples, long CrcErrors, long FramingErrors, long FramesLost, long DeviceOverruns, double? DriftPpm)
{
    internal static HealthView From(RigHealth h, RigHost.Connection c) =>
        new(c.SamplesReceived, h.Gaps, h.LostSamples, h.CrcErrors, h.FramingErrors, h.FramesLost, h.DeviceOverruns, c.Session.Clock is { IsFitted: true } clock ? Math.Round(clock.DriftPpm, 1) : null);
}

/// <summary>Everything the service is started with.</summary>
public sealed record ServiceOptions
{
    /// <summary>Where recordings and the catalog live.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>The rig to connect at start (<see cref="RigHost.EmulatedAddress"/> by default; null: none).</summary>
    public string? Rig { get; init; } = RigHost.EmulatedAddress;

    /// <summary>The sample rate to acquire at (Hz).</summary>
    public double SampleRateHz { get; init; } = 20_000;

    /// <summary>The embedded emulated rig.</summary>
    public EmulatorOptions Emulator { get; init; } = new();

    /// <summary>The model the recording is compared with (null: no comparison).</summary>
    public string? Model { get; init; } = "hh";

    /// <summary>Parameter overrides of the comparison's model.</summary>
    public IReadOnlyDictionary<string, double> ModelParameters { get; init; } = new Dictionary<string, double>();

    /// <summary>The API token (null: none needed, only allowed on loopback).</summary>
    public string? Token { get; init; }
}
