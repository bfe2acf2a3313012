using Bench.Core.Models;
using Xunit.Abstractions;

namespace Bench.Core.Tests;

public class ConductionVelocityTests(ITestOutputHelper output)
{
    /// <summary>Least-squares slope of log velocity against log diameter.</summary>
    private static double Exponent(double[] diameters, double[] velocities)
    {
        var x = diameters.Select(d => Math.Log(d)).ToArray();
        var y = velocities.Select(v => Math.Log(v)).ToArray();
        double mx = x.Average(), my = y.Average();
        return x.Zip(y, (a, b) => (a - mx) * (b - my)).Sum() / x.Sum(a => (a - mx) * (a - mx));
    }

    private static double Squid(double diameterUm) => ConductionVelocity.Measure(
        new HodgkinHuxleyAxon(AxonGeometry.SquidGiantAxon with { DiameterUm = diameterUm }, HodgkinHuxleyParameters.Classic with { TemperatureCelsius = 18.5 }),
        0.25, 0.75, 5000 * diameterUm / 476, 0.5, 10, 0.01).VelocityMPerS;

    private static ConductionMeasurement Myelinated(double fibreDiameterUm, double dtMs = 0.002) =>
        ConductionVelocity.Measure(new MyelinatedAxon(new MyelinatedAxonGeometry(fibreDiameterUm, 31)), 0.2, 0.8, 5, 0.1, 5, dtMs);

    [Fact]
    public void The_squid_giant_axon_conducts_at_its_known_velocity()
    {
        var m = ConductionVelocity.Measure(new HodgkinHuxleyAxon(AxonGeometry.SquidGiantAxon, HodgkinHuxleyParameters.Classic with { TemperatureCelsius = 18.5 }),
            0.25, 0.75, 5000, 0.5, 10, 0.01);
        // Hodgkin & Huxley (1952) computed 18.8 m/s; NEURON's discretisation of the same cable gives ≈ 18.4–18.7.
        Assert.InRange(m.VelocityMPerS, 18.0, 19.0);
        Assert.Equal(10_000, m.ToUm - m.FromUm, 6);
    }

    [Fact]
    public void Unmyelinated_velocity_grows_as_the_square_root_of_diameter()
    {
        double[] d = [119, 238, 476, 952];
        double[] v = [.. d.Select(Squid)];
        double exponent = Exponent(d, v);
        output.WriteLine($"{string.Join(", ", v.Select(x => x.ToString("F2")))} m/s; exponent {exponent:F3}");
        Assert.InRange(exponent, 0.4, 0.6);
    }

    [Fact]
    public void A_myelinated_fibre_conducts_at_about_five_and_a_half_m_per_s_per_um()
    {
        var m = Myelinated(10);
        output.WriteLine($"10 um: {m.VelocityMPerS:F2} m/s");
        Assert.InRange(m.VelocityMPerS, 40, 70);
        // The fine time step changes it little.
        Assert.InRange(Myelinated(10, 0.001).VelocityMPerS, 0.97 * m.VelocityMPerS, 1.03 * m.VelocityMPerS);
    }

    [Fact]
    public void Myelinated_velocity_grows_linearly_with_fibre_diameter()
    {
        double[] d = [2, 5, 10, 20];
        double[] v = [.. d.Select(x => Myelinated(x).VelocityMPerS)];
        double exponent = Exponent(d, v);
        output.WriteLine($"{string.Join(", ", v.Select(x => x.ToString("F2")))} m/s; exponent {exponent:F3}");
        Assert.InRange(exponent, 0.8, 1.2);
        Assert.All(v.Zip(d, (vel, dia) => vel / dia), perUm => Assert.InRange(perUm, 4, 7));
    }

    [Fact]
    public void Myelin_speeds_conduction_far_beyond_a_bare_axon_of_the_same_diameter()
    {
        // A 7 µm axon (the 10 µm fibre's) without myelin, HH nodes' membrane all along: about 1-2 m/s, not 50.
        var bare = ConductionVelocity.Measure(new HodgkinHuxleyAxon(new AxonGeometry(7, 5000, 500, 70), MyelinatedAxon.DefaultNodeMembrane), 0.2, 0.8, 5, 0.1, 10, 0.005);
        var myelinated = Myelinated(10);
        output.WriteLine($"bare {bare.VelocityMPerS:F2} m/s, myelinated {myelinated.VelocityMPerS:F2} m/s");
        Assert.True(myelinated.VelocityMPerS > 5 * bare.VelocityMPerS);
    }

    [Fact]
    public void The_myelinated_axon_is_laid_out_as_nodes_and_internodes()
    {
        var axon = new MyelinatedAxon(new MyelinatedAxonGeometry(10, 5));
        Assert.Equal(1 + (4 * 10), axon.Compartments);
        Assert.True(axon.IsNode(10));
        Assert.False(axon.IsNode(5));
        Assert.Equal(20, axon.NodeCompartment(2));
        Assert.Equal(2 * 1001, axon.PositionUm(20), 6);
        Assert.Equal(20, axon.SiteAt(0.5));
        Assert.Equal(7, axon.Geometry.AxonDiameterUm, 12);
        Assert.Equal(93.75, axon.Geometry.Lamellae, 9);
        Assert.Throws<ArgumentException>(() => axon.SiteAt(-0.1));
        Assert.Contains("nodes", Assert.Throws<ArgumentException>(() => new MyelinatedAxon(new MyelinatedAxonGeometry(10, 1))).Message);
        Assert.Contains("g_ratio", Assert.Throws<ArgumentException>(() => new MyelinatedAxon(new MyelinatedAxonGeometry(10, 5) { GRatio = 1.2 })).Message);
        Assert.Contains("beyond", Assert.Throws<ArgumentException>(() => ConductionVelocity.Measure(axon, 0.8, 0.2, 5, 0.1, 5, 0.01)).Message);
        // At rest it stays at rest.
        for (int k = 0; k < 1000; k++) axon.Step(0, 0.01);
        Assert.InRange(axon.VoltageMv(0), -65.1, -64.9);
        Assert.InRange(axon.VoltageMv(5), -65.1, -64.9);
    }
}
