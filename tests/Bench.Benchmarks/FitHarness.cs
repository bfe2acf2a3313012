using System.Globalization;
using Bench.Core.Comparison;
using Bench.Core.Tests.Comparison;

namespace Bench.Benchmarks;

/// <summary>
/// <c>fit-coverage [recordings]</c>: the full coverage run (the tests run 12 recordings): emulated recordings with
/// hidden parameters, white and coloured (0.2 ms) noise, 4 parameters fitted; how often each 95 % interval holds the
/// truth. <c>fit-time [runs]</c>: 4 parameters fitted to a 2 s recording (19 APs), wall clock with every core and with one.
/// </summary>
internal static class FitHarness
{
    public static int Coverage(string[] args)
    {
        int count = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 40;
        foreach (double correlationMs in new[] { 0.0, 0.2 })
        {
            int covered = 0, recordingsAll = 0;
            double seconds = 0, z2 = 0;
            for (int seed = 1; seed <= count; seed++)
            {
                var c = FitCoverage.Run(seed, noiseCorrelationMs: correlationMs);
                covered += c.Covered;
                recordingsAll += c.Covered == 4 ? 1 : 0;
                seconds += c.Seconds;
                z2 += c.Fit.Parameters.Sum(p => Math.Pow((p.Value - c.Truth[p.Name]) / p.StandardError, 2));
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"noise correlation {correlationMs} ms: {count} recordings, 95 % intervals holding the truth {covered}/{4 * count} ({100.0 * covered / (4 * count):0.0} %), all four in {recordingsAll}, z rms {Math.Sqrt(z2 / (4 * count)):0.00}, {seconds / count:0.00} s per fit"));
        }

        return 0;
    }

    public static int Time(string[] args)
    {
        int runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 5;
        foreach (int cores in new[] { Environment.ProcessorCount, 1 })
        {
            var times = new List<double>();
            FitCoverage.Case? last = null;
            for (int i = 0; i < runs; i++)
            {
                last = FitCoverage.Run(i + 1, 40_000, command: FitCoverage.EveryHundredMs(), options: new FitOptions { MaxParallelism = cores });
                times.Add(last.Seconds);
            }

            times.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{cores} core(s): 4 parameters, 2 s at 20 kHz: median {times[times.Count / 2]:0.00} s (min {times[0]:0.00}, max {times[^1]:0.00}), {last!.Fit.Evaluations} evaluations in the last"));
        }

        return 0;
    }
}
