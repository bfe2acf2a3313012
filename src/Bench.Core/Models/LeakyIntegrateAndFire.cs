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
    public double CmMicrofaradsPerCm2 { get; init; } = LeakyIntegrateAndFireDeclarations.Cm.DefaultValue;

    /// <summary>Leak conductance (mS/cm²); τ_m = Cm / gL.</summary>
    public double GLeakMilliSiemensPerCm2 { get; init; } = LeakyIntegrateAndFireDeclarations.GLeak.DefaultValue;

    /// <summary>Leak reversal = rest (mV).</summary>
    public double ELeakMv { get; init; } = LeakyIntegrateAndFireDeclarations.ELeak.DefaultValue;

    /// <summary>Firing threshold (mV).</summary>
    public double ThresholdMv { get; init; } = LeakyIntegrateAndFireDeclarations.Threshold.DefaultValue;

    /// <summary>Potential after a spike (mV).</summary>
    public double ResetMv { get; init; } = LeakyIntegrateAndFireDeclarations.Reset.DefaultValue;

    /// <summary>Absolute refractory period (ms): V is clamped at reset.</summary>
    public double RefractoryMs { get; init; } = LeakyIntegrateAndFireDeclarations.Refractory.DefaultValue;

    /// <summary>The spike is drawn at this potential for one step (mV), so traces and 0 mV detection show it.</summary>
    public double SpikePeakMv { get; init; } = LeakyIntegrateAndFireDeclarations.SpikePeak.DefaultValue;
}

/// <summary>The one declaration of each LeakyIntegrateAndFireParameters parameter; the record's defaults and the catalog come from here.</summary>
public static class LeakyIntegrateAndFireDeclarations
{
    private static ParameterBinding<LeakyIntegrateAndFireParameters> Bind(ModelParameter p, Func<LeakyIntegrateAndFireParameters, double> get, Func<LeakyIntegrateAndFireParameters, double, LeakyIntegrateAndFireParameters> set) => new(p, get, set);

    /// <summary>Membrane capacitance.</summary>
    public static ParameterBinding<LeakyIntegrateAndFireParameters> Cm { get; } = Bind(ModelParameter.Positive("Cm", "uF/cm2", 1, "membrane capacitance"), p => p.CmMicrofaradsPerCm2, (p, x) => p with { CmMicrofaradsPerCm2 = x });

    /// <summary>Leak conductance.</summary>
    public static ParameterBinding<LeakyIntegrateAndFireParameters> GLeak { get; } = Bind(ModelParameter.Positive("gL", "mS/cm2", 0.1, "leak conductance (tau = Cm/gL)"), p => p.GLeakMilliSiemensPerCm2, (p, x) => p with { GLeakMilliSiemensPerCm2 = x });

    /// <summary>Leak reversal.</summary>
    public static ParameterBinding<LeakyIntegrateAndFireParameters> ELeak { get; } = Bind(new ModelParameter("EL", "mV", -65, "leak reversal (rest)"), p => p.ELeakMv, (p, x) => p with { ELeakMv = x });

    /// <summary>Firing threshold.</summary>
    public static ParameterBinding<LeakyIntegrateAndFireParameters> Threshold { get; } = Bind(new ModelParameter("Vth", "mV", -50, "firing threshold"), p => p.ThresholdMv, (p, x) => p with { ThresholdMv = x });

    /// <summary>Reset potential.</summary>
    public static ParameterBinding<LeakyIntegrateAndFireParameters> Reset { get; } = Bind(new ModelParameter("Vreset", "mV", -65, "reset potential"), p => p.ResetMv, (p, x) => p with { ResetMv = x });

    /// <summary>Absolute refractory period.</summary>
    public static ParameterBinding<LeakyIntegrateAndFireParameters> Refractory { get; } = Bind(ModelParameter.NonNegative("t_ref", "ms", 2, "absolute refractory period"), p => p.RefractoryMs, (p, x) => p with { RefractoryMs = x });

    /// <summary>Potential drawn for the spike sample.</summary>
    public static ParameterBinding<LeakyIntegrateAndFireParameters> SpikePeak { get; } = Bind(new ModelParameter("V_spike", "mV", 30, "potential drawn for the spike sample"), p => p.SpikePeakMv, (p, x) => p with { SpikePeakMv = x });

    /// <summary>Every parameter, in the order <c>--list-models</c> shows them.</summary>
    public static IReadOnlyList<ParameterBinding<LeakyIntegrateAndFireParameters>> All { get; } = [Cm, GLeak, ELeak, Threshold, Reset, Refractory, SpikePeak];
}

/// <summary>
/// Leaky integrate-and-fire neuron with an absolute refractory period: Cm dV/dt = −gL (V − EL) + I below threshold,
/// stepped by the shared integrators (exponential Euler is exact here, the equation being linear in V); at V ≥ Vth
/// the spike is drawn for one sample and V is clamped at reset for t_ref.
/// </summary>
public sealed class LeakyIntegrateAndFire : EquationModel, INeuronModel
{
    private static readonly string[] Observables = ["refractory"];
    private double refractoryLeftMs;
    private bool spikeDrawn;

    /// <summary>Creates the neuron at rest.</summary>
    public LeakyIntegrateAndFire(LeakyIntegrateAndFireParameters parameters, Integrator integrator = Integrator.ExponentialEuler)
        : base(1, 1, integrator)
    {
        Parameters = parameters;
        Reset();
    }

    /// <summary>The parameters.</summary>
    public LeakyIntegrateAndFireParameters Parameters { get; }

    /// <inheritdoc/>
    public string Name => "lif";

    /// <inheritdoc/>
    public string StimulusUnit => "uA/cm2";

    /// <inheritdoc/>
    public double StimulusSlopeMvPerMsPerUnit => 1 / Parameters.CmMicrofaradsPerCm2;

    /// <inheritdoc/>
    public double VoltageMv => spikeDrawn ? Parameters.SpikePeakMv : State[0];

    /// <inheritdoc/>
    public IReadOnlyList<string> ObservableNames => Observables;

    /// <inheritdoc/>
    public void Reset()
    {
        State[0] = Parameters.ELeakMv;
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
            State[0] = p.ResetMv;
            return;
        }

        Integrate(stimulus, dtMs);
        if (State[0] >= p.ThresholdMv)
        {
            spikeDrawn = true;
            State[0] = p.ResetMv;
            refractoryLeftMs = p.RefractoryMs;
        }
    }

    /// <inheritdoc/>
    public override void Derivatives(ReadOnlySpan<double> y, double stimulus, Span<double> dydt, Span<double> selfJacobian)
    {
        var p = Parameters;
        double rate = p.GLeakMilliSiemensPerCm2 / p.CmMicrofaradsPerCm2;
        dydt[0] = (stimulus / p.CmMicrofaradsPerCm2) - (rate * (y[0] - p.ELeakMv));
        selfJacobian[0] = -rate;
    }

    /// <inheritdoc/>
    public void ReadObservables(Span<double> destination) => destination[0] = refractoryLeftMs > 1e-9 ? 1 : 0;
}
