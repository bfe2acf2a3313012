using System.Globalization;

namespace Bench.Core.Models;

/// <summary>A parameter a user can override by name (<c>--param name=value</c>).</summary>
/// <param name="Name">The name on the command line, as the literature writes it (gNa, EL, Cm, …).</param>
/// <param name="Unit">Its unit.</param>
/// <param name="DefaultValue">The model's default.</param>
/// <param name="Description">One line for <c>--list-models</c>.</param>
/// <param name="Minimum">Smallest value the model can run with.</param>
/// <param name="MinimumExclusive">True when the minimum itself is not allowed (e.g. a capacitance must be &gt; 0).</param>
public sealed record ModelParameter(string Name, string Unit, double DefaultValue, string Description,
    double Minimum = double.NegativeInfinity, bool MinimumExclusive = false)
{
    /// <summary>A parameter that must be ≥ 0 (a conductance, a duration).</summary>
    public static ModelParameter NonNegative(string name, string unit, double defaultValue, string description) =>
        new(name, unit, defaultValue, description, 0);

    /// <summary>A parameter that must be &gt; 0 (a capacitance, a time constant, a divisor).</summary>
    public static ModelParameter Positive(string name, string unit, double defaultValue, string description) =>
        new(name, unit, defaultValue, description, 0, MinimumExclusive: true);
}

/// <summary>A named model and how to build it with parameter overrides.</summary>
public sealed class ModelDescriptor
{
    private readonly Func<IReadOnlyDictionary<string, double>, Integrator, INeuronModel> factory;

    internal ModelDescriptor(string name, string description, IReadOnlyList<ModelParameter> parameters,
        Func<IReadOnlyDictionary<string, double>, Integrator, INeuronModel> factory, bool isHodgkinHuxley = false)
    {
        Name = name;
        Description = description;
        Parameters = parameters;
        IsHodgkinHuxley = isHodgkinHuxley;
        this.factory = factory;
    }

    /// <summary>The catalog name.</summary>
    public string Name { get; }

    /// <summary>One line on what it is.</summary>
    public string Description { get; }

    /// <summary>The parameters a user can set, with defaults.</summary>
    public IReadOnlyList<ModelParameter> Parameters { get; }

    /// <summary>True for the Hodgkin–Huxley membranes (temperature applies; usable as an axon membrane).</summary>
    public bool IsHodgkinHuxley { get; }

    /// <summary>
    /// Every parameter's value: the defaults with <paramref name="overrides"/> applied.
    /// </summary>
    /// <exception cref="ArgumentException">An override names no parameter of this model; the message lists the valid ones.</exception>
    public IReadOnlyDictionary<string, double> Resolve(IReadOnlyDictionary<string, double>? overrides)
    {
        var values = Parameters.ToDictionary(p => p.Name, p => p.DefaultValue, StringComparer.Ordinal);
        foreach (var (name, value) in overrides ?? new Dictionary<string, double>())
        {
            if (!values.ContainsKey(name))
            {
                throw new ArgumentException($"unknown parameter '{name}' for model {Name}; valid parameters: {string.Join(", ", Parameters.Select(p => p.Name))}");
            }

            var info = Parameters.First(p => p.Name == name);
            if (!double.IsFinite(value) || value < info.Minimum || (info.MinimumExclusive && value == info.Minimum))
            {
                string rule = info.MinimumExclusive ? $"> {info.Minimum}" : double.IsNegativeInfinity(info.Minimum) ? "finite" : $">= {info.Minimum}";
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"parameter '{name}' of model {Name} must be {rule} (got {value})"));
            }

            values[name] = value;
        }

        return values;
    }

    /// <summary>Builds the model with defaults and <paramref name="overrides"/>.</summary>
    public INeuronModel Create(IReadOnlyDictionary<string, double>? overrides = null, Integrator integrator = Integrator.ExponentialEuler) =>
        factory(Resolve(overrides), integrator);
}

/// <summary>Every model Bench simulates, by name.</summary>
public static class ModelCatalog
{
    private static readonly ModelDescriptor[] All =
    [
        HodgkinHuxleyDescriptor("hh", "Hodgkin–Huxley teaching default: hh.mod with the leak reversal lowered so rest is −70 mV (threshold ≈ −55 mV)", HodgkinHuxleyParameters.Teaching),
        HodgkinHuxleyDescriptor("hh-classic", "Hodgkin & Huxley (1952) exactly as NEURON's hh.mod (rest ≈ −65 mV, 6.3 °C)", HodgkinHuxleyParameters.Classic),
        Lif(),
        Fhn(),
        MorrisLecarDescriptor(),
        IzhikevichDescriptor("izhikevich", "Izhikevich (2003), regular spiking preset", IzhikevichParameters.RegularSpiking),
        IzhikevichDescriptor("izhikevich-rs", "Izhikevich (2003), regular spiking (RS)", IzhikevichParameters.RegularSpiking),
        IzhikevichDescriptor("izhikevich-fs", "Izhikevich (2003), fast spiking (FS)", IzhikevichParameters.FastSpiking),
        IzhikevichDescriptor("izhikevich-burst", "Izhikevich (2003), chattering / bursting (CH)", IzhikevichParameters.Bursting),
        Rc(),
    ];

    /// <summary>Every model.</summary>
    public static IReadOnlyList<ModelDescriptor> Models => All;

    /// <summary>Finds a model by name.</summary>
    /// <exception cref="ArgumentException">No such model; the message lists them.</exception>
    public static ModelDescriptor Get(string name) =>
        All.FirstOrDefault(m => m.Name == name)
        ?? throw new ArgumentException($"unknown model '{name}'; models: {string.Join(", ", All.Select(m => m.Name))}");

    /// <summary>The Hodgkin–Huxley parameters a resolved parameter set describes.</summary>
    public static HodgkinHuxleyParameters ToHodgkinHuxley(IReadOnlyDictionary<string, double> v) => new()
    {
        GNaMilliSiemensPerCm2 = v["gNa"],
        GKMilliSiemensPerCm2 = v["gK"],
        GLeakMilliSiemensPerCm2 = v["gL"],
        ENaMv = v["ENa"],
        EKMv = v["EK"],
        ELeakMv = v["EL"],
        CmMicrofaradsPerCm2 = v["Cm"],
        TemperatureCelsius = v["celsius"],
        RateShiftMv = v["vshift"],
        InitialVoltageMv = v["v_init"],
        Rates = RateMode(v["use_table"]),
    };

    private static RateEvaluation RateMode(double value) => value switch
    {
        0 => RateEvaluation.Exact,
        1 => RateEvaluation.NeuronTable,
        2 => RateEvaluation.StepTable,
        _ => throw new ArgumentException($"use_table must be 0 (exact rates), 1 (NEURON's table) or 2 (per-dt coefficient table), not {value}"),
    };

    private static ModelDescriptor HodgkinHuxleyDescriptor(string name, string description, HodgkinHuxleyParameters d) => new(
        name, description,
        [
            ModelParameter.NonNegative("gNa", "mS/cm2", d.GNaMilliSiemensPerCm2, "peak Na+ conductance"),
            ModelParameter.NonNegative("gK", "mS/cm2", d.GKMilliSiemensPerCm2, "peak K+ conductance"),
            ModelParameter.NonNegative("gL", "mS/cm2", d.GLeakMilliSiemensPerCm2, "leak conductance"),
            new("ENa", "mV", d.ENaMv, "Na+ reversal potential"),
            new("EK", "mV", d.EKMv, "K+ reversal potential"),
            new("EL", "mV", d.ELeakMv, "leak reversal potential"),
            ModelParameter.Positive("Cm", "uF/cm2", d.CmMicrofaradsPerCm2, "membrane capacitance"),
            new("celsius", "degC", d.TemperatureCelsius, "temperature (q10 = 3 from 6.3 degC); also --temperature"),
            new("vshift", "mV", d.RateShiftMv, "shift of every gate's voltage dependence (a gate sees V - vshift)"),
            new("v_init", "mV", d.InitialVoltageMv, "initial potential; gates start at steady state"),
            new("use_table", "0/1/2", (double)d.Rates, "rates: 0 exact, 1 NEURON's 1 mV table (NEURON's default), 2 per-dt coefficient table (fastest)"),
        ],
        (v, integrator) => new HodgkinHuxley(ToHodgkinHuxley(v), integrator, name),
        isHodgkinHuxley: true);

    private static ModelDescriptor Lif()
    {
        var d = new LeakyIntegrateAndFireParameters();
        return new("lif", "leaky integrate-and-fire with refractory period (Dayan & Abbott 2001)",
        [
            ModelParameter.Positive("Cm", "uF/cm2", d.CmMicrofaradsPerCm2, "membrane capacitance"),
            ModelParameter.Positive("gL", "mS/cm2", d.GLeakMilliSiemensPerCm2, "leak conductance (tau = Cm/gL)"),
            new("EL", "mV", d.ELeakMv, "leak reversal (rest)"),
            new("Vth", "mV", d.ThresholdMv, "firing threshold"),
            new("Vreset", "mV", d.ResetMv, "reset potential"),
            ModelParameter.NonNegative("t_ref", "ms", d.RefractoryMs, "absolute refractory period"),
            new("V_spike", "mV", d.SpikePeakMv, "potential drawn for the spike sample"),
        ],
        (v, integrator) => new LeakyIntegrateAndFire(new LeakyIntegrateAndFireParameters
        {
            CmMicrofaradsPerCm2 = v["Cm"], GLeakMilliSiemensPerCm2 = v["gL"], ELeakMv = v["EL"], ThresholdMv = v["Vth"],
            ResetMv = v["Vreset"], RefractoryMs = v["t_ref"], SpikePeakMv = v["V_spike"],
        }, integrator));
    }

    private static ModelDescriptor Rc()
    {
        var d = new PassiveMembraneParameters();
        return new("rc", "passive membrane: a resistor and a capacitor, tau = RC (20 ms); the charging curve a stock Arduino records",
        [
            ModelParameter.Positive("Cm", "uF/cm2", d.CmMicrofaradsPerCm2, "membrane capacitance"),
            ModelParameter.Positive("gL", "mS/cm2", d.GLeakMilliSiemensPerCm2, "leak conductance (tau = Cm/gL)"),
            new("EL", "mV", d.ELeakMv, "rest"),
        ],
        (v, _) => new PassiveMembrane(new PassiveMembraneParameters { CmMicrofaradsPerCm2 = v["Cm"], GLeakMilliSiemensPerCm2 = v["gL"], ELeakMv = v["EL"] }));
    }

    private static ModelDescriptor Fhn()
    {
        var d = new FitzHughNagumoParameters();
        return new("fhn", "FitzHugh-Nagumo (FitzHugh 1961), dimensionless, shown in mV",
        [
            new("a", "1", d.A, "FitzHugh's a"),
            ModelParameter.Positive("b", "1", d.B, "FitzHugh's b"),
            ModelParameter.Positive("phi", "1", d.Phi, "recovery rate"),
            new("v_scale", "mV", d.VScaleMv, "mV per unit v (display)"),
            new("v_offset", "mV", d.VOffsetMv, "mV at v = 0 (display)"),
        ],
        (v, integrator) => new FitzHughNagumo(new FitzHughNagumoParameters
        {
            A = v["a"], B = v["b"], Phi = v["phi"], VScaleMv = v["v_scale"], VOffsetMv = v["v_offset"],
        }, integrator));
    }

    private static ModelDescriptor MorrisLecarDescriptor()
    {
        var d = new MorrisLecarParameters();
        return new("morris-lecar", "Morris-Lecar, Hopf set of Rinzel & Ermentrout (1998)",
        [
            ModelParameter.Positive("Cm", "uF/cm2", d.CmMicrofaradsPerCm2, "membrane capacitance"),
            ModelParameter.NonNegative("gCa", "mS/cm2", d.GCaMilliSiemensPerCm2, "Ca2+ conductance"),
            ModelParameter.NonNegative("gK", "mS/cm2", d.GKMilliSiemensPerCm2, "K+ conductance"),
            ModelParameter.NonNegative("gL", "mS/cm2", d.GLeakMilliSiemensPerCm2, "leak conductance"),
            new("ECa", "mV", d.ECaMv, "Ca2+ reversal"),
            new("EK", "mV", d.EKMv, "K+ reversal"),
            new("EL", "mV", d.ELeakMv, "leak reversal"),
            new("V1", "mV", d.V1Mv, "m-inf half-activation"),
            ModelParameter.Positive("V2", "mV", d.V2Mv, "m-inf slope"),
            new("V3", "mV", d.V3Mv, "w-inf half-activation"),
            ModelParameter.Positive("V4", "mV", d.V4Mv, "w-inf slope"),
            ModelParameter.Positive("phi", "1/ms", d.Phi, "w rate scale"),
        ],
        (v, integrator) => new MorrisLecar(new MorrisLecarParameters
        {
            CmMicrofaradsPerCm2 = v["Cm"], GCaMilliSiemensPerCm2 = v["gCa"], GKMilliSiemensPerCm2 = v["gK"],
            GLeakMilliSiemensPerCm2 = v["gL"], ECaMv = v["ECa"], EKMv = v["EK"], ELeakMv = v["EL"],
            V1Mv = v["V1"], V2Mv = v["V2"], V3Mv = v["V3"], V4Mv = v["V4"], Phi = v["phi"],
        }, integrator));
    }

    private static ModelDescriptor IzhikevichDescriptor(string name, string description, IzhikevichParameters d) => new(
        name, description,
        [
            ModelParameter.NonNegative("a", "1/ms", d.A, "recovery time scale"),
            new("b", "1", d.B, "sensitivity of u to v"),
            new("c", "mV", d.CMv, "reset potential"),
            new("d", "1", d.D, "reset increment of u"),
            new("v_peak", "mV", d.PeakMv, "spike cut-off"),
            new("v_init", "mV", d.InitialVoltageMv, "initial potential"),
        ],
        (v, integrator) => new Izhikevich(new IzhikevichParameters
        {
            A = v["a"], B = v["b"], CMv = v["c"], D = v["d"], PeakMv = v["v_peak"], InitialVoltageMv = v["v_init"],
        }, integrator, name));

    /// <summary>Parses <c>name=value</c> assignments (e.g. repeated <c>--param</c> options) into overrides; a later one wins.</summary>
    /// <exception cref="ArgumentException">One is not of that form.</exception>
    public static Dictionary<string, double> ParseAssignments(IEnumerable<string> texts)
    {
        var overrides = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var text in texts)
        {
            var (name, value) = ParseAssignment(text);
            overrides[name] = value;
        }

        return overrides;
    }

    /// <summary>Parses <c>name=value</c> (invariant culture).</summary>
    /// <exception cref="ArgumentException">Not of that form.</exception>
    public static KeyValuePair<string, double> ParseAssignment(string text)
    {
        int eq = text.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0 || !double.TryParse(text.AsSpan(eq + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
        {
            throw new ArgumentException($"'{text}' is not name=value with a number, e.g. gNa=100");
        }

        return new(text[..eq].Trim(), value);
    }
}
