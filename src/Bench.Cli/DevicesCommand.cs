using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Bench.Core.Protocol;
using Bench.Rig.Session;
using Bench.Rig.Transports;
using Bench.Rig.Usb;

namespace Bench.Cli;

/// <summary>
/// <c>bench devices</c>: lists serial ports (with USB VID/PID, serial number and product from sysfs) and USB devices with
/// Bench's VID/PID, asks each with Hello who it is (a short timeout; a busy port is reported, never waited on), and
/// prints what answered. A rig is known by its unique id, whatever port it is on.
/// </summary>
internal static class DevicesCommand
{
    /// <summary>Bench's USB VID/PID (PROTOCOL.md §10; the pid.codes test PID until one is registered).</summary>
    private const ushort BenchVid = 0x1209, BenchPid = 0x0001;

    public static Command Create(TextWriter output)
    {
        var json = new Option<bool>("--json") { Description = "one JSON array, for scripts" };
        var extra = new Option<string[]>("--port") { Description = "also probe this port (e.g. an emulator's /dev/pts/N or tcp://host:port); repeatable" };
        var timeout = new Option<double>("--timeout") { Description = "seconds to wait for each answer (an Uno needs 1.5 s to boot after its port opens)", DefaultValueFactory = _ => 2.5 };
        var command = new Command("devices", "List serial ports and USB rigs, and which of them answer as a Bench rig") { json, extra, timeout };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var candidates = SerialCandidates();
            foreach (var port in parse.GetValue(extra) ?? []) candidates.Add(new JsonObject { ["port"] = port });
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

            var wait = TimeSpan.FromSeconds(Math.Clamp(parse.GetValue(timeout), 0.1, 30));
            await Task.WhenAll(candidates.Select(c => ProbeAsync(c, wait, cancellationToken)));
            if (parse.GetValue(json))
            {
                output.WriteLine(new JsonArray([.. candidates]).ToJsonString());
                return 0;
            }

            if (candidates.Count == 0) output.WriteLine("no serial ports or USB rigs found");
            foreach (var c in candidates)
            {
                string id = c["vid"] is null ? "" : $" [{c["vid"]}:{c["pid"]}{(c["serial"] is null ? "" : " " + c["serial"])}{(c["product"] is null ? "" : " " + c["product"])}]";
                string what = c["status"]!.GetValue<string>() == "rig"
                    ? $"Bench rig {c["board"]}, firmware {c["firmware"]}, protocol {c["protocol"]}, unique id {c["unique_id"]}"
                    : c["status"]!.GetValue<string>();
                output.WriteLine($"{c["port"]}{id}: {what}");
            }

            if (usb.UnavailableReason is { } reason) output.WriteLine($"(USB not searched: {reason})");
            return 0;
        });
        return command;
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
            await using var transport = await RigAddress.OpenAsync(port, cancellationToken: cancellationToken);
            DeviceInfo? info = await RigSession.ProbeAsync(transport, timeout, cancellationToken);
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
