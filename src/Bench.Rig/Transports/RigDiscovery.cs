using System.Globalization;
using System.Text.Json.Nodes;
using Bench.Core.Protocol;
using Bench.Rig.Firmata;
using Bench.Rig.Session;
using Bench.Rig.Usb;

namespace Bench.Rig.Transports;

/// <summary>
/// Finds rigs: the serial ports a board can appear on (ttyACM, ttyUSB, with their USB identity from sysfs), USB rigs
/// with Bench's VID/PID, and any extra address given, each probed with Hello. A busy or silent port is reported,
/// never waited on.
/// </summary>
public static class RigDiscovery
{
    /// <summary>Bench's USB VID/PID (PROTOCOL.md §10; the pid.codes test PID until one is registered).</summary>
    public const ushort BenchVid = 0x1209, BenchPid = 0x0001;

    /// <summary>
    /// Every candidate as JSON (<c>port</c>, <c>status</c>: <c>rig</c> or why not, and for a rig <c>board</c>,
    /// <c>firmware</c>, <c>protocol</c>, <c>unique_id</c>; <c>vid</c>, <c>pid</c>, <c>serial</c>, <c>product</c> when
    /// known), and why USB was not searched, if it was not.
    /// </summary>
    /// <param name="extraPorts">More addresses to probe.</param>
    /// <param name="timeout">How long to wait for each answer.</param>
    /// <param name="cancellationToken">Ends the search.</param>
    /// <param name="inUse">Addresses this program is connected to: listed as <c>connected</c>, never probed (a probe
    /// would take bytes from the live session).</param>
    public static async Task<(List<JsonObject> Candidates, string? UsbUnavailableReason)> ListAsync(IEnumerable<string> extraPorts, TimeSpan timeout, CancellationToken cancellationToken,
        IReadOnlyCollection<string>? inUse = null)
    {
        var candidates = SerialCandidates();
        foreach (var port in extraPorts) candidates.Add(new JsonObject { ["port"] = port });
        var usb = UsbEnumerator.List(BenchVid, BenchPid);
        foreach (var d in usb)
        {
            candidates.Add(new JsonObject
            {
                ["port"] = d.Serial is null ? $"usb:{d.Vid:x4}:{d.Pid:x4}" : $"usb:{d.Vid:x4}:{d.Pid:x4}:{d.Serial}",
                ["vid"] = d.Vid.ToString("x4", CultureInfo.InvariantCulture), ["pid"] = d.Pid.ToString("x4", CultureInfo.InvariantCulture),
                ["serial"] = d.Serial, ["product"] = d.Product,
            });
        }

        foreach (var c in candidates.Where(c => inUse?.Contains(c["port"]!.GetValue<string>()) == true)) c["status"] = "connected";
        await Task.WhenAll(candidates.Where(c => c["status"] is null).Select(c => ProbeAsync(c, timeout, cancellationToken))).ConfigureAwait(false);
        return (candidates, usb.UnavailableReason);
    }

    /// <summary>Serial ports a rig can appear on, with what sysfs says of their USB device.</summary>
    private static List<JsonObject> SerialCandidates()
    {
        var list = new List<JsonObject>();
        foreach (var pattern in new[] { "ttyACM*", "ttyUSB*" })
        {
            foreach (var path in Directory.GetFiles("/dev", pattern).Order(StringComparer.Ordinal))
            {
                var entry = new JsonObject { ["port"] = path };
                // /sys/class/tty/<name>/device leads to the USB interface; its USB device (the directory with idVendor) is above it.
                string? dir = ResolveDevice($"/sys/class/tty/{Path.GetFileName(path)}/device");
                while (dir is not null && dir.Length > 1 && !File.Exists(Path.Combine(dir, "idVendor"))) dir = Path.GetDirectoryName(dir);
                if (dir is not null && File.Exists(Path.Combine(dir, "idVendor")))
                {
                    entry["vid"] = Read(dir, "idVendor");
                    entry["pid"] = Read(dir, "idProduct");
                    entry["serial"] = Read(dir, "serial");
                    entry["product"] = Read(dir, "product");
                }

                list.Add(entry);
            }
        }

        return list;
    }

    private static string? ResolveDevice(string link)
    {
        try
        {
            var info = new FileInfo(link);
            return info.LinkTarget is null ? null : Path.GetFullPath(info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? link);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string? Read(string dir, string name)
    {
        string path = Path.Combine(dir, name);
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }

    private static async Task ProbeAsync(JsonObject candidate, TimeSpan timeout, CancellationToken cancellationToken)
    {
        string port = candidate["port"]!.GetValue<string>();
        try
        {
            if (FirmataAddress.IsFirmata(port))
            {
                if (!FirmataAddress.TryParse(port, out var firmata, out string? error)) candidate["status"] = error;
                else if (!await ProbeFirmataAsync(candidate, firmata, timeout, cancellationToken).ConfigureAwait(false)) candidate["status"] = $"no answer (no Firmata at {firmata.Baud} baud)";
                return;
            }

            DeviceInfo? info;
            await using (var transport = await RigAddress.OpenAsync(port, cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                info = await RigSession.ProbeAsync(transport, timeout, cancellationToken).ConfigureAwait(false);
            }

            if (info is null)
            {
                // A stock Arduino with StandardFirmata (the Arduino IDE's example) is a rig too.
                if (port.StartsWith("/dev/", StringComparison.Ordinal)
                    && await ProbeFirmataAsync(candidate, new FirmataAddress(port, FirmataAddress.StandardFirmataBaud), timeout, cancellationToken).ConfigureAwait(false))
                {
                    return;
                }

                candidate["status"] = port.StartsWith("/dev/", StringComparison.Ordinal)
                    ? $"no answer (not a Bench rig, nor StandardFirmata at 57600 baud; for ConfigurableFirmata try --port firmata:{port}?baud=115200)"
                    : "no answer (not a Bench rig, or no firmware)";
                return;
            }

            candidate["status"] = "rig";
            candidate["board"] = info.Board;
            candidate["firmware"] = $"{info.FirmwareMajor}.{info.FirmwareMinor}.{info.FirmwarePatch}";
            candidate["protocol"] = $"{info.ProtocolMajor}.{info.ProtocolMinor}";
            candidate["unique_id"] = info.UniqueId.ToString("x16", CultureInfo.InvariantCulture);
        }
        catch (RigConnectionException e)
        {
            candidate["status"] = e.Message.Contains("busy", StringComparison.Ordinal) ? "busy: another program holds it" : e.Message;
        }
    }

    /// <summary>Asks for a Firmata board; when one answers, fills in what it is and what it can do, and returns true.</summary>
    private static async Task<bool> ProbeFirmataAsync(JsonObject candidate, FirmataAddress address, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // StandardFirmata blinks its version for about 2 s after a reset before it answers.
        var found = await FirmataSession.ProbeAsync(address, timeout + TimeSpan.FromSeconds(2.5), cancellationToken).ConfigureAwait(false);
        if (found is not { } board) return false;
        candidate["status"] = "firmata";
        candidate["address"] = address.ToString();
        candidate["board"] = FirmataSession.BoardName;
        candidate["firmware"] = $"{board.Name} {board.Firmware}";
        candidate["protocol"] = $"Firmata {board.Protocol}";
        candidate["capabilities"] = "A0 at up to 1 kHz (10 bits, times from the sample count, ±1.1 ms); stimulus on D9 through the series resistor, host-timed, pulses of 20 ms or more; no watchdog";
        return true;
    }
}
