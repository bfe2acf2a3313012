using Bench.Core.Models;

namespace Bench.Core.Tests;

/// <summary>A model's step allocates nothing: every model of the catalog with both integrators, and the new preparations.</summary>
public class StepAllocationTests
{
    /// <summary>Bytes 2,000 steps allocate on this thread, the least of three windows (<see cref="Allocations"/>).</summary>
    private static long Allocated(Action step) => Allocations.Least(() =>
    {
        for (int k = 0; k < 2000; k++) step();
    });

    [Fact]
    public void Every_catalog_model_steps_without_allocating()
    {
        foreach (var descriptor in ModelCatalog.Models)
        {
            foreach (var integrator in new[] { Integrator.ExponentialEuler, Integrator.RungeKutta4 })
            {
                var model = descriptor.Create(integrator: integrator);
                Assert.True(Allocated(() => model.Step(5, 0.01)) == 0, $"{descriptor.Name} {integrator} allocates");
            }
        }
    }

    [Fact]
    public void The_myelinated_axon_and_the_synaptic_preparation_step_without_allocating()
    {
        var axon = new MyelinatedAxon(new MyelinatedAxonGeometry(10, 11));
        Assert.Equal(0, Allocated(() => axon.Step(1, 0.005)));
        var prep = new SynapticPreparation(HodgkinHuxleyParameters.Teaching, [SynapseParameters.Of(SynapseKind.Excitatory, 0.05), SynapseParameters.Of(SynapseKind.Inhibitory, 0.05)]);
        var stimuli = new double[] { 40, 40 };
        Assert.Equal(0, Allocated(() => prep.Step(stimuli, 0.01)));
    }
}
