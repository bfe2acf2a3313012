using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Bench.Core.Models;

/// <summary>
/// One Hodgkin–Huxley compartment, stepped as NEURON's fixed-step method steps <c>hh.mod</c>:
/// currents at (V, m, h, n) of the step's start, a linearly implicit Euler step of V
/// (ΔV = (I − i_ion) / (Cm/dt + g)), then each gate by <c>cnexp</c> at the new V.
/// That exponential Euler step is a specialised kernel (<see cref="HodgkinHuxleyKinetics"/>), not the shared
/// <see cref="StateIntegrator"/>: it must reproduce NEURON's digits (its linearly implicit V, not the shared step's
/// exponential one, and NEURON's rate table) at the speed the benchmarks hold it to, and it is shared by populations
/// and axons. Its parameters still come from the one declaration (<see cref="HodgkinHuxleyDeclarations"/>) and
/// <see cref="Integrator.RungeKutta4"/> is the shared integrator on the same equations.
/// Current densities are in µA/cm², conductances in mS/cm², so the equations need no unit factors.
/// </summary>
public sealed class HodgkinHuxley : INeuronModel
{
    private static readonly string[] Observables = ["m", "h", "n", "i_na_uA_per_cm2", "i_k_uA_per_cm2", "i_leak_uA_per_cm2"];
    private readonly HodgkinHuxleyKinetics kinetics;
    private double v;
    private Vector256<double> gates;
    private readonly StateIntegrator? rk4;
    private readonly double[]? rkState;

    /// <summary>Creates a compartment at its initial state.</summary>
    public HodgkinHuxley(HodgkinHuxleyParameters parameters, Integrator integrator = Integrator.ExponentialEuler, string name = "hh")
    {
        Parameters = parameters;
        Integrator = integrator;
        Name = name;
        // RK4 is the reference, so it always evaluates the rates exactly.
        kinetics = new HodgkinHuxleyKinetics(integrator == Integrator.RungeKutta4 ? parameters with { Rates = RateEvaluation.Exact } : parameters);
        if (integrator == Integrator.RungeKutta4)
        {
            // RK4 is the shared integrator on HH's equations; exponential Euler stays the specialised kernel below.
            rk4 = new StateIntegrator(kinetics, Integrator.RungeKutta4);
            rkState = new double[4];
        }

        Reset();
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public string StimulusUnit => "uA/cm2";

    /// <inheritdoc/>
    public double StimulusSlopeMvPerMsPerUnit => 1 / Parameters.CmMicrofaradsPerCm2;

    /// <summary>The parameters.</summary>
    public HodgkinHuxleyParameters Parameters { get; }

    /// <summary>The integration scheme.</summary>
    public Integrator Integrator { get; }

    /// <inheritdoc/>
    public double VoltageMv => v;

    /// <summary>Sodium activation.</summary>
    public double M => gates.GetElement(0);

    /// <summary>Sodium inactivation.</summary>
    public double H => gates.GetElement(1);

    /// <summary>Potassium activation.</summary>
    public double N => gates.GetElement(2);

    /// <inheritdoc/>
    public IReadOnlyList<string> ObservableNames => Observables;

    /// <summary>Sodium current density now (µA/cm², positive outward).</summary>
    public double INaMicroampsPerCm2 => Parameters.GNaMilliSiemensPerCm2 * M * M * M * H * (v - Parameters.ENaMv);

    /// <summary>Potassium current density now (µA/cm², positive outward).</summary>
    public double IKMicroampsPerCm2 => Parameters.GKMilliSiemensPerCm2 * N * N * N * N * (v - Parameters.EKMv);

    /// <summary>Leak current density now (µA/cm², positive outward).</summary>
    public double ILeakMicroampsPerCm2 => Parameters.GLeakMilliSiemensPerCm2 * (v - Parameters.ELeakMv);

    /// <inheritdoc/>
    public void Reset()
    {
        v = Parameters.InitialVoltageMv;
        gates = kinetics.SteadyState(v);
    }

    /// <summary>Sets the state directly (V in mV and the three gates).</summary>
    public void SetState(double vMv, double m, double h, double n)
    {
        v = vMv;
        gates = Vector256.Create(m, h, n, 0.0);
    }

    /// <inheritdoc/>
    public void Step(double stimulus, double dtMs)
    {
        if (Integrator == Integrator.RungeKutta4)
        {
            StepRk4(stimulus, dtMs);
            return;
        }

        v = kinetics.Step(ref gates, v, stimulus, dtMs);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Run(double stimulus, double dtMs, Span<double> voltages)
    {
        if (Integrator == Integrator.RungeKutta4)
        {
            for (int i = 0; i < voltages.Length; i++)
            {
                StepRk4(stimulus, dtMs);
                voltages[i] = v;
            }

            return;
        }

        // V and the gates stay in registers for the whole block: the same arithmetic as Step, no call or store per step.
        var g = gates;
        double x = v;
        for (int i = 0; i < voltages.Length; i++)
        {
            x = kinetics.Step(ref g, x, stimulus, dtMs);
            voltages[i] = x;
        }

        (gates, v) = (g, x);
    }

    /// <inheritdoc/>
    public void ReadObservables(Span<double> destination)
    {
        destination[0] = M;
        destination[1] = H;
        destination[2] = N;
        destination[3] = INaMicroampsPerCm2;
        destination[4] = IKMicroampsPerCm2;
        destination[5] = ILeakMicroampsPerCm2;
    }

    private void StepRk4(double stimulus, double dt)
    {
        var y = rkState!;
        (y[0], y[1], y[2], y[3]) = (v, M, H, N);
        rk4!.Step(y, stimulus, dt);
        SetState(y[0], y[1], y[2], y[3]);
    }
}
