using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace Bench.Rig.Emulation;

/// <summary>What <see cref="FirmwareEmulator"/> runs.</summary>
public sealed record FirmwareEmulatorOptions
{
    /// <summary>The firmware ELF (null: the reference firmware, built from hardware/firmware if needed).</summary>
    public string? FirmwareElf { get; init; }

    /// <summary>The preparation's model (<see cref="Bench.Core.Models.ModelCatalog"/>).</summary>
    public string Model { get; init; } = "hh";

    /// <summary>Model parameter overrides.</summary>
    public IReadOnlyDictionary<string, double> Parameters { get; init; } = new Dictionary<string, double>();

    /// <summary>Seed of the noise and of the board's power-up RAM, from which the firmware draws its unique id on a blank EEPROM.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Membrane-referred noise, standard deviation (mV).</summary>
    public double NoiseMv { get; init; } = 0.2;

    /// <summary>Where to log every change of the stimulus outputs (CSV <c>cycle,time_us,signal,value</c>), or null.</summary>
    public string? PinLogPath { get; init; }

    /// <summary>The EEPROM image to keep across runs (the unique id survives), or null for a blank EEPROM each run.</summary>
    public string? EepromPath { get; init; }

    /// <summary>Simulated time per real time: 1 paces to real time; 0 runs as fast as it can.</summary>
    public double Speed { get; init; } = 1;

    /// <summary>
    /// Null: the reference rig's stimulus path (D9 enables the Howland pump). A value (MΩ): the firmware is another Uno
    /// sketch (Firmata) whose digital pin D9 drives current into the preparation through this series resistor
    /// (<see cref="Bench.Rig.Firmata.FirmataWiring.SeriesResistorMohm"/> on the documented circuit).
    /// </summary>
    public double? SeriesResistorMohm { get; init; }

    /// <summary>Null: the model feeds the ADC. Otherwise the ADC pin's mV for conversion n: a known signal for tests.</summary>
    public Func<long, double>? Waveform { get; init; }

    /// <summary>Keep every conversion's cycle and code (<see cref="FirmwarePreparation.ConversionLog"/>), for tests.</summary>
    public bool LogConversions { get; init; }
}

/// <summary>
/// The reference rig's unmodified firmware running on a simulated ATmega328P (hardware/sim's bench-sim, on Debian's
/// simavr), its UART on a pseudo-terminal that Bench opens like a real Uno, and its analog side answered by a
/// <see cref="FirmwarePreparation"/> in this process. Builds the firmware and the harness with make when they are
/// missing or stale. Disposing stops the harness.
/// </summary>
public sealed partial class FirmwareEmulator : IAsyncDisposable
{
    private readonly Process harness;
    private readonly Socket listener;
    private readonly string socketDirectory;
    private readonly Thread server;
    private readonly CancellationTokenSource stopping = new();
    private readonly List<string> harnessErrors = [];
    private Exception? serverFault;

    private FirmwareEmulator(Process harness, Socket listener, string socketDirectory, Thread server, FirmwarePreparation preparation)
    {
        this.harness = harness;
        this.listener = listener;
        this.socketDirectory = socketDirectory;
        this.server = server;
        Preparation = preparation;
    }

    /// <summary>The pseudo-terminal the firmware's UART is on (<c>/dev/pts/N</c>).</summary>
    public string Port { get; private set; } = "";

    /// <summary>The preparation answering the ADC.</summary>
    public FirmwarePreparation Preparation { get; }

    /// <summary>Whether the harness is still running.</summary>
    public bool IsRunning => !harness.HasExited;

    /// <summary>The harness's exit status once it has stopped.</summary>
    public int? ExitCode => harness.HasExited ? harness.ExitCode : null;

    /// <summary>Lines the harness wrote on stderr (its start message, warnings and its exit summary).</summary>
    public IReadOnlyList<string> HarnessMessages
    {
        get
        {
            lock (harnessErrors) return [.. harnessErrors];
        }
    }

    /// <summary>Raised for every line the harness writes on stderr.</summary>
    public event Action<string>? HarnessMessage;

    /// <summary>Builds what is needed, starts the harness on the firmware and waits for its pseudo-terminal.</summary>
    /// <exception cref="FirmwareEmulatorException">The tools, the firmware or the harness are missing or failed; the message says what to do.</exception>
    public static async Task<FirmwareEmulator> StartAsync(FirmwareEmulatorOptions options, CancellationToken cancellationToken = default)
    {
        var preparation = new FirmwarePreparation(options.Model, options.Parameters, options.Seed, options.NoiseMv, seriesResistorMohm: options.SeriesResistorMohm,
            waveform: options.Waveform, logConversions: options.LogConversions);
        var (sim, elf) = FirmwareBuild.Ensure(options.FirmwareElf);
        string directory = Directory.CreateTempSubdirectory("bench-sim-").FullName;
        string socketPath = Path.Combine(directory, "analog.sock");
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.Listen(1);

        var args = new List<string> { elf, "--analog-socket", socketPath, "--seed", options.Seed.ToString(CultureInfo.InvariantCulture) };
        if (options.PinLogPath is not null) args.AddRange(["--pin-log", Path.GetFullPath(options.PinLogPath)]);
        if (options.EepromPath is not null) args.AddRange(["--eeprom", Path.GetFullPath(options.EepromPath)]);
        args.AddRange(["--speed", options.Speed.ToString("R", CultureInfo.InvariantCulture)]);
        var info = new ProcessStartInfo(sim, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        Process harness;
        try
        {
            harness = Process.Start(info) ?? throw new FirmwareEmulatorException($"could not start {sim}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            listener.Dispose();
            throw new FirmwareEmulatorException($"could not start {sim}: {e.Message}");
        }

        FirmwareEmulator? emulator = null;
        var server = new Thread(() => emulator!.ServeConnection()) { IsBackground = true, Name = "bench-sim analog side", Priority = ThreadPriority.AboveNormal };
        emulator = new FirmwareEmulator(harness, listener, directory, server, preparation);
        harness.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (emulator.harnessErrors) emulator.harnessErrors.Add(e.Data);
            emulator.HarnessMessage?.Invoke(e.Data);
        };
        harness.BeginErrorReadLine();
        server.Start();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            string? first = await harness.StandardOutput.ReadLineAsync(timeout.Token).ConfigureAwait(false);
            if (first is null)
            {
                await harness.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                throw new FirmwareEmulatorException($"bench-sim stopped before it opened its port (exit {harness.ExitCode}): {string.Join(" / ", emulator.HarnessMessages)}");
            }

            using var doc = System.Text.Json.JsonDocument.Parse(first);
            emulator.Port = doc.RootElement.GetProperty("port").GetString() ?? throw new FirmwareEmulatorException("bench-sim announced no port: " + first);
            return emulator;
        }
        catch (Exception e) when (e is OperationCanceledException or System.Text.Json.JsonException or KeyNotFoundException)
        {
            await emulator.DisposeAsync().ConfigureAwait(false);
            throw new FirmwareEmulatorException($"bench-sim did not announce its port: {e.Message} {string.Join(" / ", emulator.HarnessMessages)}");
        }
        catch
        {
            await emulator.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Waits until the harness stops (it runs until stopped, or until the preparation fails).</summary>
    public async Task<int> WaitForExitAsync(CancellationToken cancellationToken)
    {
        await harness.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (serverFault is not null) throw new FirmwareEmulatorException("the preparation failed: " + serverFault.Message);
        return harness.ExitCode;
    }

    private void ServeConnection()
    {
        try
        {
            using var connection = listener.Accept();
            listener.Dispose();
            Preparation.Serve(connection, stopping.Token);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // On its own thread: an exception here would end the process. The harness stops when the socket closes;
            // WaitForExitAsync reports why.
            if (!stopping.IsCancellationRequested) serverFault = e;
        }
    }

    /// <summary>Stops the harness (SIGTERM, so it writes its pin log and summary; killed after 5 s).</summary>
    public async ValueTask DisposeAsync()
    {
        if (!harness.HasExited)
        {
            // SIGTERM lets bench-sim flush its pin log and save the EEPROM; Process.Kill would lose both.
            _ = Kill(harness.Id, 15);
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await harness.WaitForExitAsync(grace.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                harness.Kill();
                await harness.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }

        await stopping.CancelAsync().ConfigureAwait(false);
        listener.Dispose();
        server.Join(TimeSpan.FromSeconds(5));
        harness.Dispose();
        stopping.Dispose();
        try
        {
            Directory.Delete(socketDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover empty temporary folder is harmless.
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}

/// <summary>The firmware emulator could not be built or started; the message says what to install or fix.</summary>
public sealed class FirmwareEmulatorException(string message) : Exception(message);

/// <summary>Finds the hardware folder and builds the firmware and the harness with make when needed.</summary>
public static class FirmwareBuild
{
    /// <summary>The Debian packages the firmware and the harness need.</summary>
    public const string Packages = "gcc-avr avr-libc binutils-avr simavr libsimavr-dev libelf-dev pkg-config make";

    private static readonly string[] HarnessTools = ["make", "cc", "pkg-config"];
    private static readonly string[] FirmwareTools = [.. HarnessTools, "avr-gcc"];

    /// <summary>
    /// The repository's <c>hardware/</c> folder: <c>$BENCH_HARDWARE_DIR</c>, else the first <c>hardware/</c> with the
    /// harness's Makefile above the working directory or above this program.
    /// </summary>
    public static string? FindHardwareDirectory()
    {
        string? fromEnvironment = Environment.GetEnvironmentVariable("BENCH_HARDWARE_DIR");
        if (!string.IsNullOrEmpty(fromEnvironment)) return Directory.Exists(fromEnvironment) ? Path.GetFullPath(fromEnvironment) : null;
        foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
            {
                string candidate = Path.Combine(d.FullName, "hardware");
                if (File.Exists(Path.Combine(candidate, "sim", "Makefile")) && File.Exists(Path.Combine(candidate, "firmware", "Makefile"))) return candidate;
            }
        }

        return null;
    }

    /// <summary>
    /// Runs make for the harness (and for the reference firmware unless <paramref name="firmwareElf"/> names another
    /// ELF), which rebuilds only what is stale, and returns the harness and the ELF to run.
    /// </summary>
    public static (string Harness, string Elf) Ensure(string? firmwareElf)
    {
        if (firmwareElf is not null && !File.Exists(firmwareElf)) throw new FirmwareEmulatorException($"firmware {firmwareElf} does not exist: give the ELF built by make in hardware/firmware (build/bench_rig.elf) or an Arduino IDE build");
        string hardware = FindHardwareDirectory()
            ?? throw new FirmwareEmulatorException("cannot find Bench's hardware/ folder (hardware/sim and hardware/firmware): run from the repository, or set BENCH_HARDWARE_DIR");
        foreach (string tool in firmwareElf is null ? FirmwareTools : HarnessTools)
        {
            if (!OnPath(tool)) throw new FirmwareEmulatorException($"'{tool}' is not installed: install {Packages} (sudo apt-get install {Packages}; bash hardware/run-tests.sh does it)");
        }

        Make(Path.Combine(hardware, "sim"));
        if (firmwareElf is null) Make(Path.Combine(hardware, "firmware"));
        return (Path.Combine(hardware, "sim", "build", "bench-sim"), Path.GetFullPath(firmwareElf ?? Path.Combine(hardware, "firmware", "build", "bench_rig.elf")));
    }

    private static void Make(string directory)
    {
        var info = new ProcessStartInfo("make", ["-C", directory, "--no-print-directory", "-s"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var make = Process.Start(info)!;
        var stderr = make.StandardError.ReadToEndAsync();
        make.StandardOutput.ReadToEnd();   // avr-size's table: not for the user's stdout, which carries only JSON
        make.WaitForExit();
        if (make.ExitCode != 0)
        {
            throw new FirmwareEmulatorException($"make in {directory} failed (are {Packages} installed?): {stderr.Result.Trim()}");
        }
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Any(d => File.Exists(Path.Combine(d, tool)));
}
