namespace Bench.Core.Models;

/// <summary>An unbranched axon stepped as a cable: what a conduction-velocity measurement needs of it.</summary>
public interface IAxon
{
    /// <summary>Number of compartments (index 0 at x = 0, where current is injected).</summary>
    int Compartments { get; }

    /// <summary>Length from x = 0 to the far end (µm).</summary>
    double LengthUm { get; }

    /// <summary>Position of compartment <paramref name="compartment"/>'s centre from x = 0 (µm).</summary>
    double PositionUm(int compartment);

    /// <summary>Potential of a compartment (mV).</summary>
    double VoltageMv(int compartment);

    /// <summary>
    /// The compartment to record at position <paramref name="x"/> (0…1 of the length): the segment holding it for a
    /// uniform axon (NEURON's <c>sec(x)</c>), the nearest node of Ranvier for a myelinated one.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="x"/> outside 0…1.</exception>
    int SiteAt(double x);

    /// <summary>Back to rest.</summary>
    void Reset();

    /// <summary>Advances by <paramref name="dtMs"/> with <paramref name="injectedNanoamps"/> into x = 0 held over the step.</summary>
    void Step(double injectedNanoamps, double dtMs);
}

/// <summary>
/// Geometry of a myelinated fibre, scaled with the fibre (outer) diameter D as Rushton (1951) and the models after him
/// do: axon diameter g·D (g-ratio 0.7), internode length 100·D (Hursh 1939; McIntyre, Richardson &amp; Grill 2002,
/// J. Neurophysiol. 87:995–1006, Table 1: 1.15 mm at 10 µm), node length 1 µm, myelin thickness (D − d)/2 laid as
/// lamellae of 16 nm period, each lamella two membranes of 0.1 µF/cm² and 1 mS/cm² (McIntyre et al. 2002) in series,
/// axoplasm 70 Ω·cm (McIntyre et al. 2002). Because every length but the node's scales with D and the myelin's
/// capacitance and leak per unit length do not change with D, conduction velocity is proportional to D.
/// </summary>
/// <param name="FibreDiameterUm">Fibre diameter D, axon and myelin (µm).</param>
/// <param name="Nodes">Nodes of Ranvier (at least 2); the fibre is Nodes − 1 internodes long.</param>
public sealed record MyelinatedAxonGeometry(double FibreDiameterUm, int Nodes)
{
    /// <summary>Axon diameter over fibre diameter.</summary>
    public double GRatio { get; init; } = 0.7;

    /// <summary>Node of Ranvier length (µm).</summary>
    public double NodeLengthUm { get; init; } = 1;

    /// <summary>Internode length over fibre diameter.</summary>
    public double InternodeLengthPerFibreDiameter { get; init; } = 100;

    /// <summary>Compartments each internode is divided into.</summary>
    public int SegmentsPerInternode { get; init; } = 9;

    /// <summary>Axoplasm resistivity (Ω·cm).</summary>
    public double AxialResistivityOhmCm { get; init; } = 70;

    /// <summary>Myelin period: thickness of one lamella (µm).</summary>
    public double LamellaPeriodUm { get; init; } = 0.016;

    /// <summary>Capacitance of one myelin membrane (µF/cm²); a lamella has two.</summary>
    public double MyelinMembraneCapacitanceMicrofaradsPerCm2 { get; init; } = 0.1;

    /// <summary>Conductance of one myelin membrane (mS/cm²); a lamella has two.</summary>
    public double MyelinMembraneConductanceMilliSiemensPerCm2 { get; init; } = 1;

    /// <summary>Axon diameter d = g·D (µm).</summary>
    public double AxonDiameterUm => GRatio * FibreDiameterUm;

    /// <summary>Internode length (µm).</summary>
    public double InternodeLengthUm => InternodeLengthPerFibreDiameter * FibreDiameterUm;

    /// <summary>Lamellae in the sheath: its thickness (D − d)/2 over the period.</summary>
    public double Lamellae => (FibreDiameterUm - AxonDiameterUm) / 2 / LamellaPeriodUm;

    /// <summary>The sheath's capacitance per unit of axon membrane area (µF/cm²): 2·lamellae membranes in series.</summary>
    public double MyelinCapacitanceMicrofaradsPerCm2 => MyelinMembraneCapacitanceMicrofaradsPerCm2 / (2 * Lamellae);

    /// <summary>The sheath's leak per unit of axon membrane area (mS/cm²).</summary>
    public double MyelinConductanceMilliSiemensPerCm2 => MyelinMembraneConductanceMilliSiemensPerCm2 / (2 * Lamellae);

    /// <summary>From the first node's centre to the last's (µm).</summary>
    public double LengthUm => (Nodes - 1) * (InternodeLengthUm + NodeLengthUm);

    /// <summary>Checks every field.</summary>
    /// <exception cref="ArgumentException">A field out of range, named with its rule.</exception>
    public void Validate()
    {
        static void Positive(double x, string name)
        {
            if (!(x > 0) || !double.IsFinite(x)) throw new ArgumentException($"{name} must be a positive number (got {x})");
        }

        Positive(FibreDiameterUm, "fibre_diameter_um");
        Positive(NodeLengthUm, "node_length_um");
        Positive(InternodeLengthPerFibreDiameter, "internode length per fibre diameter");
        Positive(AxialResistivityOhmCm, "ra_ohm_cm");
        Positive(LamellaPeriodUm, "lamella period");
        Positive(MyelinMembraneCapacitanceMicrofaradsPerCm2, "myelin membrane capacitance");
        Positive(MyelinMembraneConductanceMilliSiemensPerCm2, "myelin membrane conductance");
        if (!(GRatio > 0 && GRatio < 1)) throw new ArgumentException($"g_ratio (axon over fibre diameter) must be between 0 and 1 (got {GRatio})");
        if (Nodes < 2 || Nodes > 10_000) throw new ArgumentException($"nodes must be a whole number from 2 to 10000 (got {Nodes})");
        if (SegmentsPerInternode < 1 || SegmentsPerInternode > 1000) throw new ArgumentException($"internode_segments must be from 1 to 1000 (got {SegmentsPerInternode})");
    }
}

/// <summary>
/// A myelinated axon: Hodgkin–Huxley nodes of Ranvier joined by passive myelinated internodes, the single-cable
/// simplification of McIntyre, Richardson &amp; Grill (2002) with HH kinetics at the nodes as in Moore, Joyner, Brill,
/// Waxman &amp; Najar-Joa (1978), Biophys. J. 21:147–160. Stepped as <see cref="HodgkinHuxleyAxon"/> is (NEURON's
/// implicit scheme: the tridiagonal system of capacitance, axial coupling and the linearised ionic conductance solved
/// for ΔV each step, then the nodes' gates by <c>cnexp</c>), with the nodes' HH patches in a
/// <see cref="HodgkinHuxleyMembrane"/> so they compute exactly what the single compartment does. The compartments are
/// not uniform (1 µm nodes, internode segments a hundred times longer), so the system is written in absolute currents
/// and solved by a general elimination, not the uniform axon's two-ended one.
/// </summary>
public sealed class MyelinatedAxon : IAxon
{
    private readonly int stride;
    private readonly double[] v, capacitanceMicrofarads, areaCm2, position, coupling, diag, rhs, cPrime;
    private readonly double[] nodeCurrent, nodeConductance;
    private readonly double myelinConductanceMilliSiemensPerCm2, restMv;

    /// <summary>
    /// The node membrane of <see cref="DefaultNodeMembrane"/>: HH kinetics with ten times the squid's Na⁺ and K⁺
    /// densities (a node's Na⁺ channels are far denser than the squid axon's; McIntyre et al. 2002 use 3 S/cm²),
    /// at 20 °C. With it a 10 µm fibre conducts at ≈ 5.5 m/s per µm of fibre diameter, Hursh's (1939) factor of about 6.
    /// </summary>
    public static HodgkinHuxleyParameters DefaultNodeMembrane { get; } = HodgkinHuxleyParameters.Classic with
    {
        GNaMilliSiemensPerCm2 = 1200, GKMilliSiemensPerCm2 = 360, GLeakMilliSiemensPerCm2 = 3, TemperatureCelsius = 20,
    };

    /// <summary>Creates the axon at rest.</summary>
    /// <param name="geometry">The fibre.</param>
    /// <param name="nodeMembrane">The nodes' membrane (default <see cref="DefaultNodeMembrane"/>); the internodes' leak reverses at its initial potential.</param>
    /// <exception cref="ArgumentException">A geometry field out of range.</exception>
    public MyelinatedAxon(MyelinatedAxonGeometry geometry, HodgkinHuxleyParameters? nodeMembrane = null)
    {
        ArgumentNullException.ThrowIfNull(geometry);
        geometry.Validate();
        Geometry = geometry;
        NodeMembrane = nodeMembrane ?? DefaultNodeMembrane;
        Nodes = new HodgkinHuxleyMembrane(geometry.Nodes, NodeMembrane);
        stride = geometry.SegmentsPerInternode + 1;
        int n = ((geometry.Nodes - 1) * stride) + 1;
        Compartments = n;
        (v, capacitanceMicrofarads, areaCm2, position, coupling) = (new double[n], new double[n], new double[n], new double[n], new double[n]);
        (diag, rhs, cPrime) = (new double[n], new double[n], new double[n]);
        (nodeCurrent, nodeConductance) = (new double[geometry.Nodes], new double[geometry.Nodes]);
        myelinConductanceMilliSiemensPerCm2 = geometry.MyelinConductanceMilliSiemensPerCm2;
        restMv = NodeMembrane.InitialVoltageMv;

        double dCm = geometry.AxonDiameterUm * 1e-4;
        double segmentUm = geometry.InternodeLengthUm / geometry.SegmentsPerInternode;
        var lengthUm = new double[n];
        for (int i = 0; i < n; i++)
        {
            bool node = IsNode(i);
            lengthUm[i] = node ? geometry.NodeLengthUm : segmentUm;
            // Centres: node k's at k·(internode + node), an internode segment's half a node and j − ½ segments beyond it
            // (computed, not summed, so the far end is the geometry's length to the last digit).
            int k = i / stride, j = i % stride;
            position[i] = (k * (geometry.InternodeLengthUm + geometry.NodeLengthUm)) + (j == 0 ? 0 : (0.5 * geometry.NodeLengthUm) + ((j - 0.5) * segmentUm));
            areaCm2[i] = Math.PI * dCm * lengthUm[i] * 1e-4;
            capacitanceMicrofarads[i] = (node ? NodeMembrane.CmMicrofaradsPerCm2 : geometry.MyelinCapacitanceMicrofaradsPerCm2) * areaCm2[i];
        }

        LengthUm = position[n - 1];
        // Axial conductance (mS) between centres i and i + 1: half of each one's axoplasm resistance in series.
        double crossSectionCm2 = Math.PI * dCm * dCm / 4;
        for (int i = 0; i + 1 < n; i++)
        {
            double ohms = geometry.AxialResistivityOhmCm * (0.5 * (lengthUm[i] + lengthUm[i + 1]) * 1e-4) / crossSectionCm2;
            coupling[i] = 1000 / ohms;
        }

        Reset();
    }

    /// <summary>The fibre.</summary>
    public MyelinatedAxonGeometry Geometry { get; }

    /// <summary>The nodes' membrane.</summary>
    public HodgkinHuxleyParameters NodeMembrane { get; }

    /// <summary>The nodes' HH patches (state), node k at compartment <see cref="NodeCompartment"/>(k).</summary>
    public HodgkinHuxleyMembrane Nodes { get; }

    /// <inheritdoc/>
    public int Compartments { get; }

    /// <inheritdoc/>
    public double LengthUm { get; }

    /// <summary>The compartment of node <paramref name="node"/> (0-based).</summary>
    public int NodeCompartment(int node) => node * stride;

    /// <summary>True when compartment <paramref name="compartment"/> is a node of Ranvier.</summary>
    public bool IsNode(int compartment) => compartment % stride == 0;

    /// <inheritdoc/>
    public double PositionUm(int compartment) => position[compartment];

    /// <inheritdoc/>
    public double VoltageMv(int compartment) => v[compartment];

    /// <inheritdoc/>
    public int SiteAt(double x)
    {
        if (!(x >= 0 && x <= 1)) throw new ArgumentException($"positions along the axon are between 0 and 1 (got {x})");
        return NodeCompartment((int)Math.Round(x * (Geometry.Nodes - 1)));
    }

    /// <summary>Converts a current into node 0 (nA) into its density there (µA/cm²).</summary>
    public double NanoampsToDensity(double nanoamps) => nanoamps * 1e-3 / areaCm2[0];

    /// <inheritdoc/>
    public void Reset()
    {
        Nodes.Reset();
        Array.Fill(v, restMv);
    }

    /// <inheritdoc/>
    public void Step(double injectedNanoamps, double dtMs)
    {
        int n = Compartments;
        var nodeV = Nodes.V;
        for (int k = 0; k < nodeV.Length; k++) nodeV[k] = v[k * stride];
        Nodes.Currents(nodeCurrent, nodeConductance);

        // Row i in absolute units (µA, mS, µF/ms): (C/dt + g + couplings)·ΔV[i] − G·ΔV[i±1] = I − i_ion + axial current.
        for (int i = 0; i < n; i++)
        {
            double g, iIon;
            if (IsNode(i))
            {
                int k = i / stride;
                g = nodeConductance[k] * areaCm2[i];
                iIon = nodeCurrent[k] * areaCm2[i];
            }
            else
            {
                g = myelinConductanceMilliSiemensPerCm2 * areaCm2[i];
                iIon = g * (v[i] - restMv);
            }

            double left = i > 0 ? coupling[i - 1] : 0, right = i + 1 < n ? coupling[i] : 0;
            diag[i] = (capacitanceMicrofarads[i] / dtMs) + g + left + right;
            rhs[i] = -iIon + (i > 0 ? left * (v[i - 1] - v[i]) : 0) + (i + 1 < n ? right * (v[i + 1] - v[i]) : 0);
        }

        rhs[0] += injectedNanoamps * 1e-3;
        // Thomas elimination of the symmetric system (off-diagonal −coupling).
        double inv = 1 / diag[0];
        cPrime[0] = -coupling[0] * inv;
        rhs[0] *= inv;
        for (int i = 1; i < n; i++)
        {
            inv = 1 / (diag[i] + (coupling[i - 1] * cPrime[i - 1]));
            cPrime[i] = i + 1 < n ? -coupling[i] * inv : 0;
            rhs[i] = (rhs[i] + (coupling[i - 1] * rhs[i - 1])) * inv;
        }

        for (int i = n - 2; i >= 0; i--) rhs[i] -= cPrime[i] * rhs[i + 1];
        for (int i = 0; i < n; i++) v[i] += rhs[i];
        for (int k = 0; k < nodeV.Length; k++) nodeV[k] = v[k * stride];
        Nodes.AdvanceGates(dtMs);
    }
}
