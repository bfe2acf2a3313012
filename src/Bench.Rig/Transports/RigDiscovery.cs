using System.Globalization;
using System.Text.Json.Nodes;
using Bench.Core.Protocol;
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
            await using var transport = await RigAddress.OpenAsync(port, cancellationToken: cancellationToken).ConfigureAwait(false);
            DeviceInfo? info = await RigSession.ProbeAsync(transport, timeout, cancellationToken).ConfigureAwait(false);
            if (info is null)
            {
                candidate["status"] = "no answer (not a Bench rig, or no firmware)";
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
}
