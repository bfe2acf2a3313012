using Bench.Core.Models;

namespace Bench.Core.Tests;

/// <summary>The passive (RC) membrane: the charging and discharging curves of a resistor and a capacitor, τ = RC.</summary>
public sealed class PassiveMembraneTests
{
    [Fact]
    public void A_current_step_charges_it_exactly_as_an_RC_circuit_and_it_reaches_63_percent_at_tau()
    {
        var model = ModelCatalog.Get("rc").Create();
        const double dt = 0.025, iDensity = 5;   // 5 µA/cm² = 50 nA over the emulated 10⁶ µm²
        double tau = 1 / 0.05, rest = -70, step = iDensity / 0.05;   // τ = Cm/gL = 20 ms; ΔV = I/gL = 100 mV
        double crossed = double.NaN;
        for (int k = 1; k <= 4000; k++)
        {
            model.Step(iDensity, dt);
            double t = k * dt;
            Assert.Equal(rest + (step * (1 - Math.Exp(-t / tau))), model.VoltageMv, 1e-9);
            if (double.IsNaN(crossed) && model.VoltageMv >= rest + (step * (1 - Math.Exp(-1)))) crossed = t;
        }

        Assert.InRange(crossed, tau, tau + dt + 1e-9);   // the first step at or past τ (rounding may put τ itself just below)
        double charged = model.VoltageMv;
        for (int k = 1; k <= 800; k++) model.Step(0, dt);   // 20 ms = τ after the step ends
        Assert.Equal(rest + ((charged - rest) * Math.Exp(-1)), model.VoltageMv, 1e-9);
    }

    [Fact]
    public void Its_time_constant_follows_Cm_over_gL()
    {
        var model = (PassiveMembrane)ModelCatalog.Get("rc").Create(new Dictionary<string, double> { ["Cm"] = 2, ["gL"] = 0.1, ["EL"] = -65 });
        Assert.Equal(20, model.Parameters.TauMs, 1e-12);
        Assert.Equal(-65, model.VoltageMv);
        model.Step(1, 20);   // one exact step of τ
        Assert.Equal(-65 + (10 * (1 - Math.Exp(-1))), model.VoltageMv, 1e-9);
    }
}
