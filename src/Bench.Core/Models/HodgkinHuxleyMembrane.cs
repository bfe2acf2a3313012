using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Bench.Core.Models;

/// <summary>
/// Many Hodgkin–Huxley membrane patches in structure-of-arrays form, advanced four at a time with AVX2
/// (gathers for NEURON's rate table, vector exponentials for <c>cnexp</c>). The arithmetic is the same as
/// <see cref="HodgkinHuxley"/> patch for patch, so a population of one equals the single compartment.
/// Used by <see cref="HodgkinHuxleyPopulation"/> (independent cells) and <see cref="HodgkinHuxleyAxon"/> (a cable).
/// </summary>
public sealed class HodgkinHuxleyMembrane
{
    private const int Lanes = 4;
    private readonly double[][] columns = new double[6][];
    private readonly HodgkinHuxleyRateTable table;

    /// <summary>Creates <paramref name="count"/> patches at the initial state of <paramref name="parameters"/>.</summary>
    public HodgkinHuxleyMembrane(int count, HodgkinHuxleyParameters parameters)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        Count = count;
        Parameters = parameters;
        table = new HodgkinHuxleyRateTable(parameters.Q10Factor);
        for (int q = 0; q < 6; q++) columns[q] = table.Column(q);
        // Padded to whole vectors; the padding lanes compute harmless values that nobody reads.
        int padded = (count + Lanes - 1) / Lanes * Lanes;
        V = new double[padded];
        M = new double[padded];
        H = new double[padded];
        N = new double[padded];
        Reset();
    }

    /// <summary>Number of patches.</summary>
    public int Count { get; }

    /// <summary>The membrane parameters (rates always come from NEURON's table here).</summary>
    public HodgkinHuxleyParameters Parameters { get; }

    /// <summary>Membrane potentials (mV); length rounded up to a multiple of 4.</summary>
    public double[] V { get; }

    /// <summary>Na⁺ activation per patch.</summary>
    public double[] M { get; }

    /// <summary>Na⁺ inactivation per patch.</summary>
    public double[] H { get; }

    /// <summary>K⁺ activation per patch.</summary>
    public double[] N { get; }

    /// <summary>Every patch at the initial potential with gates at steady state.</summary>
    public void Reset()
    {
        var r = table.At(Parameters.InitialVoltageMv - Parameters.RateShiftMv);
        Array.Fill(V, Parameters.InitialVoltageMv);
        Array.Fill(M, r.MInf);
        Array.Fill(H, r.HInf);
        Array.Fill(N, r.NInf);
    }

    /// <summary>
    /// Ionic current density (µA/cm², outward positive) and its conductance dI/dV (mS/cm²) of every patch at the present state.
    /// </summary>
    public void Currents(Span<double> iIon, Span<double> conductance)
    {
        var p = Parameters;
        var vgNa = Vector256.Create(p.GNaMilliSiemensPerCm2);
        var vgK = Vector256.Create(p.GKMilliSiemensPerCm2);
        var vgL = Vector256.Create(p.GLeakMilliSiemensPerCm2);
        var eNa = Vector256.Create(p.ENaMv);
        var eK = Vector256.Create(p.EKMv);
        var eL = Vector256.Create(p.ELeakMv);
        for (int i = 0; i < V.Length; i += Lanes)
        {
            var v = Vector256.Create(V.AsSpan(i, Lanes));
            var m = Vector256.Create(M.AsSpan(i, Lanes));
            var h = Vector256.Create(H.AsSpan(i, Lanes));
            var n = Vector256.Create(N.AsSpan(i, Lanes));
            var gna = vgNa * h * (m * m * m);
            var n2 = n * n;
            var gk = vgK * n2 * n2;
            var current = (gna * (v - eNa)) + (gk * (v - eK)) + (vgL * (v - eL));
            current.CopyTo(iIon.Slice(i, Lanes));
            (vgL + (gna + gk)).CopyTo(conductance.Slice(i, Lanes));
        }
    }

    /// <summary>Advances every gate by <c>cnexp</c> over <paramref name="dtMs"/> at the present potentials.</summary>
    public void AdvanceGates(double dtMs)
    {
        for (int i = 0; i < V.Length; i += Lanes)
        {
            var v = Vector256.Create(V.AsSpan(i, Lanes));
            AdvanceGates(i, v, dtMs);
        }
    }

    /// <summary>
    /// One fused step for independent patches: linearly implicit V, then gates; the stimulus (µA/cm²) is the same
    /// for every patch.
    /// </summary>
    public void StepIndependent(double stimulus, double dtMs)
    {
        var p = Parameters;
        var vgNa = Vector256.Create(p.GNaMilliSiemensPerCm2);
        var vgK = Vector256.Create(p.GKMilliSiemensPerCm2);
        var vgL = Vector256.Create(p.GLeakMilliSiemensPerCm2);
        var eNa = Vector256.Create(p.ENaMv);
        var eK = Vector256.Create(p.EKMv);
        var eL = Vector256.Create(p.ELeakMv);
        var cmOverDt = Vector256.Create(p.CmMicrofaradsPerCm2 / dtMs);
        var stim = Vector256.Create(stimulus);
        for (int i = 0; i < V.Length; i += Lanes)
        {
            var v = Vector256.Create(V.AsSpan(i, Lanes));
            var m = Vector256.Create(M.AsSpan(i, Lanes));
            var h = Vector256.Create(H.AsSpan(i, Lanes));
            var n = Vector256.Create(N.AsSpan(i, Lanes));
            var gna = vgNa * h * (m * m * m);
            var n2 = n * n;
            var gk = vgK * n2 * n2;
            var current = (gna * (v - eNa)) + (gk * (v - eK)) + (vgL * (v - eL));
            v += (stim - current) / (cmOverDt + vgL + (gna + gk));
            v.CopyTo(V.AsSpan(i, Lanes));
            AdvanceGates(i, v, dtMs);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AdvanceGates(int i, Vector256<double> v, double dtMs)
    {
        // NEURON's table read: xi = V − (−100) clamped to [0, 200]; NaN goes to the lower end (never out of the table).
        var xi = v - Vector256.Create(Parameters.RateShiftMv + HodgkinHuxleyRateTable.MinMv);
        xi = Vector256.ConditionalSelect(Vector256.Equals(xi, xi), xi, Vector256<double>.Zero);
        xi = Vector256.Min(Vector256.Max(xi, Vector256<double>.Zero), Vector256.Create((double)HodgkinHuxleyRateTable.Intervals));
        var floor = Vector256.Floor(xi);
        var theta = xi - floor;
        var i4 = Avx.IsSupported
            ? Avx.ConvertToVector128Int32WithTruncation(floor)
            : Vector128.Create((int)floor[0], (int)floor[1], (int)floor[2], (int)floor[3]);

        var mInf = Lookup(0, i4, theta);
        var mTau = Lookup(1, i4, theta);
        var hInf = Lookup(2, i4, theta);
        var hTau = Lookup(3, i4, theta);
        var nInf = Lookup(4, i4, theta);
        var nTau = Lookup(5, i4, theta);
        var minusDt = Vector256.Create(-dtMs);
        var one = Vector256<double>.One;

        ref var m = ref Unsafe.As<double, Vector256<double>>(ref M[i]);
        ref var h = ref Unsafe.As<double, Vector256<double>>(ref H[i]);
        ref var n = ref Unsafe.As<double, Vector256<double>>(ref N[i]);
        m += (one - Vector256.Exp(minusDt / mTau)) * (mInf - m);
        h += (one - Vector256.Exp(minusDt / hTau)) * (hInf - h);
        n += (one - Vector256.Exp(minusDt / nTau)) * (nInf - n);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe Vector256<double> Lookup(int q, Vector128<int> index, Vector256<double> theta)
    {
        var column = columns[q];
        fixed (double* c = column)
        {
            Vector256<double> a, b;
            if (Avx2.IsSupported)
            {
                a = Avx2.GatherVector256(c, index, 8);
                b = Avx2.GatherVector256(c + 1, index, 8);
            }
            else
            {
                a = Vector256.Create(c[index[0]], c[index[1]], c[index[2]], c[index[3]]);
                b = Vector256.Create(c[index[0] + 1], c[index[1] + 1], c[index[2] + 1], c[index[3] + 1]);
            }

            return a + (theta * (b - a));
        }
    }
}
