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
/// linearised ionic conductance is solved for ΔV every step (Thomas algorithm), then the gates advance by <c>cnexp</c>.
/// </summary>
public sealed class HodgkinHuxleyAxon
{
    private readonly double[] iIon;
    private readonly double[] conductance;
    private readonly double[] cPrime;
    private readonly double[] dPrime;

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
        int n = Membrane.V.Length;
        iIon = new double[n];
        conductance = new double[n];
        cPrime = new double[n];
        dPrime = new double[n];
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
    public double VoltageMv(int segment) => Membrane.V[segment];

    /// <summary>Back to rest.</summary>
    public void Reset() => Membrane.Reset();

    /// <summary>Advances by <paramref name="dtMs"/> with <paramref name="injectedNanoamps"/> into x = 0 held over the step.</summary>
    public void Step(double injectedNanoamps, double dtMs)
    {
        Membrane.Currents(iIon, conductance);
        var v = Membrane.V;
        int n = Geometry.Segments;
        double ga = CouplingMilliSiemensPerCm2;
        double cmOverDt = Membrane.Parameters.CmMicrofaradsPerCm2 / dtMs;
        double off = -ga;

        // Forward sweep of the Thomas algorithm, assembling each row as it goes (one pass over memory).
        double rhs0 = NanoampsToDensity(injectedNanoamps) - iIon[0] + (n > 1 ? ga * (v[1] - v[0]) : 0);
        double diag0 = cmOverDt + conductance[0] + (n > 1 ? ga : 0);
        cPrime[0] = off / diag0;
        dPrime[0] = rhs0 / diag0;
        for (int i = 1; i < n; i++)
        {
            bool last = i == n - 1;
            double axial = ga * (v[i - 1] - v[i]) + (last ? 0 : ga * (v[i + 1] - v[i]));
            double diag = cmOverDt + conductance[i] + (last ? ga : 2 * ga);
            double inv = 1 / (diag - (off * cPrime[i - 1]));
            cPrime[i] = off * inv;
            dPrime[i] = (axial - iIon[i] - (off * dPrime[i - 1])) * inv;
        }

        // Back substitution straight into V (ΔV added as it is found).
        double dv = dPrime[n - 1];
        v[n - 1] += dv;
        for (int i = n - 2; i >= 0; i--)
        {
            dv = dPrime[i] - (cPrime[i] * dv);
            v[i] += dv;
        }

        Membrane.AdvanceGates(dtMs);
    }
}
