using System.Text.Json;
using System.Text.Json.Nodes;
using Bench.Core.Protocol;
using Bench.Core.Instrument;

namespace Bench.Storage.Recordings;

/// <summary>
/// The JSON written beside a raw capture (<c>x.bin</c> → <c>x.bin.json</c>): the device, the configuration, the
/// stimulus (as the protocol and as the rig's command), the calibration, and at the end the summary. It is written when
/// the recording starts and again when it ends, so a crash still leaves everything needed to read the capture.
/// </summary>
public static class RecordingSidecar
{
    /// <summary>The format name written into every sidecar.</summary>
    public const string Format = "bench-raw-1";

    /// <summary>The sidecar path of a capture.</summary>
    public static string PathFor(string capturePath) => capturePath + ".json";

    /// <summary>Builds the sidecar object.</summary>
    public static JsonObject Create(string port, DeviceInfo device, double sampleRateHz, uint periodTicks, Calibration calibration,
        string calibrationSource, string? stimulusJson, StimulusCommand? command, double? nanoampsPerCode = null)
    {
        var o = new JsonObject
        {
            ["format"] = Format,
            ["port"] = port,
            ["started_utc"] = DateTime.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            ["device"] = new JsonObject
            {
                ["board"] = device.Board,
                ["unique_id"] = device.UniqueId.ToString("x16", System.Globalization.CultureInfo.InvariantCulture),
                ["firmware"] = $"{device.FirmwareMajor}.{device.FirmwareMinor}.{device.FirmwarePatch}",
                ["protocol"] = $"{device.ProtocolMajor}.{device.ProtocolMinor}",
                ["clock_hz"] = device.ClockHz,
                ["adc_bits"] = device.AdcBits,
                ["adc_ref_mv"] = device.AdcRefMv,
            },
            ["configuration"] = new JsonObject { ["sample_rate_hz"] = sampleRateHz, ["period_ticks"] = periodTicks, ["channels"] = 1 },
            ["calibration"] = new JsonObject { ["mv_per_count"] = calibration.MillivoltsPerCount, ["offset_mv"] = calibration.OffsetMv, ["source"] = calibrationSource },
        };
        if (stimulusJson is not null) o["stimulus"] = JsonNode.Parse(stimulusJson);
        if (command is not null) o["stimulus_command"] = StimulusCommandJson.ToJson(command, nanoampsPerCode ?? device.Outputs[command.Output].Scale);

        return o;
    }

    /// <summary>Writes the sidecar atomically (a temporary file moved into place).</summary>
    public static void Write(string capturePath, JsonObject sidecar)
    {
        string path = PathFor(capturePath);
        string temporary = path + ".partial";
        File.WriteAllText(temporary, sidecar.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(temporary, path, overwrite: true);
    }
}
