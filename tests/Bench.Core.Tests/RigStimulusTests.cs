using Bench.Core.Protocol;
using Bench.Core.Instrument;
using Bench.Core.Stimulus;

namespace Bench.Core.Tests;

/// <summary>A protocol (ms, nA) into the rig's command (sample periods, DAC codes), with and without the output's calibration.</summary>
public class RigStimulusTests
{
    // 16 MHz clock, 20 kHz (800 ticks), one current output of 1 nA per code up to ±2047 codes.
    private static readonly DeviceInfo Rig = new(1, 0, 1, 0, 0, "TEST", 1, 16_000_000, 20_000, 5000, 12, 1, 0, 4, 500,
        [new OutputDescriptor(Unit: 1, DacBits: 12, MaxAmplitudeCode: 2047, Scale: 1, MaxPhaseUs: 1_000_000, MaxCharge: 0)]);

    private static StimulusProtocol Pulse(double nanoamps, double phase2 = 0) => StimulusProtocol.Parse(
        $$"""{"unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":{{nanoamps}},"phase2_ms":{{(phase2 == 0 ? 0 : 1)}},"phase2_amplitude":{{phase2}},"count":1}]}""");

    [Fact]
    public void Nominal_steps_must_be_whole_and_the_phases_on_the_sample_grid()
    {
        var command = RigStimulus.ToCommand(Pulse(300, -300), Rig, 0, 800, 7, null);
        Assert.Equal((short)300, command.Trains[0].Phase1Code);
        Assert.Equal((short)-300, command.Trains[0].Phase2Code);
        Assert.Equal((ushort)20, command.Trains[0].Phase1Samples);
        var e = Assert.Throws<StimulusProtocolException>(() => RigStimulus.ToCommand(Pulse(300.5), Rig, 0, 800, 7, null));
        Assert.Contains("not a whole number of the rig's DAC steps", e.Message);
    }

    [Fact]
    public void A_calibrated_output_plays_the_nearest_code_of_its_measured_step()
    {
        // Measured: 0.9987 nA per code. 300 nA is 300.39 codes: code 300 plays 299.61 nA, within half a step.
        var command = RigStimulus.ToCommand(Pulse(300, -300.5), Rig, 0, 800, 7, null, calibratedNanoampsPerCode: 0.9987);
        Assert.Equal((short)300, command.Trains[0].Phase1Code);
        Assert.Equal((short)-301, command.Trains[0].Phase2Code);
        var twice = RigStimulus.ToCommand(Pulse(300), Rig, 0, 800, 7, null, calibratedNanoampsPerCode: 2);
        Assert.Equal((short)150, twice.Trains[0].Phase1Code);
        // The limit is in codes: with 2 nA per code the rig reaches 4094 nA.
        var e = Assert.Throws<StimulusProtocolException>(() => RigStimulus.ToCommand(Pulse(4200), Rig, 0, 800, 7, null, calibratedNanoampsPerCode: 2));
        Assert.Contains("limit of 4094 nA", e.Message);
        Assert.Throws<StimulusProtocolException>(() => RigStimulus.ToCommand(Pulse(300), Rig, 0, 800, 7, null, calibratedNanoampsPerCode: 0));
    }
}

/// <summary>Issue 12 §4.8: protocols bounded to what a rig can play, and numbers that overflow refused with the field named.</summary>
public class ProtocolBoundsTests
{
    private static readonly DeviceInfo Rig = new(1, 0, 1, 0, 0, "TEST", 1, 16_000_000, 20_000, 5000, 12, 1, 0, 11, 500,
        [new OutputDescriptor(Unit: 1, DacBits: 12, MaxAmplitudeCode: 2047, Scale: 1, MaxPhaseUs: 1_000_000, MaxCharge: 0)]);

    private static string Trains(int n) =>
        """{"unit":"nA","trains":[""" + string.Join(",", Enumerable.Repeat("""{"phase1_ms":1,"phase1_amplitude":100}""", n)) + "]}";

    [Fact]
    public void More_trains_than_a_rig_plays_are_refused_before_any_is_read()
    {
        Assert.Equal(11, StimulusProtocol.Parse(Trains(11), ProtocolLimits.MaxTrains).Trains.Count);
        var e = Assert.Throws<StimulusProtocolException>(() => StimulusProtocol.Parse(Trains(100_000), ProtocolLimits.MaxTrains));
        Assert.Equal("trains: 100000 trains, more than the 11 a rig plays in one protocol", e.Message);
        Assert.Contains("11", Assert.Throws<StimulusProtocolException>(() => RigStimulus.CheckBounds(StimulusProtocol.Parse(Trains(12)))).Message);
    }

    [Theory]
    [InlineData("""{"phase1_ms":1,"phase1_amplitude":100,"count":2000000000,"interval_ms":1e300}""", "trains[0]: the train never ends")]
    [InlineData("""{"start_ms":1e308,"phase1_ms":1e308,"phase1_amplitude":100}""", "trains[0]: the train never ends")]
    public void Numbers_that_overflow_together_are_refused_when_parsed(string train, string message)
    {
        var e = Assert.Throws<StimulusProtocolException>(() => StimulusProtocol.Parse($$"""{"unit":"nA","trains":[{{train}}]}"""));
        Assert.StartsWith(message, e.Message);
    }

    [Theory]
    [InlineData("""{"phase1_ms":1,"phase1_amplitude":100,"count":70000,"interval_ms":1}""", "trains[0].count: 70000 pulses; a rig plays at most 65535")]
    [InlineData("""{"phase1_ms":1,"phase1_amplitude":100,"count":3,"interval_ms":1e300}""", "trains[0].interval_ms: 1E+300 ms is longer than a rig can time")]
    [InlineData("""{"start_ms":1e12,"phase1_ms":1,"phase1_amplitude":100}""", "trains[0].start_ms: a longer wait than the rig's 4294967295 sample periods")]
    [InlineData("""{"phase1_ms":1e300,"phase1_amplitude":100}""", "trains[0].phase1_ms: 1E+300 ms is longer than a rig can time")]
    [InlineData("""{"phase1_ms":1,"phase1_amplitude":100,"count":3,"interval_ms":1e9}""", "trains[0].interval_ms: longer than the rig's 4294967295 sample periods")]
    public void What_no_rig_can_time_or_count_is_refused_with_the_field_and_the_bound(string train, string message)
    {
        var protocol = StimulusProtocol.Parse($$"""{"unit":"nA","trains":[{{train}}]}""");
        var e = Assert.Throws<StimulusProtocolException>(() => RigStimulus.ToCommand(protocol, Rig, 0, 800, 1, null));
        Assert.StartsWith(message, e.Message);
    }
}
