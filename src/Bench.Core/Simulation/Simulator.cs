using Bench.Core.Models;
using Bench.Core.Stimulus;

namespace Bench.Core.Simulation;

/// <summary>Runs a single-compartment model under a stimulus protocol on a fixed grid.</summary>
public static class Simulator
{
    /// <summary>The largest number of steps one run may take (memory for the trace stays under 1 GB).</summary>
    public const long MaxSteps = 100_000_000;

    /// <summary>Number of steps for a duration, checking the arguments.</summary>
    /// <exception cref="ArgumentException">Duration or dt not positive and finite, or too many steps.</exception>
    public static int StepCount(double durationMs, double dtMs)
    {
        if (!(dtMs > 0) || !double.IsFinite(dtMs))
        {
            throw new ArgumentException($"dt must be a positive number of ms (got {dtMs})");
        }

        if (!(durationMs > 0) || !double.IsFinite(durationMs))
        {
            throw new ArgumentException($"duration must be a positive number of ms (got {durationMs})");
        }

        double steps = Math.Round(durationMs / dtMs);
        if (steps > MaxSteps)
        {
            throw new ArgumentException($"duration/dt = {steps:0} steps is more than {MaxSteps}; use a larger dt or a shorter duration");
        }

        return Math.Max(1, (int)steps);
    }

    /// <summary>
    /// Runs <paramref name="model"/> from its initial state. The stimulus of step k is the protocol's amplitude at
    /// its midpoint (k + ½)·dt, as NEURON evaluates electrode currents. Returns V at t = 0 and after every step.
    /// </summary>
    /// <param name="model">The model; it is reset first.</param>
    /// <param name="protocol">The stimulus, in the model's unit.</param>
    /// <param name="durationMs">Simulated time.</param>
    /// <param name="dtMs">Step.</param>
    /// <param name="onSample">Called with the sample index and the model after t = 0 and after every step.</param>
    public static double[] Run(INeuronModel model, StimulusProtocol protocol, double durationMs, double dtMs,
        Action<int, INeuronModel>? onSample = null)
    {
        int steps = StepCount(durationMs, dtMs);
        var v = new double[steps + 1];
        model.Reset();
        v[0] = model.VoltageMv;
        onSample?.Invoke(0, model);
        for (int k = 0; k < steps; k++)
        {
            model.Step(protocol.AmplitudeAt((k + 0.5) * dtMs), dtMs);
            v[k + 1] = model.VoltageMv;
            onSample?.Invoke(k + 1, model);
        }

        return v;
    }
}
