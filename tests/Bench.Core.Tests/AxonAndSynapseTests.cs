using Bench.Core.Analysis;
using Bench.Core.Models;
using static Bench.Core.Tests.Helpers;

namespace Bench.Core.Tests;

public class AxonAndSynapseTests
{
    private static (double VelocityMPerS, List<double> A, List<double> B) Squid(int segments, double dt, double celsius = 18.5)
    {
        var run = Helpers.Squid(segments, dt, membrane: HodgkinHuxleyParameters.Classic with { TemperatureCelsius = celsius });
        return (run.VelocityMPerS, run.SpikesA, run.SpikesB);
    }

    [Fact]
    public void Squid_giant_axon_conducts_near_18_8_m_per_s()
    {
        var (velocity, a, b) = Squid(2000, 0.01);
        Assert.Single(a);
        Assert.Single(b);
        // Hodgkin & Huxley (1952) computed 18.8 m/s; NEURON's discretisation of the same cable gives ≈ 18.4–18.5.
        Assert.InRange(velocity, 18.0, 19.0);
    }

    [Fact]
    public void Velocity_converges_as_the_grid_is_refined()
    {
        double coarse = Squid(500, 0.02).VelocityMPerS;
        double medium = Squid(1000, 0.01).VelocityMPerS;
        double fine = Squid(2000, 0.005).VelocityMPerS;
        Assert.True(Math.Abs(fine - medium) < Math.Abs(medium - coarse), $"{coarse} {medium} {fine}");
    }

    [Fact]
    public void Colder_axons_conduct_slower()
    {
        Assert.True(Squid(1000, 0.01, 6.3).VelocityMPerS < Squid(1000, 0.01, 18.5).VelocityMPerS);
    }

    [Fact]
    public void A_one_segment_axon_is_a_single_compartment()
    {
        var axon = new HodgkinHuxleyAxon(new AxonGeometry(100 / (Math.PI * 10), 10, 1, 100), HodgkinHuxleyParameters.Classic);
        var single = Classic();
        // Area 100 µm²: 1 µA/cm² = 1e-3 nA.
        for (int k = 0; k < 2000; k++)
        {
            double t = (k + 0.5) * 0.01;
            double density = t >= 5 && t < 6 ? 20 : 0;
            axon.Step(density * 1e-3, 0.01);
            single.Step(density, 0.01);
            Assert.Equal(single.VoltageMv, axon.VoltageMv(0), 9);
        }
    }

    [Fact]
    public void Population_of_cells_matches_single_compartments_exactly()
    {
        var pop = new HodgkinHuxleyPopulation(7, HodgkinHuxleyParameters.Classic);
        var single = Classic();
        for (int k = 0; k < 3000; k++)
        {
            double s = k >= 500 && k < 600 ? 20 : 0;
            pop.Step(s, 0.01);
            single.Step(s, 0.01);
        }

        for (int i = 0; i < 7; i++) Assert.Equal(single.VoltageMv, pop.VoltageMv(i));
        Assert.Equal(single.M, pop.Membrane.M(6));
    }

    [Theory]
    [InlineData(RateEvaluation.NeuronTable)]
    [InlineData(RateEvaluation.StepTable)]
    [InlineData(RateEvaluation.Exact)]
    public void Population_cells_in_different_states_each_match_their_own_single_compartment(RateEvaluation rates)
    {
        // Every lane different (rest, depolarised, both table ends, NaN-free extremes), so a lane mixed up or a
        // gate transposed wrongly shows; 9 cells: two blocks of four and one cell stepped alone.
        var p = HodgkinHuxleyParameters.Classic with { Rates = rates };
        double[] starts = [-65, -40, 20, -150, 130, -72.3, -55.5, 0.25, 99.9];
        var pop = new HodgkinHuxleyPopulation(starts.Length, p);
        var singles = new HodgkinHuxley[starts.Length];
        for (int i = 0; i < starts.Length; i++)
        {
            pop.Membrane.V[i] = starts[i];
            singles[i] = new HodgkinHuxley(p);
            singles[i].SetState(starts[i], pop.Membrane.M(i), pop.Membrane.H(i), pop.Membrane.N(i));
        }

        for (int k = 0; k < 2000; k++)
        {
            double s = k % 700 < 60 ? 15 : 0;
            pop.Step(s, 0.01);
            for (int i = 0; i < starts.Length; i++)
            {
                singles[i].Step(s, 0.01);
            }
        }

        for (int i = 0; i < starts.Length; i++)
        {
            Assert.Equal(singles[i].VoltageMv, pop.VoltageMv(i));
            Assert.Equal(singles[i].M, pop.Membrane.M(i));
            Assert.Equal(singles[i].H, pop.Membrane.H(i));
            Assert.Equal(singles[i].N, pop.Membrane.N(i));
        }
    }

    [Fact]
    public void Positions_map_to_segments_as_neuron_does()
    {
        var axon = new HodgkinHuxleyAxon(AxonGeometry.SquidGiantAxon, HodgkinHuxleyParameters.Classic);
        Assert.Equal(500, axon.SegmentAt(0.25));
        Assert.Equal(0.25025, axon.SegmentCentre(500), 12);
        Assert.Equal(0, axon.SegmentAt(0));
        Assert.Equal(1999, axon.SegmentAt(1));
        Assert.Throws<ArgumentException>(() => axon.SegmentAt(1.5));
        Assert.Throws<ArgumentException>(() => new HodgkinHuxleyAxon(AxonGeometry.SquidGiantAxon with { DiameterUm = -1 }, HodgkinHuxleyParameters.Classic));
    }

    private static (List<double> Pre, double[] Post, int Releases) Transmit(SynapseParameters synapse)
    {
        var axon = new HodgkinHuxleyAxon(new AxonGeometry(20, 5000, 200, 100), HodgkinHuxleyParameters.Teaching);
        var circuit = new TransmissionCircuit(axon, new HodgkinHuxley(HodgkinHuxleyParameters.Teaching), synapse);
        const double dt = 0.01;
        int steps = 4000;
        var pre = new double[steps + 1];
        var post = new double[steps + 1];
        pre[0] = axon.VoltageMv(199);
        post[0] = circuit.Postsynaptic.VoltageMv;
        for (int k = 0; k < steps; k++)
        {
            double t = (k + 0.5) * dt;
            circuit.Step(t >= 1 && t < 2 ? 10 : 0, dt);
            pre[k + 1] = axon.VoltageMv(199);
            post[k + 1] = circuit.Postsynaptic.VoltageMv;
        }

        return (SpikeDetector.Detect(pre, dt), post, circuit.Synapse.Releases);
    }

    [Fact]
    public void An_excitatory_synapse_fires_the_next_neuron_after_the_terminal_spike()
    {
        var (pre, post, releases) = Transmit(SynapseParameters.Excitatory);
        double terminal = Assert.Single(pre);
        Assert.Equal(1, releases);
        double postSpike = Assert.Single(SpikeDetector.Detect(post, 0.01));
        // Delay 1 ms, then the EPSP must charge the cell to threshold.
        Assert.InRange(postSpike - terminal, 1, 6);
    }

    [Fact]
    public void An_inhibitory_synapse_hyperpolarises_the_next_neuron()
    {
        var (pre, post, _) = Transmit(SynapseParameters.Inhibitory);
        Assert.Single(pre);
        Assert.Empty(SpikeDetector.Detect(post, 0.01));
        Assert.True(post.Min() < -71, $"IPSP minimum {post.Min()} mV below the −70 mV rest");
    }

    [Fact]
    public void Dual_exponential_peaks_at_the_given_conductance()
    {
        var syn = new DualExponentialSynapse(new SynapseParameters(0, 2, 0.5, 2, 0, 0));
        syn.Step(0, -70, 0.001);
        syn.Step(0.001, 10, 0.001);
        double peak = 0;
        for (int k = 2; k < 20000; k++)
        {
            syn.Step(k * 0.001, -70, 0.001);
            peak = Math.Max(peak, syn.ConductanceMilliSiemensPerCm2);
        }

        Assert.InRange(peak, 1.999, 2.0001);
    }
}
