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

    /// <summary>
    /// The squid giant axon (476 µm, 35.4 Ω·cm, 20 mm) at 18.5 °C unless the membrane says otherwise, with
    /// <paramref name="nanoamps"/> into x = 0 from 1 to 1.5 ms, recorded at x = 0.25 and 0.75 for 10 ms: the first
    /// 0 mV crossing at each site and the velocity between the two segment centres (m/s).
    /// </summary>
    public static (double VelocityMPerS, List<double> SpikesA, List<double> SpikesB, int SegmentA) Squid(
        int segments, double dt, double nanoamps = 5000, HodgkinHuxleyParameters? membrane = null)
    {
        var axon = new HodgkinHuxleyAxon(AxonGeometry.SquidGiantAxon with { Segments = segments }, membrane ?? HodgkinHuxleyParameters.Classic with { TemperatureCelsius = 18.5 });
        int a = axon.SegmentAt(0.25), b = axon.SegmentAt(0.75);
        int steps = (int)Math.Round(10 / dt);
        var va = new double[steps + 1];
        var vb = new double[steps + 1];
        va[0] = axon.VoltageMv(a);
        vb[0] = axon.VoltageMv(b);
        for (int k = 0; k < steps; k++)
        {
            double t = (k + 0.5) * dt;
            axon.Step(t >= 1 && t < 1.5 ? nanoamps : 0, dt);
            va[k + 1] = axon.VoltageMv(a);
            vb[k + 1] = axon.VoltageMv(b);
        }

        var ta = SpikeDetector.Detect(va, dt);
        var tb = SpikeDetector.Detect(vb, dt);
        double distanceUm = (axon.SegmentCentre(b) - axon.SegmentCentre(a)) * AxonGeometry.SquidGiantAxon.LengthUm;
        double velocity = ta.Count > 0 && tb.Count > 0 ? distanceUm / (tb[0] - ta[0]) / 1000 : double.NaN;
        return (velocity, ta, tb, a);
    }

    public static HodgkinHuxley Classic(double celsius = 6.3, bool table = true, Integrator integrator = Integrator.ExponentialEuler) =>
        new(HodgkinHuxleyParameters.Classic with { TemperatureCelsius = celsius, Rates = table ? RateEvaluation.NeuronTable : RateEvaluation.Exact }, integrator, "hh-classic");
}
