using System.CommandLine;
using System.Text.Json.Nodes;
using Bench.Rig.Transports;

namespace Bench.Cli;

/// <summary>
/// <c>bench devices</c>: lists serial ports (with USB VID/PID, serial number and product from sysfs) and USB devices with
/// Bench's VID/PID, asks each with Hello who it is (a short timeout; a busy port is reported, never waited on), and
/// prints what answered. A rig is known by its unique id, whatever port it is on.
/// </summary>
internal static class DevicesCommand
{
    public static Command Create(TextWriter output)
    {
        var json = new Option<bool>("--json") { Description = "one JSON array, for scripts" };
        var extra = new Option<string[]>("--port") { Description = "also probe this port (e.g. an emulator's /dev/pts/N or tcp://host:port); repeatable" };
        var timeout = new Option<double>("--timeout") { Description = "seconds to wait for each answer (an Uno needs 1.5 s to boot after its port opens)", DefaultValueFactory = _ => 2.5 };
        var command = new Command("devices", "List serial ports and USB rigs, and which of them answer as a Bench rig") { json, extra, timeout };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var wait = TimeSpan.FromSeconds(Math.Clamp(parse.GetValue(timeout), 0.1, 30));
            var (candidates, usbUnavailable) = await RigDiscovery.ListAsync(parse.GetValue(extra) ?? [], wait, cancellationToken);
            if (parse.GetValue(json))
            {
                output.WriteLine(new JsonArray([.. candidates]).ToJsonString());
                return 0;
            }

            if (candidates.Count == 0)
            {
                output.WriteLine("no serial ports or USB rigs found: plug a rig in (it shows as /dev/ttyACM0 or /dev/ttyUSB0), or work without hardware on the emulated rig: "
                    + "`bench serve` uses it by default, and `bench emulate --pty` gives it a port for bench record (`bench devices --port <that port>` finds it)");
            }

            foreach (var c in candidates)
            {
                string id = c["vid"] is null ? "" : $" [{c["vid"]}:{c["pid"]}{(c["serial"] is null ? "" : " " + c["serial"])}{(c["product"] is null ? "" : " " + c["product"])}]";
                string what = c["status"]!.GetValue<string>() == "rig"
                    ? $"Bench rig {c["board"]}, firmware {c["firmware"]}, protocol {c["protocol"]}, unique id {c["unique_id"]}"
                    : c["status"]!.GetValue<string>();
                output.WriteLine($"{c["port"]}{id}: {what}");
            }

            if (usbUnavailable is { } reason) output.WriteLine($"(USB not searched: {reason})");
            return 0;
        });
        return command;
    }
}
