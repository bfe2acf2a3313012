using System.Globalization;
using Bench.Core.Protocol;
using Bench.Core.Stimulus;

namespace Bench.Core.Instrument;

/// <summary>
/// Turns a stimulus protocol (ms, nA) into the Stimulus command a rig plays (sample periods, DAC codes), for one
/// output of one device at its configured sample period. Refuses what the rig could not play exactly.
/// </summary>
public static class RigStimulus
{
    /// <summary>Converts <paramref name="protocol"/>.</summary>
    /// <param name="protocol">The protocol; a current output takes <c>nA</c>.</param>
    /// <param name="device">The rig.</param>
    /// <param name="output">Which stimulus output.</param>
    /// <param name="periodTicks">The sample period in device clock ticks (Configure's Ack).</param>
    /// <param name="stimId">The host's id for this stimulus, echoed in its events.</param>
    /// <param name="startIndex">Device sample index of the protocol's t = 0, or null to start as soon as the rig can.</param>
    /// <param name="calibratedNanoampsPerCode">
    /// The output's measured nA per DAC code (its calibration), or null for the nominal step of its DeviceInfo. A
    /// calibrated step is not a round number, so each amplitude then takes the nearest code; the current played is that
    /// code times the calibrated step (within half a step of the request), which is what the rig's events report.
    /// </param>
    /// <exception cref="StimulusProtocolException">The protocol cannot be played exactly; the message names the field.</exception>
    public static StimulusCommand ToCommand(StimulusProtocol protocol, DeviceInfo device, int output, uint periodTicks, ushort stimId, ulong? startIndex,
        double? calibratedNanoampsPerCode = null)
    {
        if (output < 0 || output >= device.Outputs.Count)
        {
            throw new StimulusProtocolException($"output {output} does not exist: the rig has {device.Outputs.Count} stimulus output(s)");
        }

        var o = device.Outputs[output];
        if (o.Unit == 1 && protocol.Unit != StimulusUnit.Nanoamps)
        {
            throw new StimulusProtocolException("unit: the rig's output is a current: give the protocol in \"nA\"");
        }

        if (protocol.Trains.Count == 0) throw new StimulusProtocolException("trains: a rig needs at least one train");
        if (protocol.Trains.Count > Math.Min((int)device.MaxTrains, ProtocolLimits.MaxTrains))
        {
            throw new StimulusProtocolException($"trains: {protocol.Trains.Count} trains, the rig plays at most {device.MaxTrains}");
        }

        double periodMs = 1000.0 * periodTicks / device.ClockHz;
        var ordered = protocol.Trains.Select((t, i) => (Train: t, Index: i)).OrderBy(x => x.Train.StartMs).ToList();
        var trains = new List<StimulusTrain>();
        ulong previousSlotEnd = 0;
        foreach (var (t, i) in ordered)
        {
            string path = $"trains[{i}]";
            ulong start = Samples(t.StartMs, periodMs, path + ".start_ms", allowZero: true);
            ushort p1 = Short(Samples(t.Phase1Ms, periodMs, path + ".phase1_ms", allowZero: false), path + ".phase1_ms");
            ushort gap = Short(Samples(t.InterphaseMs, periodMs, path + ".interphase_ms", allowZero: true), path + ".interphase_ms");
            ushort p2 = Short(Samples(t.Phase2Ms, periodMs, path + ".phase2_ms", allowZero: true), path + ".phase2_ms");
            ulong width = (ulong)p1 + gap + p2;
            ulong interval = t.Count == 1 ? width : Samples(t.IntervalMs, periodMs, path + ".interval_ms", allowZero: false);
            if (start < previousSlotEnd)
            {
                throw new StimulusProtocolException($"{path}.start_ms: this train starts before the previous one has ended; a rig output plays one train at a time");
            }

            if (t.Count > ushort.MaxValue) throw new StimulusProtocolException($"{path}.count: {t.Count} pulses; a rig plays at most {ushort.MaxValue} in one train");
            if (interval > uint.MaxValue) throw new StimulusProtocolException($"{path}.interval_ms: longer than the rig's {uint.MaxValue} sample periods from pulse to pulse");
            if (start - previousSlotEnd > uint.MaxValue) throw new StimulusProtocolException($"{path}.start_ms: a longer wait than the rig's {uint.MaxValue} sample periods before the train");

            trains.Add(new StimulusTrain((uint)(start - previousSlotEnd), Code(t.Phase1Amplitude, o, calibratedNanoampsPerCode, path + ".phase1_amplitude"), p1, gap,
                p2 == 0 ? (short)0 : Code(t.Phase2Amplitude, o, calibratedNanoampsPerCode, path + ".phase2_amplitude"), p2, (uint)interval, (ushort)t.Count));
            previousSlotEnd = start + ((ulong)t.Count * interval);
        }

        var command = new StimulusCommand(stimId, (byte)output, startIndex is null ? (byte)0 : StimulusCommand.AtIndex, startIndex ?? 0, trains);
        if (StimulusLimits.Check(command, device, periodTicks) is { } refusal)
        {
            throw new StimulusProtocolException($"the rig's limits refuse it: {refusal.Reason}");
        }

        return command;
    }

    private static ulong Samples(double ms, double periodMs, string field, bool allowZero)
    {
        double n = ms / periodMs;
        // Beyond 2⁵³ periods a double no longer holds whole numbers (and beyond 2⁶⁴ no count does): no rig times that.
        if (!(n <= 1L << 53))
        {
            throw new StimulusProtocolException(string.Create(CultureInfo.InvariantCulture, $"{field}: {ms} ms is longer than a rig can time in sample periods ({periodMs} ms)"));
        }

        double rounded = Math.Round(n);
        if (Math.Abs(n - rounded) > 1e-6 * Math.Max(1, n))
        {
            throw new StimulusProtocolException(string.Create(CultureInfo.InvariantCulture,
                $"{field}: {ms} ms is not a whole number of sample periods ({periodMs} ms); the rig times pulses on its sample clock"));
        }

        if (!allowZero && rounded < 1) throw new StimulusProtocolException($"{field}: must last at least one sample period ({periodMs.ToString(CultureInfo.InvariantCulture)} ms)");
        return (ulong)rounded;
    }

    /// <summary>
    /// Checks what no rig can play whatever its sample rate: more trains than a Stimulus carries, or more pulses in a
    /// train than it counts. For a protocol saved or checked while no rig is connected (<see cref="ToCommand"/> checks
    /// everything against the rig itself).
    /// </summary>
    /// <exception cref="StimulusProtocolException">The protocol breaks a bound; the message names the field and the bound.</exception>
    public static void CheckBounds(StimulusProtocol protocol)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        if (protocol.Trains.Count > ProtocolLimits.MaxTrains)
        {
            throw new StimulusProtocolException($"trains: {protocol.Trains.Count} trains, more than the {ProtocolLimits.MaxTrains} a rig plays in one protocol");
        }

        for (int i = 0; i < protocol.Trains.Count; i++)
        {
            if (protocol.Trains[i].Count > ushort.MaxValue)
            {
                throw new StimulusProtocolException($"trains[{i}].count: {protocol.Trains[i].Count} pulses; a rig plays at most {ushort.MaxValue} in one train");
            }
        }
    }

    private static ushort Short(ulong samples, string field) =>
        samples <= ushort.MaxValue ? (ushort)samples : throw new StimulusProtocolException($"{field}: longer than the rig's 65535 sample periods per phase");

    private static short Code(double amplitudeNanoamps, OutputDescriptor o, double? calibrated, string field)
    {
        if (calibrated is { } step && !(step > 0 && double.IsFinite(step))) throw new StimulusProtocolException($"{field}: the output's calibration ({step} nA per code) is not a positive number: calibrate the output again");
        double perCode = calibrated ?? o.Scale;
        double exact = amplitudeNanoamps / perCode;
        double code = Math.Round(exact);
        if (calibrated is null && Math.Abs(exact - code) > 1e-6 * Math.Max(1, Math.Abs(exact)))
        {
            throw new StimulusProtocolException(string.Create(CultureInfo.InvariantCulture,
                $"{field}: {amplitudeNanoamps} nA is not a whole number of the rig's DAC steps ({o.Scale} nA)"));
        }

        if (Math.Abs(code) > o.MaxAmplitudeCode)
        {
            throw new StimulusProtocolException(string.Create(CultureInfo.InvariantCulture,
                $"{field}: {amplitudeNanoamps} nA exceeds the rig's limit of {o.MaxAmplitudeCode * perCode} nA"));
        }

        return (short)code;
    }
}
