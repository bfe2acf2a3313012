namespace Bench.Core.Models;

/// <summary>
/// Izhikevich (2003), "Simple model of spiking neurons", IEEE Trans. Neural Netw. 14:1569–1572, Fig. 2:
/// regular spiking (a 0.02, b 0.2, c −65, d 8), fast spiking (0.1, 0.2, −65, 2) and chattering/bursting
/// (0.02, 0.2, −50, 2). V in mV, t in ms; the stimulus amplitude is the paper's I.
/// </summary>
public sealed record IzhikevichParameters
{
    /// <summary>Recovery time scale (1/ms).</summary>
    public double A { get; init; } = IzhikevichDeclarations.A.DefaultValue;

    /// <summary>Sensitivity of u to v.</summary>
    public double B { get; init; } = IzhikevichDeclarations.B.DefaultValue;

    /// <summary>Reset potential (mV).</summary>
    public double CMv { get; init; } = IzhikevichDeclarations.C.DefaultValue;

    /// <summary>Reset increment of u.</summary>
    public double D { get; init; } = IzhikevichDeclarations.D.DefaultValue;

    /// <summary>Spike cut-off (mV).</summary>
    public double PeakMv { get; init; } = IzhikevichDeclarations.Peak.DefaultValue;

    /// <summary>Initial potential (mV); u starts at b·v. The rest of the presets is −70 mV.</summary>
    public double InitialVoltageMv { get; init; } = IzhikevichDeclarations.InitialVoltage.DefaultValue;

    /// <summary>Regular spiking (RS) cortical neuron.</summary>
    public static IzhikevichParameters RegularSpiking { get; } = new();

    /// <summary>Fast spiking (FS) interneuron.</summary>
    public static IzhikevichParameters FastSpiking { get; } = new() { A = 0.1, D = 2 };

    /// <summary>Chattering (CH): fast rhythmic bursts.</summary>
    public static IzhikevichParameters Bursting { get; } = new() { CMv = -50, D = 2 };
}

/// <summary>The one declaration of each IzhikevichParameters parameter; the record's defaults and the catalog come from here.</summary>
public static class IzhikevichDeclarations
{
    private static ParameterBinding<IzhikevichParameters> Bind(ModelParameter p, Func<IzhikevichParameters, double> get, Func<IzhikevichParameters, double, IzhikevichParameters> set) => new(p, get, set);

    /// <summary>Recovery time scale.</summary>
    public static ParameterBinding<IzhikevichParameters> A { get; } = Bind(ModelParameter.NonNegative("a", "1/ms", 0.02, "recovery time scale"), p => p.A, (p, x) => p with { A = x });

    /// <summary>Sensitivity of u to v.</summary>
    public static ParameterBinding<IzhikevichParameters> B { get; } = Bind(new ModelParameter("b", "1", 0.2, "sensitivity of u to v"), p => p.B, (p, x) => p with { B = x });

    /// <summary>Reset potential.</summary>
    public static ParameterBinding<IzhikevichParameters> C { get; } = Bind(new ModelParameter("c", "mV", -65, "reset potential"), p => p.CMv, (p, x) => p with { CMv = x });

    /// <summary>Reset increment of u.</summary>
    public static ParameterBinding<IzhikevichParameters> D { get; } = Bind(new ModelParameter("d", "1", 8, "reset increment of u"), p => p.D, (p, x) => p with { D = x });

    /// <summary>Spike cut-off.</summary>
    public static ParameterBinding<IzhikevichParameters> Peak { get; } = Bind(new ModelParameter("v_peak", "mV", 30, "spike cut-off"), p => p.PeakMv, (p, x) => p with { PeakMv = x });

    /// <summary>Initial potential.</summary>
    public static ParameterBinding<IzhikevichParameters> InitialVoltage { get; } = Bind(new ModelParameter("v_init", "mV", -70, "initial potential"), p => p.InitialVoltageMv, (p, x) => p with { InitialVoltageMv = x });

    /// <summary>Every parameter, in the order <c>--list-models</c> shows them.</summary>
    public static IReadOnlyList<ParameterBinding<IzhikevichParameters>> All { get; } = [A, B, C, D, Peak, InitialVoltage];
}

/// <summary>
/// The Izhikevich model: v' = 0.04v² + 5v + 140 − u + I, u' = a(bv − u) (u in steady-state/τ form: u∞ = b·v,
/// τ = 1/a), stepped by the shared integrators; at v ≥ v_peak the spike is shown for one sample, then v ← c, u ← u + d.
/// </summary>
public sealed class Izhikevich : EquationModel, INeuronModel
{
    private static readonly string[] Observables = ["u"];
    private bool resetPending;

    /// <summary>Creates the model at its initial state.</summary>
    public Izhikevich(IzhikevichParameters parameters, Integrator integrator = Integrator.ExponentialEuler, string name = "izhikevich")
        : base(2, 1, integrator)
    {
        Parameters = parameters;
        Name = name;
        Reset();
    }

    /// <summary>The parameters.</summary>
    public IzhikevichParameters Parameters { get; }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public string StimulusUnit => "dimensionless I";

    /// <inheritdoc/>
    public double StimulusSlopeMvPerMsPerUnit => 1;

    /// <inheritdoc/>
    public double VoltageMv => State[0];

    /// <inheritdoc/>
    public IReadOnlyList<string> ObservableNames => Observables;

    /// <inheritdoc/>
    public void Reset()
    {
        State[0] = Parameters.InitialVoltageMv;
        State[1] = Parameters.B * State[0];
        resetPending = false;
    }

    /// <inheritdoc/>
    public void Step(double stimulus, double dtMs)
    {
        var p = Parameters;
        if (resetPending)
        {
            // The spike was shown at the peak for one sample; the reset happens now, as in Izhikevich's own code.
            State[0] = p.CMv;
            State[1] += p.D;
            resetPending = false;
        }

        Integrate(stimulus, dtMs);
        if (State[0] >= p.PeakMv || double.IsNaN(State[0]))
        {
            State[0] = p.PeakMv;
            resetPending = true;
        }
    }

    /// <inheritdoc/>
    public override void Derivatives(ReadOnlySpan<double> y, double stimulus, Span<double> dydt, Span<double> selfJacobian)
    {
        double v = y[0];
        dydt[0] = (0.04 * v * v) + (5 * v) + 140 - y[1] + stimulus;
        selfJacobian[0] = (0.08 * v) + 5;
    }

    /// <inheritdoc/>
    public override void Gates(ReadOnlySpan<double> y, Span<double> steadyState, Span<double> tauMs)
    {
        // v past the cut-off within a step is clipped for u, as the reset will clip v.
        steadyState[0] = Parameters.B * Math.Min(y[0], Parameters.PeakMv);
        tauMs[0] = 1 / Parameters.A;
    }

    /// <inheritdoc/>
    public void ReadObservables(Span<double> destination) => destination[0] = State[1];
}
