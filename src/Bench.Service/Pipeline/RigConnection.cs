using Bench.Core.Instrument;
using Bench.Rig.Emulation;
using Bench.Rig.Firmata;
using Bench.Rig.Session;
using Bench.Rig.Transports;
using Bench.Storage.Catalog;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bench.Service.Pipeline;

/// <summary>How to connect a rig: the same for the service, <c>bench record</c> and <c>bench calibrate</c>.</summary>
public sealed record RigConnectOptions
{
    /// <summary>The sample rate to configure (Hz); null: leave the rig unconfigured.</summary>
    public double? SampleRateHz { get; init; } = 20_000;

    /// <summary>Serial baud rate (ignored by other links).</summary>
    public int Baud { get; init; } = SerialTransport.DefaultBaud;

    /// <summary>Where the rig's stored calibration is looked up (null: the front end's nominal one).</summary>
    public BenchCatalog? Catalog { get; init; }

    /// <summary>The embedded emulated rig, for the address <see cref="RigConnection.EmulatedAddress"/>.</summary>
    public EmulatorOptions Emulator { get; init; } = new();

    /// <summary>Look for the same rig again after a disconnect (same address; a serial rig also on any other port), this long.</summary>
    public TimeSpan ReconnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Clock and timers of the session and the embedded rig.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Where the session notes what it recovers from.</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;

    /// <summary>Wraps each transport opened to the rig, the first and every reconnect's (a raw capture of the bytes); null: none.</summary>
    public Func<IRigTransport, IRigTransport>? Wrap { get; init; }
}

/// <summary>
/// A connected rig: its session (handshake done, rate configured, stored calibration applied), where it is, and
/// what this connection created to reach it (the embedded emulated rig). Disposal stops stimulation, then acquisition,
/// then closes everything it created.
/// </summary>
public sealed class RigConnection : IAsyncDisposable
{
    /// <summary>The address of the embedded emulated rig.</summary>
    public const string EmulatedAddress = "emulated";

    private readonly EmbeddedRig? embedded;

    /// <summary>The embedded emulated rig, when the address is <see cref="EmulatedAddress"/> (e.g. to switch its input to its reference source); else null.</summary>
    public EmulatedRig? Emulated => embedded?.Rig;

    private RigConnection(string address, IRigSession session, Calibration calibration, string calibrationSource, EmbeddedRig? embedded)
    {
        Address = address;
        Session = session;
        Calibration = calibration;
        CalibrationSource = calibrationSource;
        this.embedded = embedded;
    }

    /// <summary>What the user gave.</summary>
    public string Address { get; }

    /// <summary>The session: a Bench rig's, or a Firmata board's (<c>firmata:</c> addresses).</summary>
    public IRigSession Session { get; }

    /// <summary>ADC counts → membrane mV in use.</summary>
    public Calibration Calibration { get; }

    /// <summary>Where <see cref="Calibration"/> came from.</summary>
    public string CalibrationSource { get; }

    /// <summary>
    /// Checks what a user typed before anything is opened: <see cref="EmulatedAddress"/>, a device path under /dev,
    /// <c>tcp://host:port</c> or <c>usb:VID:PID[:serial]</c>.
    /// </summary>
    /// <exception cref="ArgumentException">It is none of these; the message shows the forms.</exception>
    public static void Validate(string address)
    {
        if (address == EmulatedAddress) return;
        if (RigAddress.Check(address) is { } problem) throw new ArgumentException(problem);
    }

    /// <summary>Opens, handshakes, configures and applies the stored calibration; on any failure nothing is left open.</summary>
    /// <exception cref="ArgumentException">The address is not valid, or the rate is beyond the rig.</exception>
    /// <exception cref="RigConnectionException">Nothing answers there, or the link failed; the message says why.</exception>
    public static async Task<RigConnection> OpenAsync(string address, RigConnectOptions options, CancellationToken cancellationToken)
    {
        Validate(address);
        if (FirmataAddress.IsFirmata(address)) return await OpenFirmataAsync(address, options, cancellationToken).ConfigureAwait(false);
        EmbeddedRig? embedded = address == EmulatedAddress ? new EmbeddedRig(options.Emulator, options.TimeProvider) : null;
        RigSession? session = null;
        try
        {
            IRigTransport transport = embedded is not null ? embedded.Open()! : await RigAddress.OpenAsync(address, options.Baud, cancellationToken).ConfigureAwait(false);
            var wrap = options.Wrap ?? (t => t);
            transport = wrap(transport);
            var sessionOptions = new RigSessionOptions
            {
                TimeProvider = options.TimeProvider,
                Logger = options.Logger,
                ReconnectTimeout = options.ReconnectTimeout,
                Reconnect = async ct => (embedded is not null ? embedded.Open() : await ReopenAsync(address, options.Baud, ct).ConfigureAwait(false)) is { } t ? wrap(t) : null,
            };
            try
            {
                session = await RigSession.ConnectAsync(transport, sessionOptions, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await transport.DisposeAsync().ConfigureAwait(false);
                throw;
            }

            if (options.SampleRateHz is { } rate)
            {
                if (!(rate >= 1) || rate > session.Device.MaxSampleRateHz)
                {
                    throw new ArgumentException($"{session.Device.Board} samples at 1 to {session.Device.MaxSampleRateHz} Hz, not {rate}");
                }

                // Past the handshake the caller's cancellation no longer applies: a half-configured rig helps nobody.
                await session.ConfigureAsync(rate, CancellationToken.None).ConfigureAwait(false);
            }

            options.Catalog?.UpsertRig(session.Device, address);
            // The rig's stored calibration, applied automatically on connect (else its front end's nominal one).
            var (calibration, source, nanoampsPerCode) = RigCalibrations.For(options.Catalog, session.Device);
            if (nanoampsPerCode is { } step && session.Device.Outputs.Count > 0) session.UseOutputCalibration(0, step);
            return new RigConnection(address, session, calibration, source, embedded);
        }
        catch
        {
            if (session is not null) await session.DisposeAsync().ConfigureAwait(false);
            if (embedded is not null) await embedded.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A stock Arduino running Firmata: the same steps, with the board's own limits (no reconnect: it has no identity to find again).</summary>
    private static async Task<RigConnection> OpenFirmataAsync(string address, RigConnectOptions options, CancellationToken cancellationToken)
    {
        if (!FirmataAddress.TryParse(address, out var parsed, out string? error)) throw new ArgumentException(error);
        var session = await FirmataSession.ConnectAsync(parsed, new FirmataSessionOptions { Logger = options.Logger }, cancellationToken).ConfigureAwait(false);
        try
        {
            if (options.SampleRateHz is { } rate) await session.ConfigureAsync(rate, CancellationToken.None).ConfigureAwait(false);
            options.Catalog?.UpsertRig(session.Device, address);
            var (calibration, source, nanoampsPerCode) = RigCalibrations.For(options.Catalog, session.Device);
            if (nanoampsPerCode is { } step) session.UseOutputCalibration(0, step);
            return new RigConnection(address, session, calibration, source, null);
        }
        catch
        {
            await session.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<IRigTransport?> ReopenAsync(string address, int baud, CancellationToken cancellationToken)
    {
        // The same address first: a TCP rig or a USB rig by serial number comes back there. A serial board may come
        // back on another port (ttyACM0 → ttyACM1 after a replug): the reconnect policy keeps only the same unique id.
        try
        {
            return await RigAddress.OpenAsync(address, baud, cancellationToken).ConfigureAwait(false);
        }
        catch (RigConnectionException) when (address.StartsWith("/dev/tty", StringComparison.Ordinal))
        {
            foreach (var port in Directory.GetFiles("/dev", "ttyACM*").Concat(Directory.GetFiles("/dev", "ttyUSB*")).Order(StringComparer.Ordinal))
            {
                try
                {
                    return SerialTransport.Open(port, baud);
                }
                catch (RigConnectionException)
                {
                    // Busy (another program's board) or gone: try the next.
                }
            }

            return null;
        }
    }

    /// <summary>Stops stimulation and acquisition and lets the rig go.</summary>
    public async ValueTask DisposeAsync()
    {
        await Session.DisposeAsync().ConfigureAwait(false);
        if (embedded is not null) await embedded.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// The emulated rig inside this process, on an in-memory link. Its disconnect fault pulls the cable: the rig is
    /// away for the fault's time, then answers again on a new link (the session's reconnect finds it).
    /// </summary>
    private sealed class EmbeddedRig : IAsyncDisposable
    {
        private readonly EmulatedRig rig;
        private readonly TimeProvider time;
        private readonly CancellationTokenSource stop = new();
        private Task running = Task.CompletedTask;
        private long awayUntil;
        private int disposed;

        public EmbeddedRig(EmulatorOptions options, TimeProvider time)
        {
            rig = new EmulatedRig(options, time);
            this.time = time;
        }

        /// <summary>The rig itself.</summary>
        public EmulatedRig Rig => rig;

        /// <summary>A new link to the rig, or null while it is away (after a disconnect fault).</summary>
        public InMemoryTransport? Open()
        {
            if (stop.IsCancellationRequested || !running.IsCompleted || time.GetTimestamp() < Interlocked.Read(ref awayUntil)) return null;
            var (host, device) = InMemoryTransport.CreatePair(EmulatedAddress);
            running = Task.Run(async () =>
            {
                await rig.RunAsync(device, stop.Token).ConfigureAwait(false);
                if (rig.EndReason == "disconnect")
                {
                    // The cable is pulled: the host's reads fail; the rig is back after the fault's time.
                    Interlocked.Exchange(ref awayUntil, time.GetTimestamp() + (long)(rig.Options.Faults.DisconnectSeconds * time.TimestampFrequency));
                    rig.ClearDisconnectFault();
                    device.Disconnect();
                }
            }, CancellationToken.None);
            return host;
        }

        public async ValueTask DisposeAsync()
        {
            // Idempotent: a command may let its connection go early and again at the end of its scope.
            if (Interlocked.Exchange(ref disposed, 1) != 0) return;
            await stop.CancelAsync().ConfigureAwait(false);
            await running.ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
            stop.Dispose();
        }
    }
}
