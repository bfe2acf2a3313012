namespace Bench.Core.Models;

/// <summary>How a model advances one time step.</summary>
public enum Integrator
{
    /// <summary>
    /// Exponential Euler (the default): gating variables advance exactly for the step's frozen voltage
    /// (Rush–Larsen, NEURON's <c>cnexp</c>); the voltage takes NEURON's linearly implicit Euler step.
    /// First order in dt, stable at the dt a lab uses.
    /// </summary>
    ExponentialEuler,

    /// <summary>Classic fourth-order Runge–Kutta on the full system: the reference for convergence tests.</summary>
    RungeKutta4,
}

/// <summary>
/// A single-compartment neuron model stepped on a fixed grid. The stimulus passed to <see cref="Step"/> is held
/// over the step; callers sample the protocol at the step's midpoint t + dt/2, as NEURON evaluates its
/// electrode currents, so pulse onsets fall exactly on the grid.
/// </summary>
public interface INeuronModel
{
    /// <summary>The catalog name (e.g. <c>hh</c>).</summary>
    string Name { get; }

    /// <summary>The unit the model takes its stimulus in.</summary>
    string StimulusUnit { get; }

    /// <summary>
    /// How fast the stimulus alone moves the potential: mV/ms per unit of stimulus (1/Cm for current densities).
    /// The analysis subtracts it to find where the membrane itself takes off (threshold).
    /// </summary>
    double StimulusSlopeMvPerMsPerUnit { get; }

    /// <summary>Membrane potential now, in mV.</summary>
    double VoltageMv { get; }

    /// <summary>Names of the extra observables (state variables, currents) with their units, e.g. <c>m</c>, <c>i_na_uA_per_cm2</c>.</summary>
    IReadOnlyList<string> ObservableNames { get; }

    /// <summary>Back to the initial state (gates at steady state for the initial voltage).</summary>
    void Reset();

    /// <summary>Advances the model by <paramref name="dtMs"/> with the stimulus held constant over the step.</summary>
    void Step(double stimulus, double dtMs);

    /// <summary>Writes the current observables in the order of <see cref="ObservableNames"/>.</summary>
    void ReadObservables(Span<double> destination);

    /// <summary>
    /// Takes <c>voltages.Length</c> steps of <paramref name="dtMs"/> with <paramref name="stimulus"/> held, writing V
    /// after each: the same steps as calling <see cref="Step"/> that often, without a call per step where the model
    /// has a block kernel.
    /// </summary>
    void Run(double stimulus, double dtMs, Span<double> voltages)
    {
        for (int i = 0; i < voltages.Length; i++)
        {
            Step(stimulus, dtMs);
            voltages[i] = VoltageMv;
        }
    }
}
