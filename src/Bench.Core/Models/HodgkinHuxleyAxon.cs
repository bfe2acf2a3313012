using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Bench.Core.Models;

/// <summary>Geometry and cytoplasm of a uniform unbranched axon.</summary>
/// <param name="DiameterUm">Diameter (µm).</param>
/// <param name="LengthUm">Length (µm).</param>
/// <param name="Segments">Number of compartments (NEURON's nseg).</param>
/// <param name="AxialResistivityOhmCm">Axial resistivity Ra (Ω·cm).</param>
public sealed record AxonGeometry(double DiameterUm, double LengthUm, int Segments, double AxialResistivityOhmCm)
{
    /// <summary>The squid giant axon of Hodgkin &amp; Huxley (1952): 476 µm, 35.4 Ω·cm; 20 mm in 2,000 segments.</summary>
    public static AxonGeometry SquidGiantAxon { get; } = new(476, 20_000, 2_000, 35.4);

    /// <summary>Checks every field.</summary>
    /// <exception cref="ArgumentException">A field is not positive and finite, or segments &lt; 1.</exception>
    public void Validate()
    {
        static void Positive(double x, string name)
        {
            if (!(x > 0) || !double.IsFinite(x)) throw new ArgumentException($"{name} must be a positive number (got {x})");
        }

        Positive(DiameterUm, "diameter_um");
        Positive(LengthUm, "length_um");
        Positive(AxialResistivityOhmCm, "ra_ohm_cm");
        if (Segments < 1 || Segments > 1_000_000) throw new ArgumentException($"segments must be between 1 and 1000000 (got {Segments})");
    }
}

/// <summary>
/// A uniform axon of N Hodgkin–Huxley compartments with sealed ends, discretised as NEURON does
/// (nodes at segment centres (i + ½)/N, current injected at x = 0 enters the first segment) and stepped with
/// NEURON's implicit (backward Euler) scheme: the tridiagonal system of capacitance, axial coupling and the
/// linearised ionic conductance is solved for ΔV every step (Gaussian elimination from both ends at once),
/// then the gates advance by <c>cnexp</c>.
/// </summary>
public sealed class HodgkinHuxleyAxon : IAxon
{
    private readonly double[] iIon;
    private readonly double[] conductance;
    private readonly double[] diag;
    private readonly double[] rhs;
    private readonly double[] cPrime;

    /// <summary>Creates the axon at rest.</summary>
    public HodgkinHuxleyAxon(AxonGeometry geometry, HodgkinHuxleyParameters membrane)
    {
        geometry.Validate();
        Geometry = geometry;
        Membrane = new HodgkinHuxleyMembrane(geometry.Segments, membrane);
        double dxCm = geometry.LengthUm / geometry.Segments * 1e-4;
        double dCm = geometry.DiameterUm * 1e-4;
        SegmentAreaUm2 = Math.PI * geometry.DiameterUm * (geometry.LengthUm / geometry.Segments);
        // Conductance between neighbouring centres per unit membrane area: 1 / (R_axial · area), in mS/cm².
        CouplingMilliSiemensPerCm2 = 1000 * dCm / (4 * geometry.AxialResistivityOhmCm * dxCm * dxCm);
        int n = geometry.Segments;
        iIon = new double[n];
        conductance = new double[n];
        diag = new double[n];
        rhs = new double[n];
        cPrime = new double[n];
    }

    /// <summary>The geometry.</summary>
    public AxonGeometry Geometry { get; }

    /// <summary>The compartments' membranes (state arrays, index 0 at x = 0).</summary>
    public HodgkinHuxleyMembrane Membrane { get; }

    /// <summary>Membrane area of one segment (µm²).</summary>
    public double SegmentAreaUm2 { get; }

    /// <summary>Axial coupling between neighbouring segments per unit area (mS/cm²).</summary>
    public double CouplingMilliSiemensPerCm2 { get; }

    /// <summary>Converts an injected current (nA) into the first segment's current density (µA/cm²).</summary>
    public double NanoampsToDensity(double nanoamps) => nanoamps * 1e5 / SegmentAreaUm2;

    /// <summary>The segment holding position <paramref name="x"/> (0…1), as NEURON's <c>sec(x)</c>.</summary>
    public int SegmentAt(double x)
    {
        if (!(x >= 0 && x <= 1)) throw new ArgumentException($"positions along the axon are between 0 and 1 (got {x})");
        return Math.Min((int)(x * Geometry.Segments), Geometry.Segments - 1);
    }

    /// <summary>Position (0…1) of segment <paramref name="segment"/>'s centre.</summary>
    public double SegmentCentre(int segment) => (segment + 0.5) / Geometry.Segments;

    /// <summary>Potential of a segment (mV).</summary>
    public double VoltageMv(int compartment) => Membrane.V[compartment];

    /// <inheritdoc/>
    public int Compartments => Geometry.Segments;

    /// <inheritdoc/>
    public double LengthUm => Geometry.LengthUm;

    /// <inheritdoc/>
    public double PositionUm(int compartment) => SegmentCentre(compartment) * Geometry.LengthUm;

    /// <inheritdoc/>
    public int SiteAt(double x) => SegmentAt(x);

    /// <summary>Back to rest.</summary>
    public void Reset() => Membrane.Reset();

    /// <summary>Advances by <paramref name="dtMs"/> with <paramref name="injectedNanoamps"/> into x = 0 held over the step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Step(double injectedNanoamps, double dtMs)
    {
        Membrane.Currents(iIon, conductance);
        var v = Membrane.V;
        int n = Geometry.Segments;
        double ga = CouplingMilliSiemensPerCm2;
        double cmOverDt = Membrane.Kinetics.CmMicrofaradsPerCm2 / dtMs;

        // Row i: −ga·ΔV[i−1] + (Cm/dt + g[i] + ga·neighbours)·ΔV[i] − ga·ΔV[i+1] = I[i] − i_ion[i] + axial current.
        if (n == 1)
        {
            rhs[0] = -iIon[0];
            diag[0] = cmOverDt + conductance[0];
        }
        else
        {
            rhs[0] = (ga * (v[1] - v[0])) - iIon[0];
            diag[0] = cmOverDt + conductance[0] + ga;
            rhs[n - 1] = (ga * (v[n - 2] - v[n - 1])) - iIon[n - 1];
            diag[n - 1] = cmOverDt + conductance[n - 1] + ga;
            AssembleInterior(n, ga, cmOverDt + (2 * ga));
        }

        rhs[0] += NanoampsToDensity(injectedNanoamps);
        SolveFromBothEnds(n, -ga);
        Membrane.AdvanceGates(dtMs);
    }

    /// <summary>
    /// Solves the symmetric tridiagonal system (diagonal <see cref="diag"/>, off-diagonal <paramref name="off"/>) in place
    /// in <see cref="rhs"/>, eliminating from both ends toward the middle at once. The two eliminations do not wait on
    /// each other, so the processor runs them side by side: each row's division no longer waits on the last row's.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void SolveFromBothEnds(int n, double off)
    {
        if (n < 3)
        {
            SolveThomas(n, off);
            return;
        }

        int p = n / 2;                       // the middle row, solved last
        // Top: x[i] + c[i]·x[i+1] = r[i] for i < p. Bottom: x[i] + c[i]·x[i−1] = r[i] for i > p.
        double top = 1 / diag[0];
        cPrime[0] = off * top;
        rhs[0] *= top;
        double bottom = 1 / diag[n - 1];
        cPrime[n - 1] = off * bottom;
        rhs[n - 1] *= bottom;
        int rows = Math.Max(p - 1, n - 2 - p);
        for (int j = 1; j <= rows; j++)
        {
            int i = j;
            if (i < p)
            {
                double inv = 1 / (diag[i] - (off * cPrime[i - 1]));
                cPrime[i] = off * inv;
                rhs[i] = (rhs[i] - (off * rhs[i - 1])) * inv;
            }

            int b = n - 1 - j;
            if (b > p)
            {
                double inv = 1 / (diag[b] - (off * cPrime[b + 1]));
                cPrime[b] = off * inv;
                rhs[b] = (rhs[b] - (off * rhs[b + 1])) * inv;
            }
        }

        double xp = (rhs[p] - (off * rhs[p - 1]) - (off * rhs[p + 1])) / (diag[p] - (off * cPrime[p - 1]) - (off * cPrime[p + 1]));
        rhs[p] = xp;
        var v = Membrane.V;
        v[p] += xp;
        for (int j = 1; j <= rows + 1; j++)
        {
            int i = p - j;
            if (i >= 0)
            {
                rhs[i] -= cPrime[i] * rhs[i + 1];
                v[i] += rhs[i];
            }

            int b = p + j;
            if (b < n)
            {
                rhs[b] -= cPrime[b] * rhs[b - 1];
                v[b] += rhs[b];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void SolveThomas(int n, double off)
    {
        double inv = 1 / diag[0];
        cPrime[0] = off * inv;
        rhs[0] *= inv;
        for (int i = 1; i < n; i++)
        {
            inv = 1 / (diag[i] - (off * cPrime[i - 1]));
            cPrime[i] = off * inv;
            rhs[i] = (rhs[i] - (off * rhs[i - 1])) * inv;
        }

        for (int i = n - 2; i >= 0; i--) rhs[i] -= cPrime[i] * rhs[i + 1];
        for (int i = 0; i < n; i++) Membrane.V[i] += rhs[i];
    }

    /// <summary>Rows 1 … n−2 (two neighbours each), four at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AssembleInterior(int n, double ga, double diagonalBase)
    {
        var v = Membrane.V;
        int i = 1;
        var vga = Vector256.Create(ga);
        var vbase = Vector256.Create(diagonalBase);
        for (; i + 4 <= n - 1; i += 4)
        {
            var centre = Vector256.LoadUnsafe(ref v[i]);
            var axial = vga * ((Vector256.LoadUnsafe(ref v[i - 1]) - centre) + (Vector256.LoadUnsafe(ref v[i + 1]) - centre));
            (axial - Vector256.LoadUnsafe(ref iIon[i])).StoreUnsafe(ref rhs[i]);
            (vbase + Vector256.LoadUnsafe(ref conductance[i])).StoreUnsafe(ref diag[i]);
        }

        for (; i < n - 1; i++)
        {
            rhs[i] = (ga * ((v[i - 1] - v[i]) + (v[i + 1] - v[i]))) - iIon[i];
            diag[i] = diagonalBase + conductance[i];
        }
    }
}
