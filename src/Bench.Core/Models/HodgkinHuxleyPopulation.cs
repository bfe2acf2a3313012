namespace Bench.Core.Models;

/// <summary>
/// A population of independent Hodgkin–Huxley cells (a class's worth of virtual preparations, or a parameter
/// sweep), all receiving the same stimulus. Cells do not wait on each other, so the processor overlaps their steps.
/// </summary>
public sealed class HodgkinHuxleyPopulation
{
    /// <summary>Creates <paramref name="count"/> cells at their initial state.</summary>
    public HodgkinHuxleyPopulation(int count, HodgkinHuxleyParameters parameters)
    {
        Membrane = new HodgkinHuxleyMembrane(count, parameters);
    }

    /// <summary>The cells' membranes (state).</summary>
    public HodgkinHuxleyMembrane Membrane { get; }

    /// <summary>Number of cells.</summary>
    public int Count => Membrane.Count;

    /// <summary>Advances every cell by <paramref name="dtMs"/> with <paramref name="stimulus"/> µA/cm² held over the step.</summary>
    public void Step(double stimulus, double dtMs) => Membrane.StepIndependent(stimulus, dtMs);

    /// <summary>Potential of cell <paramref name="index"/> (mV).</summary>
    public double VoltageMv(int index) => Membrane.V[index];
}
