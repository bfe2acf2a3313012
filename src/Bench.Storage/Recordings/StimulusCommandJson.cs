using System.Text.Json.Nodes;
using Bench.Core.Protocol;

namespace Bench.Storage.Recordings;

/// <summary>
/// A Stimulus command as the rig accepted it, in JSON: how a raw capture's sidecar and an NWB file's
/// <c>/general/stimulus</c> keep it, so the comparison can later drive the model with exactly what was played.
/// </summary>
public static class StimulusCommandJson
{
    /// <summary>The command as JSON (sample counts and DAC codes, as on the wire), with the output's nA per code.</summary>
    public static JsonObject ToJson(StimulusCommand command, double nanoampsPerCode)
    {
        var trains = new JsonArray();
        foreach (var t in command.Trains)
        {
            trains.Add(new JsonObject
            {
                ["delay_samples"] = t.DelaySamples, ["phase1_code"] = t.Phase1Code, ["phase1_samples"] = t.Phase1Samples,
                ["interphase_samples"] = t.InterphaseSamples, ["phase2_code"] = t.Phase2Code, ["phase2_samples"] = t.Phase2Samples,
                ["interval_samples"] = t.IntervalSamples, ["pulse_count"] = t.PulseCount,
            });
        }

        return new JsonObject
        {
            ["stim_id"] = command.StimId, ["output"] = command.Output, ["start_index"] = command.StartIndex,
            ["at_index"] = (command.Flags & StimulusCommand.AtIndex) != 0,
            ["amplitude_nA_per_code"] = nanoampsPerCode, ["trains"] = trains,
        };
    }

    /// <summary>A command read back; <c>at_index</c> absent (a sidecar of <c>bench record</c>, which always scheduled at an
    /// index) counts as true.</summary>
    /// <exception cref="FormatException">A field is missing or out of range; the message names it.</exception>
    public static (StimulusCommand Command, double NanoampsPerCode) FromJson(JsonObject s)
    {
        try
        {
            var trains = s["trains"]!.AsArray().Select(t => new StimulusTrain(
                t!["delay_samples"]!.GetValue<uint>(), t["phase1_code"]!.GetValue<short>(), t["phase1_samples"]!.GetValue<ushort>(),
                t["interphase_samples"]!.GetValue<ushort>(), t["phase2_code"]!.GetValue<short>(), t["phase2_samples"]!.GetValue<ushort>(),
                t["interval_samples"]!.GetValue<uint>(), t["pulse_count"]!.GetValue<ushort>())).ToList();
            bool atIndex = s["at_index"]?.GetValue<bool>() ?? true;
            var command = new StimulusCommand(s["stim_id"]!.GetValue<ushort>(), s["output"]!.GetValue<byte>(), atIndex ? StimulusCommand.AtIndex : (byte)0,
                s["start_index"]!.GetValue<ulong>(), trains);
            return (command, s["amplitude_nA_per_code"]?.GetValue<double>() ?? 0);
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or OverflowException)
        {
            throw new FormatException($"the stimulus command is incomplete or out of range ({e.Message})", e);
        }
    }
}
