namespace Bench.Core.Models;

/// <summary>
/// Parameters of a Hodgkin–Huxley membrane, in NEURON's <c>hh.mod</c> formulation.
/// Rate functions take the potential in absolute mV (classic rest ≈ −65 mV); <see cref="RateShiftMv"/>
/// moves every gate's voltage dependence together, which is how the teaching model moves rest and threshold.
/// </summary>
public sealed record HodgkinHuxleyParameters
{
    /// <summary>Peak sodium conductance (mS/cm²).</summary>
    public double GNaMilliSiemensPerCm2 { get; init; } = HodgkinHuxleyDeclarations.GNa.DefaultValue;

    /// <summary>Peak potassium conductance (mS/cm²).</summary>
    public double GKMilliSiemensPerCm2 { get; init; } = HodgkinHuxleyDeclarations.GK.DefaultValue;

    /// <summary>Leak conductance (mS/cm²).</summary>
    public double GLeakMilliSiemensPerCm2 { get; init; } = HodgkinHuxleyDeclarations.GLeak.DefaultValue;

    /// <summary>Sodium reversal potential (mV).</summary>
    public double ENaMv { get; init; } = HodgkinHuxleyDeclarations.ENa.DefaultValue;

    /// <summary>Potassium reversal potential (mV).</summary>
    public double EKMv { get; init; } = HodgkinHuxleyDeclarations.EK.DefaultValue;

    /// <summary>Leak reversal potential (mV).</summary>
    public double ELeakMv { get; init; } = HodgkinHuxleyDeclarations.ELeak.DefaultValue;

    /// <summary>Membrane capacitance (µF/cm²).</summary>
    public double CmMicrofaradsPerCm2 { get; init; } = HodgkinHuxleyDeclarations.Cm.DefaultValue;

    /// <summary>Temperature (°C); rates scale by q10 = 3 per 10 °C from 6.3 °C.</summary>
    public double TemperatureCelsius { get; init; } = HodgkinHuxleyDeclarations.Celsius.DefaultValue;

    /// <summary>Shift of all rate functions along the voltage axis (mV): a gate sees V − shift.</summary>
    public double RateShiftMv { get; init; } = HodgkinHuxleyDeclarations.RateShift.DefaultValue;

    /// <summary>Initial membrane potential (mV); gates start at their steady state for it (NEURON's finitialize).</summary>
    public double InitialVoltageMv { get; init; } = HodgkinHuxleyDeclarations.InitialVoltage.DefaultValue;

    /// <summary>How the gates' rates are evaluated each step; NEURON's table by default.</summary>
    public RateEvaluation Rates { get; init; } = (RateEvaluation)HodgkinHuxleyDeclarations.Rates.DefaultValue;

    /// <summary>NEURON's <c>hh.mod</c> exactly (Hodgkin &amp; Huxley 1952, rest ≈ −65 mV, 6.3 °C).</summary>
    public static HodgkinHuxleyParameters Classic { get; } = new();

    /// <summary>
    /// The teaching default: NEURON's classic membrane with one change, the leak reversal lowered from −54.3 to
    /// −67.868 mV, which puts rest at the −70.00 mV of the lab material. No channel changes. At the lower rest more
    /// Na⁺ inactivation is removed (h larger) and less K⁺ is active (n smaller), so the threshold stays near −55 mV
    /// in absolute terms and the model shows the 15 mV from rest to threshold that students are taught
    /// (the classic model has only ≈ 11 mV). Overshoot ≈ +40 mV, after-hyperpolarisation ≈ −76.7 mV (E_K = −77).
    /// The value solves i_Na + i_K + i_L = 0 at −70 mV with the gates at steady state.
    /// </summary>
    public static HodgkinHuxleyParameters Teaching { get; } = new()
    {
        ELeakMv = TeachingLeakReversalMv,
        InitialVoltageMv = -70,
    };

    /// <summary>Leak reversal of the teaching model (mV): rest at −70 mV.</summary>
    public const double TeachingLeakReversalMv = -67.868;

    /// <summary>The q10 factor of the rates at <see cref="TemperatureCelsius"/>.</summary>
    public double Q10Factor => Math.Pow(3, (TemperatureCelsius - 6.3) / 10);
}

/// <summary>
/// The one declaration of each Hodgkin–Huxley parameter (name, unit, default, range, meaning, the lab's range), as
/// <c>hh.mod</c> declares them; <see cref="HodgkinHuxleyParameters"/> takes its defaults from here and the catalog
/// builds it from here.
/// </summary>
public static class HodgkinHuxleyDeclarations
{
    private static ParameterBinding<HodgkinHuxleyParameters> Bind(ModelParameter p, Func<HodgkinHuxleyParameters, double> get, Func<HodgkinHuxleyParameters, double, HodgkinHuxleyParameters> set) => new(p, get, set);

    /// <summary>Peak Na⁺ conductance (hh.mod's gnabar, 0.12 S/cm²).</summary>
    public static ParameterBinding<HodgkinHuxleyParameters> GNa { get; } = Bind(
        ModelParameter.NonNegative("gNa", "mS/cm2", 120, "peak Na+ conductance") with { LabRange = (0, 480) },
        p => p.GNaMilliSiemensPerCm2, (p, x) => p with { GNaMilliSiemensPerCm2 = x });

    /// <summary>Peak K⁺ conductance (gkbar, 0.036 S/cm²).</summary>
    public static ParameterBinding<HodgkinHuxleyParameters> GK { get; } = Bind(
        ModelParameter.NonNegative("gK", "mS/cm2", 36, "peak K+ conductance") with { LabRange = (0, 144) },
        p => p.GKMilliSiemensPerCm2, (p, x) => p with { GKMilliSiemensPerCm2 = x });

    /// <summary>Leak conductance (gl, 0.0003 S/cm²).</summary>
    public static ParameterBinding<HodgkinHuxleyParameters> GLeak { get; } = Bind(
        ModelParameter.NonNegative("gL", "mS/cm2", 0.3, "leak conductance") with { LabRange = (0, 3) },
        p => p.GLeakMilliSiemensPerCm2, (p, x) => p with { GLeakMilliSiemensPerCm2 = x });

    /// <summary>Na⁺ reversal potential.</summary>
    public static ParameterBinding<HodgkinHuxleyParameters> ENa { get; } = Bind(
        new ModelParameter("ENa", "mV", 50, "Na+ reversal potential") { LabRange = (0, 100) },
        p => p.ENaMv, (p, x) => p with { ENaMv = x });

    /// <summary>K⁺ reversal potential.</summary>
    public static ParameterBinding<HodgkinHuxleyParameters> EK { get; } = Bind(
        new ModelParameter("EK", "mV", -77, "K+ reversal potential") { LabRange = (-120, -40) },
        p => p.EKMv, (p, x) => p with { EKMv = x });

    /// <summary>Leak reversal potential (el, −54.3 mV).</summary>
    public static ParameterBinding<HodgkinHuxleyParameters> ELeak { get; } = Bind(
        new ModelParameter("EL", "mV", -54.3, "leak reversal potential") { LabRange = (-100, -30) },
        p => p.ELeakMv, (p, x) => p with { ELeakMv = x });

    /// <summary>Membrane capacitance.</summary>
    public static ParameterBinding<HodgkinHuxleyParameters> Cm { get; } = Bind(
        ModelParameter.Positive("Cm", "uF/cm2", 1, "membrane capacitance") with { LabRange = (0.1, 10) },
        p => p.CmMicrofaradsPerCm2, (p, x) => p with { CmMicrofaradsPerCm2 = x });

    /// <summary>Temperature; the rates scale by q10 = 3 from 6.3 °C.</summary>
    public static ParameterBinding<HodgkinHuxleyParameters> Celsius { get; } = Bind(Temperature(6.3),
        p => p.TemperatureCelsius, (p, x) => p with { TemperatureCelsius = x });

    /// <summary>Shift of every gate's voltage dependence.</summary>
    public static ParameterBinding<HodgkinHuxleyParameters> RateShift { get; } = Bind(
        new ModelParameter("vshift", "mV", 0, "shift of every gate's voltage dependence (a gate sees V - vshift)") { LabRange = (-30, 30) },
        p => p.RateShiftMv, (p, x) => p with { RateShiftMv = x });

    /// <summary>Initial potential.</summary>
    public static ParameterBinding<HodgkinHuxleyParameters> InitialVoltage { get; } = Bind(
        new ModelParameter("v_init", "mV", -65, "initial potential; gates start at steady state"),
        p => p.InitialVoltageMv, (p, x) => p with { InitialVoltageMv = x });

    /// <summary>How the rates are evaluated (<see cref="RateEvaluation"/>).</summary>
    public static ParameterBinding<HodgkinHuxleyParameters> Rates { get; } = Bind(
        new ModelParameter("use_table", "0/1/2", (double)RateEvaluation.NeuronTable, "rates: 0 exact, 1 NEURON's 1 mV table (NEURON's default), 2 per-dt coefficient table (fastest)")
        {
            Minimum = 0, Maximum = 2, WholeNumber = true, Choices = "0 (exact rates), 1 (NEURON's table) or 2 (per-dt coefficient table)",
        },
        p => (double)p.Rates, (p, x) => p with { Rates = (RateEvaluation)(int)x });

    /// <summary>Every parameter, in the order <c>--list-models</c> shows them.</summary>
    public static IReadOnlyList<ParameterBinding<HodgkinHuxleyParameters>> All { get; } = [GNa, GK, GLeak, ENa, EK, ELeak, Cm, Celsius, RateShift, InitialVoltage, Rates];

    /// <summary>
    /// The temperature declaration every HH-kinetics model shares: absolute zero is its floor; a lab explores 0–45 °C
    /// (the HH gates, with q10 = 3, stop describing a membrane well outside it).
    /// </summary>
    public static ModelParameter Temperature(double defaultCelsius) =>
        new ModelParameter("celsius", "degC", defaultCelsius, "temperature (q10 = 3 from 6.3 degC); also --temperature")
        {
            Minimum = -273.15, MinimumExclusive = true, LabRange = (0, 45),
        };
}

/// <summary>How a Hodgkin–Huxley membrane evaluates its gates' rates each step.</summary>
public enum RateEvaluation
{
    /// <summary>The rate functions evaluated exactly (NEURON with <c>usetable_hh = 0</c>).</summary>
    Exact = 0,

    /// <summary>
    /// NEURON's table (its default, <c>usetable_hh = 1</c>): x∞ and τx at 1 mV steps from −100 to 100 mV,
    /// linearly interpolated, then <c>cnexp</c>'s exp(−dt/τ) each step. Reproduces NEURON 8 to 1e-8 mV.
    /// </summary>
    NeuronTable = 1,

    /// <summary>
    /// A table of the step's own coefficients for the dt in use: E = exp(−dt/τ) and B = (1 − E)·x∞ at the same
    /// 1 mV grid, interpolated, so a gate advances as x ← E·x + B with no exponential or division per step
    /// (the approach of NEURON's older hh.mod, whose table depended on dt). Fastest; differs from NEURON 8 by
    /// well under 0.1 mV on an action potential (the tests state the bound).
    /// </summary>
    StepTable = 2,
}
