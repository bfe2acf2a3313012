using Bench.Core.Analysis;
using Bench.Core.Models;
using Bench.Core.Simulation;
using Bench.Core.Stimulus;

namespace Bench.Core.Tests;

internal static class Helpers
{
    public static StimulusProtocol Pulse(double startMs, double durationMs, double amplitude) =>
        new("pulse", StimulusUnit.MicroampsPerCm2, [new PulseTrain(startMs, durationMs, amplitude, 0, 0, 0, 0, 1)]);

    public static StimulusProtocol Pulses(params PulseTrain[] trains) => new("pulses", StimulusUnit.MicroampsPerCm2, trains);

    public static double[] Run(INeuronModel model, StimulusProtocol protocol, double durationMs, double dtMs = 0.01) =>
        Simulator.Run(model, protocol, durationMs, dtMs);

    public static List<double> Spikes(double[] v, double dtMs = 0.01) => SpikeDetector.Detect(v, dtMs);

    /// <summary>Smallest amplitude (bisection) at which <paramref name="fires"/> holds, assuming it is monotonic.</summary>
    public static double Bisect(Func<double, bool> fires, double lo, double hi, double tolerance)
    {
        Assert.False(fires(lo));
        Assert.True(fires(hi));
        while (hi - lo > tolerance)
        {
            double mid = 0.5 * (lo + hi);
            if (fires(mid)) hi = mid; else lo = mid;
        }

        return hi;
    }

    public static HodgkinHuxley Classic(double celsius = 6.3, bool table = true, Integrator integrator = Integrator.ExponentialEuler) =>
        new(HodgkinHuxleyParameters.Classic with { TemperatureCelsius = celsius, Rates = table ? RateEvaluation.NeuronTable : RateEvaluation.Exact }, integrator, "hh-classic");
}
