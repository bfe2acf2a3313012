using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Bench.Core.Models;

/// <summary>
/// The step of one Hodgkin–Huxley patch in NEURON's fixed-step scheme, shared by the single compartment,
/// populations and the axon so that all three compute bit-for-bit the same thing. The gates live in one vector
/// (m, h, n, 0): one table interpolation and one vector operation serve all three.
/// </summary>
internal sealed class HodgkinHuxleyKinetics : IModelEquations
{
    private readonly double gNa, gK, gL, eNa, eK, eL;
    private readonly double q10;
    private readonly double shift;
    private readonly RateEvaluation mode;
    private readonly Vector256<double>[]? taus;
    private readonly Vector256<double>[]? infs;
    private Vector256<double>[]? decays;
    private Vector256<double>[]? offsets;
    private double coefficientsDt = double.NaN;

    public HodgkinHuxleyKinetics(HodgkinHuxleyParameters p)
    {
        (gNa, gK, gL) = (p.GNaMilliSiemensPerCm2, p.GKMilliSiemensPerCm2, p.GLeakMilliSiemensPerCm2);
        (eNa, eK, eL) = (p.ENaMv, p.EKMv, p.ELeakMv);
        CmMicrofaradsPerCm2 = p.CmMicrofaradsPerCm2;
        shift = p.RateShiftMv;
        q10 = p.Q10Factor;
        mode = p.Rates;
        if (mode != RateEvaluation.Exact)
        {
            (taus, infs) = new HodgkinHuxleyRateTable(q10).VectorRows();
        }
    }

    public double CmMicrofaradsPerCm2 { get; }

    public RateEvaluation Mode => mode;

    public double GNa => gNa;

    public double GK => gK;

    public double GLeak => gL;

    public double ENa => eNa;

    public double EK => eK;

    public double ELeak => eL;

    /// <summary>V − this = the table coordinate xi (shift and the table's −100 mV start together).</summary>
    public double TableOrigin => shift;

    /// <summary>The step-table coefficient rows E (decay) and B (offset) for <paramref name="dtMs"/>; built on first use.</summary>
    public (Vector256<double>[] Decays, Vector256<double>[] Offsets) Coefficients(double dtMs)
    {
        if (dtMs != coefficientsDt)
        {
            BuildCoefficients(dtMs);
        }

        return (decays!, offsets!);
    }

    /// <summary>NEURON's table as vector rows: taus (m, h, n, 1) and steady states (m, h, n, 0); null when the rates are exact.</summary>
    public (Vector256<double>[]? Taus, Vector256<double>[]? Infs) TableRows => (taus, infs);

    /// <summary>Gates at steady state for <paramref name="vMv"/> (NEURON's INITIAL: through the table when it has one).</summary>
    public Vector256<double> SteadyState(double vMv)
    {
        Lookup(vMv, out _, out var inf);
        return inf;
    }

    /// <summary>Ionic current density (µA/cm²) and its conductance dI/dV (mS/cm²) with the gates frozen.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double Current(Vector256<double> gates, double vMv, out double conductance)
    {
        double m = gates.GetElement(0), h = gates.GetElement(1), n = gates.GetElement(2);
        // Products grouped for a short dependency chain: each step waits on the last, so latency is the cost.
        double gna = (gNa * h) * (m * m * m);
        double n2 = n * n;
        double gk = (gK * n2) * n2;
        // NEURON takes di/dv by a 1 µV finite difference; with the gates frozen i_ion is linear in V, so it is g exactly.
        conductance = gL + (gna + gk);
        return (gna * (vMv - eNa)) + (gk * (vMv - eK)) + (gL * (vMv - eL));
    }

    /// <summary>
    /// One step of a single patch: a linearly implicit Euler step of V with the gates of the step's start, then
    /// <c>cnexp</c> for the gates at the new V. Returns the new V.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double Step(ref Vector256<double> gates, double vMv, double stimulus, double dtMs)
    {
        double iIon = Current(gates, vMv, out double g);
        double vNew = vMv + ((stimulus - iIon) / ((CmMicrofaradsPerCm2 / dtMs) + g));
        gates = Advance(gates, vNew, dtMs);
        return vNew;
    }

    /// <summary>The gates after <paramref name="dtMs"/> at potential <paramref name="vMv"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<double> Advance(Vector256<double> gates, double vMv, double dtMs)
    {
        if (mode == RateEvaluation.StepTable)
        {
            if (dtMs != coefficientsDt)
            {
                BuildCoefficients(dtMs);
            }

            // x ← E·x + B, with E and B interpolated on the grid.
            InterpolateRows(decays!, offsets!, vMv, out var e, out var b);
            return (e * gates) + b;
        }

        Lookup(vMv, out var tau, out var inf);
        var decay = Vector256.Exp(Vector256.Create(-dtMs) / tau);
        return gates + ((Vector256<double>.One - decay) * (inf - gates));
    }

    private void BuildCoefficients(double dtMs)
    {
        // Allocated once; a change of dt rewrites them in place.
        decays ??= new Vector256<double>[taus!.Length];
        offsets ??= new Vector256<double>[taus!.Length];
        for (int i = 0; i < taus!.Length; i++)
        {
            var e = Vector256.Exp(Vector256.Create(-dtMs) / taus[i]);
            decays[i] = e;
            offsets[i] = (Vector256<double>.One - e) * infs![i];
        }

        coefficientsDt = dtMs;
    }

    /// <summary>Time constants (m, h, n, 1) and steady states (m, h, n, 0) at <paramref name="vMv"/>, as this membrane reads them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Lookup(double vMv, out Vector256<double> tau, out Vector256<double> inf)
    {
        if (taus is null)
        {
            var r = HodgkinHuxleyRates.At(vMv - shift, q10);
            tau = Vector256.Create(r.MTauMs, r.HTauMs, r.NTauMs, 1.0);
            inf = Vector256.Create(r.MInf, r.HInf, r.NInf, 0.0);
            return;
        }

        InterpolateRows(taus, infs!, vMv, out tau, out inf);
    }

    /// <summary>NEURON's table read: clamped at the ends (NaN to the low end), else linear interpolation on the 1 mV grid.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void InterpolateRows(Vector256<double>[] first, Vector256<double>[] second, double vMv, out Vector256<double> a, out Vector256<double> b)
    {
        double xi = vMv - shift - HodgkinHuxleyRateTable.MinMv;
        if (!(xi > 0))
        {
            a = first[0];
            b = second[0];
            return;
        }

        if (xi >= HodgkinHuxleyRateTable.Intervals)
        {
            a = first[HodgkinHuxleyRateTable.Intervals];
            b = second[HodgkinHuxleyRateTable.Intervals];
            return;
        }

        int i = (int)xi;
        var theta = Vector256.Create(xi - i);
        // i + 1 ≤ Intervals here, so the reads stay inside the tables without bounds checks.
        ref var a0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(first), i);
        ref var b0 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(second), i);
        a = a0 + (theta * (Unsafe.Add(ref a0, 1) - a0));
        b = b0 + (theta * (Unsafe.Add(ref b0, 1) - b0));
    }

    /// <inheritdoc/>
    public int StateCount => 4;

    /// <inheritdoc/>
    public int GateStart => 1;

    /// <summary>HH's equations for the shared integrators (state V, m, h, n; exact rates): dV/dt and its ∂/∂V = −g/Cm.</summary>
    public void Derivatives(ReadOnlySpan<double> y, double stimulus, Span<double> dydt, Span<double> selfJacobian)
    {
        double vv = y[0], m = y[1], h = y[2], n = y[3];
        double gna = gNa * m * m * m * h, gk = gK * n * n * n * n;
        double iIon = (gna * (vv - eNa)) + (gk * (vv - eK)) + (gL * (vv - eL));
        dydt[0] = (stimulus - iIon) / CmMicrofaradsPerCm2;
        selfJacobian[0] = -(gna + gk + gL) / CmMicrofaradsPerCm2;
    }

    /// <summary>The gates' steady states and time constants from hh.mod's α/β rates, evaluated exactly.</summary>
    public void Gates(ReadOnlySpan<double> y, Span<double> steadyState, Span<double> tauMs)
    {
        var r = HodgkinHuxleyRates.At(y[0] - shift, q10);
        (steadyState[0], tauMs[0]) = (r.MInf, r.MTauMs);
        (steadyState[1], tauMs[1]) = (r.HInf, r.HTauMs);
        (steadyState[2], tauMs[2]) = (r.NInf, r.NTauMs);
    }
}
