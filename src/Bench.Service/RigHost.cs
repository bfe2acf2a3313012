using System.Text.Json.Nodes;
using Bench.Core.Protocol;
using Bench.Core.Stimulus;
using Bench.Rig.Emulation;
using Bench.Rig.Session;
using Bench.Service.Pipeline;
using Bench.Rig.Transports;
using Bench.Storage.Catalog;
using Bench.Storage.Journal;

namespace Bench.Service;

/// <summary>
/// The service's one rig: connects it (the embedded emulated rig by default, or a port) through
/// <see cref="RigConnection"/>, keeps it acquiring, and runs the shared <see cref="AcquisitionPipeline"/> on it:
/// calibration → model comparison → recording journal → decimated live view. State that requests read is an
/// immutable snapshot swapped whole; connecting, recording and playing are ordered by one gate, and none of them
/// holds it across disk or network work that the pump needs. Acquisition never waits for a viewer; a rig that drops
/// off is looked for again and the recording goes on with the gap; one that never returns, or a disk that fills,
/// ends the recording with what was written and says why.
/// </summary>
public sealed class RigHost : IAsyncDisposable
{
    private readonly ServiceOptions options;
    private readonly LiveHub hub;
    private readonly BenchCatalog catalog;
    private readonly SemaphoreSlim gate = new(1, 1);
    private volatile Connection? connection;
    private volatile string? lastError;
    private volatile RecordingInfo? lastRecording;
    // What the page changes while the service runs: the model's parameters, the emulated preparation, the sweep window.
    private volatile IReadOnlyDictionary<string, double> modelParameters;
    private volatile EmulatorOptions emulator;
    private volatile SweepWindow sweepWindow = SweepWindow.Default;
    // The practical step running its trials on the rig, if any: what would disturb them is refused meanwhile.
    private volatile string? practicalStep;

    /// <summary>Builds the host (nothing is connected until <see cref="ConnectAsync"/>).</summary>
    public RigHost(ServiceOptions options, LiveHub hub, BenchCatalog catalog)
    {
        this.options = options;
        this.hub = hub;
        this.catalog = catalog;
        modelParameters = options.ModelParameters;
        emulator = options.Emulator;
    }

    /// <summary>The comparison model's parameter overrides in use.</summary>
    public IReadOnlyDictionary<string, double> ModelParameters => modelParameters;

    /// <summary>The emulated rig's options in use (its preparation's parameters as last set).</summary>
    public EmulatorOptions Emulator => emulator;

    /// <summary>The triggered sweep's window; a change applies from the next pulse.</summary>
    public SweepWindow SweepWindow
    {
        get => sweepWindow;
        set
        {
            value.Check();
            sweepWindow = value;
        }
    }

    /// <summary>The connected rig's stimulus limits at the rate it runs.</summary>
    /// <exception cref="InvalidOperationException">No rig is connected.</exception>
    public StimulusLimitsView StimulusLimits
    {
        get
        {
            var s = RequireConnection().Rig.Session;
            if (s.Device.Outputs.Count == 0) throw new InvalidOperationException($"{s.Device.Board} has no stimulus output");
            return StimulusLimitsView.From(s.Device, s.PeriodTicks, s.NanoampsPerCode(0), s.Timing);
        }
    }

    /// <summary>
    /// Runs the comparison's model with <paramref name="overrides"/> (every other parameter at its default) from the
    /// next samples on: the membrane starts again from rest and the comparison's figures from nothing. Refused while
    /// recording (the file names one model).
    /// </summary>
    /// <exception cref="ArgumentException">An unknown parameter or a value out of range; the message names it and the range.</exception>
    /// <exception cref="InvalidOperationException">No model, or a recording is running.</exception>
    public async Task<ParameterSetView> SetModelParametersAsync(IReadOnlyDictionary<string, double> overrides, CancellationToken cancellationToken)
    {
        string model = options.Model ?? throw new InvalidOperationException("the service runs without a model (--model none): there are no model parameters to set");
        LiveParameters.Check(model, overrides);
        RefuseDuringPractical("changing the model's parameters");
        return await SetModelParametersCoreAsync(model, overrides, cancellationToken).ConfigureAwait(false);
    }

    private async Task<ParameterSetView> SetModelParametersCoreAsync(string model, IReadOnlyDictionary<string, double> overrides, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var c = connection;
            if (c?.Recording is { } running) throw new InvalidOperationException($"recording '{running.Info.Name}' is running with the model as it is: stop it before changing the model's parameters");
            modelParameters = new Dictionary<string, double>(overrides, StringComparer.Ordinal);
            string note = "applied from the next samples on";
            if (c is { Pipeline: { Model: { } track, LostReason: null } })
            {
                // Waited for, so that a stimulus played next drives the new model (samples come every few ms).
                try
                {
                    await track.ReplaceParametersAsync(modelParameters).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                    note = "applied: the model starts again from rest";
                }
                catch (TimeoutException)
                {
                    note = "set; the model takes it when samples come again (none came for 5 s)";
                }
            }
            else
            {
                note = "set; applied when a rig is connected";
            }

            return LiveParameters.View(model, modelParameters, note);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Gives the emulated rig's preparation <paramref name="overrides"/> (every other parameter at its default): the
    /// emulated rig is connected afresh with it (its session and the live view start again from sample 0), as a
    /// preparation bathed in a blocker would be. Refused while recording.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown parameter or a value out of range.</exception>
    /// <exception cref="InvalidOperationException">A recording is running, or the rig connected is not the emulated one.</exception>
    public async Task<ParameterSetView> SetEmulatorParametersAsync(IReadOnlyDictionary<string, double> overrides, CancellationToken cancellationToken)
    {
        LiveParameters.Check(emulator.Model, overrides);
        RefuseDuringPractical("changing the emulated preparation");
        return await SetEmulatorParametersCoreAsync(overrides, cancellationToken).ConfigureAwait(false);
    }

    private async Task<ParameterSetView> SetEmulatorParametersCoreAsync(IReadOnlyDictionary<string, double> overrides, CancellationToken cancellationToken)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var c = connection;
            if (c is not null && c.Rig.Address != EmulatedAddress)
            {
                throw new InvalidOperationException($"the rig connected is {c.Rig.Address}, a real preparation: the emulated preparation's parameters apply to the emulated rig only");
            }

            if (c?.Recording is { } running) throw new InvalidOperationException($"recording '{running.Info.Name}' is running: stop it before changing the emulated preparation");
            emulator = emulator with { Parameters = new Dictionary<string, double>(overrides, StringComparer.Ordinal) };
            string note = "set; applied when the emulated rig is connected";
            if (c is not null)
            {
                double rate = c.Rig.Session.SampleRateHz;
                await CloseAsync().ConfigureAwait(false);
                try
                {
                    connection = await OpenAsync(EmulatedAddress, rate, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    lastError = $"the emulated rig did not start again with its new parameters ({e.Message}): connect it again";
                    Publish();
                    throw;
                }

                connection.Pipeline.Start();
                lastError = null;
                Publish();
                note = "applied: the emulated rig was connected again with it (its time starts again from 0)";
            }

            return LiveParameters.View(emulator.Model, emulator.Parameters, note);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>The address of the embedded emulated rig.</summary>
    public const string EmulatedAddress = RigConnection.EmulatedAddress;

    /// <summary>The practical step running its trials on the rig now, or null.</summary>
    public string? PracticalStep => practicalStep;

    private void RefuseDuringPractical(string what)
    {
        if (practicalStep is { } step) throw new InvalidOperationException($"{step} is running its trials on the rig: wait for it to finish, or cancel it, before {what}");
    }

    /// <summary>
    /// Marks <paramref name="step"/> (e.g. "practical threshold, step search") as running its trials on the rig until the
    /// returned handle is disposed: meanwhile the page's own stimuli, recordings and changes to the rig are refused.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another step runs, or the page records.</exception>
    internal IDisposable BeginPracticalStep(string step)
    {
        if (connection?.Recording is { } running) throw new InvalidOperationException($"recording '{running.Info.Name}' is running: stop it first (a practical's step records its own trials)");
        if (Interlocked.CompareExchange(ref practicalStep, step, null) is { } other) throw new InvalidOperationException($"{other} is running: wait for it to finish, or cancel it");
        Publish();
        return new PracticalStepMark(this);
    }

    private sealed class PracticalStepMark(RigHost host) : IDisposable
    {
        public void Dispose()
        {
            host.practicalStep = null;
            host.Publish();
        }
    }

    /// <summary>The rig connected and acquiring now (null when none, or lost), for a practical's trials on its pipeline.</summary>
    internal Connection? LiveConnection => connection is { Pipeline.LostReason: null } c ? c : null;

    /// <summary>A practical's condition on the live model (the page shows it as the step runs).</summary>
    internal Task<ParameterSetView> SetModelParametersForPracticalAsync(IReadOnlyDictionary<string, double> overrides, CancellationToken cancellationToken) =>
        SetModelParametersCoreAsync(options.Model ?? throw new InvalidOperationException("the service runs without a model (--model none)"), overrides, cancellationToken);

    /// <summary>A practical's condition on the emulated preparation (the emulated rig is connected again with it).</summary>
    internal Task<ParameterSetView> SetEmulatorParametersForPracticalAsync(IReadOnlyDictionary<string, double> overrides, CancellationToken cancellationToken)
    {
        LiveParameters.Check(emulator.Model, overrides);
        return SetEmulatorParametersCoreAsync(overrides, cancellationToken);
    }

    /// <summary>The service's options (the model, the data directory).</summary>
    internal ServiceOptions Options => options;

    /// <summary>Where the rig's session notes what it recovers from.</summary>
    public Microsoft.Extensions.Logging.ILogger Logger { get; set; } = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <summary>The rig's state for the API and the page.</summary>
    public RigStatus Status
    {
        get
        {
            var c = connection;
            if (c is null) return new RigStatus("disconnected", null, null, null, 0, null, null, lastError) { LastRecording = lastRecording, Practical = practicalStep };
            var s = c.Rig.Session;
            string state = c.Pipeline.LostReason is not null ? "lost" : s.IsConnected ? "connected" : "reconnecting";
            return new RigStatus(state, c.Rig.Address, DeviceView.From(s.Device) with { Timing = s.Timing.StimulusHostTimed ? s.Timing.Description : null },
                CalibrationView.From(c.Rig.Calibration, c.Rig.CalibrationSource, s.Device.Outputs.Count > 0 ? s.NanoampsPerCode(0) : null),
                s.SampleRateHz, HealthView.From(s.Health, c), c.Recording?.Info, lastError) { LastRecording = lastRecording, Practical = practicalStep };
        }
    }

    /// <summary>The connected session, if any.</summary>
    internal IRigSession? Session => connection?.Rig.Session;

    /// <summary>
    /// Connects <paramref name="address"/> (<see cref="EmulatedAddress"/>, a serial path, <c>tcp://</c> or <c>usb:</c>) and
    /// starts acquiring at <paramref name="sampleRateHz"/>. The address is checked first (a typo is a 400 and changes
    /// nothing); a working rig is let go only once the new one has answered, and never while it records.
    /// </summary>
    /// <exception cref="ArgumentException">The address is not a rig address.</exception>
    /// <exception cref="InvalidOperationException">A recording is running.</exception>
    /// <exception cref="RigConnectionException">Nothing answers there; the message says why (the current rig, if any, goes on).</exception>
    public async Task<RigStatus> ConnectAsync(string address, double sampleRateHz, CancellationToken cancellationToken)
    {
        RigConnection.Validate(address);
        RefuseDuringPractical("connecting a rig");
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var current = connection;
            if (current?.Recording is { } running) throw new InvalidOperationException($"recording '{running.Info.Name}' is running: stop it before connecting another rig");
            // A port can be held by one connection only: the same address is closed first (it is the same rig anyway).
            if (current is not null && (current.Rig.Address == address || current.Pipeline.LostReason is not null)) await CloseAsync().ConfigureAwait(false);
            Connection fresh;
            try
            {
                fresh = await OpenAsync(address, sampleRateHz, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                lastError = connection is null ? e.Message : $"could not connect {address} ({e.Message}); still connected to {connection.Rig.Address}";
                Publish();
                throw;
            }

            var old = connection;
            connection = fresh;
            fresh.Pipeline.Start();
            lastError = null;
            if (old is not null) await old.CloseAsync().ConfigureAwait(false);
            Publish();
            return Status;
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<Connection> OpenAsync(string address, double sampleRateHz, CancellationToken cancellationToken)
    {
        var rig = await RigConnection.OpenAsync(address, new RigConnectOptions
        {
            SampleRateHz = sampleRateHz,
            Catalog = catalog,
            Emulator = emulator,
            ReconnectTimeout = options.ReconnectTimeout,
            Logger = Logger,
        }, cancellationToken).ConfigureAwait(false);
        try
        {
            await rig.Session.StartAsync(CancellationToken.None).ConfigureAwait(false);
            return new Connection(this, rig);
        }
        catch
        {
            await rig.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stops stimulation and acquisition and lets the rig go (an open recording is finished first).</summary>
    public async Task DisconnectAsync()
    {
        RefuseDuringPractical("disconnecting the rig");
        await gate.WaitAsync().ConfigureAwait(false);
        try
        {
            await CloseAsync().ConfigureAwait(false);
            Publish();
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
        RefuseDuringPractical("changing the sample rate");
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var c = RequireConnection();
            if (c.Recording is not null) throw new InvalidOperationException("a recording is running: stop it before changing the sample rate");
            var device = c.Rig.Session.Device;
            if (!(sampleRateHz >= 1) || sampleRateHz > device.MaxSampleRateHz) throw new ArgumentException($"{device.Board} samples at 1 to {device.MaxSampleRateHz} Hz, not {sampleRateHz}");
            string address = c.Rig.Address;
            double previous = c.Rig.Session.SampleRateHz;
            await CloseAsync().ConfigureAwait(false);
            try
            {
                connection = await OpenAsync(address, sampleRateHz, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ArgumentException or RigCommandRefusedException or TimeoutException)
            {
                // Refused at the new rate: back to the old one, so acquisition is not left stopped.
                connection = await OpenAsync(address, previous, CancellationToken.None).ConfigureAwait(false);
                connection.Pipeline.Start();
                throw;
            }

            connection.Pipeline.Start();
            Publish();
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
        RefuseDuringPractical("playing a protocol");
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var c = RequireConnection();
            return await c.Pipeline.PlayAsync(protocol, name, null, cancellationToken).ConfigureAwait(false);
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
        await c.Rig.Session.StopAllAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Starts recording into the data directory under <paramref name="name"/> (validated).</summary>
    public async Task<RecordingInfo> StartRecordingAsync(string name, CancellationToken cancellationToken)
    {
        RefuseDuringPractical("starting a recording (the step records its own trials)");
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var c = RequireConnection();
            if (c.Recording is { } running) throw new InvalidOperationException($"already recording '{running.Info.Name}': stop it first");
            var s = c.Rig.Session;
            var view = new RigSessionView(s.Device, c.Rig.Address, c.Rig.Calibration, c.Rig.CalibrationSource, s.SampleRateHz,
                s.Device.Outputs.Count > 0 ? s.NanoampsPerCode(0) : null, s.Timing.Description);
            var recording = ActiveRecording.Start(catalog, name, options.Model, modelParameters, emulator.PreparationAreaUm2, view);
            try
            {
                await c.Pipeline.AttachAsync(recording, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or OperationCanceledException)
            {
                recording.Abandon();
                if (e is OperationCanceledException) throw;
                throw new IOException($"the recording could not be started: {DiskError(e)}", e);
            }

            c.Recording = recording;
            lastRecording = null;
            Publish();
            return recording.Info;
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
            var c = connection;
            if (c?.Recording is null)
            {
                throw new InvalidOperationException(lastRecording is { } last
                    ? $"nothing is being recorded: '{last.Name}' already stopped ({last.Status})"
                    : "nothing is being recorded");
            }

            var recording = c.Recording;
            await c.Pipeline.DetachAsync().ConfigureAwait(false);
            c.Recording = null;
            if (c.Rig.Session.Clock is { IsFitted: true } clock)
            {
                recording.Clock = new JsonObject { ["drift_ppm"] = clock.DriftPpm, ["seconds_per_sample"] = clock.SecondsPerSample, ["nominal_rate_hz"] = c.Rig.Session.SampleRateHz };
            }

            var info = await Task.Run(() => Finish(recording)).ConfigureAwait(false);
            Publish();
            return info;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Finishes a detached recording; a failure (a full disk) is reported and the journal kept for <c>bench recover</c>.</summary>
    private RecordingInfo Finish(ActiveRecording recording)
    {
        try
        {
            var info = recording.Finish();
            lastRecording = info;
            return info;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string journal = recording.JournalPath;
            var info = recording.Info with { Status = "interrupted" };
            lastRecording = info;
            lastError = $"recording '{info.Name}' could not be written ({DiskError(e)}): its {info.Samples} samples are kept in {journal}; free space, then run bench recover {recording.NwbPath}";
            throw new RecordingFailedException(lastError, e);
        }
    }

    /// <summary>"disk full" for the errors a full disk gives, else the message.</summary>
    internal static string DiskError(Exception e) =>
        e is IOException && (e.HResult & 0xFFFF) == 28 /* ENOSPC */ || e.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase)
            ? "disk full"
            : e.Message;

    /// <summary>The comparison's latest figures, or null when there is no model to compare with.</summary>
    public ComparisonView? Comparison => connection?.LatestComparison;

    private Connection RequireConnection() => connection switch
    {
        null => throw new InvalidOperationException("no rig is connected: connect one first (POST /api/devices/connect)"),
        { Pipeline.LostReason: { } why } => throw new InvalidOperationException($"the rig's connection was lost ({why}): reconnect it"),
        var c => c,
    };

    private async Task CloseAsync()
    {
        var c = connection;
        if (c is null) return;
        connection = null;
        await c.CloseAsync().ConfigureAwait(false);
    }

    private void Publish() => hub.Publish("status", Status, remember: true);

    /// <summary>Disconnects.</summary>
    public async ValueTask DisposeAsync()
    {
        await DisconnectAsync().ConfigureAwait(false);
        gate.Dispose();
    }

    /// <summary>One connected rig, its pipeline, and what the page is shown of it.</summary>
    internal sealed class Connection : IPipelineObserver
    {
        private readonly RigHost host;
        private readonly TraceDecimator recordedTrace, modelTrace;
        private readonly SweepBuilder sweeps;
        private readonly Action<string> publishSweep;
        private readonly TimeProvider time = TimeProvider.System;
        private long lastTraceTicks, lastHealthTicks;
        private readonly List<(string Name, object Body, bool Remember)> outbox = [];

        public Connection(RigHost host, RigConnection rig)
        {
            this.host = host;
            Rig = rig;
            var session = rig.Session;
            // ~1 ms buckets: a thousand points a second per trace whatever the rate.
            int bucket = Math.Max(1, (int)Math.Round(session.SampleRateHz / 1000));
            recordedTrace = new TraceDecimator(bucket);
            modelTrace = new TraceDecimator(bucket);
            var model = host.options.Model is null ? null : new ModelTrack(host.options.Model, host.modelParameters, session.SampleRateHz,
                session.Device.Outputs.Count > 0 ? session.NanoampsPerCode(0) : 1, host.emulator.PreparationAreaUm2, rig.Calibration);
            sweeps = new SweepBuilder(session.SampleRateHz, model is not null);
            // Remembered: a page opened (or reloaded) after a pulse shows its sweep at once.
            publishSweep = json => host.hub.PublishJson("sweep", json, remember: true);
            Pipeline = new AcquisitionPipeline(rig, model, this);
            // Figures from the start (through 0 ms): a page or script asking right after connecting is told "nothing yet",
            // not "no model", before the pump's first half-second turn. Safe here: the pump has not started.
            LatestComparison = model?.Snapshot();
        }

        public RigConnection Rig { get; }

        public AcquisitionPipeline Pipeline { get; }

        /// <summary>The recording the pipeline writes (set and cleared under the host's gate, and by the pump when it fails).</summary>
        public volatile ActiveRecording? Recording;

        /// <summary>The comparison's figures as last published by the pump.</summary>
        public volatile ComparisonView? LatestComparison;

        public ulong SamplesReceived => Pipeline.SamplesReceived;

        /// <summary>A practical's bench, given every batch and event too (on the pump, so it must be quick).</summary>
        public volatile IPipelineObserver? Tap;

        public void OnBatch(SampleBatch batch)
        {
            Tap?.OnBatch(batch);
            var codes = batch.Codes;
            var calibration = Rig.Calibration;
            for (int i = 0; i < codes.Length; i++) recordedTrace.Add(batch.FirstSampleIndex + (ulong)i, calibration.ToMillivolts(codes[i]));
            sweeps.OnRecorded(batch.FirstSampleIndex, codes, calibration);
        }

        public void OnPredicted(ulong first, ReadOnlySpan<double> modelMv)
        {
            for (int i = 0; i < modelMv.Length; i++) modelTrace.Add(first + (ulong)i, modelMv[i]);
            sweeps.OnModel(first, modelMv);
        }

        public void OnEvent(RigEvent e, PlayedProtocol? played)
        {
            Tap?.OnEvent(e, played);
            double rate = Rig.Session.SampleRateHz;
            switch (e)
            {
                case GapEvent gap:
                    recordedTrace.Gap(gap.StartIndex, gap.Length);
                    modelTrace.Gap(gap.StartIndex, gap.Length);
                    outbox.Add(("gap", new { start_ms = gap.StartIndex * 1000.0 / rate, length_samples = gap.Length, cause = gap.Cause }, false));
                    break;
                case PulsePlayedEvent pulse when played is not null:
                    {
                        var t = played.Command.Trains[pulse.Pulse.Train];
                        double perCode = Rig.Session.NanoampsPerCode(played.Command.Output);
                        var journalPulse = JournalPulse.From(pulse.Pulse, pulse.SessionOnsetIndex, t, perCode);
                        var marker = new StimulusMarker(
                            pulse.SessionOnsetIndex * 1000.0 / rate, played.Name, pulse.Pulse.Train, pulse.Pulse.Pulse,
                            journalPulse.Phase1Nanoamps, t.Phase1Samples * 1000.0 / rate,
                            journalPulse.Phase2Nanoamps, t.Phase2Samples * 1000.0 / rate);
                        outbox.Add(("stimulus", marker, false));
                        sweeps.OnPulse(pulse.SessionOnsetIndex, host.sweepWindow, marker);
                        break;
                    }

                case DisconnectedEvent d:
                    host.lastError = $"the rig was lost ({d.Reason}); looking for it again for {host.options.ReconnectTimeout.TotalSeconds:0} s";
                    statusChanged = true;
                    break;
                case ReconnectedEvent r:
                    host.lastError = null;
                    statusChanged = true;
                    outbox.Add(("notice", new { message = $"the rig is back on {r.Port}; the recording goes on with the gap marked" }, false));
                    break;
                case GaveUpEvent g:
                    host.lastError = $"the rig was lost: {g.Reason}";
                    statusChanged = true;
                    if (Recording is { } recording)
                    {
                        // The recording ends here, with the loss stated; it is finished off the pump.
                        Recording = null;
                        recording.EndedEarly = $"the rig was lost at {g.LostAtHostSeconds:0.###} s of the session and {g.Reason}";
                        _ = Task.Run(() => FinishEarlyAsync(recording));
                    }

                    break;
                default:
                    break;
            }
        }

        private bool statusChanged;

        public void OnRecordingFailed(IRecordingTarget target, Exception error)
        {
            if (target is not ActiveRecording recording || !ReferenceEquals(Recording, recording)) return;
            Recording = null;
            recording.EndedEarly = "the recording could not be written: " + DiskError(error);
            host.lastError = $"recording '{recording.Info.Name}' stopped: {DiskError(error)}";
            statusChanged = true;
            _ = Task.Run(() => FinishEarlyAsync(recording));
        }

        /// <summary>A recording the pump let go (rig lost, disk full): written out with what it has, off the pump.</summary>
        private async Task FinishEarlyAsync(ActiveRecording recording)
        {
            // Detached first (between two turns): the pump never writes to a journal that is being finished.
            if (ReferenceEquals(Pipeline.Recording, recording)) await Pipeline.DetachAsync().ConfigureAwait(false);
            try
            {
                host.Finish(recording);
            }
            catch (RecordingFailedException)
            {
                // host.lastError says what happened and where the journal is.
            }

            host.Publish();
        }

        public void OnTurnEnd()
        {
            long now = time.GetTimestamp();
            if (time.GetElapsedTime(lastTraceTicks, now).TotalMilliseconds >= 50)
            {
                lastTraceTicks = now;
                double rate = Rig.Session.SampleRateHz;
                var recorded = recordedTrace.Drain(rate);
                if (recorded.TimeMs.Length > 0) outbox.Add(("trace", new { series = "recorded", recorded.BucketMs, recorded.TimeMs, recorded.MinMv, recorded.MaxMv }, false));
                var predicted = modelTrace.Drain(rate);
                if (predicted.TimeMs.Length > 0) outbox.Add(("trace", new { series = "model", predicted.BucketMs, predicted.TimeMs, predicted.MinMv, predicted.MaxMv }, false));
                if (Pipeline.Model is { } model) outbox.Add(("model", model.DrainObservables(), false));
            }

            if (time.GetElapsedTime(lastHealthTicks, now).TotalMilliseconds >= 500)
            {
                lastHealthTicks = now;
                outbox.Add(("health", HealthView.From(Rig.Session.Health, this), true));
                if (Pipeline.Model is { } model)
                {
                    var snapshot = model.Snapshot();
                    LatestComparison = snapshot;
                    outbox.Add(("metrics", snapshot, true));
                }
            }

            // Serialised and sent here, after the turn: a viewer never holds up the pump's turn.
            foreach (var (name, body, remember) in outbox) host.hub.Publish(name, body, remember);
            outbox.Clear();
            sweeps.Complete(publishSweep);
            if (statusChanged || Pipeline.Completion.IsCompleted)
            {
                statusChanged = false;
                if (Pipeline.LostReason is { } why && host.lastError is null) host.lastError = why;
                host.Publish();
            }
        }

        public async Task CloseAsync()
        {
            try
            {
                await Rig.Session.StopAllAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is TimeoutException or RigDisconnectedException or RigCommandRefusedException or ObjectDisposedException or InvalidOperationException or IOException)
            {
                // The rig is gone or refused: disposing the session below still stops what can be stopped.
            }

            // Stop, then let the pump take what was still queued (into the recording too), then finish the recording.
            await Pipeline.DisposeAsync().ConfigureAwait(false);
            var recording = Recording;
            Recording = null;
            if (recording is not null)
            {
                try
                {
                    host.Finish(recording);
                }
                catch (RecordingFailedException)
                {
                    // Reported through lastError; the journal stays for bench recover.
                }
            }
        }
    }
}
