using System.Text.Json;
using Bench.Core.Models;
using static Bench.Core.Tests.Helpers;

namespace Bench.Core.Tests;

/// <summary>
/// The per-dt coefficient table (<see cref="RateEvaluation.StepTable"/>): the fast kernels' mode. States the error
/// against NEURON 8.2.2 and checks that every kernel (single, population, axon) computes the same thing.
/// </summary>
public class StepTableTests
{
    private static readonly HodgkinHuxleyParameters Fast = HodgkinHuxleyParameters.Classic with { Rates = RateEvaluation.StepTable };

    [Fact]
    public void A_single_action_potential_stays_within_a_third_of_a_millivolt_of_neuron()
    {
        // NEURON 8.2.2, 20 µA/cm² for 1 ms at 5 ms, dt 0.01, 6.3 °C: spike at 6.299686723277052 ms, peak 40.2967 mV.
        var v = Run(new HodgkinHuxley(Fast), Pulse(5, 1, 20), 30);
        Assert.Equal(6.299686723277052, Assert.Single(Spikes(v)), 0.002);
        Assert.InRange(v.Max(), 40.2967 - 0.3, 40.2967 + 0.3);
        var exact = Run(Classic(), Pulse(5, 1, 20), 30);
        double worst = v.Zip(exact, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst < 0.35, $"largest difference from NEURON's table {worst} mV");
    }

    [Fact]
    public void Repetitive_firing_drifts_by_under_a_fifth_of_a_millisecond_in_100_ms()
    {
        var fast = Spikes(Run(new HodgkinHuxley(Fast), Pulse(5, 100, 10), 120, 0.025), 0.025);
        var neuron = Spikes(Run(Classic(), Pulse(5, 100, 10), 120, 0.025), 0.025);
        Assert.Equal(neuron.Count, fast.Count);
        Assert.True(fast.Zip(neuron, (a, b) => Math.Abs(a - b)).Max() < 0.2);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(11)]
    public void Population_kernel_equals_the_single_compartment_bit_for_bit(int cells)
    {
        var pop = new HodgkinHuxleyPopulation(cells, Fast);
        var single = new HodgkinHuxley(Fast);
        for (int k = 0; k < 5000; k++)
        {
            double s = k % 1500 < 100 ? 20 : 0;
            pop.Step(s, 0.01);
            single.Step(s, 0.01);
        }

        for (int i = 0; i < cells; i++)
        {
            Assert.Equal(single.VoltageMv, pop.VoltageMv(i));
            Assert.Equal(single.N, pop.Membrane.N(i));
        }
    }

    [Fact]
    public void Table_ends_clamp_like_neuron()
    {
        // Far outside −100…100 mV the rows at the ends are used, in both kernels alike.
        var pop = new HodgkinHuxleyPopulation(4, Fast with { InitialVoltageMv = -150 });
        var single = new HodgkinHuxley(Fast with { InitialVoltageMv = -150 });
        double highest = double.MinValue;
        for (int k = 0; k < 200; k++)
        {
            pop.Step(k < 100 ? 10_000 : 0, 0.01);
            single.Step(k < 100 ? 10_000 : 0, 0.01);
            Assert.Equal(single.VoltageMv, pop.VoltageMv(3));
            highest = Math.Max(highest, single.VoltageMv);
        }

        Assert.True(highest > 100, "a huge current drives V past the table's top end");
    }

    [Fact]
    public void Squid_axon_velocity_stays_within_half_a_percent_of_neuron()
    {
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Reference", "neuron_summary.json"))).RootElement;
        var run = summary.GetProperty("axon").GetProperty("runs").EnumerateArray()
            .First(r => r.GetProperty("nseg").GetInt32() == 2000 && r.GetProperty("dt_ms").GetDouble() == 0.01);
        double velocity = Squid(2000, 0.01, membrane: Fast with { TemperatureCelsius = 18.5 }).VelocityMPerS;
        double expected = run.GetProperty("velocity_m_per_s").GetDouble();
        Assert.InRange(velocity, expected * 0.995, expected * 1.005);
    }

    [Fact]
    public void The_coefficient_table_follows_a_change_of_dt()
    {
        // The same schedule of dt (0.02, then 0.01, then 0.025 ms) in both modes: the step table must be rebuilt each
        // time, or the fast model would drift far from NEURON's table.
        var fast = new HodgkinHuxley(Fast);
        var neuron = Classic();
        double worst = 0;
        double t = 0;
        int spikes = 0;
        foreach (var (dt, steps) in new[] { (0.02, 1000), (0.01, 2000), (0.025, 800) })
        {
            for (int k = 0; k < steps; k++)
            {
                double s = (t + (dt / 2)) % 15 < 1 ? 20 : 0;   // 20 µA/cm² for 1 ms every 15 ms
                double before = fast.VoltageMv;
                fast.Step(s, dt);
                neuron.Step(s, dt);
                t += dt;
                if (before < 0 && fast.VoltageMv >= 0) spikes++;
                worst = Math.Max(worst, Math.Abs(fast.VoltageMv - neuron.VoltageMv));
            }
        }

        Assert.Equal(4, spikes);
        Assert.True(worst < 0.5, $"largest difference {worst} mV");
    }
}
