using System.Runtime.Intrinsics;
using Bench.Core.Analysis;
using Bench.Core.Models;
using Bench.Core.Stimulus;
using static Bench.Core.Tests.Helpers;

namespace Bench.Core.Tests;

public class HodgkinHuxleyTests
{
    [Theory]
    [InlineData(-40.0)]
    [InlineData(-55.0)]
    public void Vtrap_is_continuous_through_the_zero_over_zero_points(double singular)
    {
        // αm has 0/0 at −40 mV and αn at −55 mV; the trapped value and its neighbours must agree.
        var at = HodgkinHuxleyRates.At(singular, 1);
        foreach (double offset in new[] { 1e-12, 1e-9, 1e-6, 1e-5, 1e-4, 1e-3 })
        {
            foreach (double sign in new[] { -1.0, 1.0 })
            {
                var near = HodgkinHuxleyRates.At(singular + (sign * offset), 1);
                // Rates change by O(offset); the jump must not be larger than the smooth change.
                Assert.True(Math.Abs(near.MInf - at.MInf) < (0.05 * offset) + 1e-12, $"minf at {singular}+{sign * offset}");
                Assert.True(Math.Abs(near.MTauMs - at.MTauMs) < (0.05 * offset) + 1e-12, $"mtau at {singular}+{sign * offset}");
                Assert.True(Math.Abs(near.NInf - at.NInf) < (0.05 * offset) + 1e-12, $"ninf at {singular}+{sign * offset}");
                Assert.True(Math.Abs(near.NTauMs - at.NTauMs) < (0.5 * offset) + 1e-12, $"ntau at {singular}+{sign * offset}");
            }
        }

        Assert.True(double.IsFinite(at.MInf) && double.IsFinite(at.NInf));
    }

    [Fact]
    public void Vtrap_limits_are_the_analytic_ones()
    {
        // x/(e^(x/y) − 1) → y as x → 0: αm(−40) = 0.1·10 = 1, αn(−55) = 0.01·10 = 0.1.
        Assert.Equal(10, HodgkinHuxleyRates.Vtrap(0, 10), 12);
        Assert.Equal(10 * (1 - (1e-7 / 2)), HodgkinHuxleyRates.Vtrap(1e-6, 10), 12);
        double betaM = 4 * Math.Exp(-(-40.0 + 65) / 18);
        Assert.Equal(1 / (1 + betaM), HodgkinHuxleyRates.At(-40, 1).MInf, 12);
    }

    [Fact]
    public void Gates_start_at_steady_state_and_q10_scales_taus()
    {
        var hh = Classic();
        var r = HodgkinHuxleyRates.At(-65, 1);
        Assert.Equal(-65, hh.VoltageMv);
        Assert.Equal(r.MInf, hh.M, 14);
        Assert.Equal(r.HInf, hh.H, 14);
        Assert.Equal(r.NInf, hh.N, 14);
        var warm = HodgkinHuxleyRates.At(-65, HodgkinHuxleyParameters.Classic with { TemperatureCelsius = 16.3 } is var p ? p.Q10Factor : 0);
        Assert.Equal(3, r.MTauMs / warm.MTauMs, 12);
    }

    [Fact]
    public void Table_matches_exact_rates_on_the_grid_and_closely_between()
    {
        var table = new HodgkinHuxleyKinetics(HodgkinHuxleyParameters.Classic);
        for (double v = -100; v <= 100; v += 1)
        {
            table.Lookup(v, out var tau, out var inf);
            var exact = HodgkinHuxleyRates.At(v, 1);
            Assert.Equal(exact.MTauMs, tau.GetElement(0), 12);
            Assert.Equal(exact.NInf, inf.GetElement(2), 12);
        }

        double worst = 0;
        for (double v = -90; v < 50; v += 0.037)
        {
            var exact = HodgkinHuxleyRates.At(v, 1);
            table.Lookup(v, out _, out var inf);
            worst = Math.Max(worst, Math.Abs(inf.GetElement(0) - exact.MInf));
            worst = Math.Max(worst, Math.Abs(inf.GetElement(1) - exact.HInf));
            worst = Math.Max(worst, Math.Abs(inf.GetElement(2) - exact.NInf));
        }

        Assert.InRange(worst, 1e-6, 5e-3);
        // Outside −100…100 mV NEURON's table holds its end values.
        table.Lookup(150, out var high, out _);
        table.Lookup(100, out var end, out _);
        Assert.Equal(end, high);
    }

    [Fact]
    public void Classic_rests_near_minus_65_and_peaks_near_plus_40()
    {
        var rest = Run(Classic(), StimulusProtocol.None, 500);
        Assert.InRange(rest[^1], -65.1, -64.9);
        var v = Run(Classic(), Pulse(5, 1, 20), 30);
        Assert.Single(Spikes(v));
        Assert.InRange(v.Max(), 38, 45);
    }

    [Fact]
    public void Repetitive_firing_starts_near_6_2_uA_per_cm2_at_about_50_to_60_Hz()
    {
        // Rinzel & Miller (1980): the classic membrane at 6.3 °C begins to fire repetitively at I ≈ 6.2–6.3 µA/cm²,
        // jumping from 0 to ≈ 50–60 Hz (a subcritical Hopf bifurcation: no low rates).
        static int LateSpikes(double amplitude, out double rateHz)
        {
            var v = Run(Classic(), Pulse(50, 1000, amplitude), 1050, 0.025);
            var late = Spikes(v, 0.025).Where(t => t > 550).ToList();
            rateHz = late.Count > 1 ? 1000 * (late.Count - 1) / (late[^1] - late[0]) : 0;
            return late.Count;
        }

        double onset = Bisect(i => LateSpikes(i, out _) >= 5, 5, 8, 0.01);
        Assert.InRange(onset, 6.1, 6.4);
        LateSpikes(onset + 0.05, out double rate);
        Assert.InRange(rate, 48, 62);
        LateSpikes(onset - 0.05, out double below);
        Assert.Equal(0, below);
    }

    [Fact]
    public void Threshold_rises_as_pulses_shorten()
    {
        double previous = 0;
        foreach (double duration in new[] { 5, 2, 1, 0.5, 0.2, 0.1 })
        {
            double threshold = Bisect(a => Spikes(Run(Classic(), Pulse(5, duration, a), 30)).Count > 0, 0, 500, 0.01);
            Assert.True(threshold > previous, $"threshold for {duration} ms ({threshold}) should exceed the longer pulse's ({previous})");
            previous = threshold;
        }

        // Charge at threshold approaches a constant for short pulses (Lapicque): 0.1 ms needs roughly twice the 0.2 ms current.
        double t01 = Bisect(a => Spikes(Run(Classic(), Pulse(5, 0.1, a), 30)).Count > 0, 0, 500, 0.01);
        double t02 = Bisect(a => Spikes(Run(Classic(), Pulse(5, 0.2, a), 30)).Count > 0, 0, 500, 0.01);
        Assert.InRange(t01 / t02, 1.7, 2.1);
    }

    [Fact]
    public void Refractory_period_raises_the_second_threshold()
    {
        double Second(double delayMs) => Bisect(
            a => Spikes(Run(Classic(), Pulses(new PulseTrain(5, 1, 20, 0, 0, 0, 0, 1), new PulseTrain(5 + delayMs, 1, a, 0, 0, 0, 0, 1)), 5 + delayMs + 20)).Count >= 2,
            0, 1000, 0.1);
        double t6 = Second(6), t10 = Second(10), t20 = Second(20);
        Assert.True(t6 > t10 && t10 > t20, $"{t6} > {t10} > {t20}");
        Assert.True(t6 > 3 * t20, "relative refractory period: 6 ms after a spike needs several times the current");
        // Absolute refractory period: 2 ms after the first pulse no current up to 1000 µA/cm² (1 ms) gives a second spike.
        var v = Run(Classic(), Pulses(new PulseTrain(5, 1, 20, 0, 0, 0, 0, 1), new PulseTrain(7, 0.2, 1000, 0, 0, 0, 0, 1)), 30);
        Assert.Single(Spikes(v));
    }

    [Fact]
    public void Anode_break_excitation_follows_a_hyperpolarising_step()
    {
        var v = Run(Classic(), Pulse(5, 20, -10), 50);
        var spikes = Spikes(v);
        var spike = Assert.Single(spikes);
        Assert.InRange(spike, 25, 35);
        Assert.True(v.Take(2500).Max() < -60, "no spike during the hyperpolarising step itself");
    }

    [Fact]
    public void Exponential_euler_converges_at_first_order_to_rk4()
    {
        static double SpikeTime(Integrator integrator, double dt) =>
            Spikes(Run(Classic(table: false, integrator: integrator), Pulse(1, 1, 10), 10, dt), dt)[0];

        double reference = SpikeTime(Integrator.RungeKutta4, 0.0005);
        double e1 = Math.Abs(SpikeTime(Integrator.ExponentialEuler, 0.04) - reference);
        double e2 = Math.Abs(SpikeTime(Integrator.ExponentialEuler, 0.02) - reference);
        double e3 = Math.Abs(SpikeTime(Integrator.ExponentialEuler, 0.01) - reference);
        Assert.True(e1 > e2 && e2 > e3, $"{e1} > {e2} > {e3}");
        Assert.InRange(e1 / e2, 1.6, 2.6);
        Assert.InRange(e2 / e3, 1.6, 2.6);
        Assert.True(e3 < 0.02, $"spike time error at dt 0.01 ms is {e3} ms");
    }

    [Fact]
    public void Rk4_converges_at_high_order()
    {
        static double VAt(double dt)
        {
            var v = Run(Classic(table: false, integrator: Integrator.RungeKutta4), Pulse(1, 1, 10), 4, dt);
            return v[^1];
        }

        double reference = VAt(0.00025);
        double e1 = Math.Abs(VAt(0.004) - reference);
        double e2 = Math.Abs(VAt(0.002) - reference);
        Assert.True(e1 / e2 > 8, $"halving dt should cut the error by about 16 (got {e1 / e2})");
    }

    [Fact]
    public void Table_and_exact_rates_agree_closely()
    {
        var a = Spikes(Run(Classic(table: true), Pulse(5, 100, 10), 120));
        var b = Spikes(Run(Classic(table: false), Pulse(5, 100, 10), 120));
        Assert.Equal(a.Count, b.Count);
        // NEURON's 1 mV table moves the first spike by under 0.05 ms and drifts by under 0.1 % of the elapsed time.
        Assert.InRange(Math.Abs(a[0] - b[0]), 0, 0.05);
        for (int i = 0; i < a.Count; i++) Assert.InRange(Math.Abs(a[i] - b[i]), 0, 0.05 + (0.001 * a[i]));
    }

    [Fact]
    public void Teaching_model_shows_the_lab_numbers()
    {
        var hh = ModelCatalog.Get("hh");
        var rest = Run(hh.Create(), StimulusProtocol.None, 500);
        Assert.InRange(rest[^1], -70.5, -69.5);

        // Threshold by the dV/dt > 10 mV/ms criterion, with stimuli whose own slope stays under the criterion
        // (a step) or that end before the upstroke (a just-suprathreshold 1 ms pulse).
        double pulseThreshold = Bisect(a => Spikes(Run(hh.Create(), Pulse(5, 1, a), 40)).Count > 0, 0, 100, 0.01);
        foreach (var protocol in new[] { Pulse(5, 100, 5), Pulse(5, 1, 1.1 * pulseThreshold), Pulse(5, 2, 7) })
        {
            var v = Run(hh.Create(), protocol, 60);
            var ap = Assert.Single(ActionPotentialAnalysis.Analyze(v, 0.01).Spikes);
            Assert.InRange(ap.ThresholdMv, -58, -52);
            Assert.True(ap.PeakMv > 30, $"overshoot {ap.PeakMv}");
            Assert.True(ap.AhpMinMv < -70.5, $"after-hyperpolarisation {ap.AhpMinMv} below rest");
        }

        // Refractory: a second identical pulse 4 ms later does not fire; 25 ms later it does.
        Assert.Single(Spikes(Run(hh.Create(), Pulses(new PulseTrain(5, 1, 20, 0, 0, 0, 4, 2)), 40)));
        Assert.Equal(2, Spikes(Run(hh.Create(), Pulses(new PulseTrain(5, 1, 20, 0, 0, 0, 25, 2)), 60)).Count);
    }

    [Fact]
    public void Threshold_of_a_strong_pulse_is_found_once_the_stimulus_slope_is_taken_out()
    {
        // 20 µA/cm² into 1 µF/cm² raises V at 20 mV/ms by itself: without the stimulus the criterion would fire at onset.
        var hh = ModelCatalog.Get("hh").Create();
        var protocol = Pulse(5, 1, 20);
        var v = Run(hh, protocol, 30);
        var slope = Enumerable.Range(0, v.Length - 1).Select(k => protocol.AmplitudeAt((k + 0.5) * 0.01) * hh.StimulusSlopeMvPerMsPerUnit).ToArray();
        var naive = Assert.Single(ActionPotentialAnalysis.Analyze(v, 0.01).Spikes);
        var corrected = Assert.Single(ActionPotentialAnalysis.Analyze(v, 0.01, stimulusSlopeMvPerMs: slope).Spikes);
        Assert.InRange(naive.ThresholdMv, -70.1, -69.9);
        Assert.InRange(corrected.ThresholdMv, -56, -48);
        Assert.True(corrected.ThresholdTimeMs > 5.5, $"threshold at {corrected.ThresholdTimeMs} ms, after the pulse has charged the membrane");
    }

    [Fact]
    public void Teaching_model_differs_from_classic_only_in_leak_reversal_and_start()
    {
        var t = HodgkinHuxleyParameters.Teaching;
        Assert.Equal(HodgkinHuxleyParameters.Classic with { ELeakMv = t.ELeakMv, InitialVoltageMv = -70 }, t);
        // Rest at −70 mV is where the steady-state currents cancel.
        var r = HodgkinHuxleyRates.At(-70, 1);
        double i = (120 * Math.Pow(r.MInf, 3) * r.HInf * (-70 - 50)) + (36 * Math.Pow(r.NInf, 4) * (-70 + 77)) + (0.3 * (-70 - t.ELeakMv));
        Assert.InRange(i, -1e-3, 1e-3);
    }

    [Fact]
    public void Observables_report_gates_and_currents()
    {
        var hh = Classic();
        var values = new double[hh.ObservableNames.Count];
        hh.ReadObservables(values);
        Assert.Equal(["m", "h", "n", "i_na_uA_per_cm2", "i_k_uA_per_cm2", "i_leak_uA_per_cm2"], hh.ObservableNames);
        Assert.Equal(hh.M, values[0]);
        // At rest the currents nearly cancel.
        Assert.InRange(values[3] + values[4] + values[5], -0.05, 0.05);
        Assert.True(values[3] < 0 && values[4] > 0, "Na⁺ flows in (negative), K⁺ out (positive)");
    }
}
