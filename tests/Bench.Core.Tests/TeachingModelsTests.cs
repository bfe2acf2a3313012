using Bench.Core.Models;
using Bench.Core.Stimulus;
using static Bench.Core.Tests.Helpers;

namespace Bench.Core.Tests;

public class TeachingModelsTests
{
    [Fact]
    public void Lif_fires_at_the_analytic_rate_above_rheobase_and_not_below()
    {
        var lif = ModelCatalog.Get("lif");
        // Rheobase gL·(Vth − EL) = 0.1 · 15 = 1.5 µA/cm².
        Assert.Empty(Spikes(Run(lif.Create(), Pulse(0, 500, 1.45), 500)));
        double current = 3;
        var spikes = Spikes(Run(lif.Create(), Pulse(0, 1000, current), 1000, 0.001), 0.001);
        // Period = t_ref + τ ln((V∞ − Vreset)/(V∞ − Vth)), V∞ = EL + I/gL.
        double vInf = -65 + (current / 0.1);
        double period = 2 + (10 * Math.Log((vInf + 65) / (vInf + 50)));
        double measured = (spikes[^1] - spikes[0]) / (spikes.Count - 1);
        Assert.InRange(measured, period - 0.01, period + 0.01);
    }

    [Fact]
    public void Lif_refractory_period_lasts_exactly_its_length_on_the_grid()
    {
        // A current so strong that the cell fires on the first step it is allowed to: the samples between two
        // spikes are exactly the refractory period.
        var lif = new LeakyIntegrateAndFire(new LeakyIntegrateAndFireParameters());
        var spikeSteps = new List<int>();
        for (int k = 0; k < 400; k++)
        {
            lif.Step(1000, 0.025);
            if (lif.VoltageMv == 30) spikeSteps.Add(k);
        }

        Assert.True(spikeSteps.Count > 3);
        int clamped = spikeSteps[2] - spikeSteps[1] - 1;
        // 2 ms at dt 0.025 ms is 80 steps clamped at reset, then it charges again.
        Assert.Equal(80, clamped);
    }

    [Fact]
    public void Lif_integrators_agree()
    {
        var lif = ModelCatalog.Get("lif");
        var a = Spikes(Run(lif.Create(), Pulse(0, 100, 3), 100, 0.001), 0.001);
        var b = Spikes(Run(lif.Create(integrator: Integrator.RungeKutta4), Pulse(0, 100, 3), 100, 0.001), 0.001);
        Assert.Equal(a.Count, b.Count);
        Assert.InRange(Math.Abs(a[^1] - b[^1]), 0, 0.01);
    }

    [Fact]
    public void FitzHugh_Nagumo_rests_near_minus_70_and_fires_on_a_pulse_with_either_integrator()
    {
        foreach (var integrator in new[] { Integrator.ExponentialEuler, Integrator.RungeKutta4 })
        {
            var fhn = ModelCatalog.Get("fhn").Create(integrator: integrator);
            var rest = Run(fhn, StimulusProtocol.None, 200);
            Assert.InRange(rest[^1], -71, -69);
            var v = Run(fhn, Pulse(10, 1, 1.5), 100);
            Assert.Single(Spikes(v));
            Assert.Empty(Spikes(Run(fhn, Pulse(10, 1, 0.1), 100)));
        }
    }

    [Fact]
    public void Morris_Lecar_rests_near_minus_61_and_fires_repetitively_under_a_strong_step()
    {
        var ml = ModelCatalog.Get("morris-lecar");
        var rest = Run(ml.Create(), StimulusProtocol.None, 500);
        Assert.InRange(rest[^1], -62, -60);
        var spikes = Spikes(Run(ml.Create(), Pulse(0, 1000, 100), 1000));
        Assert.True(spikes.Count >= 5, $"{spikes.Count} spikes");
        Assert.Empty(Spikes(Run(ml.Create(), Pulse(0, 1000, 60), 1000)));
        var rk4 = Spikes(Run(ml.Create(integrator: Integrator.RungeKutta4), Pulse(0, 1000, 100), 1000));
        Assert.Equal(spikes.Count, rk4.Count);
    }

    [Fact]
    public void Izhikevich_presets_show_their_firing_patterns()
    {
        static List<double> Fire(string name) => Spikes(Run(ModelCatalog.Get(name).Create(), Pulse(10, 500, 10), 510, 0.1), 0.1);

        var rs = Fire("izhikevich-rs");
        var fs = Fire("izhikevich-fs");
        var burst = Fire("izhikevich-burst");
        Assert.True(rs.Count >= 3);
        // Regular spiking adapts: the last interval is longer than the first.
        Assert.True(rs[^1] - rs[^2] > 1.5 * (rs[1] - rs[0]), "RS adaptation");
        // Fast spiking fires faster, without much adaptation.
        Assert.True(fs.Count > 2 * rs.Count);
        // Chattering: bursts, so intervals are bimodal (short within a burst, long between).
        var isi = burst.Zip(burst.Skip(1), (a, b) => b - a).ToList();
        Assert.True(isi.Max() > 4 * isi.Min(), "bursting gives short and long intervals");
        Assert.Equal(ModelCatalog.Get("izhikevich").Parameters.Select(p => p.DefaultValue), ModelCatalog.Get("izhikevich-rs").Parameters.Select(p => p.DefaultValue));
    }

    [Fact]
    public void Every_model_is_listed_with_parameters_and_rejects_unknown_ones()
    {
        foreach (var m in ModelCatalog.Models)
        {
            Assert.NotEmpty(m.Parameters);
            var model = m.Create();
            Assert.True(double.IsFinite(model.VoltageMv));
            var e = Assert.Throws<ArgumentException>(() => m.Create(new Dictionary<string, double> { ["nonsense"] = 1 }));
            Assert.Contains("valid parameters: " + m.Parameters[0].Name, e.Message);
        }

        var overridden = (HodgkinHuxley)ModelCatalog.Get("hh").Create(new Dictionary<string, double> { ["gNa"] = 100 });
        Assert.Equal(100, overridden.Parameters.GNaMilliSiemensPerCm2);
        Assert.Throws<ArgumentException>(() => ModelCatalog.Get("nope"));
    }
}
