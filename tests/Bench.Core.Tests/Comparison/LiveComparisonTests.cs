using Bench.Core.Comparison;
using Bench.Core.Protocol;
using Bench.Core.Instrument;

namespace Bench.Core.Tests.Comparison;

public class LiveComparisonTests
{
    private static readonly Calibration Identity = new(1, 0);

    private static ComparisonSetup Plain(double rateHz = 1000) => new() { SampleRateHz = rateHz, Calibration = Identity };

    [Fact]
    public void Rmse_and_correlation_match_hand_computed_values()
    {
        // Recorded 1, 2, 3, 4 mV (counts with a unit calibration); model 1, 2, 3, 5.
        var model = new ScriptedModel([1, 2, 3, 5]);
        var c = new LiveComparison(model, Plain(), new ComparisonOptions { WindowMs = 1000 });
        c.OnSamples(0, [1, 2, 3, 4]);
        c.Complete();
        var u = c.GetUpdate();
        Assert.Equal(4, u.Whole.Samples);
        Assert.Equal(0.5, u.Whole.RmseMv, 12);             // sqrt((0 + 0 + 0 + 1) / 4)
        Assert.Equal(-0.25, u.Whole.MeanErrorMv, 12);
        // r: x = 1..4 (mean 2.5), y = 1, 2, 3, 5 (mean 2.75): Sxy = 6.5, Sxx = 5, Syy = 8.75.
        Assert.Equal(6.5 / Math.Sqrt(5 * 8.75), u.Whole.PearsonR, 12);
        Assert.Equal(u.Whole.RmseMv, u.Window.RmseMv, 12);
        Assert.Equal(u.Whole.PearsonR, u.Window.PearsonR, 12);
    }

    [Fact]
    public void The_window_holds_only_its_last_samples()
    {
        // 1 kHz, 3 ms window: of errors 5, 5, 5, 1, 1, 1 the window sees the last three.
        var model = new ScriptedModel([0, 0, 0, 0, 0, 0]);
        var c = new LiveComparison(model, Plain(), new ComparisonOptions { WindowMs = 3 });
        c.OnSamples(0, [5, 5, 5]);
        c.OnSamples(3, [1, 1, 1]);
        var u = c.GetUpdate();
        Assert.Equal(3, u.Window.Samples);
        Assert.Equal(1, u.Window.RmseMv, 12);
        Assert.Equal(Math.Sqrt((75 + 3) / 6.0), u.Whole.RmseMv, 12);
    }

    [Fact]
    public void A_gap_is_stepped_through_and_excluded_from_every_metric()
    {
        // Model 0 everywhere; recorded 1 at 0–2, lost 3–6 (the model must still step), 3 at 7–9.
        var model = new ScriptedModel(new double[10]);
        var c = new LiveComparison(model, Plain(), new ComparisonOptions { WindowMs = 100 });
        c.OnSamples(0, [1, 1, 1]);
        c.OnGap(3, 4);
        c.OnSamples(7, [3, 3, 3]);
        c.Complete();
        var u = c.GetUpdate();
        Assert.Equal(10, model.Steps);            // aligned: one step per sample period, the gap included
        Assert.Equal(6, u.Whole.Samples);
        Assert.Equal(4UL, u.ExcludedSamples);
        Assert.Equal(Math.Sqrt((3 + 27) / 6.0), u.Whole.RmseMv, 12);
        // A jump in the indices is a gap too, without OnGap.
        var model2 = new ScriptedModel(new double[10]);
        var c2 = new LiveComparison(model2, Plain(), new ComparisonOptions { WindowMs = 100 });
        c2.OnSamples(0, [1, 1, 1]);
        c2.OnSamples(7, [3, 3, 3]);
        c2.Complete();
        Assert.Equal(u.Whole, c2.GetUpdate().Whole);
        Assert.Equal(10, model2.Steps);
        // A gap reported before the samples that precede it (the session's events run ahead of its samples).
        var model3 = new ScriptedModel(new double[10]);
        var c3 = new LiveComparison(model3, Plain(), new ComparisonOptions { WindowMs = 100 });
        c3.OnSamples(0, [1]);
        c3.OnGap(3, 4);
        c3.OnSamples(1, [1, 1]);
        c3.OnSamples(7, [3, 3, 3]);
        c3.Complete();
        Assert.Equal(u.Whole, c3.GetUpdate().Whole);
        Assert.Equal(4UL, c3.GetUpdate().ExcludedSamples);
    }

    [Fact]
    public void No_spike_is_invented_across_a_gap()
    {
        // Recorded −70 before a gap and +20 after it: the recording's detector starts afresh, so no crossing; the
        // model crosses inside the gap, which does not count either.
        double[] modelV = [-70, -70, -70, 20, 20, 20, 20, -70];
        var c = new LiveComparison(new ScriptedModel(modelV), Plain() with { Calibration = new Calibration(1, -70) }, new ComparisonOptions { WindowMs = 100 });
        c.OnSamples(0, [0, 0, 0]);        // counts 0 → −70 mV, 90 → +20 mV
        c.OnSamples(5, [90, 90, 0]);
        c.Complete();
        Assert.Equal(0, c.GetUpdate().WholeSpikes.SpikesRecorded);
        Assert.Equal(0, c.GetUpdate().WholeSpikes.SpikesModel);
    }

    [Fact]
    public void An_exact_model_reproduces_the_emulated_recording()
    {
        var rec = EmulatedRecording.Make(6000);
        var c = LiveComparison.Create("hh", null, rec.Setup, new ComparisonOptions { RetainTrace = true });
        rec.Feed(c);
        var report = c.GetReport();
        var u = report.Update;
        Assert.Equal(6000, u.Whole.Samples);
        Assert.True(u.Whole.RmseMv < 0.02, $"rmse {u.Whole.RmseMv} mV (12-bit quantisation is 0.039 mV per count)");
        Assert.True(u.Whole.PearsonR > 0.99999);
        Assert.Equal(5, u.WholeSpikes.SpikesRecorded);
        Assert.Equal(5, u.WholeSpikes.SpikesModel);
        Assert.Equal(1, u.WholeSpikes.Gamma, 9);
        Assert.True(u.WholeSpikes.MeanSpikeTimeErrorMs < 0.005);
        Assert.True(u.WholeSpikes.VictorPurpura < 0.01);
        Assert.Equal(5, u.PulsesConfirmed);
        Assert.Equal(0, u.PulsesAssumed);
        // One epoch before the first pulse, then one per pulse.
        Assert.Equal(6, report.Epochs.Count);
        Assert.Null(report.Epochs[0].Pulse);
        Assert.Equal(50, report.Epochs[1].StartMs, 9);
        Assert.All(report.Epochs.Skip(1), e => Assert.Equal(1, e.Spikes.SpikesRecorded));
        Assert.All(report.Epochs.Skip(1), e => Assert.Equal(1, e.Spikes.Gamma, 9));
        Assert.Equal(5, report.ActionPotentials.Count);
        Assert.All(report.ActionPotentials, row =>
        {
            var d = Assert.NotNull(row.Differences);
            Assert.True(Math.Abs(d.PeakMv) < 0.05 && Math.Abs(d.ThresholdMv) < 0.5 && Math.Abs(d.HalfWidthMs) < 0.05 && Math.Abs(d.AhpMv) < 0.05, d.ToString());
        });
        // The model's potential is the emulator's noise-free one, sample for sample.
        var trace = c.GetTrace();
        for (int k = 0; k < rec.TrueMv.Length; k++) Assert.Equal(rec.TrueMv[k], trace.PredictedMv[k], 9);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(6000)]
    public void Action_potentials_are_measured_whole_however_the_samples_are_batched(int blockSamples)
    {
        // A host that falls behind hands the comparison long batches, and a model held at a pulse catches up in one
        // go when the pulse's report comes: an action potential then begins and ends within one advance. Its features
        // are those of 20-sample blocks (the rig's own), not of a stretch cut at the batch's start.
        var reference = Compare(EmulatedRecording.Make(6000, noiseMv: 0.2, seed: 5));
        var batched = Compare(EmulatedRecording.Make(6000, noiseMv: 0.2, seed: 5, blockSamples: blockSamples));
        Assert.Equal(5, reference.ActionPotentials.Count);
        Assert.All(reference.ActionPotentials, row => Assert.NotNull(row.Differences));
        Assert.Equal(reference.ActionPotentials, batched.ActionPotentials);
    }

    [Fact]
    public void A_mismatched_preparation_shows_in_every_metric()
    {
        var rec = EmulatedRecording.Make(6000, new Dictionary<string, double> { ["gNa"] = 100 }, noiseMv: 0.2);
        var c = LiveComparison.Create("hh", null, rec.Setup);
        rec.Feed(c);
        var report = c.GetReport();
        Assert.True(report.Update.Whole.RmseMv > 0.5, $"rmse {report.Update.Whole.RmseMv}");
        Assert.True(report.Update.WholeSpikes.MeanSpikeTimeOffsetMs < -0.01, $"the stronger Na+ current of the model fires it earlier: {report.Update.WholeSpikes}; {string.Join("; ", report.ActionPotentials)}");
        Assert.All(report.ActionPotentials.Where(r => r.Differences is not null), r => Assert.True(r.Differences!.Value.PeakMv > 1));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Noise_alone_shows_no_feature_difference_and_a_real_mismatch_does(int seed)
    {
        // The rig is the model itself, seen through 0.2 mV of noise and the 12-bit front end.
        var same = Compare(EmulatedRecording.Make(6000, noiseMv: 0.2, seed: seed));
        Assert.Equal(5, same.ActionPotentials.Count);
        foreach (var row in same.ActionPotentials)
        {
            var d = Assert.NotNull(row.Differences);
            var u = Assert.NotNull(row.Uncertainty);
            // Uncertainties of the size the noise gives: tenths of a mV for the threshold, well under a mV for the peak.
            Assert.InRange(u.ThresholdMv, 0.02, 1.5);
            Assert.InRange(u.PeakMv, 0.01, 0.5);
            Assert.InRange(u.HalfWidthMs, 0.0005, 0.1);
            Assert.False(ApFeatureDifferences.BeyondNoise(d.PeakMv, u.PeakMv) && ApFeatureDifferences.BeyondNoise(d.ThresholdMv, u.ThresholdMv),
                $"noise alone shows as a difference: {d} ± {u}");
        }

        int beyond = same.ActionPotentials.Sum(r => new[]
        {
            ApFeatureDifferences.BeyondNoise(r.Differences!.Value.ThresholdMv, r.Uncertainty!.Value.ThresholdMv),
            ApFeatureDifferences.BeyondNoise(r.Differences!.Value.PeakMv, r.Uncertainty!.Value.PeakMv),
            ApFeatureDifferences.BeyondNoise(r.Differences!.Value.AmplitudeMv, r.Uncertainty!.Value.AmplitudeMv),
            ApFeatureDifferences.BeyondNoise(r.Differences!.Value.HalfWidthMs, r.Uncertainty!.Value.HalfWidthMs),
            ApFeatureDifferences.BeyondNoise(r.Differences!.Value.AhpMv, r.Uncertainty!.Value.AhpMv),
        }.Count(b => b));
        // 25 features at a 2σ limit: about one in twenty may pass it by chance, no more.
        Assert.InRange(beyond, 0, 4);

        // A preparation with less sodium conductance: its lower peak is beyond the noise on every AP.
        var mismatched = Compare(EmulatedRecording.Make(6000, new Dictionary<string, double> { ["gNa"] = 100 }, noiseMv: 0.2, seed: seed));
        Assert.All(mismatched.ActionPotentials.Where(r => r.Differences is not null),
            r => Assert.True(ApFeatureDifferences.BeyondNoise(r.Differences!.Value.PeakMv, r.Uncertainty!.Value.PeakMv), $"{r.Differences} ± {r.Uncertainty}"));
    }

    [Fact]
    public void Samples_of_a_pulse_wait_for_its_event_and_an_event_that_never_comes_is_assumed()
    {
        var rec = EmulatedRecording.Make(3000, keepEvent: e => e.Pulse != 1 || e.Train != 0);
        var c = LiveComparison.Create("hh", null, rec.Setup, new ComparisonOptions { StimulusEventWaitMs = 20 });
        var predicted = new double[20];
        foreach (var item in rec.Items)
        {
            if (item is StimulusEvent e)
            {
                c.OnStimulusEvent(e);
                continue;
            }

            var (first, codes) = ((ulong, ushort[]))item;
            c.OnSamples(first, codes, predicted);
            if (first == 1000) Assert.All(predicted, v => Assert.True(double.IsNaN(v)));                  // the first pulse: held until its event
            if (first == 980) Assert.All(predicted, v => Assert.False(double.IsNaN(v)));   // before it: at once
        }

        c.Complete();
        var u = c.GetUpdate();
        Assert.Equal(1, u.PulsesConfirmed);
        Assert.Equal(1, u.PulsesAssumed);
        Assert.True(u.Whole.RmseMv < 0.02);
        Assert.Equal(2, u.WholeSpikes.SpikesModel);
    }

    [Fact]
    public void Updates_are_published_at_most_every_interval_of_sample_time()
    {
        var rec = EmulatedRecording.Make(4000);
        var c = LiveComparison.Create("hh", null, rec.Setup, new ComparisonOptions { PublishIntervalMs = 50 });
        var updates = new List<ComparisonUpdate>();
        bool completed = false;
        c.Published += updates.Add;
        c.Completed += () => completed = true;
        rec.Feed(c);
        Assert.InRange(updates.Count, 4, 5);   // 200 ms: every 50 ms, and the last on Complete
        for (int i = 1; i < updates.Count - 1; i++) Assert.True(updates[i].ThroughIndex - updates[i - 1].ThroughIndex >= 1000);
        Assert.Equal(4000UL, updates[^1].ThroughIndex);
        Assert.True(completed);
    }

    [Fact]
    public void Feeding_samples_allocates_nothing()
    {
        var rec = EmulatedRecording.Make(40_000, noiseMv: 0.2);
        var c = LiveComparison.Create("hh", null, rec.Setup, new ComparisonOptions { PublishIntervalMs = double.PositiveInfinity });
        var blocks = rec.Items.OfType<(ulong, ushort[])>().ToList();
        var events = rec.Items.OfType<StimulusEvent>().ToList();
        var predicted = new double[20];
        // Warm up through the pulses (their events arrive), then measure a stretch of spikes-free samples.
        foreach (var item in rec.Items.TakeWhile(i => i is not ValueTuple<ulong, ushort[]> b || b.Item1 < 20_000))
        {
            if (item is StimulusEvent e) c.OnStimulusEvent(e);
            else c.OnSamples(((ValueTuple<ulong, ushort[]>)item).Item1, ((ValueTuple<ulong, ushort[]>)item).Item2, predicted);
        }

        // The rest in thirds, each measured: the least of them allocates nothing.
        var rest = blocks.Where(b => b.Item1 >= 20_000).ToList();
        var thirds = rest.Chunk((rest.Count + 2) / 3).Select(third => (Action)(() =>
        {
            foreach (var (first, codes) in third) c.OnSamples(first, codes, predicted);
        })).ToList();
        Assert.Equal(3, thirds.Count);
        Assert.Equal(0, Allocations.LeastOf(thirds));
        Assert.Equal(40_000UL, c.ComparedThrough);
        Assert.NotEmpty(events);
    }

    /// <summary>The whole recording through a comparison with the default model.</summary>
    private static ComparisonReport Compare(EmulatedRecording rec)
    {
        var c = LiveComparison.Create("hh", null, rec.Setup);
        rec.Feed(c);
        return c.GetReport();
    }
}
