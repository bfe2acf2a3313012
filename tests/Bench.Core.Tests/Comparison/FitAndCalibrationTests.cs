using System.Diagnostics;
using Bench.Core.Comparison;
using Bench.Core.Models;
using Bench.Core.Instrument;
using Xunit.Abstractions;

namespace Bench.Core.Tests.Comparison;

public class FitAndCalibrationTests(ITestOutputHelper output)
{
    private static ComparisonTrace TraceOf(EmulatedRecording rec)
    {
        var c = LiveComparison.Create("hh", null, rec.Setup, new ComparisonOptions { RetainTrace = true, PublishIntervalMs = double.PositiveInfinity });
        rec.Feed(c);
        return c.GetTrace();
    }

    [Fact]
    public void Fitting_recovers_a_mismatched_sodium_conductance_from_a_noisy_recording()
    {
        // 300 ms of an emulated preparation with gNa = 100 (the model says 120) and 0.2 mV noise.
        var rec = EmulatedRecording.Make(6000, new Dictionary<string, double> { ["gNa"] = 100 }, noiseMv: 0.2, seed: 4);
        var trace = TraceOf(rec);
        var watch = Stopwatch.StartNew();
        var fit = ModelFitter.Fit(ModelCatalog.Get("hh"), null, ["gNa"], trace);
        watch.Stop();
        var gNa = Assert.Single(fit.Parameters);
        output.WriteLine($"gNa {gNa.Value} ± {gNa.StandardError}, rmse {fit.RmseBeforeMv} → {fit.RmseAfterMv} mV, {fit.Evaluations} evaluations, {watch.Elapsed.TotalSeconds:0.00} s");
        Assert.Equal(120, gNa.Initial);
        Assert.InRange(gNa.Value, 99.5, 100.5);          // within 0.5 %
        Assert.InRange(gNa.StandardError, 1e-4, 0.5);
        Assert.True(Math.Abs(gNa.Value - 100) < 5 * gNa.StandardError + 0.05);
        Assert.True(fit.RmseAfterMv < 0.25, $"after {fit.RmseAfterMv}");      // the noise (0.2 mV) and quantisation
        Assert.True(fit.RmseBeforeMv > 4 * fit.RmseAfterMv);
        Assert.True(fit.Converged);
        // Cheap: under a hundred runs of the model over the 300 ms (hundredths of a second here). Counted, not timed,
        // so a loaded machine cannot fail it; a fit gone astray takes several times as many.
        Assert.InRange(fit.Evaluations, 1, 200);
    }

    [Fact]
    public void Fitting_four_parameters_recovers_each()
    {
        var truth = new Dictionary<string, double> { ["gNa"] = 100, ["gK"] = 40, ["gL"] = 0.25, ["EL"] = -66 };
        var rec = EmulatedRecording.Make(8000, truth, noiseMv: 0.2, seed: 9);
        var watch = Stopwatch.StartNew();
        var fit = ModelFitter.Fit(ModelCatalog.Get("hh"), null, ["gNa", "gK", "gL", "EL"], TraceOf(rec));
        watch.Stop();
        foreach (var p in fit.Parameters) output.WriteLine($"{p.Name} {p.Value} ± {p.StandardError} (true {truth[p.Name]})");
        output.WriteLine($"rmse {fit.RmseBeforeMv} → {fit.RmseAfterMv} mV, {fit.Evaluations} evaluations, {watch.Elapsed.TotalSeconds:0.00} s, {fit.Warning}");
        var atTruth = LiveComparison.Create("hh", truth, rec.Setup);
        rec.Feed(atTruth);
        output.WriteLine($"rmse with the true parameters {atTruth.GetUpdate().Whole.RmseMv} mV");
        Assert.True(fit.RmseAfterMv < 0.25);
        foreach (var p in fit.Parameters) Assert.InRange(p.Value, truth[p.Name] - (0.03 * Math.Abs(truth[p.Name])), truth[p.Name] + (0.03 * Math.Abs(truth[p.Name])));
    }

    [Fact]
    public void Fitting_an_offset_and_the_temperature_alias_work_and_bad_names_are_refused()
    {
        var rec = EmulatedRecording.Make(3000, noiseMv: 0.1);
        var trace = TraceOf(rec);
        var shifted = trace with { RecordedMv = [.. trace.RecordedMv.Select(v => v + 3)] };
        var fit = ModelFitter.Fit(ModelCatalog.Get("hh"), null, [ModelFitter.OffsetParameter], shifted);
        Assert.Equal(3, fit.OffsetMv, 1);
        var t = ModelFitter.Fit(ModelCatalog.Get("hh"), new Dictionary<string, double> { ["celsius"] = 8 }, ["temperature"], trace, new FitOptions { EstimateUncertainty = false });
        Assert.Equal("celsius", t.Parameters[0].Name);
        Assert.Equal(6.3, t.Parameters[0].Value, 1);
        var e = Assert.Throws<ArgumentException>(() => ModelFitter.Fit(ModelCatalog.Get("hh"), null, ["gCa"], trace));
        Assert.Contains("unknown parameter 'gCa'", e.Message);
        Assert.Contains("gNa", e.Message);
    }

    [Fact]
    public void A_fit_can_be_cancelled_and_reports_progress()
    {
        var trace = TraceOf(EmulatedRecording.Make(2000, new Dictionary<string, double> { ["gNa"] = 100 }));
        using var cts = new CancellationTokenSource();
        int seen = 0;
        Assert.ThrowsAny<OperationCanceledException>(() => ModelFitter.Fit(ModelCatalog.Get("hh"), null, ["gNa"], trace, null, p =>
        {
            seen = p.Evaluation;
            if (p.Evaluation == 5) cts.Cancel();
        }, cts.Token));
        Assert.Equal(5, seen);
    }

    [Fact]
    public void Two_point_calibration_inverts_the_front_end()
    {
        var fe = FrontEnd.Emulated;
        var cal = TwoPointCalibration.ForInput(-80, fe.ToCode(-80), 20, fe.ToCode(20), fe.MaxCode);
        Assert.Equal(fe.Calibration.MillivoltsPerCount, cal.MillivoltsPerCount, 3);
        Assert.Equal(fe.Calibration.OffsetMv, cal.OffsetMv, 0);
        // Hand-computed: 0 mV reads 1000, 100 mV reads 3000 → 0.05 mV per count, 0 mV at 1000: offset −50 mV.
        var hand = TwoPointCalibration.ForInput(0, 1000, 100, 3000);
        Assert.Equal(0.05, hand.MillivoltsPerCount, 12);
        Assert.Equal(-50, hand.OffsetMv, 12);
        Assert.Equal(2000.5, TwoPointCalibration.MeanCounts([2000, 2001]));
        Assert.Contains("same potential", Assert.Throws<ArgumentException>(() => TwoPointCalibration.ForInput(10, 1000, 10, 3000)).Message);
        Assert.Contains("differ by less than", Assert.Throws<ArgumentException>(() => TwoPointCalibration.ForInput(10, 1000, 20, 1005)).Message);
        Assert.Contains("saturated", Assert.Throws<ArgumentException>(() => TwoPointCalibration.ForInput(-80, 100, 200, 4095, 4095)).Message);
        var output = TwoPointCalibration.ForOutput(-1000, -995, 1000, 1005);
        Assert.Equal(1, output.NanoampsPerCode, 12);
        Assert.Equal(5, output.OffsetNanoamps, 12);
        Assert.Equal(300, output.ToCode(305), 12);
        Assert.Contains("different codes", Assert.Throws<ArgumentException>(() => TwoPointCalibration.ForOutput(5, 1, 5, 2)).Message);
        Assert.Contains("did not change", Assert.Throws<ArgumentException>(() => TwoPointCalibration.ForOutput(5, 1, 6, 1)).Message);
    }

    [Fact]
    public void Calibration_against_the_model_recovers_the_front_end()
    {
        var rec = EmulatedRecording.Make(6000, noiseMv: 0.2, seed: 2);
        var trace = TraceOf(rec);
        var result = ModelCalibration.Fit([.. rec.Codes.Select(c => (double)c)], trace.PredictedMv, trace.DtMs);
        var truth = FrontEnd.Emulated.Calibration;
        output.WriteLine($"{result}");
        Assert.True(result.IsGood, result.Warning);
        Assert.False(result.PreparationDiffers);
        Assert.Equal(5, result.ActionPotentials);
        Assert.InRange(result.Calibration.MillivoltsPerCount / truth.MillivoltsPerCount, 0.99, 1.01);
        Assert.InRange(result.Calibration.ToMillivolts(1000) - truth.ToMillivolts(1000), -1, 1);
        Assert.True(result.ResidualRmseMv < 1);
    }

    [Fact]
    public void Calibration_against_the_model_warns_when_it_cannot_be_trusted()
    {
        // The preparation never fires (all gNa gone) while the model does: no AP where the model has one.
        var silent = EmulatedRecording.Make(3000, new Dictionary<string, double> { ["gNa"] = 0 }, noiseMv: 0.2);
        var trace = TraceOf(EmulatedRecording.Make(3000));
        var r = ModelCalibration.Fit([.. silent.Codes.Select(c => (double)c)], trace.PredictedMv, trace.DtMs);
        Assert.False(r.IsGood);
        Assert.NotNull(r.Warning);
        output.WriteLine(r.Warning);
        // A preparation far from the model: the residual says so.
        var far = EmulatedRecording.Make(3000, new Dictionary<string, double> { ["gK"] = 12, ["gNa"] = 200 }, noiseMv: 0.2);
        var r2 = ModelCalibration.Fit([.. far.Codes.Select(c => (double)c)], trace.PredictedMv, trace.DtMs, maxResidualMv: 2);
        Assert.False(r2.IsGood);
        Assert.Contains("differs from the model", r2.Warning);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Calibration_against_the_model_refuses_to_absorb_a_preparation_that_differs_into_the_gain(int seed)
    {
        // The case: the emulated preparation has gNa 100, the model 120. Rest and peak alone gave a 2 % gain
        // change, called good. The APs' half-width and timing, which no gain or offset changes, say it is the preparation.
        var rec = EmulatedRecording.Make(6000, new Dictionary<string, double> { ["gNa"] = 100 }, noiseMv: 0.2, seed: seed);
        var model = TraceOf(EmulatedRecording.Make(6000));
        var r = ModelCalibration.Fit([.. rec.Codes.Select(c => (double)c)], model.PredictedMv, model.DtMs);
        output.WriteLine($"gain ratio {r.Calibration.MillivoltsPerCount / FrontEnd.Emulated.Calibration.MillivoltsPerCount:0.0000}; half-width {r.HalfWidthDifferenceMs:0.0000} ± {r.HalfWidthUncertaintyMs:0.0000} ms, timing {r.TimingDifferenceMs:0.0000} ± {r.TimingUncertaintyMs:0.0000} ms; {r.Warning}");
        Assert.False(r.IsGood);
        Assert.True(r.PreparationDiffers);
        Assert.Contains("the preparation differs from the model, not the instrument", r.Warning);
        Assert.Contains("--reference", r.Warning);

        // The same preparation with the model set to it, and an instrument whose gain is 3 % off: calibrated, and
        // the gain found.
        var matchedModel = LiveComparison.Create("hh", new Dictionary<string, double> { ["gNa"] = 100 }, rec.Setup, new ComparisonOptions { RetainTrace = true, PublishIntervalMs = double.PositiveInfinity });
        rec.Feed(matchedModel);
        var matched = matchedModel.GetTrace();
        var frontEnd = FrontEnd.Emulated with { GainVoltsPerVolt = FrontEnd.Emulated.GainVoltsPerVolt * 1.03 };
        var random = new SplitMixRandom(seed);
        double[] counts = [.. rec.TrueMv.Select(v => (double)frontEnd.ToCode(v + (0.2 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()))))];
        var good = ModelCalibration.Fit(counts, matched.PredictedMv, matched.DtMs);
        output.WriteLine($"matched model, gain 3 % high: {good.Calibration.MillivoltsPerCount / frontEnd.Calibration.MillivoltsPerCount:0.0000} of the true mV per count; half-width {good.HalfWidthDifferenceMs:0.0000} ± {good.HalfWidthUncertaintyMs:0.0000} ms, timing {good.TimingDifferenceMs:0.0000} ± {good.TimingUncertaintyMs:0.0000}");
        Assert.True(good.IsGood, good.Warning);
        Assert.InRange(good.Calibration.MillivoltsPerCount / frontEnd.Calibration.MillivoltsPerCount, 0.99, 1.01);
    }
}
