using System.Runtime.CompilerServices;
using Bench.Core.Models;
using Bench.Core.Stimulus;

namespace Bench.Core.Simulation;

/// <summary>Runs a single-compartment model under a stimulus protocol on a fixed grid.</summary>
public static class Simulator
{
    /// <summary>The largest number of steps one run may take (a trace of 160 MB).</summary>
    public const long MaxSteps = 20_000_000;

    /// <summary>A potential beyond ±this (mV) means the integration has blown up.</summary>
    public const double DivergedMv = 1e4;

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

        if (dtMs > durationMs)
        {
            throw new ArgumentException($"dt ({dtMs} ms) is longer than the duration ({durationMs} ms)");
        }

        double steps = Math.Round(durationMs / dtMs);
        if (Math.Abs((steps * dtMs) - durationMs) > 1e-9 * durationMs)
        {
            throw new ArgumentException(
                $"duration {durationMs} ms is not a whole number of {dtMs} ms steps; use e.g. {Math.Floor(durationMs / dtMs) * dtMs:0.######} or {Math.Ceiling(durationMs / dtMs) * dtMs:0.######} ms");
        }

        if (steps > MaxSteps)
        {
            throw new ArgumentException($"duration/dt = {steps:0} steps is more than {MaxSteps}; use a larger dt or a shorter duration");
        }

        return Math.Max(1, (int)steps);
    }

    /// <summary>Throws when <paramref name="vMv"/> shows the integration has blown up (not finite, or beyond ±10 V).</summary>
    /// <exception cref="SimulationDivergedException">It has.</exception>
    public static void CheckFinite(double vMv, double timeMs, double dtMs)
    {
        if (!(Math.Abs(vMv) < DivergedMv))
        {
            throw new SimulationDivergedException(timeMs, dtMs);
        }
    }

    /// <summary>Steps taken in one call of <see cref="INeuronModel.Run"/> between checks for a blow-up.</summary>
    private const int BlockSteps = 4096;

    /// <summary>Throws at the first sample of <paramref name="block"/> (sample <paramref name="firstIndex"/> onwards) that shows a blow-up.</summary>
    /// <exception cref="SimulationDivergedException">One does.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void CheckFinite(ReadOnlySpan<double> block, int firstIndex, double dtMs)
    {
        for (int i = 0; i < block.Length; i++)
        {
            CheckFinite(block[i], (firstIndex + i) * dtMs, dtMs);
        }
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
    /// <exception cref="SimulationDivergedException">The potential left any physical range (dt too large for the model).</exception>
    public static double[] Run(INeuronModel model, StimulusProtocol protocol, double durationMs, double dtMs,
        Action<int, INeuronModel>? onSample = null)
    {
        int steps = StepCount(durationMs, dtMs);
        return Run(model, StimulusSchedule.Create(protocol, steps, dtMs), dtMs, onSample);
    }

    /// <summary>Runs <paramref name="model"/> from its initial state for <paramref name="schedule"/>'s steps; as <see cref="Run(INeuronModel, StimulusProtocol, double, double, Action{int, INeuronModel}?)"/>.</summary>
    /// <exception cref="SimulationDivergedException">The potential left any physical range (dt too large for the model).</exception>
    public static double[] Run(INeuronModel model, StimulusSchedule schedule, double dtMs, Action<int, INeuronModel>? onSample = null)
    {
        var v = new double[schedule.Steps + 1];
        model.Reset();
        v[0] = model.VoltageMv;
        onSample?.Invoke(0, model);
        for (int piece = 0; piece < schedule.Count; piece++)
        {
            double stimulus = schedule.Amplitude(piece);
            int end = schedule.End(piece);
            if (onSample is null)
            {
                // Blocks of constant stimulus, checked for a blow-up after each (the first bad sample is the one named).
                for (int k = schedule.Start(piece); k < end; k += BlockSteps)
                {
                    var block = v.AsSpan(k + 1, Math.Min(BlockSteps, end - k));
                    model.Run(stimulus, dtMs, block);
                    CheckFinite(block, k + 1, dtMs);
                }

                continue;
            }

            for (int k = schedule.Start(piece); k < end; k++)
            {
                model.Step(stimulus, dtMs);
                v[k + 1] = model.VoltageMv;
                CheckFinite(v[k + 1], (k + 1) * dtMs, dtMs);
                onSample(k + 1, model);
            }
        }

        return v;
    }
}

/// <summary>The integration blew up: the potential became non-finite or left ±10 V.</summary>
public sealed class SimulationDivergedException : ArgumentException
{
    /// <summary>Creates the exception for a blow-up at <paramref name="timeMs"/>.</summary>
    public SimulationDivergedException(double timeMs, double dtMs)
        : base($"the simulation diverged at t = {timeMs:0.###} ms (the potential left ±10 V); use a smaller --dt than {dtMs} ms or check the parameters")
    {
    }

    /// <summary>Creates the exception.</summary>
    public SimulationDivergedException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public SimulationDivergedException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public SimulationDivergedException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
