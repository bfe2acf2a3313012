using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Bench.Core.Models;

/// <summary>
/// Many Hodgkin–Huxley membrane patches: potentials in one array, each patch's gates (m, h, n, 0) in one vector.
/// Every patch is advanced by exactly the arithmetic of <see cref="HodgkinHuxley"/>, so a population of one equals
/// the single compartment bit for bit. Used by <see cref="HodgkinHuxleyPopulation"/> (independent cells) and
/// <see cref="HodgkinHuxleyAxon"/> (a cable).
/// </summary>
public sealed class HodgkinHuxleyMembrane
{
    private readonly Vector256<double>[] gates;

    /// <summary>Creates <paramref name="count"/> patches at the initial state of <paramref name="parameters"/>.</summary>
    public HodgkinHuxleyMembrane(int count, HodgkinHuxleyParameters parameters)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        Count = count;
        Parameters = parameters;
        Kinetics = new HodgkinHuxleyKinetics(parameters);
        V = new double[count];
        gates = new Vector256<double>[count];
        Reset();
    }

    /// <summary>Number of patches.</summary>
    public int Count { get; }

    /// <summary>The membrane parameters.</summary>
    public HodgkinHuxleyParameters Parameters { get; }

    /// <summary>Membrane potentials (mV).</summary>
    public double[] V { get; }

    internal Vector256<double>[] Gates => gates;

    internal HodgkinHuxleyKinetics Kinetics { get; }

    /// <summary>Na⁺ activation of patch <paramref name="i"/>.</summary>
    public double M(int i) => gates[i].GetElement(0);

    /// <summary>Na⁺ inactivation of patch <paramref name="i"/>.</summary>
    public double H(int i) => gates[i].GetElement(1);

    /// <summary>K⁺ activation of patch <paramref name="i"/>.</summary>
    public double N(int i) => gates[i].GetElement(2);

    /// <summary>Every patch at the initial potential with gates at steady state.</summary>
    public void Reset()
    {
        Array.Fill(V, Parameters.InitialVoltageMv);
        Array.Fill(gates, Kinetics.SteadyState(Parameters.InitialVoltageMv));
    }

    /// <summary>One step of every patch as an independent cell, all with the same stimulus (µA/cm²).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void StepIndependent(double stimulus, double dtMs)
    {
        var k = Kinetics;
        int blocked = 0;
        if (k.Mode == RateEvaluation.StepTable && Avx.IsSupported)
        {
            // Four cells at a time: currents and V as vectors across cells, gates per cell from the step table.
            blocked = Count & ~3;
            var cmOverDt = Vector256.Create(k.CmMicrofaradsPerCm2 / dtMs);
            var stim = Vector256.Create(stimulus);
            var (decays, offsets) = k.Coefficients(dtMs);
            for (int c = 0; c < blocked; c += 4)
            {
                var v = Vector256.LoadUnsafe(ref V[c]);
                var current = Currents4(c, v, out var conductance);
                v += (stim - current) / (cmOverDt + conductance);
                v.StoreUnsafe(ref V[c]);
                AdvanceStepTable4(c, v, decays, offsets);
            }
        }
        else if (k.Mode == RateEvaluation.NeuronTable && Avx.IsSupported)
        {
            // Four cells at a time, and each gate across the four cells: m, h and n vectors, so the three
            // exponentials fill every lane (the single compartment's vector (m, h, n, 0) wastes one).
            blocked = Count & ~3;
            var cmOverDt = Vector256.Create(k.CmMicrofaradsPerCm2 / dtMs);
            var stim = Vector256.Create(stimulus);
            var (taus, infs) = k.TableRows;
            for (int c = 0; c < blocked; c += 4)
            {
                var v = Vector256.LoadUnsafe(ref V[c]);
                Transpose4(c, out var m, out var h, out var n);
                var current = Currents4(m, h, n, v, out var conductance);
                v += (stim - current) / (cmOverDt + conductance);
                v.StoreUnsafe(ref V[c]);
                AdvanceNeuronTable4(c, v, m, h, n, taus!, infs!, dtMs);
            }
        }

        var vs = V.AsSpan();
        var g = gates.AsSpan(0, vs.Length);
        for (int i = blocked; i < vs.Length; i++)
        {
            vs[i] = k.Step(ref g[i], vs[i], stimulus, dtMs);
        }
    }

    /// <summary>Ionic current density (µA/cm²) and conductance (mS/cm²) of every patch at its present state.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void Currents(Span<double> iIon, Span<double> conductance)
    {
        int blocked = Avx.IsSupported ? Count & ~3 : 0;
        for (int c = 0; c < blocked; c += 4)
        {
            Currents4(c, Vector256.LoadUnsafe(ref V[c]), out var g).CopyTo(iIon.Slice(c, 4));
            g.CopyTo(conductance.Slice(c, 4));
        }

        for (int i = blocked; i < Count; i++)
        {
            iIon[i] = Kinetics.Current(gates[i], V[i], out conductance[i]);
        }
    }

    /// <summary>Advances every patch's gates over <paramref name="dtMs"/> at its present potential.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void AdvanceGates(double dtMs)
    {
        var k = Kinetics;
        int blocked = 0;
        if (k.Mode == RateEvaluation.StepTable && Avx.IsSupported)
        {
            blocked = Count & ~3;
            var (decays, offsets) = k.Coefficients(dtMs);
            for (int c = 0; c < blocked; c += 4)
            {
                AdvanceStepTable4(c, Vector256.LoadUnsafe(ref V[c]), decays, offsets);
            }
        }
        else if (k.Mode == RateEvaluation.NeuronTable && Avx.IsSupported)
        {
            blocked = Count & ~3;
            var (taus, infs) = k.TableRows;
            for (int c = 0; c < blocked; c += 4)
            {
                Transpose4(c, out var m, out var h, out var n);
                AdvanceNeuronTable4(c, Vector256.LoadUnsafe(ref V[c]), m, h, n, taus!, infs!, dtMs);
            }
        }

        for (int i = blocked; i < Count; i++)
        {
            gates[i] = k.Advance(gates[i], V[i], dtMs);
        }
    }

    /// <summary>
    /// Currents of patches c…c+3 as one vector: the gates are transposed from per-patch (m, h, n, 0) vectors into
    /// m, h and n vectors; the arithmetic is <see cref="HodgkinHuxleyKinetics.Current"/>'s, operation for operation.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Vector256<double> Currents4(int c, Vector256<double> v, out Vector256<double> conductance)
    {
        Transpose4(c, out var m, out var h, out var n);
        return Currents4(m, h, n, v, out conductance);
    }

    /// <summary>The gates of patches c…c+3, from per-patch (m, h, n, 0) vectors into m, h and n vectors across the four.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Transpose4(int c, out Vector256<double> m, out Vector256<double> h, out Vector256<double> n) =>
        Transpose(gates[c], gates[c + 1], gates[c + 2], gates[c + 3], out m, out h, out n);

    /// <summary>Four per-patch (m, h, n, ·) vectors into one m, one h and one n vector across the four patches.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose(Vector256<double> a, Vector256<double> b, Vector256<double> c, Vector256<double> d,
        out Vector256<double> m, out Vector256<double> h, out Vector256<double> n)
    {
        var t0 = Avx.UnpackLow(a, b);       // m0 m1 | n0 n1
        var t1 = Avx.UnpackHigh(a, b);      // h0 h1 | · ·
        var t2 = Avx.UnpackLow(c, d);
        var t3 = Avx.UnpackHigh(c, d);
        m = Avx.Permute2x128(t0, t2, 0x20);
        n = Avx.Permute2x128(t0, t2, 0x31);
        h = Avx.Permute2x128(t1, t3, 0x20);
    }

    /// <summary>Currents of four patches from their m, h and n vectors (<see cref="HodgkinHuxleyKinetics.Current"/>'s arithmetic).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Vector256<double> Currents4(Vector256<double> m, Vector256<double> h, Vector256<double> n, Vector256<double> v, out Vector256<double> conductance)
    {
        var k = Kinetics;
        var gNa = Vector256.Create(k.GNa);
        var gK = Vector256.Create(k.GK);
        var gL = Vector256.Create(k.GLeak);
        var gna = (gNa * h) * (m * m * m);
        var n2 = n * n;
        var gk = (gK * n2) * n2;
        conductance = gL + (gna + gk);
        return (gna * (v - Vector256.Create(k.ENa))) + (gk * (v - Vector256.Create(k.EK))) + (gL * (v - Vector256.Create(k.ELeak)));
    }

    /// <summary>
    /// The table coordinate of four potentials <paramref name="v"/>, clamped as the scalar read clamps (θ = 0 at either
    /// end): the row <paramref name="index"/> of each and the fraction θ past it, which is returned.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Vector256<double> TableCoordinate4(Vector256<double> v, out Vector128<int> index)
    {
        var xi = (v - Vector256.Create(Kinetics.TableOrigin)) - Vector256.Create(HodgkinHuxleyRateTable.MinMv);
        xi = Vector256.ConditionalSelect(Vector256.GreaterThan(xi, Vector256<double>.Zero), xi, Vector256<double>.Zero);
        xi = Vector256.Min(xi, Vector256.Create((double)HodgkinHuxleyRateTable.Intervals));
        var floor = Vector256.Floor(xi);
        index = Avx.ConvertToVector128Int32WithTruncation(floor);
        return xi - floor;
    }

    /// <summary>
    /// Gates of patches c…c+3 by the step table at potentials <paramref name="v"/>: the table coordinate is found for
    /// the four at once (clamping as the scalar read does: θ = 0 at either end), then each patch interpolates its row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AdvanceStepTable4(int c, Vector256<double> v, Vector256<double>[] decays, Vector256<double>[] offsets)
    {
        var theta = TableCoordinate4(v, out var index);
        for (int j = 0; j < 4; j++)
        {
            int i = index.GetElement(j);
            var th = Vector256.Create(theta.GetElement(j));
            var e0 = decays[i];
            var b0 = offsets[i];
            var e = e0 + (th * (decays[i + 1] - e0));
            var b = b0 + (th * (offsets[i + 1] - b0));
            gates[c + j] = (e * gates[c + j]) + b;
        }
    }

    /// <summary>
    /// Gates of patches c…c+3 by NEURON's table at potentials <paramref name="v"/>, each gate across the four patches.
    /// Every lane computes what <see cref="HodgkinHuxleyKinetics.Advance"/> computes in that gate's lane for one patch:
    /// the same clamped coordinate, the same interpolation of the same rows, the same division −dt/τ, the same
    /// <see cref="Vector256.Exp(Vector256{double})"/> and update, so the result is bit for bit the single compartment's.
    /// <paramref name="m"/>, <paramref name="h"/> and <paramref name="n"/> are the gates before the step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AdvanceNeuronTable4(
        int c, Vector256<double> v, Vector256<double> m, Vector256<double> h, Vector256<double> n,
        Vector256<double>[] taus, Vector256<double>[] infs, double dtMs)
    {
        var theta = TableCoordinate4(v, out var index);

        // Each patch interpolates its rows (τm, τh, τn, 1) and (m∞, h∞, n∞, 0) as the single compartment does.
        ref var tau0 = ref MemoryMarshal.GetArrayDataReference(taus);
        ref var inf0 = ref MemoryMarshal.GetArrayDataReference(infs);
        Interpolate(ref tau0, ref inf0, index.GetElement(0), theta.GetElement(0), out var tauA, out var infA);
        Interpolate(ref tau0, ref inf0, index.GetElement(1), theta.GetElement(1), out var tauB, out var infB);
        Interpolate(ref tau0, ref inf0, index.GetElement(2), theta.GetElement(2), out var tauC, out var infC);
        Interpolate(ref tau0, ref inf0, index.GetElement(3), theta.GetElement(3), out var tauD, out var infD);

        // τ and x∞ transposed to one vector per gate across the patches.
        Transpose(tauA, tauB, tauC, tauD, out var tauM, out var tauH, out var tauN);
        Transpose(infA, infB, infC, infD, out var infM, out var infH, out var infN);

        var minusDt = Vector256.Create(-dtMs);
        var one = Vector256<double>.One;
        m += (one - Vector256.Exp(minusDt / tauM)) * (infM - m);
        h += (one - Vector256.Exp(minusDt / tauH)) * (infH - h);
        n += (one - Vector256.Exp(minusDt / tauN)) * (infN - n);

        // Back to per-patch (m, h, n, 0): the single compartment's fourth lane stays 0 (0 + (1 − e)·(0 − 0)).
        var zero = Vector256<double>.Zero;
        var mh0 = Avx.UnpackLow(m, h);                        // m0 h0 | m2 h2
        var mh1 = Avx.UnpackHigh(m, h);                       // m1 h1 | m3 h3
        var nz0 = Avx.UnpackLow(n, zero);                     // n0 0 | n2 0
        var nz1 = Avx.UnpackHigh(n, zero);                    // n1 0 | n3 0
        gates[c] = Avx.Permute2x128(mh0, nz0, 0x20);
        gates[c + 1] = Avx.Permute2x128(mh1, nz1, 0x20);
        gates[c + 2] = Avx.Permute2x128(mh0, nz0, 0x31);
        gates[c + 3] = Avx.Permute2x128(mh1, nz1, 0x31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Interpolate(
        ref Vector256<double> tau0, ref Vector256<double> inf0, int i, double theta, out Vector256<double> tau, out Vector256<double> inf)
    {
        // i ≤ Intervals and the rows have one extra (a copy of the last), so i + 1 stays inside.
        var th = Vector256.Create(theta);
        ref var a0 = ref Unsafe.Add(ref tau0, i);
        ref var b0 = ref Unsafe.Add(ref inf0, i);
        tau = a0 + (th * (Unsafe.Add(ref a0, 1) - a0));
        inf = b0 + (th * (Unsafe.Add(ref b0, 1) - b0));
    }
}
