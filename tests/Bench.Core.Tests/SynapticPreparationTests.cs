using Bench.Core.Models;
using Bench.Core.Stimulus;
using Xunit.Abstractions;

namespace Bench.Core.Tests;

public class SynapticPreparationTests(ITestOutputHelper output)
{
    private static readonly StimulusProtocol Silent = StimulusProtocol.None;

    private static SynapticPreparation Prep(params SynapseParameters[] synapses) => new(HodgkinHuxleyParameters.Teaching, synapses);

    private static SynapseParameters Excitatory(double weight) => SynapseParameters.Of(SynapseKind.Excitatory, weight);

    private SynapticResponse Report(SynapticResponse r, string what)
    {
        output.WriteLine($"{what}: rest {r.RestMv:F2}, EPSP {r.PeakDepolarisationMv:F3} mV, IPSP {r.PeakHyperpolarisationMv:F3} mV, spikes {r.PostsynapticSpikeTimesMs.Count}, releases {string.Join("/", r.Releases)}");
        return r;
    }

    [Fact]
    public void The_epsp_grows_with_the_synapses_weight_below_threshold()
    {
        double previous = 0;
        foreach (double weight in new[] { 0.01, 0.02, 0.04, 0.08 })
        {
            var r = Report(Prep(Excitatory(weight)).Run([SynapticPreparation.PresynapticSpikes(5)], 40), $"weight {weight}");
            Assert.Equal(1, r.Releases[0]);
            Assert.False(r.Fired);
            Assert.Equal(-70, r.RestMv, 2);
            Assert.True(r.PeakDepolarisationMv > previous + 0.05, $"weight {weight}: {r.PeakDepolarisationMv} mV after {previous} mV");
            previous = r.PeakDepolarisationMv;
        }
    }

    [Fact]
    public void Two_epsps_close_in_time_sum_to_more_than_one()
    {
        // A warmer presynaptic cell, so that it fires again 4 ms later (the teaching membrane at 6.3 °C needs 8).
        var prep = new SynapticPreparation(HodgkinHuxleyParameters.Teaching, [Excitatory(0.04)], HodgkinHuxleyParameters.Teaching with { TemperatureCelsius = 18.5 });
        var one = Report(prep.Run([SynapticPreparation.PresynapticSpikes(5)], 40), "one");
        var two = Report(prep.Run([SynapticPreparation.PresynapticSpikes(5, 9)], 40), "two, 4 ms apart");
        var far = Report(prep.Run([SynapticPreparation.PresynapticSpikes(5, 60)], 100), "two, 55 ms apart");
        Assert.Equal(2, two.Releases[0]);
        Assert.False(two.Fired);
        Assert.True(two.PeakDepolarisationMv > 1.2 * one.PeakDepolarisationMv);
        // Far apart, the first has decayed: no summation.
        Assert.InRange(far.PeakDepolarisationMv, 0.9 * one.PeakDepolarisationMv, 1.1 * one.PeakDepolarisationMv);
    }

    [Fact]
    public void Two_synapses_onto_one_cell_sum_and_together_can_fire_it()
    {
        var single = Report(Prep(Excitatory(0.04)).Run([SynapticPreparation.PresynapticSpikes(5)], 40), "one synapse");
        var both = Report(Prep(Excitatory(0.04), Excitatory(0.04)).Run([SynapticPreparation.PresynapticSpikes(5), SynapticPreparation.PresynapticSpikes(5)], 40), "two synapses");
        Assert.False(both.Fired);
        Assert.True(both.PeakDepolarisationMv > 1.5 * single.PeakDepolarisationMv);
        var alone = Report(Prep(Excitatory(0.07)).Run([SynapticPreparation.PresynapticSpikes(5)], 40), "strong alone");
        var together = Report(Prep(Excitatory(0.07), Excitatory(0.07)).Run([SynapticPreparation.PresynapticSpikes(5), SynapticPreparation.PresynapticSpikes(5)], 40), "strong together");
        Assert.False(alone.Fired);
        Assert.True(together.Fired);
        // One spike of the postsynaptic cell, after the release delay.
        Assert.InRange(Assert.Single(together.PostsynapticSpikeTimesMs), 6, 15);
    }

    [Fact]
    public void An_inhibitory_synapse_opposes_an_epsp()
    {
        var inhibitory = SynapseParameters.Of(SynapseKind.Inhibitory, 0.1);
        var epsp = Report(Prep(Excitatory(0.06), inhibitory).Run([SynapticPreparation.PresynapticSpikes(5), Silent], 40), "EPSP");
        var ipsp = Report(Prep(Excitatory(0.06), inhibitory).Run([Silent, SynapticPreparation.PresynapticSpikes(5)], 40), "IPSP");
        var both = Report(Prep(Excitatory(0.06), inhibitory).Run([SynapticPreparation.PresynapticSpikes(5), SynapticPreparation.PresynapticSpikes(5)], 40), "both");
        Assert.True(ipsp.PeakHyperpolarisationMv > 0.2);
        Assert.True(ipsp.PeakDepolarisationMv < 0.1, "at most a small rebound above rest");
        Assert.True(both.PeakDepolarisationMv < 0.7 * epsp.PeakDepolarisationMv);
        // …and keeps a combination that fires from firing.
        var strong = Excitatory(0.07);
        Assert.True(Prep(strong, strong).Run([SynapticPreparation.PresynapticSpikes(5), SynapticPreparation.PresynapticSpikes(5)], 40).Fired);
        var vetoed = Report(Prep(strong, strong, SynapseParameters.Of(SynapseKind.Inhibitory, 0.5))
            .Run([SynapticPreparation.PresynapticSpikes(5), SynapticPreparation.PresynapticSpikes(5), SynapticPreparation.PresynapticSpikes(4)], 40), "vetoed");
        Assert.False(vetoed.Fired);
    }

    [Fact]
    public void Mistakes_are_named()
    {
        Assert.Contains("weight", Assert.Throws<ArgumentException>(() => SynapseParameters.Of(SynapseKind.Excitatory, -1)).Message);
        Assert.Contains("at least one synapse", Assert.Throws<ArgumentException>(() => Prep()).Message);
        Assert.Contains("one protocol per presynaptic cell", Assert.Throws<ArgumentException>(() => Prep(Excitatory(0.1)).Run([], 10)).Message);
    }
}
