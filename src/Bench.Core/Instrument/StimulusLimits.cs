using Bench.Core.Protocol;

namespace Bench.Core.Instrument;

/// <summary>
/// The value checks of PROTOCOL.md §6.4 for a Stimulus, in the specified order, exactly (integer arithmetic):
/// the device applies them (firmware and emulated rig) and the host applies them before sending.
/// </summary>
public static class StimulusLimits
{
    /// <summary>Checks <paramref name="command"/> against <paramref name="device"/>'s limits at sample period <paramref name="periodTicks"/>.</summary>
    /// <returns>Null when it passes; otherwise the payload offset of the first failing field (the Nack detail) and why.</returns>
    public static (ushort Offset, string Reason)? Check(StimulusCommand command, DeviceInfo device, uint periodTicks)
    {
        if (command.Output >= device.Outputs.Count) return (StimulusCommand.OutputOffset, $"output {command.Output} does not exist (the rig has {device.Outputs.Count})");
        if ((command.Flags & ~StimulusCommand.AtIndex) != 0) return (StimulusCommand.FlagsOffset, "reserved flag bits are set");
        if (command.Trains.Count < 1 || command.Trains.Count > device.MaxTrains) return (StimulusCommand.TrainCountOffset, $"{command.Trains.Count} trains (the rig takes 1 to {device.MaxTrains})");
        var o = device.Outputs[command.Output];
        for (int i = 0; i < command.Trains.Count; i++)
        {
            var t = command.Trains[i];
            int b = StimulusCommand.TrainsOffset + (StimulusTrain.Length * i);
            if (Math.Abs((int)t.Phase1Code) > o.MaxAmplitudeCode) return ((ushort)(b + StimulusTrain.Phase1CodeOffset), $"train {i}: phase 1 amplitude code {t.Phase1Code} exceeds the limit ±{o.MaxAmplitudeCode}");
            if (t.Phase1Samples < 1) return ((ushort)(b + StimulusTrain.Phase1SamplesOffset), $"train {i}: phase 1 lasts no sample");
            if (PhaseTooLong(t.Phase1Samples, periodTicks, o, device)) return ((ushort)(b + StimulusTrain.Phase1SamplesOffset), $"train {i}: phase 1 is longer than {o.MaxPhaseUs} µs");
            if (ChargeTooHigh(t.Phase1Code, t.Phase1Samples, periodTicks, o, device)) return ((ushort)(b + StimulusTrain.Phase1SamplesOffset), $"train {i}: phase 1 charge exceeds {o.MaxCharge}");
            if (Math.Abs((int)t.Phase2Code) > o.MaxAmplitudeCode || (t.Phase2Samples == 0 && t.Phase2Code != 0))
            {
                return ((ushort)(b + StimulusTrain.Phase2CodeOffset), $"train {i}: phase 2 amplitude code {t.Phase2Code} is out of range");
            }

            if (t.Phase2Samples > 0 && (PhaseTooLong(t.Phase2Samples, periodTicks, o, device) || ChargeTooHigh(t.Phase2Code, t.Phase2Samples, periodTicks, o, device)))
            {
                return ((ushort)(b + StimulusTrain.Phase2SamplesOffset), $"train {i}: phase 2 is too long or carries too much charge");
            }

            if (t.IntervalSamples < (ulong)t.Phase1Samples + t.InterphaseSamples + t.Phase2Samples) return ((ushort)(b + StimulusTrain.IntervalSamplesOffset), $"train {i}: pulses overlap");
            if (t.PulseCount < 1) return ((ushort)(b + StimulusTrain.PulseCountOffset), $"train {i}: no pulses");
        }

        return null;
    }

    // Rule P: n·T·10⁶ ≤ max_phase_us · clock_hz.
    private static bool PhaseTooLong(ushort samples, uint periodTicks, OutputDescriptor o, DeviceInfo d) =>
        (UInt128)samples * periodTicks * 1_000_000UL > (UInt128)o.MaxPhaseUs * d.ClockHz;

    // Rule Q: |c|·scale·n·T·1000 ≤ max_charge · clock_hz (when max_charge ≠ 0).
    private static bool ChargeTooHigh(short code, ushort samples, uint periodTicks, OutputDescriptor o, DeviceInfo d) =>
        o.MaxCharge != 0 && (UInt128)(uint)Math.Abs((int)code) * o.Scale * samples * periodTicks * 1000UL > (UInt128)o.MaxCharge * d.ClockHz;
}
