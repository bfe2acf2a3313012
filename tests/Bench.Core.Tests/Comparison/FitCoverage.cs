using System.Diagnostics;
using Bench.Core.Comparison;
using Bench.Core.Models;
using Bench.Core.Protocol;

namespace Bench.Core.Tests.Comparison;

/// <summary>
/// Does a fit's 95 % interval hold the truth 95 % of the time? Emulated recordings whose preparation has hidden
/// parameters drawn around the teaching model's, each with its own noise seed; the model starts from its defaults and
/// fits gNa, gK, gL and EL; each parameter's interval, value ± 1.96 standard errors, holds its truth or not.
/// Shared by the test (a few recordings) and the benchmark (<c>fit-coverage</c>, many).
/// </summary>
internal static class FitCoverage
{
    public static readonly string[] Names = ["gNa", "gK", "gL", "EL"];

    /// <summary>One recording's fit: the truth, the fit, the time it took.</summary>
    public sealed record Case(int Seed, Dictionary<string, double> Truth, FitResult Fit, double Seconds)
    {
        public int Covered => Fit.Parameters.Count(p => p.Lower95 <= Truth[p.Name] && Truth[p.Name] <= p.Upper95);

        public double MaxZ => Fit.Parameters.Max(p => Math.Abs(p.Value - Truth[p.Name]) / p.StandardError);
    }

    /// <summary>A 2 s recording's stimulus: a 1 ms, 300 nA pulse every 100 ms from 50 ms (19 APs).</summary>
    public static StimulusCommand EveryHundredMs() => new(1, 0, StimulusCommand.AtIndex, 1000, [new StimulusTrain(0, 300, 20, 0, 0, 0, 2000, 19)]);

    /// <summary>The hidden parameters of recording <paramref name="seed"/>: within ±10–15 % of the teaching model's, EL within ±2 mV.</summary>
    public static Dictionary<string, double> TruthFor(int seed)
    {
        var random = new SplitMixRandom(1000 + seed);
        double U(double lo, double hi) => lo + ((hi - lo) * random.NextDouble());
        return new Dictionary<string, double> { ["gNa"] = U(105, 135), ["gK"] = U(31, 41), ["gL"] = U(0.26, 0.34), ["EL"] = U(-70, -66) };
    }

    /// <summary>Fits one recording of <paramref name="samples"/> samples (20 kHz, the rig paired pulse and three more).</summary>
    public static Case Run(int seed, int samples = 8000, double noiseMv = 0.2, double noiseCorrelationMs = 0, FitOptions? options = null,
        StimulusCommand? command = null)
    {
        var truth = TruthFor(seed);
        var rec = EmulatedRecording.Make(samples, truth, noiseMv, seed, command: command, noiseCorrelationMs: noiseCorrelationMs, noiseRandom: new SplitMixRandom(seed));
        var c = LiveComparison.Create("hh", null, rec.Setup, new ComparisonOptions { RetainTrace = true, PublishIntervalMs = double.PositiveInfinity });
        rec.Feed(c);
        var trace = c.GetTrace();
        var watch = Stopwatch.StartNew();
        var fit = ModelFitter.Fit(ModelCatalog.Get("hh"), null, Names, trace, options);
        return new Case(seed, truth, fit, watch.Elapsed.TotalSeconds);
    }
}
