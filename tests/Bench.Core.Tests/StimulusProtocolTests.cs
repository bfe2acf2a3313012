using Bench.Core.Stimulus;

namespace Bench.Core.Tests;

public class StimulusProtocolTests
{
    private const string PairedPulse = """
        { "name": "paired pulse", "unit": "uA/cm2",
          "trains": [ { "start_ms": 5, "phase1_ms": 1, "phase1_amplitude": 20,
                        "interphase_ms": 0, "phase2_ms": 0, "phase2_amplitude": 0,
                        "interval_ms": 8, "count": 2 } ] }
        """;

    [Fact]
    public void Parses_the_documented_example()
    {
        var p = StimulusProtocol.Parse(PairedPulse);
        Assert.Equal("paired pulse", p.Name);
        Assert.Equal(StimulusUnit.MicroampsPerCm2, p.Unit);
        var t = Assert.Single(p.Trains);
        Assert.Equal(new PulseTrain(5, 1, 20, 0, 0, 0, 8, 2), t);
        Assert.Equal(14, p.EndMs);
    }

    [Theory]
    [InlineData(4.99, 0)]
    [InlineData(5.0, 20)]
    [InlineData(5.99, 20)]
    [InlineData(6.0, 0)]
    [InlineData(12.99, 0)]
    [InlineData(13.0, 20)]
    [InlineData(13.5, 20)]
    [InlineData(14.0, 0)]
    [InlineData(21.0, 0)]
    public void Pulses_are_half_open_and_start_to_start(double t, double expected) =>
        Assert.Equal(expected, StimulusProtocol.Parse(PairedPulse).AmplitudeAt(t));

    [Fact]
    public void Omitted_fields_default_to_zero_and_count_to_one()
    {
        var p = StimulusProtocol.Parse("""{"unit":"nA","trains":[{"phase1_ms":2,"phase1_amplitude":3}]}""");
        Assert.Equal(StimulusUnit.Nanoamps, p.Unit);
        Assert.Equal(new PulseTrain(0, 2, 3, 0, 0, 0, 0, 1), p.Trains[0]);
        Assert.Equal("", p.Name);
    }

    [Fact]
    public void Biphasic_pulse_has_gap_and_second_phase_and_trains_add()
    {
        var p = StimulusProtocol.Parse("""
            {"unit":"uA/cm2","trains":[
              {"start_ms":1,"phase1_ms":0.5,"phase1_amplitude":10,"interphase_ms":0.25,"phase2_ms":0.5,"phase2_amplitude":-10,"interval_ms":5,"count":3},
              {"start_ms":0,"phase1_ms":100,"phase1_amplitude":1}]}
            """);
        Assert.Equal(11, p.AmplitudeAt(1.1));
        Assert.Equal(1, p.AmplitudeAt(1.6));     // gap
        Assert.Equal(-9, p.AmplitudeAt(1.8));    // phase 2
        Assert.Equal(1, p.AmplitudeAt(2.3));     // after the pulse
        Assert.Equal(11, p.AmplitudeAt(11.2));   // third pulse
        Assert.Equal(1, p.AmplitudeAt(16.1));    // no fourth pulse
    }

    [Theory]
    [InlineData("""{"unit":"uA/cm2","trains":[{"phase1_ms":-1}]}""", "trains[0].phase1_ms: must not be negative")]
    [InlineData("""{"unit":"uA/cm2","trains":[{"phase1_ms":"NaN"}]}""", "trains[0].phase1_ms: must be a finite number")]
    [InlineData("""{"unit":"uA/cm2","trains":[{"count":0}]}""", "trains[0].count: must be an integer ≥ 1")]
    [InlineData("""{"unit":"uA/cm2","trains":[{"count":1.5}]}""", "trains[0].count: must be an integer ≥ 1")]
    [InlineData("""{"unit":"uA/cm2","trains":[{"phase1_ms":2,"interval_ms":1,"count":2}]}""", "trains[0].interval_ms: pulses would overlap")]
    [InlineData("""{"unit":"uA/cm2","trains":[{"phase1_ms":1,"phase2_ms":1,"interphase_ms":0.5,"interval_ms":2,"count":3}]}""", "trains[0].interval_ms: pulses would overlap")]
    [InlineData("""{"unit":"mA","trains":[]}""", "unit: unknown unit \"mA\"")]
    [InlineData("""{"unit":"uA/cm2","trains":[{"amplitude":1}]}""", "trains[0].amplitude: unknown field")]
    [InlineData("""{"unit":"uA/cm2","trains":[],"extra":1}""", "extra: unknown field")]
    [InlineData("""{"trains":[]}""", "unit: required")]
    [InlineData("""{"unit":"uA/cm2"}""", "trains: required")]
    [InlineData("""{"unit":"uA/cm2","trains":[}""", "not valid JSON")]
    [InlineData("""[1,2]""", "the protocol must be a JSON object")]
    public void Bad_protocols_are_rejected_naming_the_field_and_rule(string json, string expected)
    {
        var e = Assert.Throws<StimulusProtocolException>(() => StimulusProtocol.Parse(json));
        Assert.StartsWith(expected, e.Message);
    }

    [Fact]
    public void Json_round_trips()
    {
        var p = StimulusProtocol.Parse(PairedPulse);
        var again = StimulusProtocol.Parse(p.ToJson());
        Assert.Equal(p.Name, again.Name);
        Assert.Equal(p.Unit, again.Unit);
        Assert.Equal(p.Trains, again.Trains);
    }

    public static TheoryData<string, double, int> Schedules => new()
    {
        { PairedPulse, 0.025, 1000 },
        { PairedPulse, 0.01, 3000 },
        { PairedPulse, 0.1, 7 },
        { """{ "unit": "uA/cm2", "trains": [ { "start_ms": 0.3, "phase1_ms": 0.1, "phase1_amplitude": 7.5, "interphase_ms": 0.05, "phase2_ms": 0.1, "phase2_amplitude": -7.5, "interval_ms": 0.7, "count": 40 }, { "start_ms": 1.013, "phase1_ms": 3.3, "phase1_amplitude": 0.1, "interval_ms": 3.9, "count": 5 } ] }""", 0.025, 1500 },
        { """{ "unit": "nA", "trains": [ { "start_ms": 1, "phase1_ms": 0.5, "phase1_amplitude": 20000 } ] }""", 0.025, 400 },
        { """{ "unit": "uA/cm2", "trains": [ { "start_ms": 0, "phase1_ms": 0.03, "phase1_amplitude": -3, "interval_ms": 0.09, "count": 100000 } ] }""", 0.01, 5000 },
        { """{ "unit": "uA/cm2", "trains": [] }""", 0.025, 100 },
    };

    [Theory]
    [MemberData(nameof(Schedules))]
    public void A_schedule_gives_every_step_what_the_protocol_gives_it_bit_for_bit(string json, double dt, int steps)
    {
        var p = StimulusProtocol.Parse(json);
        var schedule = StimulusSchedule.Create(p, steps, dt);
        var filled = new double[steps];
        schedule.Fill(filled);
        for (int i = 0; i < schedule.Count; i++)
        {
            Assert.True(schedule.Start(i) < schedule.End(i));
        }

        for (int k = 0; k < steps; k++)
        {
            double expected = p.AmplitudeAt((k + 0.5) * dt);
            Assert.Equal(BitConverter.DoubleToInt64Bits(expected), BitConverter.DoubleToInt64Bits(filled[k]));
            Assert.Equal(BitConverter.DoubleToInt64Bits(expected), BitConverter.DoubleToInt64Bits(schedule.AmplitudeOfStep(k)));
        }
    }
    [Theory]
    [MemberData(nameof(Schedules))]
    public void A_window_of_the_schedule_is_what_fill_writes_there(string json, double dt, int steps)
    {
        var schedule = StimulusSchedule.Create(StimulusProtocol.Parse(json), steps, dt);
        var filled = new double[steps];
        schedule.Fill(filled, 0.37);
        foreach (int from in new[] { 0, 1, steps / 3, steps - 7, steps - 1 })
        {
            for (int length = 0; from >= 0 && from + length <= steps && length < 40; length += 13)
            {
                var window = new double[length];
                schedule.FillRange(from, window, 0.37);
                Assert.Equal(filled.AsSpan(from, length).ToArray(), window);
            }
        }
    }

    [Fact]
    public void The_analysis_with_the_schedule_equals_the_analysis_with_the_slope_array()
    {
        const double dt = 0.01;
        int steps = 20_000;
        var p = StimulusProtocol.Parse("""{ "unit": "uA/cm2", "trains": [ { "start_ms": 5, "phase1_ms": 1, "phase1_amplitude": 20, "interval_ms": 15, "count": 5 }, { "start_ms": 100, "phase1_ms": 90, "phase1_amplitude": 10 } ] }""");
        var schedule = StimulusSchedule.Create(p, steps, dt);
        var v = Bench.Core.Simulation.Simulator.Run(new Bench.Core.Models.HodgkinHuxley(Bench.Core.Models.HodgkinHuxleyParameters.Classic), schedule, dt);
        var slope = new double[steps];
        schedule.Fill(slope, 1.0);
        var fromArray = Bench.Core.Analysis.ActionPotentialAnalysis.Analyze(v, dt, stimulusSlopeMvPerMs: slope);
        var fromSchedule = Bench.Core.Analysis.ActionPotentialAnalysis.Analyze(v, dt, schedule, 1.0);
        Assert.True(fromArray.Spikes.Count > 5);
        Assert.Equal(fromArray.RestMv, fromSchedule.RestMv);
        Assert.Equal(fromArray.Spikes, fromSchedule.Spikes);
    }
}
