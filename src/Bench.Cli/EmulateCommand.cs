using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Bench.Core.Models;
using Bench.Rig.Emulation;
using Bench.Rig.Transports;

namespace Bench.Cli;

/// <summary>
/// <c>bench emulate</c>: the emulated rig as its own process, on a pseudo-terminal (opened like a real board's serial
/// port) or a TCP port. Its first stdout line is JSON naming where to connect; it runs until stopped.
/// </summary>
internal static class EmulateCommand
{
    public static Command Create(TextWriter output)
    {
        var pty = new Option<bool>("--pty") { Description = "serve on a pseudo-terminal (/dev/pts/N), opened exactly like a board's serial port (the default)" };
        var tcp = new Option<string?>("--tcp") { Description = "serve on TCP instead, e.g. 127.0.0.1:7000 (port 0: any free port)" };
        var model = new Option<string>("--model") { Description = "the preparation's model (see bench simulate --list-models)", DefaultValueFactory = _ => "hh" };
        var rate = new Option<int>("--rate") { Description = "the rig's maximum sample rate (Hz); the host chooses the rate up to it", DefaultValueFactory = _ => 1_000_000 };
        var seed = new Option<int>("--seed") { Description = "seed of the noise and of the fault dice; also the rig's unique id", DefaultValueFactory = _ => 1 };
        var param = new Option<string[]>("--param") { Description = "mismatch a model parameter, name=value (repeatable), for calibration and fitting to find" };
        var faults = new Option<string?>("--faults") { Description = "inject faults: drop=P,corrupt=P,stall_at=S,stall=S,disconnect_at=S,disconnect=S,drift_ppm=X (times in s of acquisition)" };
        var speed = new Option<double>("--speed") { Description = "device time per real time (1 = real time)", DefaultValueFactory = _ => 1 };
        var baud = new Option<int>("--baud") { Description = "the link's baud rate: at most baud/10 bytes/s, so a slow link overruns as on a board (0: unlimited)", DefaultValueFactory = _ => 1_000_000 };
        var buffer = new Option<int>("--buffer-samples") { Description = "samples the rig can hold while its link is busy (an overrun loses the rest; 4096 to study overruns)", DefaultValueFactory = _ => EmulatorOptions.DefaultBufferCapacitySamples };
        var noise = new Option<double>("--noise") { Description = "membrane-referred noise, standard deviation (mV)", DefaultValueFactory = _ => 0.2 };
        var firmware = new Option<string?>("--firmware")
        {
            Description = "run the reference rig's real firmware on a simulated ATmega328P (simavr) instead; optionally the ELF to run (default: hardware/firmware, built if needed)",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var pinLog = new Option<string?>("--pin-log") { Description = "with --firmware: log every change of the stimulus outputs to this CSV (cycle,time_us,signal,value)" };
        var eeprom = new Option<string?>("--eeprom") { Description = "with --firmware: keep the board's EEPROM (its unique id) in this file across runs" };
        var stimulus = new Option<string?>("--stimulus")
        {
            Description = "with --firmware: how the board's outputs reach the preparation: 'howland' (the reference rig: D9 enables the MCP4822's Howland pump; the default without an ELF) or 'resistor' (any other Uno sketch, e.g. Firmata: D9 through the series resistor, hardware/README.md; the default with an ELF)",
        };
        stimulus.AcceptOnlyFromAmong("howland", "resistor");
        var resistor = new Option<double>("--series-resistor-mohm") { Description = "with --stimulus resistor: the resistor between D9 and the preparation (MΩ)", DefaultValueFactory = _ => Bench.Rig.Firmata.FirmataWiring.SeriesResistorMohm };
        var command = new Command("emulate", "Run the emulated rig (a model preparation behind the wire protocol) until stopped")
        {
            pty, tcp, model, rate, seed, param, faults, speed, baud, noise, buffer, firmware, pinLog, eeprom, stimulus, resistor,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var overrides = ModelCatalog.ParseAssignments(parse.GetValue(param) ?? []);

            double s = parse.GetValue(speed);
            if (parse.GetResult(firmware) is not null)
            {
                foreach (Option other in new Option[] { tcp, rate, faults, baud, buffer })
                {
                    if (parse.GetResult(other) is { Implicit: false }) throw new UserErrorException($"emulate: {other.Name} is for the emulated rig, not with --firmware (the firmware has its own rate limit, link and buffer)");
                }

                if (s is < 0 or > 1000 || !double.IsFinite(s)) throw new UserErrorException("emulate: --speed must be 0 (as fast as possible) to 1000 with --firmware");
                string? elf = parse.GetValue(firmware);
                bool throughResistor = (parse.GetValue(stimulus) ?? (elf is null ? "howland" : "resistor")) == "resistor";
                double ohms = parse.GetValue(resistor);
                if (!(ohms > 0) || !double.IsFinite(ohms)) throw new UserErrorException("emulate: --series-resistor-mohm must be above 0");
                if (!throughResistor && parse.GetResult(resistor) is { Implicit: false }) throw new UserErrorException("emulate: --series-resistor-mohm is for --stimulus resistor");
                await RunFirmwareAsync(new FirmwareEmulatorOptions
                {
                    FirmwareElf = elf,
                    SeriesResistorMohm = throughResistor ? ohms : null,
                    Model = parse.GetValue(model)!,
                    Parameters = overrides,
                    Seed = parse.GetValue(seed),
                    NoiseMv = parse.GetValue(noise),
                    PinLogPath = parse.GetValue(pinLog),
                    EepromPath = parse.GetValue(eeprom),
                    Speed = s,
                }, output, cancellationToken);
                return 0;
            }

            foreach (Option firmwareOnly in new Option[] { pinLog, eeprom, stimulus, resistor })
            {
                if (parse.GetResult(firmwareOnly) is { Implicit: false }) throw new UserErrorException($"emulate: {firmwareOnly.Name} needs --firmware");
            }

            if (!(s > 0) || s > 1000) throw new UserErrorException("emulate: --speed must be above 0 and at most 1000");
            if (parse.GetValue(rate) is < 1 or > 10_000_000) throw new UserErrorException("emulate: --rate must be 1 to 10000000 Hz");
            if (parse.GetValue(baud) < 0) throw new UserErrorException("emulate: --baud must not be negative (0: unlimited)");
            if (parse.GetValue(buffer) is < 16 or > 16_777_216) throw new UserErrorException("emulate: --buffer-samples must be 16 to 16777216");
            var options = new EmulatorOptions
            {
                Model = parse.GetValue(model)!,
                Parameters = overrides,
                Seed = parse.GetValue(seed),
                Speed = s,
                Baud = parse.GetValue(baud),
                NoiseMv = parse.GetValue(noise),
                BufferCapacitySamples = parse.GetValue(buffer),
                MaxSampleRateHz = (uint)parse.GetValue(rate),
                Faults = FaultOptions.Parse(parse.GetValue(faults)),
            };
            var rig = new EmulatedRig(options);
            string? tcpAddress = parse.GetValue(tcp);
            if (tcpAddress is not null && parse.GetValue(pty)) throw new UserErrorException("emulate: choose --pty or --tcp, not both");
            if (tcpAddress is not null) await ServeTcpAsync(rig, tcpAddress, output, cancellationToken);
            else await ServePtyAsync(rig, output, cancellationToken);
            return 0;
        });
        return command;
    }

    private static void Announce(TextWriter output, string port, string? what = null)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("port", port);
            if (what is not null) w.WriteString("event", what);
            w.WriteEndObject();
        }

        output.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
        output.Flush();
    }

    private static async Task RunFirmwareAsync(FirmwareEmulatorOptions options, TextWriter output, CancellationToken cancellationToken)
    {
        Bench.Core.Models.ModelCatalog.Get(options.Model).Resolve(options.Parameters);   // a bad --model or --param fails before anything is built
        FirmwareEmulator emulator;
        try
        {
            emulator = await FirmwareEmulator.StartAsync(options, cancellationToken);
        }
        catch (FirmwareEmulatorException e)
        {
            throw new UserErrorException("emulate --firmware: " + e.Message);
        }

        await using (emulator)
        {
            foreach (string line in emulator.HarnessMessages) Console.Error.WriteLine(line);
            emulator.HarnessMessage += line => Console.Error.WriteLine(line);
            Announce(output, emulator.Port);
            int exit;
            try
            {
                exit = await emulator.WaitForExitAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;   // stopped by the user: disposing stops the harness, which flushes the pin log
            }
            catch (FirmwareEmulatorException e)
            {
                throw new UserErrorException("emulate --firmware: " + e.Message);
            }

            if (exit != 0) throw new UserErrorException($"emulate --firmware: the harness stopped with status {exit}: {string.Join(" / ", emulator.HarnessMessages.TakeLast(3))}");
        }
    }

    private static async Task ServePtyAsync(EmulatedRig rig, TextWriter output, CancellationToken cancellationToken)
    {
        string? announced = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            using var terminal = PseudoTerminal.Open();
            Announce(output, terminal.SlavePath, announced is null ? null : "reappeared");
            announced = terminal.SlavePath;
            var device = terminal.OpenMaster(terminal.SlavePath);
            try
            {
                await rig.RunAsync(device, cancellationToken);
            }
            finally
            {
                await device.DisposeAsync();   // before the terminal, which owns the descriptor
            }

            if (rig.EndReason != "disconnect") continue;   // the host went away: serve the same rig on a fresh line
            Announce(output, terminal.SlavePath, "disconnected");
            terminal.Dispose();   // hang up: the host's reads fail as on a pulled cable
            await Task.Delay(TimeSpan.FromSeconds(rig.Options.Faults.DisconnectSeconds), cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
            rig.ClearDisconnectFault();
        }
    }

    private static async Task ServeTcpAsync(EmulatedRig rig, string address, TextWriter output, CancellationToken cancellationToken)
    {
        int colon = address.LastIndexOf(':');
        if (colon <= 0 || !IPAddress.TryParse(address[..colon], out var ip) || !int.TryParse(address.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535)
        {
            throw new UserErrorException($"emulate: --tcp takes address:port, e.g. 127.0.0.1:7000 (got '{address}')");
        }

        var listener = new TcpListener(ip, port);
        try
        {
            listener.Start();
        }
        catch (SocketException e)
        {
            throw new UserErrorException($"emulate: cannot listen on {address}: {e.Message}");
        }

        try
        {
            var endpoint = (IPEndPoint)listener.LocalEndpoint;
            Announce(output, $"tcp://{endpoint.Address}:{endpoint.Port}");
            while (!cancellationToken.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await listener.AcceptTcpClientAsync(cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                client.NoDelay = true;
                await using var device = new StreamTransport(client.GetStream(), $"tcp://{endpoint}", ownsStream: true);
                await rig.RunAsync(device, cancellationToken);
                client.Dispose();
                if (rig.EndReason == "disconnect")
                {
                    await Task.Delay(TimeSpan.FromSeconds(rig.Options.Faults.DisconnectSeconds), cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
                    rig.ClearDisconnectFault();
                }
            }
        }
        finally
        {
            listener.Stop();
        }
    }
}
