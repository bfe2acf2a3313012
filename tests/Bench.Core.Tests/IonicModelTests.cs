using Bench.Core.Analysis;
using Bench.Core.Models;
using Bench.Core.Stimulus;
using static Bench.Core.Tests.Helpers;

namespace Bench.Core.Tests;

public class IonicModelTests
{
    [Theory]
    // Hand-computed: 1000·R·T/(zF)·ln(out/in), R 8.314462618, F 96485.33212, T = °C + 273.15.
    [InlineData(1, 5, 140, 37, -89.0587)]
    [InlineData(1, 145, 12, 37, 66.5982)]
    [InlineData(2, 2, 1e-4, 37, 132.3436)]
    [InlineData(1, 20, 400, 18.5, -75.2901)]
    [InlineData(-1, 110, 10, 20, -60.5749)]
    public void Nernst_potentials_match_hand_computed_figures(int z, double outside, double inside, double celsius, double expectedMv)
    {
        Assert.Equal(expectedMv, Nernst.PotentialMv(z, outside, inside, celsius), 3);
    }

    [Fact]
    public void Nernst_refuses_impossible_inputs_saying_why()
    {
        Assert.Contains("positive", Assert.Throws<ArgumentException>(() => Nernst.PotentialMv(1, 0, 140, 20)).Message);
        Assert.Contains("valence", Assert.Throws<ArgumentException>(() => Nernst.PotentialMv(0, 5, 140, 20)).Message);
        Assert.Contains("absolute zero", Assert.Throws<ArgumentException>(() => Nernst.PotentialMv(1, 5, 140, -300)).Message);
    }

    [Fact]
    public void Defaults_give_hh_reversal_potentials_and_reproduce_the_teaching_model()
    {
        var p = ModelCatalog.Get("hh-ions").ParametersFor<IonicHodgkinHuxleyParameters>();
        Assert.Equal(-77, p.EKMv, 1);
        Assert.Equal(50, p.ENaMv, 1);
        var protocol = Pulse(5, 1, 20);
        var ions = Run(ModelCatalog.Get("hh-ions").Create(), protocol, 30);
        var hh = Run(ModelCatalog.Get("hh").Create(), protocol, 30);
        Assert.InRange(ions.Zip(hh, (a, b) => Math.Abs(a - b)).Max(), 0, 0.05);
        Assert.InRange(ions[(int)(4.9 / 0.01)], -70.01, -69.99);
        var ap = Assert.Single(ActionPotentialAnalysis.Analyze(ions, 0.01).Spikes);
        Assert.InRange(ap.PeakMv, 30, 50);
    }

    private static double Rest(double ko)
    {
        var model = ModelCatalog.Get("hh-ions").Create(new Dictionary<string, double> { ["Ko"] = ko });
        var v = Run(model, StimulusProtocol.None, 300);
        Assert.Empty(Spikes(v));
        return v[^1];
    }

    [Fact]
    public void Raising_extracellular_potassium_depolarises_rest_towards_EK_by_the_chord_conductance_share()
    {
        var descriptor = ModelCatalog.Get("hh-ions");
        double rest0 = Rest(5.72);
        Assert.Equal(-70, rest0, 1);
        double ek0 = descriptor.ParametersFor<IonicHodgkinHuxleyParameters>().EKMv;
        double ek10 = descriptor.ParametersFor<IonicHodgkinHuxleyParameters>(new Dictionary<string, double> { ["Ko"] = 10 }).EKMv;
        Assert.Equal(-63.55, ek10, 1);
        double rest10 = Rest(10);
        // Chord conductance: with the conductances of the old rest, rest would move by g_K/g_total of E_K's move; the
        // K+ gates open as it depolarises, so it moves more, but less than E_K itself (the leak and Na+ hold it back).
        var r = HodgkinHuxleyRates.At(-70, 1);
        double gk = 36 * Math.Pow(r.NInf, 4), gna = 120 * Math.Pow(r.MInf, 3) * r.HInf, total = gk + gna + 0.3;
        double atOldConductances = gk / total * (ek10 - ek0);
        Assert.InRange(rest10 - rest0, atOldConductances, ek10 - ek0);
        // At the new rest the chord-conductance equation holds with the Nernst E_K: rest is their weighted mean.
        var n = HodgkinHuxleyRates.At(rest10, 1);
        double gk10 = 36 * Math.Pow(n.NInf, 4), gna10 = 120 * Math.Pow(n.MInf, 3) * n.HInf;
        double chord = ((gk10 * ek10) + (gna10 * 50.0) + (0.3 * HodgkinHuxleyParameters.TeachingLeakReversalMv)) / (gk10 + gna10 + 0.3);
        Assert.Equal(chord, rest10, 1);
        // Lowering K+ outside hyperpolarises.
        Assert.True(Rest(2.5) < rest0 - 2);
        // The model starts at rest: the solved resting potential is where it stays.
        Assert.Equal(rest10, descriptor.ParametersFor<IonicHodgkinHuxleyParameters>(new Dictionary<string, double> { ["Ko"] = 10 }).RestingPotentialMv, 2);
    }

    [Fact]
    public void At_20_mM_potassium_outside_the_cell_depolarises_past_threshold_into_block()
    {
        // HH's Na+ window current holds it above EK (−46.9 mV) there: depolarisation block, no spikes.
        double rest20 = Rest(20);
        Assert.InRange(rest20, -50, -30);
        Assert.Empty(Spikes(Run(ModelCatalog.Get("hh-ions").Create(new Dictionary<string, double> { ["Ko"] = 20 }), Pulse(50, 1, 20), 200)));
    }
}
