namespace Bench.Core.Models;

/// <summary>
/// A passive membrane: a resistor and a capacitor in parallel, Cm dV/dt = −gL (V − EL) + I, with τ = Cm / gL = RC.
/// The defaults (Cm 1 µF/cm², gL 0.05 mS/cm², EL −70 mV) give τ = 20 ms; over the emulated preparation's 10⁶ µm²
/// (0.01 cm²) that is C = 10 nF and R = 2 MΩ, so the 50 nA of a Firmata board's D9 charges it by 100 mV towards
/// +30 mV: the charging curve a stock Arduino records well at 1 kHz, and the circuit a lab can build on a breadboard.
/// </summary>
public sealed record PassiveMembraneParameters
{
    /// <summary>Membrane capacitance (µF/cm²).</summary>
    public double CmMicrofaradsPerCm2 { get; init; } = PassiveMembraneDeclarations.Cm.DefaultValue;

    /// <summary>Leak conductance (mS/cm²); τ = Cm / gL.</summary>
    public double GLeakMilliSiemensPerCm2 { get; init; } = PassiveMembraneDeclarations.GLeak.DefaultValue;

    /// <summary>Rest (the leak's reversal), mV.</summary>
    public double ELeakMv { get; init; } = PassiveMembraneDeclarations.ELeak.DefaultValue;

    /// <summary>The time constant τ = Cm / gL (ms).</summary>
    public double TauMs => CmMicrofaradsPerCm2 / GLeakMilliSiemensPerCm2;
}

/// <summary>The one declaration of each PassiveMembraneParameters parameter; the record's defaults and the catalog come from here.</summary>
public static class PassiveMembraneDeclarations
{
    private static ParameterBinding<PassiveMembraneParameters> Bind(ModelParameter p, Func<PassiveMembraneParameters, double> get, Func<PassiveMembraneParameters, double, PassiveMembraneParameters> set) => new(p, get, set);

    /// <summary>Membrane capacitance.</summary>
    public static ParameterBinding<PassiveMembraneParameters> Cm { get; } = Bind(ModelParameter.Positive("Cm", "uF/cm2", 1, "membrane capacitance"), p => p.CmMicrofaradsPerCm2, (p, x) => p with { CmMicrofaradsPerCm2 = x });

    /// <summary>Leak conductance.</summary>
    public static ParameterBinding<PassiveMembraneParameters> GLeak { get; } = Bind(ModelParameter.Positive("gL", "mS/cm2", 0.05, "leak conductance (tau = Cm/gL)"), p => p.GLeakMilliSiemensPerCm2, (p, x) => p with { GLeakMilliSiemensPerCm2 = x });

    /// <summary>Rest.</summary>
    public static ParameterBinding<PassiveMembraneParameters> ELeak { get; } = Bind(new ModelParameter("EL", "mV", -70, "rest"), p => p.ELeakMv, (p, x) => p with { ELeakMv = x });

    /// <summary>Every parameter, in the order <c>--list-models</c> shows them.</summary>
    public static IReadOnlyList<ParameterBinding<PassiveMembraneParameters>> All { get; } = [Cm, GLeak, ELeak];
}

/// <summary>
/// The passive (RC) membrane, stepped exactly: its equation is linear, so the shared exponential Euler step is the exact
/// exponential relaxation towards EL + I/gL for a stimulus held over the step (it uses that step whatever integrator is
/// asked for).
/// </summary>
public sealed class PassiveMembrane : EquationModel, INeuronModel
{
    private static readonly string[] Observables = ["i_leak_uA_per_cm2"];

    /// <summary>Creates the membrane at rest.</summary>
    public PassiveMembrane(PassiveMembraneParameters parameters)
        : base(1, 1, Integrator.ExponentialEuler)
    {
        Parameters = parameters;
        Reset();
    }

    /// <summary>The parameters.</summary>
    public PassiveMembraneParameters Parameters { get; }

    /// <inheritdoc/>
    public string Name => "rc";

    /// <inheritdoc/>
    public string StimulusUnit => "uA/cm2";

    /// <inheritdoc/>
    public double StimulusSlopeMvPerMsPerUnit => 1 / Parameters.CmMicrofaradsPerCm2;

    /// <inheritdoc/>
    public double VoltageMv => State[0];

    /// <inheritdoc/>
    public IReadOnlyList<string> ObservableNames => Observables;

    /// <inheritdoc/>
    public void Reset() => State[0] = Parameters.ELeakMv;

    /// <inheritdoc/>
    public void Step(double stimulus, double dtMs) => Integrate(stimulus, dtMs);

    /// <inheritdoc/>
    public override void Derivatives(ReadOnlySpan<double> y, double stimulus, Span<double> dydt, Span<double> selfJacobian)
    {
        var p = Parameters;
        dydt[0] = (stimulus - (p.GLeakMilliSiemensPerCm2 * (y[0] - p.ELeakMv))) / p.CmMicrofaradsPerCm2;
        selfJacobian[0] = -1 / p.TauMs;
    }

    /// <inheritdoc/>
    public void ReadObservables(Span<double> destination) => destination[0] = Parameters.GLeakMilliSiemensPerCm2 * (State[0] - Parameters.ELeakMv);
}
