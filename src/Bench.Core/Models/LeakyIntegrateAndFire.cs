namespace Bench.Core.Models;

/// <summary>
/// Leaky integrate-and-fire parameters. Values from Dayan &amp; Abbott (2001), <i>Theoretical Neuroscience</i>,
/// §5.4 (E_L = V_reset = −65 mV, V_th = −50 mV, τ_m = 10 ms), written as densities with c_m = 1 µF/cm²
/// (so g_L = 0.1 mS/cm²); the absolute refractory period of 2 ms follows Gerstner, Kistler, Naud &amp;
/// Paninski (2014), <i>Neuronal Dynamics</i>, §1.3.
/// </summary>
public sealed record LeakyIntegrateAndFireParameters
{
    /// <summary>Membrane capacitance (µF/cm²).</summary>
    public double CmMicrofaradsPerCm2 { get; init; } = 1;

    /// <summary>Leak conductance (mS/cm²); τ_m = Cm / gL.</summary>
    public double GLeakMilliSiemensPerCm2 { get; init; } = 0.1;

    /// <summary>Leak reversal = rest (mV).</summary>
    public double ELeakMv { get; init; } = -65;

    /// <summary>Firing threshold (mV).</summary>
    public double ThresholdMv { get; init; } = -50;

    /// <summary>Potential after a spike (mV).</summary>
    public double ResetMv { get; init; } = -65;

    /// <summary>Absolute refractory period (ms): V is clamped at reset.</summary>
    public double RefractoryMs { get; init; } = 2;

    /// <summary>The spike is drawn at this potential for one step (mV), so traces and 0 mV detection show it.</summary>
    public double SpikePeakMv { get; init; } = 30;
}

/// <summary>Leaky integrate-and-fire neuron with an absolute refractory period.</summary>
public sealed class LeakyIntegrateAndFire : INeuronModel
{
    private static readonly string[] Observables = ["refractory"];
    private double v;
    private double refractoryLeftMs;
    private bool spikeDrawn;

    /// <summary>Creates the neuron at rest.</summary>
    public LeakyIntegrateAndFire(LeakyIntegrateAndFireParameters parameters, Integrator integrator = Integrator.ExponentialEuler)
    {
        Parameters = parameters;
        Integrator = integrator;
        Reset();
    }

    /// <summary>The parameters.</summary>
    public LeakyIntegrateAndFireParameters Parameters { get; }

    /// <summary>The integration scheme.</summary>
    public Integrator Integrator { get; }

    /// <inheritdoc/>
    public string Name => "lif";

    /// <inheritdoc/>
    public string StimulusUnit => "uA/cm2";

    /// <inheritdoc/>
    public double StimulusSlopeMvPerMsPerUnit => 1 / Parameters.CmMicrofaradsPerCm2;

    /// <inheritdoc/>
    public double VoltageMv => spikeDrawn ? Parameters.SpikePeakMv : v;

    /// <inheritdoc/>
    public IReadOnlyList<string> ObservableNames => Observables;

    /// <inheritdoc/>
    public void Reset()
    {
        v = Parameters.ELeakMv;
        refractoryLeftMs = 0;
        spikeDrawn = false;
    }

    /// <inheritdoc/>
    public void Step(double stimulus, double dtMs)
    {
        var p = Parameters;
        spikeDrawn = false;
        // Half a step of tolerance: 2 ms at dt 0.025 is 80 steps, not 81 from the rounding of repeated subtraction.
        if (refractoryLeftMs > 0.5 * dtMs)
        {
            refractoryLeftMs -= dtMs;
            v = p.ResetMv;
            return;
        }

        double vInf = p.ELeakMv + (stimulus / p.GLeakMilliSiemensPerCm2);
        double rate = p.GLeakMilliSiemensPerCm2 / p.CmMicrofaradsPerCm2;
        if (Integrator == Integrator.ExponentialEuler)
        {
            // The subthreshold equation is linear: this update is exact.
            v = vInf + ((v - vInf) * Math.Exp(-rate * dtMs));
        }
        else
        {
            double k1 = rate * (vInf - v);
            double k2 = rate * (vInf - (v + (0.5 * dtMs * k1)));
            double k3 = rate * (vInf - (v + (0.5 * dtMs * k2)));
            double k4 = rate * (vInf - (v + (dtMs * k3)));
            v += dtMs / 6 * (k1 + (2 * k2) + (2 * k3) + k4);
        }

        if (v >= p.ThresholdMv)
        {
            spikeDrawn = true;
            v = p.ResetMv;
            refractoryLeftMs = p.RefractoryMs;
        }
    }

    /// <inheritdoc/>
    public void ReadObservables(Span<double> destination) => destination[0] = refractoryLeftMs > 1e-9 ? 1 : 0;
}
