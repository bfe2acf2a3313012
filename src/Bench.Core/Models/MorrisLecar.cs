namespace Bench.Core.Models;

/// <summary>
/// Morris–Lecar parameters: the Hopf (class II) set of Rinzel &amp; Ermentrout (1998), "Analysis of neural
/// excitability and oscillations", in Koch &amp; Segev (eds.), <i>Methods in Neuronal Modeling</i>, 2nd ed., Table 7.1:
/// C = 20 µF/cm², g_Ca = 4.4, g_K = 8, g_L = 2 mS/cm², E_Ca = 120, E_K = −84, E_L = −60 mV,
/// V1 = −1.2, V2 = 18, V3 = 2, V4 = 30 mV, φ = 0.04.
/// </summary>
public sealed record MorrisLecarParameters
{
    /// <summary>Capacitance (µF/cm²).</summary>
    public double CmMicrofaradsPerCm2 { get; init; } = MorrisLecarDeclarations.Cm.DefaultValue;

    /// <summary>Calcium conductance (mS/cm²).</summary>
    public double GCaMilliSiemensPerCm2 { get; init; } = MorrisLecarDeclarations.GCa.DefaultValue;

    /// <summary>Potassium conductance (mS/cm²).</summary>
    public double GKMilliSiemensPerCm2 { get; init; } = MorrisLecarDeclarations.GK.DefaultValue;

    /// <summary>Leak conductance (mS/cm²).</summary>
    public double GLeakMilliSiemensPerCm2 { get; init; } = MorrisLecarDeclarations.GLeak.DefaultValue;

    /// <summary>Calcium reversal (mV).</summary>
    public double ECaMv { get; init; } = MorrisLecarDeclarations.ECa.DefaultValue;

    /// <summary>Potassium reversal (mV).</summary>
    public double EKMv { get; init; } = MorrisLecarDeclarations.EK.DefaultValue;

    /// <summary>Leak reversal (mV).</summary>
    public double ELeakMv { get; init; } = MorrisLecarDeclarations.ELeak.DefaultValue;

    /// <summary>Half-activation of m∞ (mV).</summary>
    public double V1Mv { get; init; } = MorrisLecarDeclarations.V1.DefaultValue;

    /// <summary>Slope of m∞ (mV).</summary>
    public double V2Mv { get; init; } = MorrisLecarDeclarations.V2.DefaultValue;

    /// <summary>Half-activation of w∞ (mV).</summary>
    public double V3Mv { get; init; } = MorrisLecarDeclarations.V3.DefaultValue;

    /// <summary>Slope of w∞ (mV).</summary>
    public double V4Mv { get; init; } = MorrisLecarDeclarations.V4.DefaultValue;

    /// <summary>Rate scale of w (1/ms).</summary>
    public double Phi { get; init; } = MorrisLecarDeclarations.Phi.DefaultValue;
}

/// <summary>The one declaration of each MorrisLecarParameters parameter; the record's defaults and the catalog come from here.</summary>
public static class MorrisLecarDeclarations
{
    private static ParameterBinding<MorrisLecarParameters> Bind(ModelParameter p, Func<MorrisLecarParameters, double> get, Func<MorrisLecarParameters, double, MorrisLecarParameters> set) => new(p, get, set);

    /// <summary>Capacitance.</summary>
    public static ParameterBinding<MorrisLecarParameters> Cm { get; } = Bind(ModelParameter.Positive("Cm", "uF/cm2", 20, "membrane capacitance"), p => p.CmMicrofaradsPerCm2, (p, x) => p with { CmMicrofaradsPerCm2 = x });

    /// <summary>Ca²⁺ conductance.</summary>
    public static ParameterBinding<MorrisLecarParameters> GCa { get; } = Bind(ModelParameter.NonNegative("gCa", "mS/cm2", 4.4, "Ca2+ conductance"), p => p.GCaMilliSiemensPerCm2, (p, x) => p with { GCaMilliSiemensPerCm2 = x });

    /// <summary>K⁺ conductance.</summary>
    public static ParameterBinding<MorrisLecarParameters> GK { get; } = Bind(ModelParameter.NonNegative("gK", "mS/cm2", 8, "K+ conductance"), p => p.GKMilliSiemensPerCm2, (p, x) => p with { GKMilliSiemensPerCm2 = x });

    /// <summary>Leak conductance.</summary>
    public static ParameterBinding<MorrisLecarParameters> GLeak { get; } = Bind(ModelParameter.NonNegative("gL", "mS/cm2", 2, "leak conductance"), p => p.GLeakMilliSiemensPerCm2, (p, x) => p with { GLeakMilliSiemensPerCm2 = x });

    /// <summary>Ca²⁺ reversal.</summary>
    public static ParameterBinding<MorrisLecarParameters> ECa { get; } = Bind(new ModelParameter("ECa", "mV", 120, "Ca2+ reversal"), p => p.ECaMv, (p, x) => p with { ECaMv = x });

    /// <summary>K⁺ reversal.</summary>
    public static ParameterBinding<MorrisLecarParameters> EK { get; } = Bind(new ModelParameter("EK", "mV", -84, "K+ reversal"), p => p.EKMv, (p, x) => p with { EKMv = x });

    /// <summary>Leak reversal.</summary>
    public static ParameterBinding<MorrisLecarParameters> ELeak { get; } = Bind(new ModelParameter("EL", "mV", -60, "leak reversal"), p => p.ELeakMv, (p, x) => p with { ELeakMv = x });

    /// <summary>m∞ half-activation.</summary>
    public static ParameterBinding<MorrisLecarParameters> V1 { get; } = Bind(new ModelParameter("V1", "mV", -1.2, "m-inf half-activation"), p => p.V1Mv, (p, x) => p with { V1Mv = x });

    /// <summary>m∞ slope.</summary>
    public static ParameterBinding<MorrisLecarParameters> V2 { get; } = Bind(ModelParameter.Positive("V2", "mV", 18, "m-inf slope"), p => p.V2Mv, (p, x) => p with { V2Mv = x });

    /// <summary>w∞ half-activation.</summary>
    public static ParameterBinding<MorrisLecarParameters> V3 { get; } = Bind(new ModelParameter("V3", "mV", 2, "w-inf half-activation"), p => p.V3Mv, (p, x) => p with { V3Mv = x });

    /// <summary>w∞ slope.</summary>
    public static ParameterBinding<MorrisLecarParameters> V4 { get; } = Bind(ModelParameter.Positive("V4", "mV", 30, "w-inf slope"), p => p.V4Mv, (p, x) => p with { V4Mv = x });

    /// <summary>w rate scale.</summary>
    public static ParameterBinding<MorrisLecarParameters> Phi { get; } = Bind(ModelParameter.Positive("phi", "1/ms", 0.04, "w rate scale"), p => p.Phi, (p, x) => p with { Phi = x });

    /// <summary>Every parameter, in the order <c>--list-models</c> shows them.</summary>
    public static IReadOnlyList<ParameterBinding<MorrisLecarParameters>> All { get; } = [Cm, GCa, GK, GLeak, ECa, EK, ELeak, V1, V2, V3, V4, Phi];
}

/// <summary>
/// The Morris–Lecar model: instantaneous Ca²⁺ activation m∞(V), slow K⁺ activation w in steady-state/τ form, stepped by
/// the shared integrators.
/// </summary>
public sealed class MorrisLecar : EquationModel, INeuronModel
{
    private static readonly string[] Observables = ["w", "i_ca_uA_per_cm2", "i_k_uA_per_cm2"];

    /// <summary>Creates the model at its resting point.</summary>
    public MorrisLecar(MorrisLecarParameters parameters, Integrator integrator = Integrator.ExponentialEuler)
        : base(2, 1, integrator)
    {
        Parameters = parameters;
        Reset();
    }

    /// <summary>The parameters.</summary>
    public MorrisLecarParameters Parameters { get; }

    /// <inheritdoc/>
    public string Name => "morris-lecar";

    /// <inheritdoc/>
    public string StimulusUnit => "uA/cm2";

    /// <inheritdoc/>
    public double StimulusSlopeMvPerMsPerUnit => 1 / Parameters.CmMicrofaradsPerCm2;

    /// <inheritdoc/>
    public double VoltageMv => State[0];

    /// <inheritdoc/>
    public IReadOnlyList<string> ObservableNames => Observables;

    private double MInf(double x) => 0.5 * (1 + Math.Tanh((x - Parameters.V1Mv) / Parameters.V2Mv));

    private double WInf(double x) => 0.5 * (1 + Math.Tanh((x - Parameters.V3Mv) / Parameters.V4Mv));

    private double WTauMs(double x) => 1 / (Parameters.Phi * Math.Cosh((x - Parameters.V3Mv) / (2 * Parameters.V4Mv)));

    private double IonicCurrent(double x, double ww) =>
        (Parameters.GLeakMilliSiemensPerCm2 * (x - Parameters.ELeakMv))
        + (Parameters.GCaMilliSiemensPerCm2 * MInf(x) * (x - Parameters.ECaMv))
        + (Parameters.GKMilliSiemensPerCm2 * ww * (x - Parameters.EKMv));

    /// <inheritdoc/>
    public void Reset()
    {
        // Rest: the zero of the steady-state current, found by bisection on [−90, 0] mV where it is monotonic at this set.
        double lo = -90, hi = 0;
        for (int i = 0; i < 100; i++)
        {
            double mid = 0.5 * (lo + hi);
            if (IonicCurrent(mid, WInf(mid)) < 0) lo = mid; else hi = mid;
        }

        State[0] = 0.5 * (lo + hi);
        State[1] = WInf(State[0]);
    }

    /// <inheritdoc/>
    public void Step(double stimulus, double dtMs) => Integrate(stimulus, dtMs);

    /// <inheritdoc/>
    public override void Derivatives(ReadOnlySpan<double> y, double stimulus, Span<double> dydt, Span<double> selfJacobian)
    {
        var p = Parameters;
        double v = y[0];
        dydt[0] = (stimulus - IonicCurrent(v, y[1])) / p.CmMicrofaradsPerCm2;
        // di/dV includes dm∞/dV: the Ca²⁺ gate is instantaneous.
        double sech = 1 / Math.Cosh((v - p.V1Mv) / p.V2Mv);
        double dMInf = 0.5 / p.V2Mv * sech * sech;
        double g = p.GLeakMilliSiemensPerCm2 + (p.GCaMilliSiemensPerCm2 * (MInf(v) + (dMInf * (v - p.ECaMv)))) + (p.GKMilliSiemensPerCm2 * y[1]);
        selfJacobian[0] = -g / p.CmMicrofaradsPerCm2;
    }

    /// <inheritdoc/>
    public override void Gates(ReadOnlySpan<double> y, Span<double> steadyState, Span<double> tauMs)
    {
        steadyState[0] = WInf(y[0]);
        tauMs[0] = WTauMs(y[0]);
    }

    /// <inheritdoc/>
    public void ReadObservables(Span<double> destination)
    {
        destination[0] = State[1];
        destination[1] = Parameters.GCaMilliSiemensPerCm2 * MInf(State[0]) * (State[0] - Parameters.ECaMv);
        destination[2] = Parameters.GKMilliSiemensPerCm2 * State[1] * (State[0] - Parameters.EKMv);
    }
}
