namespace Bench.Core.Models;

/// <summary>
/// FitzHugh–Nagumo parameters: FitzHugh (1961), "Impulses and physiological states in theoretical models of
/// nerve membrane", Biophys. J. 1:445–466: a = 0.7, b = 0.8, φ = 0.08. The model is dimensionless; Bench takes
/// one time unit as 1 ms, the stimulus amplitude as FitzHugh's I, and shows v as V = scale·v + offset (mV)
/// so that rest sits near −70 mV like the other models.
/// </summary>
public sealed record FitzHughNagumoParameters
{
    /// <summary>FitzHugh's a.</summary>
    public double A { get; init; } = FitzHughNagumoDeclarations.A.DefaultValue;

    /// <summary>FitzHugh's b.</summary>
    public double B { get; init; } = FitzHughNagumoDeclarations.B.DefaultValue;

    /// <summary>FitzHugh's φ (recovery time scale).</summary>
    public double Phi { get; init; } = FitzHughNagumoDeclarations.Phi.DefaultValue;

    /// <summary>mV per unit of v for display.</summary>
    public double VScaleMv { get; init; } = FitzHughNagumoDeclarations.VScale.DefaultValue;

    /// <summary>mV at v = 0 for display.</summary>
    public double VOffsetMv { get; init; } = FitzHughNagumoDeclarations.VOffset.DefaultValue;
}

/// <summary>The one declaration of each FitzHughNagumoParameters parameter; the record's defaults and the catalog come from here.</summary>
public static class FitzHughNagumoDeclarations
{
    private static ParameterBinding<FitzHughNagumoParameters> Bind(ModelParameter p, Func<FitzHughNagumoParameters, double> get, Func<FitzHughNagumoParameters, double, FitzHughNagumoParameters> set) => new(p, get, set);

    /// <summary>FitzHugh's a.</summary>
    public static ParameterBinding<FitzHughNagumoParameters> A { get; } = Bind(new ModelParameter("a", "1", 0.7, "FitzHugh's a"), p => p.A, (p, x) => p with { A = x });

    /// <summary>FitzHugh's b.</summary>
    public static ParameterBinding<FitzHughNagumoParameters> B { get; } = Bind(ModelParameter.Positive("b", "1", 0.8, "FitzHugh's b"), p => p.B, (p, x) => p with { B = x });

    /// <summary>Recovery rate φ.</summary>
    public static ParameterBinding<FitzHughNagumoParameters> Phi { get; } = Bind(ModelParameter.Positive("phi", "1", 0.08, "recovery rate"), p => p.Phi, (p, x) => p with { Phi = x });

    /// <summary>mV per unit v.</summary>
    public static ParameterBinding<FitzHughNagumoParameters> VScale { get; } = Bind(new ModelParameter("v_scale", "mV", 30, "mV per unit v (display)"), p => p.VScaleMv, (p, x) => p with { VScaleMv = x });

    /// <summary>mV at v = 0.</summary>
    public static ParameterBinding<FitzHughNagumoParameters> VOffset { get; } = Bind(new ModelParameter("v_offset", "mV", -34, "mV at v = 0 (display)"), p => p.VOffsetMv, (p, x) => p with { VOffsetMv = x });

    /// <summary>Every parameter, in the order <c>--list-models</c> shows them.</summary>
    public static IReadOnlyList<ParameterBinding<FitzHughNagumoParameters>> All { get; } = [A, B, Phi, VScale, VOffset];
}

/// <summary>
/// The FitzHugh–Nagumo model: dv/dt = v − v³/3 − w + I, dw/dt = φ (v + a − b w); w in steady-state/τ form
/// (w∞ = (v + a)/b, τ = 1/(φ b)), stepped by the shared integrators.
/// </summary>
public sealed class FitzHughNagumo : EquationModel, INeuronModel
{
    private static readonly string[] Observables = ["v", "w"];

    /// <summary>Creates the model at its resting point.</summary>
    public FitzHughNagumo(FitzHughNagumoParameters parameters, Integrator integrator = Integrator.ExponentialEuler)
        : base(2, 1, integrator)
    {
        Parameters = parameters;
        Reset();
    }

    /// <summary>The parameters.</summary>
    public FitzHughNagumoParameters Parameters { get; }

    /// <inheritdoc/>
    public string Name => "fhn";

    /// <inheritdoc/>
    public string StimulusUnit => "dimensionless I";

    /// <inheritdoc/>
    public double StimulusSlopeMvPerMsPerUnit => Parameters.VScaleMv;

    /// <inheritdoc/>
    public double VoltageMv => (Parameters.VScaleMv * State[0]) + Parameters.VOffsetMv;

    /// <inheritdoc/>
    public IReadOnlyList<string> ObservableNames => Observables;

    /// <inheritdoc/>
    public void Reset()
    {
        // The resting point solves v − v³/3 − (v + a)/b = 0; Newton from v = −1.2 converges in a few steps.
        var p = Parameters;
        double x = -1.2;
        for (int i = 0; i < 50; i++)
        {
            double f = x - (x * x * x / 3) - ((x + p.A) / p.B);
            double df = 1 - (x * x) - (1 / p.B);
            x -= f / df;
        }

        State[0] = x;
        State[1] = (x + p.A) / p.B;
    }

    /// <inheritdoc/>
    public void Step(double stimulus, double dtMs) => Integrate(stimulus, dtMs);

    /// <inheritdoc/>
    public override void Derivatives(ReadOnlySpan<double> y, double stimulus, Span<double> dydt, Span<double> selfJacobian)
    {
        double v = y[0];
        dydt[0] = v - (v * v * v / 3) - y[1] + stimulus;
        selfJacobian[0] = 1 - (v * v);
    }

    /// <inheritdoc/>
    public override void Gates(ReadOnlySpan<double> y, Span<double> steadyState, Span<double> tauMs)
    {
        steadyState[0] = (y[0] + Parameters.A) / Parameters.B;
        tauMs[0] = 1 / (Parameters.Phi * Parameters.B);
    }

    /// <inheritdoc/>
    public void ReadObservables(Span<double> destination)
    {
        destination[0] = State[0];
        destination[1] = State[1];
    }
}
