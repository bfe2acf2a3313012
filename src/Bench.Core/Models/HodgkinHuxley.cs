using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Bench.Core.Models;

/// <summary>
/// One Hodgkin–Huxley compartment, stepped as NEURON's fixed-step method steps <c>hh.mod</c>:
/// currents at (V, m, h, n) of the step's start, a linearly implicit Euler step of V
/// (ΔV = (I − i_ion) / (Cm/dt + g)), then each gate by <c>cnexp</c> at the new V.
/// Current densities are in µA/cm², conductances in mS/cm², so the equations need no unit factors.
/// </summary>
/// <remarks>
/// The three gates live in one vector (m, h, n, 0): one table interpolation and one vector exponential
/// serve all three, which is what makes a step cost a few tens of nanoseconds.
/// </remarks>
public sealed class HodgkinHuxley : INeuronModel
{
    private static readonly string[] Observables = ["m", "h", "n", "i_na_uA_per_cm2", "i_k_uA_per_cm2", "i_leak_uA_per_cm2"];
    private readonly double q10;
    private readonly double gNa, gK, gL, eNa, eK, eL, cm, shift;
    private readonly Vector256<double>[]? tableTaus;
    private readonly Vector256<double>[]? tableInfs;
    private double v;
    private Vector256<double> gates;

    /// <summary>Creates a compartment at its initial state.</summary>
    public HodgkinHuxley(HodgkinHuxleyParameters parameters, Integrator integrator = Integrator.ExponentialEuler, string name = "hh")
    {
        Parameters = parameters;
        Integrator = integrator;
        Name = name;
        q10 = parameters.Q10Factor;
        (gNa, gK, gL) = (parameters.GNaMilliSiemensPerCm2, parameters.GKMilliSiemensPerCm2, parameters.GLeakMilliSiemensPerCm2);
        (eNa, eK, eL) = (parameters.ENaMv, parameters.EKMv, parameters.ELeakMv);
        (cm, shift) = (parameters.CmMicrofaradsPerCm2, parameters.RateShiftMv);
        // RK4 is the reference, so it always evaluates the rates exactly.
        if (parameters.UseRateTable && integrator == Integrator.ExponentialEuler)
        {
            (tableTaus, tableInfs) = new HodgkinHuxleyRateTable(q10).VectorRows();
        }

        Reset();
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public string StimulusUnit => "uA/cm2";

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
    public double INaMicroampsPerCm2 => gNa * M * M * M * H * (v - eNa);

    /// <summary>Potassium current density now (µA/cm², positive outward).</summary>
    public double IKMicroampsPerCm2 => gK * N * N * N * N * (v - eK);

    /// <summary>Leak current density now (µA/cm², positive outward).</summary>
    public double ILeakMicroampsPerCm2 => gL * (v - eL);

    /// <inheritdoc/>
    public void Reset()
    {
        v = Parameters.InitialVoltageMv;
        Rates(v, out _, out var inf);
        gates = inf;
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

        var g = gates;
        double m = g.GetElement(0), h = g.GetElement(1), n = g.GetElement(2);
        // Products grouped for a short dependency chain: each step waits on the last, so latency is the cost.
        double gna = (gNa * h) * (m * m * m);
        double n2 = n * n;
        double gk = (gK * n2) * n2;
        double iIon = (gna * (v - eNa)) + (gk * (v - eK)) + (gL * (v - eL));
        // NEURON takes di/dv by a 1 µV finite difference; with the gates frozen i_ion is linear in V, so it is g exactly.
        double vNew = v + ((stimulus - iIon) / ((cm / dtMs) + gL + (gna + gk)));

        Rates(vNew, out var tau, out var inf);
        var decay = Vector256.Exp(Vector256.Create(-dtMs) / tau);
        gates = g + ((Vector256<double>.One - decay) * (inf - g));
        v = vNew;
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

    /// <summary>Time constants (m, h, n, 1) and steady states (m, h, n, 0) at <paramref name="vMv"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Rates(double vMv, out Vector256<double> tau, out Vector256<double> inf)
    {
        double classic = vMv - shift;
        if (tableTaus is null)
        {
            var r = HodgkinHuxleyRates.At(classic, q10);
            tau = Vector256.Create(r.MTauMs, r.HTauMs, r.NTauMs, 1.0);
            inf = Vector256.Create(r.MInf, r.HInf, r.NInf, 0.0);
            return;
        }

        // NEURON's table read: clamp at the ends (NaN too), else linear interpolation on the 1 mV grid.
        double xi = classic - HodgkinHuxleyRateTable.MinMv;
        if (!(xi > 0))
        {
            tau = tableTaus[0];
            inf = tableInfs![0];
            return;
        }

        if (xi >= HodgkinHuxleyRateTable.Intervals)
        {
            tau = tableTaus[HodgkinHuxleyRateTable.Intervals];
            inf = tableInfs![HodgkinHuxleyRateTable.Intervals];
            return;
        }

        int i = (int)xi;
        var theta = Vector256.Create(xi - i);
        // i + 1 ≤ Intervals here, so the reads stay inside the tables without bounds checks.
        ref var t0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(tableTaus), i);
        ref var f0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(tableInfs!), i);
        tau = t0 + (theta * (Unsafe.Add(ref t0, 1) - t0));
        inf = f0 + (theta * (Unsafe.Add(ref f0, 1) - f0));
    }

    private void StepRk4(double stimulus, double dt)
    {
        Span<double> y = [v, M, H, N];
        Span<double> k1 = stackalloc double[4], k2 = stackalloc double[4], k3 = stackalloc double[4], k4 = stackalloc double[4];
        Span<double> tmp = stackalloc double[4];
        Derivatives(y, stimulus, k1);
        for (int i = 0; i < 4; i++) tmp[i] = y[i] + (0.5 * dt * k1[i]);
        Derivatives(tmp, stimulus, k2);
        for (int i = 0; i < 4; i++) tmp[i] = y[i] + (0.5 * dt * k2[i]);
        Derivatives(tmp, stimulus, k3);
        for (int i = 0; i < 4; i++) tmp[i] = y[i] + (dt * k3[i]);
        Derivatives(tmp, stimulus, k4);
        for (int i = 0; i < 4; i++) y[i] += dt / 6 * (k1[i] + (2 * k2[i]) + (2 * k3[i]) + k4[i]);
        SetState(y[0], y[1], y[2], y[3]);
    }

    private void Derivatives(ReadOnlySpan<double> y, double stimulus, Span<double> dydt)
    {
        double vv = y[0], m = y[1], h = y[2], n = y[3];
        double iIon = (gNa * m * m * m * h * (vv - eNa)) + (gK * n * n * n * n * (vv - eK)) + (gL * (vv - eL));
        var r = HodgkinHuxleyRates.At(vv - shift, q10);
        dydt[0] = (stimulus - iIon) / cm;
        dydt[1] = (r.MInf - m) / r.MTauMs;
        dydt[2] = (r.HInf - h) / r.HTauMs;
        dydt[3] = (r.NInf - n) / r.NTauMs;
    }
}
