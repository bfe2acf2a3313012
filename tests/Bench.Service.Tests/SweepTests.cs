using System.Text.Json.Nodes;
using Bench.Core.Instrument;

namespace Bench.Service.Tests;

/// <summary>The triggered sweep on its own: what it cuts, when it is sent, what it holds back and what it costs.</summary>
public sealed class SweepTests
{
    private static readonly Calibration Calibration = new(0.5, -100);   // code c is (0.5 c − 100) mV
    private static StimulusMarker Marker(int pulse) => new(0, "test", 0, pulse, 100, 1, 0, 0);

    /// <summary>Samples i from <paramref name="first"/> with code i % 300, and a model predicting −(i % 7) mV.</summary>
    private static void Feed(SweepBuilder sweeps, ulong first, int count, bool model = true)
    {
        var codes = new ushort[count];
        var mv = new double[count];
        for (int k = 0; k < count; k++)
        {
            codes[k] = (ushort)((first + (ulong)k) % 300);
            mv[k] = -(double)((first + (ulong)k) % 7);
        }

        sweeps.OnRecorded(first, codes, Calibration);
        if (model) sweeps.OnModel(first, mv);
    }

    [Fact]
    public void A_sweep_holds_every_sample_of_its_window_with_the_models_and_later_pulses_inside_it_start_none()
    {
        var sweeps = new SweepBuilder(20_000, hasModel: true);
        var sent = new List<JsonNode>();
        Feed(sweeps, 0, 1000);
        sweeps.OnPulse(1000, new SweepWindow(5, 45), Marker(0));
        sweeps.OnPulse(1500, new SweepWindow(5, 45), Marker(1));   // 25 ms later: inside the first sweep's window
        Feed(sweeps, 1000, 899);
        sweeps.Complete(json => sent.Add(JsonNode.Parse(json)!));
        Assert.Empty(sent);   // one sample short of the window's end (45 ms: sample 1899)
        Feed(sweeps, 1899, 1);
        sweeps.Complete(json => sent.Add(JsonNode.Parse(json)!));
        var sweep = Assert.Single(sent);
        Assert.Equal(1000UL, (ulong)sweep["onset_index"]!);
        Assert.Equal(900UL, (ulong)sweep["first_index"]!);
        Assert.Equal(50.0, (double)sweep["onset_ms"]!);
        var recorded = sweep["recorded_mv"]!.AsArray();
        var model = sweep["model_mv"]!.AsArray();
        Assert.Equal(1000, recorded.Count);
        for (int k = 0; k < 1000; k++)
        {
            ulong i = 900 + (ulong)k;
            Assert.Equal((0.5 * (i % 300)) - 100, (double)recorded[k]!, 6);
            Assert.Equal(-(double)(i % 7), (double)model[k]!, 6);
        }

        Assert.Equal([0.0, 25.0], sweep["pulses"]!.AsArray().Select(p => (double)p!["t_ms"]!));
        Assert.Equal(0, sweeps.PendingCount);
    }

    [Fact]
    public void A_model_that_lags_holds_a_sweep_back_until_it_catches_up_or_for_half_a_second_at_most()
    {
        var sweeps = new SweepBuilder(20_000, hasModel: true);
        var sent = new List<JsonNode>();
        Feed(sweeps, 0, 2000);
        sweeps.OnPulse(2000, new SweepWindow(0, 10), Marker(0));
        Feed(sweeps, 2000, 100);
        Feed(sweeps, 2100, 5000, model: false);   // the model waits (for a pulse's report, say)
        sweeps.Complete(json => sent.Add(JsonNode.Parse(json)!));
        Assert.Empty(sent);
        Feed(sweeps, 7100, 5099, model: false);
        sweeps.Complete(json => sent.Add(JsonNode.Parse(json)!));
        Assert.Empty(sent);
        Feed(sweeps, 12199, 1, model: false);   // half a second past the sweep's end: it goes without the model's rest
        sweeps.Complete(json => sent.Add(JsonNode.Parse(json)!));
        var model = Assert.Single(sent)["model_mv"]!.AsArray();
        Assert.Equal(200, model.Count);
        Assert.All(model.Take(100), v => Assert.NotNull(v));
        Assert.All(model.Skip(100), v => Assert.Null(v));   // never an older lap's values
    }

    [Fact]
    public void Samples_lost_are_null_in_the_sweep_and_pending_sweeps_are_bounded()
    {
        var sweeps = new SweepBuilder(20_000, hasModel: false);
        var sent = new List<JsonNode>();
        Feed(sweeps, 0, 100, model: false);
        sweeps.OnPulse(100, new SweepWindow(0, 1), Marker(0));
        Feed(sweeps, 110, 100, model: false);   // samples 100..109 lost
        sweeps.Complete(json => sent.Add(JsonNode.Parse(json)!));
        var sweep = Assert.Single(sent);
        Assert.All(sweep["recorded_mv"]!.AsArray().Take(10), v => Assert.Null(v));
        Assert.All(sweep["recorded_mv"]!.AsArray().Skip(10), v => Assert.NotNull(v));
        Assert.Null(sweep["model_mv"]);

        // Pulses faster than samples come (a stalled link): at most 8 sweeps wait, the oldest are given up.
        for (int p = 0; p < 100; p++) sweeps.OnPulse(1000 + ((ulong)p * 100), new SweepWindow(0, 1), Marker(p));
        Assert.Equal(8, sweeps.PendingCount);
    }

    [Fact]
    public void Taking_samples_and_predictions_allocates_nothing_per_sample()
    {
        var sweeps = new SweepBuilder(20_000, hasModel: true);
        var codes = new ushort[100];
        var mv = new double[100];
        ulong next = 0;
        void Take()
        {
            for (int k = 0; k < 700; k++, next++)
            {
                sweeps.OnRecorded(next * 100, codes, Calibration);
                sweeps.OnModel(next * 100, mv);
            }
        }

        Assert.Equal(0, Allocations.Least(Take));
    }
}
