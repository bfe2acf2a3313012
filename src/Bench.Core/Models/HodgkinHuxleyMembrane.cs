using System.Runtime.CompilerServices;
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
        var k = Kinetics;
        var t0 = Avx.UnpackLow(gates[c], gates[c + 1]);       // m0 m1 | n0 n1
        var t1 = Avx.UnpackHigh(gates[c], gates[c + 1]);      // h0 h1 | 0 0
        var t2 = Avx.UnpackLow(gates[c + 2], gates[c + 3]);
        var t3 = Avx.UnpackHigh(gates[c + 2], gates[c + 3]);
        var m = Avx.Permute2x128(t0, t2, 0x20);
        var n = Avx.Permute2x128(t0, t2, 0x31);
        var h = Avx.Permute2x128(t1, t3, 0x20);
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
    /// Gates of patches c…c+3 by the step table at potentials <paramref name="v"/>: the table coordinate is found for
    /// the four at once (clamping as the scalar read does: θ = 0 at either end), then each patch interpolates its row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AdvanceStepTable4(int c, Vector256<double> v, Vector256<double>[] decays, Vector256<double>[] offsets)
    {
        var xi = (v - Vector256.Create(Kinetics.TableOrigin)) - Vector256.Create(HodgkinHuxleyRateTable.MinMv);
        xi = Vector256.ConditionalSelect(Vector256.GreaterThan(xi, Vector256<double>.Zero), xi, Vector256<double>.Zero);
        xi = Vector256.Min(xi, Vector256.Create((double)HodgkinHuxleyRateTable.Intervals));
        var floor = Vector256.Floor(xi);
        var theta = xi - floor;
        var index = Avx.ConvertToVector128Int32WithTruncation(floor);
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
}
