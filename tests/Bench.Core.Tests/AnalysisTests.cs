using Bench.Core.Analysis;
using Bench.Core.Models;
using static Bench.Core.Tests.Helpers;

namespace Bench.Core.Tests;

public class AnalysisTests
{
    [Fact]
    public void Crossings_are_interpolated_and_dead_time_applies()
    {
        double[] v = [-10, -5, 5, 10, -1, 2, -10, -10, 20];
        var spikes = SpikeDetector.Detect(v, 1, 0, deadTimeMs: 3);
        Assert.Equal([1.5, 7 + (1.0 / 3)], spikes);
        var online = new OnlineSpikeDetector(0, 3);
        var found = new List<double>();
        for (int i = 0; i < v.Length; i++) if (online.Add(i, v[i], 1) is double t) found.Add(t);
        Assert.Equal(spikes, found);
    }

    [Fact]
    public void Features_of_a_synthetic_spike_are_measured_exactly()
    {
        // Rest −70, a linear upstroke at 100 mV/ms from −55 to +30, down at −50 mV/ms to −80, linear back to −70.
        var v = new List<double>();
        const double dt = 0.01;
        for (int i = 0; i < 200; i++) v.Add(-70);
        for (double x = -70; x < -55; x += 0.05) v.Add(x);        // 5 mV/ms: below the criterion
        for (double x = -55; x < 30; x += 1) v.Add(x);            // 100 mV/ms
        for (double x = 30; x > -80; x -= 0.5) v.Add(x);          // −50 mV/ms
        for (double x = -80; x < -70; x += 0.01) v.Add(x);
        for (int i = 0; i < 200; i++) v.Add(-70);
        var report = ActionPotentialAnalysis.Analyze(v.ToArray(), dt);
        var ap = Assert.Single(report.Spikes);
        Assert.Equal(-70, report.RestMv, 6);
        // The slope is taken over 0.2 ms, so a kink from 5 to 100 mV/ms reads 10 mV/ms 0.09 ms before it: 0.45 mV lower.
        Assert.InRange(ap.ThresholdMv, -55.5, -55.3);
        Assert.InRange(ap.PeakMv, 29, 30);
        Assert.InRange(ap.AhpMinMv, -80.01, -79.5);
        Assert.InRange(ap.RiseTimeMs, 0.6, 0.75);           // 80 % of 84 mV at 100 mV/ms ≈ 0.68 ms
        Assert.InRange(ap.HalfWidthMs, 0.40 + 0.82, 0.46 + 0.86);
        Assert.True(double.IsNaN(ap.IsiMs));
    }

    [Fact]
    public void Phases_of_a_hodgkin_huxley_action_potential_come_in_the_taught_order()
    {
        var v = Run(ModelCatalog.Get("hh").Create(), Pulse(5, 100, 5), 40);
        var report = ActionPotentialAnalysis.Analyze(v, 0.01);
        var phases = ActionPotentialAnalysis.Phases(v, 0.01, report);
        var order = phases.Select(p => p.Phase).Where(p => p != ActionPotentialPhase.Rest).Distinct().ToList();
        Assert.Equal(
            [ActionPotentialPhase.Depolarisation, ActionPotentialPhase.Rising, ActionPotentialPhase.Overshoot, ActionPotentialPhase.Falling, ActionPotentialPhase.AfterHyperpolarisation, ActionPotentialPhase.ReturnToRest],
            order.Take(6));
        var overshoot = phases.First(p => p.Phase == ActionPotentialPhase.Overshoot);
        Assert.InRange(overshoot.EndMs - overshoot.StartMs, 0.3, 1.5);
    }

    [Fact]
    public void Rate_and_intervals_are_reported()
    {
        var v = Run(Classic(), Pulse(0, 200, 10), 200);
        var report = ActionPotentialAnalysis.Analyze(v, 0.01);
        Assert.True(report.Spikes.Count > 5);
        Assert.InRange(report.RateHz, 40, 100);
        Assert.True(report.Spikes.Skip(1).All(s => s.IsiMs > 10 && s.IsiMs < 25));
    }
}
