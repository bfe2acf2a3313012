namespace Bench.Core.Models;

/// <summary>A conduction-velocity measurement between two recording sites.</summary>
/// <param name="FromUm">The first site's position (µm from x = 0).</param>
/// <param name="ToUm">The second site's position.</param>
/// <param name="ArrivalFromMs">When the action potential crossed 0 mV upward at the first site (interpolated), NaN if it did not.</param>
/// <param name="ArrivalToMs">The same at the second site.</param>
public sealed record ConductionMeasurement(double FromUm, double ToUm, double ArrivalFromMs, double ArrivalToMs)
{
    /// <summary>Distance over time between the sites (m/s; µm/ms is mm/s); NaN when the action potential did not reach both.</summary>
    public double VelocityMPerS => double.IsFinite(ArrivalFromMs) && double.IsFinite(ArrivalToMs) && ArrivalToMs != ArrivalFromMs
        ? (ToUm - FromUm) / (ArrivalToMs - ArrivalFromMs) / 1000
        : double.NaN;
}

/// <summary>Measures conduction velocity on any <see cref="IAxon"/>, the uniform HH axon or the myelinated one.</summary>
public static class ConductionVelocity
{
    /// <summary>
    /// Resets <paramref name="axon"/>, injects <paramref name="stimulusNanoamps"/> at x = 0 for <paramref name="pulseMs"/>,
    /// and times the first upward 0 mV crossing at the sites for positions <paramref name="fromX"/> and <paramref name="toX"/>
    /// (0…1 of the length; <see cref="IAxon.SiteAt"/> chooses the compartment: a segment, or the nearest node).
    /// </summary>
    /// <param name="axon">The axon (reset first).</param>
    /// <param name="fromX">The first site (0…1).</param>
    /// <param name="toX">The second site (0…1), further from x = 0.</param>
    /// <param name="stimulusNanoamps">The pulse's current.</param>
    /// <param name="pulseMs">The pulse's duration, from t = 0.</param>
    /// <param name="durationMs">How long to wait for the action potential to reach the second site.</param>
    /// <param name="dtMs">The step.</param>
    /// <exception cref="ArgumentException">Sites outside 0…1, or the second not beyond the first.</exception>
    public static ConductionMeasurement Measure(IAxon axon, double fromX, double toX, double stimulusNanoamps, double pulseMs, double durationMs, double dtMs)
    {
        ArgumentNullException.ThrowIfNull(axon);
        int a = axon.SiteAt(fromX), b = axon.SiteAt(toX);
        if (axon.PositionUm(b) <= axon.PositionUm(a)) throw new ArgumentException($"the second site (x = {toX}) must lie beyond the first (x = {fromX}) along the axon");
        axon.Reset();
        double arrivalA = double.NaN, arrivalB = double.NaN;
        double previousA = axon.VoltageMv(a), previousB = axon.VoltageMv(b);
        int steps = (int)Math.Round(durationMs / dtMs);
        for (int k = 0; k < steps && double.IsNaN(arrivalB); k++)
        {
            axon.Step((k + 0.5) * dtMs < pulseMs ? stimulusNanoamps : 0, dtMs);
            double va = axon.VoltageMv(a), vb = axon.VoltageMv(b);
            if (double.IsNaN(arrivalA) && previousA < 0 && va >= 0) arrivalA = (k + (previousA / (previousA - va))) * dtMs;
            if (double.IsNaN(arrivalB) && previousB < 0 && vb >= 0) arrivalB = (k + (previousB / (previousB - vb))) * dtMs;
            (previousA, previousB) = (va, vb);
        }

        return new ConductionMeasurement(axon.PositionUm(a), axon.PositionUm(b), arrivalA, arrivalB);
    }
}
