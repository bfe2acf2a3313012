using System.Globalization;
using System.Text.Json.Nodes;

namespace Bench.Core.Models;

/// <summary>A named model and how to build it with parameter overrides.</summary>
public sealed class ModelDescriptor
{
    private readonly Func<IReadOnlyDictionary<string, double>, object> record;
    private readonly Func<object, Integrator, INeuronModel> build;
    private readonly Func<object, HodgkinHuxleyParameters>? membrane;

    private ModelDescriptor(string name, string description, IReadOnlyList<ModelParameter> parameters,
        Func<IReadOnlyDictionary<string, double>, object> record, Func<object, Integrator, INeuronModel> build, Func<object, HodgkinHuxleyParameters>? membrane)
    {
        Name = name;
        Description = description;
        Parameters = parameters;
        this.record = record;
        this.build = build;
        this.membrane = membrane;
    }

    /// <summary>
    /// A model whose parameters are the fields of record <typeparamref name="T"/>, each declared once in
    /// <paramref name="declarations"/>; <paramref name="preset"/> gives the defaults (a preset may differ from the
    /// declared default, as the teaching HH's leak reversal does).
    /// </summary>
    /// <param name="name">The catalog name.</param>
    /// <param name="description">One line on what it is.</param>
    /// <param name="declarations">Every parameter, bound to its field.</param>
    /// <param name="preset">The defaults.</param>
    /// <param name="build">Builds the model from a record and an integrator.</param>
    /// <param name="membrane">For a Hodgkin–Huxley membrane (usable as an axon's), its HH parameters; else null.</param>
    public static ModelDescriptor Create<T>(string name, string description, IReadOnlyList<ParameterBinding<T>> declarations, T preset,
        Func<T, Integrator, INeuronModel> build, Func<T, HodgkinHuxleyParameters>? membrane = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(declarations);
        ArgumentNullException.ThrowIfNull(build);
        return new(name, description, [.. declarations.Select(d => d.Declaration.WithDefault(d.Get(preset)))],
            values => declarations.Aggregate(preset, (r, d) => d.Set(r, values[d.Declaration.Name])),
            (r, integrator) => build((T)r, integrator),
            membrane is null ? null : r => membrane((T)r));
    }

    /// <summary>The catalog name.</summary>
    public string Name { get; }

    /// <summary>One line on what it is.</summary>
    public string Description { get; }

    /// <summary>The parameters a user can set, with defaults.</summary>
    public IReadOnlyList<ModelParameter> Parameters { get; }

    /// <summary>True for the Hodgkin–Huxley membranes (temperature applies; usable as an axon membrane).</summary>
    public bool IsHodgkinHuxley => membrane is not null;

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
            if (!info.Accepts(value))
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"parameter '{name}' of model {Name} must be {info.RangeText} (got {value}); see --list-models"));
            }

            values[name] = value;
        }

        return values;
    }

    /// <summary>Builds the model with defaults and <paramref name="overrides"/>.</summary>
    public INeuronModel Create(IReadOnlyDictionary<string, double>? overrides = null, Integrator integrator = Integrator.ExponentialEuler) =>
        build(record(Resolve(overrides)), integrator);

    /// <summary>
    /// Every parameter's declaration as JSON, for a recording's metadata: name → unit, default, valid range (null for an
    /// open end, with whether each end is exclusive) and meaning, so a file says what its parameter values mean.
    /// </summary>
    public JsonObject DeclarationsJson()
    {
        var o = new JsonObject();
        foreach (var p in Parameters)
        {
            o[p.Name] = new JsonObject
            {
                ["unit"] = p.Unit,
                ["default"] = p.DefaultValue,
                ["min"] = double.IsNegativeInfinity(p.Minimum) ? null : p.Minimum,
                ["min_exclusive"] = p.MinimumExclusive,
                ["max"] = double.IsPositiveInfinity(p.Maximum) ? null : p.Maximum,
                ["max_exclusive"] = p.MaximumExclusive,
                ["description"] = p.Description,
            };
        }

        return o;
    }

    /// <summary>The model's parameter record with defaults and <paramref name="overrides"/> (e.g. <see cref="IonicHodgkinHuxleyParameters"/>).</summary>
    /// <exception cref="ArgumentException">A bad override.</exception>
    /// <exception cref="InvalidCastException">The model's record is not a <typeparamref name="T"/>.</exception>
    public T ParametersFor<T>(IReadOnlyDictionary<string, double>? overrides = null) => (T)record(Resolve(overrides));

    /// <summary>The Hodgkin–Huxley membrane the parameters describe (for an axon, or a synapse's cells).</summary>
    /// <exception cref="ArgumentException">A bad override, or a model that is not a Hodgkin–Huxley membrane.</exception>
    public HodgkinHuxleyParameters Membrane(IReadOnlyDictionary<string, double>? overrides = null) =>
        membrane is null ? throw new ArgumentException($"model {Name} is not a Hodgkin-Huxley membrane: use hh, hh-classic, hh-ions or hh-node") : membrane(record(Resolve(overrides)));
}

/// <summary>Every model Bench simulates, by name.</summary>
public static class ModelCatalog
{
    private static readonly ModelDescriptor[] All =
    [
        HodgkinHuxleyDescriptor("hh", "Hodgkin–Huxley teaching default: hh.mod with the leak reversal lowered so rest is −70 mV (threshold ≈ −55 mV)", HodgkinHuxleyParameters.Teaching),
        HodgkinHuxleyDescriptor("hh-classic", "Hodgkin & Huxley (1952) exactly as NEURON's hh.mod (rest ≈ −65 mV, 6.3 °C)", HodgkinHuxleyParameters.Classic),
        ModelDescriptor.Create("lif", "leaky integrate-and-fire with refractory period (Dayan & Abbott 2001)",
            LeakyIntegrateAndFireDeclarations.All, new LeakyIntegrateAndFireParameters(), (p, integrator) => new LeakyIntegrateAndFire(p, integrator)),
        ModelDescriptor.Create("fhn", "FitzHugh-Nagumo (FitzHugh 1961), dimensionless, shown in mV",
            FitzHughNagumoDeclarations.All, new FitzHughNagumoParameters(), (p, integrator) => new FitzHughNagumo(p, integrator)),
        ModelDescriptor.Create("morris-lecar", "Morris-Lecar, Hopf set of Rinzel & Ermentrout (1998)",
            MorrisLecarDeclarations.All, new MorrisLecarParameters(), (p, integrator) => new MorrisLecar(p, integrator)),
        IzhikevichDescriptor("izhikevich", "Izhikevich (2003), regular spiking preset", IzhikevichParameters.RegularSpiking),
        IzhikevichDescriptor("izhikevich-rs", "Izhikevich (2003), regular spiking (RS)", IzhikevichParameters.RegularSpiking),
        IzhikevichDescriptor("izhikevich-fs", "Izhikevich (2003), fast spiking (FS)", IzhikevichParameters.FastSpiking),
        IzhikevichDescriptor("izhikevich-burst", "Izhikevich (2003), chattering / bursting (CH)", IzhikevichParameters.Bursting),
        ModelDescriptor.Create("rc", "passive membrane: a resistor and a capacitor, tau = RC (20 ms); the charging curve a stock Arduino records",
            PassiveMembraneDeclarations.All, new PassiveMembraneParameters(), (p, _) => new PassiveMembrane(p)),
        ModelDescriptor.Create("hh-ions", "the teaching hh with ion concentrations: ENa and EK by Nernst from Na+ and K+ inside and out at the temperature",
            IonicHodgkinHuxleyDeclarations.All, new IonicHodgkinHuxleyParameters(), (p, integrator) => new HodgkinHuxley(p.ToMembrane(), integrator, "hh-ions"), p => p.ToMembrane()),
        HodgkinHuxleyDescriptor("hh-node", "Hodgkin-Huxley kinetics at a node of Ranvier (10x the squid's Na+ and K+ densities, 20 degC): the myelinated axon's default nodes", MyelinatedAxon.DefaultNodeMembrane),
    ];

    /// <summary>Every model.</summary>
    public static IReadOnlyList<ModelDescriptor> Models => All;

    /// <summary>Finds a model by name, or null.</summary>
    public static ModelDescriptor? TryGet(string name) => All.FirstOrDefault(m => m.Name == name);

    /// <summary>Finds a model by name.</summary>
    /// <exception cref="ArgumentException">No such model; the message lists them.</exception>
    public static ModelDescriptor Get(string name) =>
        All.FirstOrDefault(m => m.Name == name)
        ?? throw new ArgumentException($"unknown model '{name}'; models: {string.Join(", ", All.Select(m => m.Name))}");

    /// <summary>The Hodgkin–Huxley parameters a resolved parameter set of <c>hh</c> or <c>hh-classic</c> describes.</summary>
    public static HodgkinHuxleyParameters ToHodgkinHuxley(IReadOnlyDictionary<string, double> v) =>
        HodgkinHuxleyDeclarations.All.Aggregate(HodgkinHuxleyParameters.Classic, (r, d) => d.Set(r, v[d.Declaration.Name]));

    private static ModelDescriptor HodgkinHuxleyDescriptor(string name, string description, HodgkinHuxleyParameters preset) => ModelDescriptor.Create(
        name, description, HodgkinHuxleyDeclarations.All, preset, (p, integrator) => new HodgkinHuxley(p, integrator, name), p => p);

    private static ModelDescriptor IzhikevichDescriptor(string name, string description, IzhikevichParameters preset) => ModelDescriptor.Create(
        name, description, IzhikevichDeclarations.All, preset, (p, integrator) => new Izhikevich(p, integrator, name));

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
