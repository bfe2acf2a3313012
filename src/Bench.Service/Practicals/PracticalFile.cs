using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Bench.Service.Practicals;

/// <summary>A practical: an automated experiment run on the rig and on the model side by side, step by step.</summary>
/// <param name="Name">Short name (<c>bench practical run threshold</c>).</param>
/// <param name="Title">Its title on the worksheet.</param>
/// <param name="Intro">What it is about.</param>
/// <param name="Steps">What to run, in order.</param>
public sealed record Practical(string Name, string Title, string Intro, IReadOnlyList<PracticalStep> Steps)
{
    /// <summary>The model it needs (e.g. hh-ions, whose concentrations set E_K and E_Na), or null for the default (hh).</summary>
    public string? Model { get; init; }
}

/// <summary>One step: a text for the student, what to run, and questions with answer fields.</summary>
/// <param name="Id">Its id (the tables and recordings are named after it).</param>
/// <param name="Text">What the step does and why.</param>
/// <param name="Run">What to run.</param>
/// <param name="Questions">Questions the worksheet leaves space to answer.</param>
public sealed record PracticalStep(string Id, string Text, StepRun Run, IReadOnlyList<string> Questions);

/// <summary>What a step runs.</summary>
public abstract record StepRun;

/// <summary>The threshold current of one pulse, by bisection: the smallest amplitude that fires an action potential.</summary>
/// <param name="PulseMs">Pulse duration.</param>
/// <param name="LowNanoamps">An amplitude that must not fire.</param>
/// <param name="HighNanoamps">An amplitude that must fire.</param>
/// <param name="ToleranceNanoamps">The bracket to reach.</param>
/// <param name="Repeats">Searches on the rig (its noise makes each one differ; the model's is one).</param>
public sealed record ThresholdSearch(double PulseMs, double LowNanoamps, double HighNanoamps, double ToleranceNanoamps, int Repeats) : StepRun;

/// <summary>The threshold current for each pulse duration, and rheobase and chronaxie fitted (Weiss's law).</summary>
/// <param name="DurationsMs">Pulse durations.</param>
/// <param name="LowNanoamps">An amplitude that must not fire at any duration.</param>
/// <param name="HighNanoamps">An amplitude that must fire at the shortest.</param>
/// <param name="ToleranceNanoamps">The bracket to reach (relative to the threshold at 0.1 ms it is finer at long durations).</param>
/// <param name="Repeats">Searches per duration on the rig.</param>
public sealed record StrengthDuration(IReadOnlyList<double> DurationsMs, double LowNanoamps, double HighNanoamps, double ToleranceNanoamps, int Repeats) : StepRun;

/// <summary>Paired pulses: after a conditioning pulse that fires, the test pulse's threshold at each interval.</summary>
/// <param name="IntervalsMs">Onset-to-onset intervals.</param>
/// <param name="PulseMs">Duration of both pulses.</param>
/// <param name="ConditioningNanoamps">The first pulse (it must fire).</param>
/// <param name="HighNanoamps">The largest test pulse tried: no action potential up to it is absolute refractoriness.</param>
/// <param name="ToleranceNanoamps">The bracket to reach.</param>
/// <param name="RecoveredRatio">The test threshold counts as recovered within this factor of the single-pulse threshold.</param>
public sealed record RefractorySeries(IReadOnlyList<double> IntervalsMs, double PulseMs, double ConditioningNanoamps, double HighNanoamps, double ToleranceNanoamps,
    double RecoveredRatio) : StepRun;

/// <summary>Current steps of rising amplitude: the firing rate at each (the f–I curve) and the smallest step that fires repetitively.</summary>
/// <param name="AmplitudesNanoamps">Step amplitudes.</param>
/// <param name="StepMs">Step duration.</param>
/// <param name="SustainedSpikes">How many action potentials in a step count as repetitive firing.</param>
public sealed record CurrentSteps(IReadOnlyList<double> AmplitudesNanoamps, double StepMs, int SustainedSpikes) : StepRun;

/// <summary>One condition of the preparation: what is changed (e.g. TTX as less Na⁺ conductance) and its name.</summary>
/// <param name="Id">Short id (the results' keys end in it).</param>
/// <param name="Name">What it is, for the worksheet.</param>
/// <param name="Parameters">The preparation's and the model's parameters under it (none: as they are).</param>
public sealed record Condition(string Id, string Name, IReadOnlyDictionary<string, double> Parameters);

/// <summary>Parameter overrides as a practical's conditions change them, and as its worksheet names them.</summary>
public static class ParameterSet
{
    /// <summary><paramref name="baseline"/> with <paramref name="changes"/> applied over it (a new dictionary).</summary>
    public static Dictionary<string, double> With(IReadOnlyDictionary<string, double> baseline, IReadOnlyDictionary<string, double> changes)
    {
        var merged = new Dictionary<string, double>(baseline, StringComparer.Ordinal);
        foreach (var (k, v) in changes) merged[k] = v;
        return merged;
    }

    /// <summary>As the worksheet's head names them: <c>(gNa=80, celsius=6.3)</c>, or <c>(defaults)</c> for none.</summary>
    public static string Describe(IReadOnlyDictionary<string, double> parameters) =>
        parameters.Count == 0 ? "(defaults)" : "(" + string.Join(", ", parameters.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key}={p.Value}"))) + ")";
}

/// <summary>The same pulse under each condition: its action potential's threshold, peak, half-width and AHP.</summary>
/// <param name="PulseMs">Pulse duration.</param>
/// <param name="AmplitudeNanoamps">Pulse amplitude (well above threshold).</param>
/// <param name="Repeats">Trials per condition on the rig.</param>
/// <param name="Conditions">The conditions, the first usually the control.</param>
public sealed record ConditionSeries(double PulseMs, double AmplitudeNanoamps, int Repeats, IReadOnlyList<Condition> Conditions) : StepRun;

/// <summary>A long current step: the membrane's charging curve, its time constant and its input resistance.</summary>
/// <param name="StepMs">Step duration (several time constants).</param>
/// <param name="AmplitudeNanoamps">Step amplitude (below threshold, for an excitable membrane).</param>
/// <param name="Repeats">Steps on the rig.</param>
public sealed record StepResponse(double StepMs, double AmplitudeNanoamps, int Repeats) : StepRun;

/// <summary>
/// The resting potential under each condition (e.g. extracellular K⁺ concentrations): no stimulus, the mean potential
/// over the record; with the Nernst potentials of the model's concentrations beside it.
/// </summary>
/// <param name="RecordMs">How long each trial records.</param>
/// <param name="Repeats">Trials per condition on the rig.</param>
/// <param name="XParameter">The parameter the conditions vary (the table's first column; rest's slope per decade of it), or null.</param>
/// <param name="Conditions">The conditions.</param>
public sealed record RestingSeries(double RecordMs, int Repeats, string? XParameter, IReadOnlyList<Condition> Conditions) : StepRun;

/// <summary>Conduction velocity between two sites along an axon, for each diameter (on the model: a rig records at one site).</summary>
/// <param name="Myelinated">A myelinated axon (HH nodes, passive internodes; diameters are the fibre's) or an unmyelinated one (the axon's).</param>
/// <param name="DiametersUm">The diameters.</param>
/// <param name="Celsius">The temperature of the unmyelinated axon's membrane (the myelinated axon's nodes have their own).</param>
public sealed record ConductionSeries(bool Myelinated, IReadOnlyList<double> DiametersUm, double Celsius) : StepRun;

/// <summary>One presynaptic spike through a synapse of each weight: the postsynaptic response (on the model: a rig records one cell).</summary>
/// <param name="Inhibitory">An inhibitory synapse (else excitatory).</param>
/// <param name="WeightsMilliSiemensPerCm2">The weights (peak conductances).</param>
public sealed record SynapticWeights(bool Inhibitory, IReadOnlyList<double> WeightsMilliSiemensPerCm2) : StepRun;

/// <summary>Two presynaptic spikes through one synapse at each interval: how their EPSPs sum in time.</summary>
/// <param name="WeightMilliSiemensPerCm2">The synapse's weight.</param>
/// <param name="IntervalsMs">The intervals between the two spikes.</param>
public sealed record TemporalSummation(double WeightMilliSiemensPerCm2, IReadOnlyList<double> IntervalsMs) : StepRun;

/// <summary>Two excitatory synapses alone and together, and with an inhibitory one: how EPSPs sum in space and inhibition opposes them.</summary>
/// <param name="WeightMilliSiemensPerCm2">Each excitatory synapse's weight.</param>
/// <param name="InhibitoryWeightMilliSiemensPerCm2">The inhibitory synapse's weight.</param>
public sealed record SpatialSummation(double WeightMilliSiemensPerCm2, double InhibitoryWeightMilliSiemensPerCm2) : StepRun;

/// <summary>A practical file that breaks a rule: the message names the file, the line and the rule.</summary>
public sealed class PracticalFormatException : FormatException
{
    /// <summary>Creates the exception.</summary>
    public PracticalFormatException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public PracticalFormatException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public PracticalFormatException(string message, Exception innerException) : base(message, innerException)
    {
    }
}

/// <summary>
/// Reads practical files (YAML, or JSON, which YAML includes) against their JSON Schema (<c>practical.schema.json</c>,
/// format <c>bench-practical-1</c>), naming the line of the first value that breaks a rule; and lists the built-in ones.
/// </summary>
public static class PracticalFile
{
    private static readonly Lazy<JsonSchema> Schema = new(() =>
    {
        using var stream = typeof(PracticalFile).Assembly.GetManifestResourceStream("practical.schema.json")!;
        return JsonSchema.FromText(new StreamReader(stream).ReadToEnd());
    });

    /// <summary>The schema practical files follow (JSON Schema 2020-12).</summary>
    public static string SchemaText
    {
        get
        {
            using var stream = typeof(PracticalFile).Assembly.GetManifestResourceStream("practical.schema.json")!;
            return new StreamReader(stream).ReadToEnd();
        }
    }

    /// <summary>The built-in practicals' names, in teaching order.</summary>
    public static IReadOnlyList<string> BuiltInNames { get; } =
        ["resting-potential", "passive-membrane", "threshold", "strength-duration", "refractory", "ionic-basis", "repetitive-firing", "propagation", "synaptic-summation"];

    /// <summary>A built-in practical's file text (to run, or to copy and change).</summary>
    /// <exception cref="ArgumentException">No built-in of that name.</exception>
    public static string BuiltInText(string name)
    {
        using var stream = typeof(PracticalFile).Assembly.GetManifestResourceStream($"practicals/{name}.yaml")
            ?? throw new ArgumentException($"no built-in practical '{name}': bench practical list names them");
        return new StreamReader(stream).ReadToEnd();
    }

    /// <summary>Reads a built-in practical by name, or a file.</summary>
    /// <exception cref="PracticalFormatException">The file breaks a rule (the message names the line).</exception>
    /// <exception cref="ArgumentException">Neither a built-in name nor an existing file.</exception>
    public static Practical Load(string nameOrPath)
    {
        if (BuiltInNames.Contains(nameOrPath)) return Parse(BuiltInText(nameOrPath), nameOrPath + ".yaml");
        if (!File.Exists(nameOrPath))
        {
            throw new ArgumentException($"'{nameOrPath}' is neither a built-in practical ({string.Join(", ", BuiltInNames)}) nor a file");
        }

        return Parse(File.ReadAllText(nameOrPath), Path.GetFileName(nameOrPath));
    }

    /// <summary>Parses and checks a practical.</summary>
    /// <param name="text">YAML or JSON.</param>
    /// <param name="fileName">For the messages.</param>
    /// <exception cref="PracticalFormatException">Not YAML, or a rule of the schema broken: the message names the line.</exception>
    public static Practical Parse(string text, string fileName)
    {
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        JsonNode? root;
        try
        {
            var yaml = new YamlStream();
            yaml.Load(new StringReader(text));
            if (yaml.Documents.Count != 1) throw new PracticalFormatException($"{fileName}: one practical per file (found {yaml.Documents.Count} documents)");
            root = ToJson(yaml.Documents[0].RootNode, "", lines);
        }
        catch (YamlException e)
        {
            throw new PracticalFormatException($"{fileName}:{e.Start.Line}: not valid YAML or JSON: {e.Message}", e);
        }

        var results = Schema.Value.Evaluate(JsonSerializer.SerializeToElement(root), new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (!results.IsValid)
        {
            // The deepest failing location is the most precise; its line is that of the nearest value the file has.
            var failure = (results.Details ?? []).Where(d => d.Errors is { Count: > 0 })
                .OrderByDescending(d => d.InstanceLocation.ToString().Length).FirstOrDefault() ?? results;
            string location = failure.InstanceLocation.ToString();
            string rule = failure.Errors is { Count: > 0 } errors ? string.Join("; ", errors.Select(e => Rule(e.Key, e.Value, location, root))) : "does not match the schema";
            throw new PracticalFormatException($"{fileName}:{LineOf(location, lines)}: {(location.Length == 0 ? "the file" : location)}: {rule} (the format is described in README, \"Practicals\")");
        }

        return Build(root!.AsObject());
    }

    /// <summary>A schema error in words a teacher reads: the value and what is allowed.</summary>
    private static string Rule(string keyword, string message, string pointer, JsonNode? root)
    {
        string field = pointer[(pointer.LastIndexOf('/') + 1)..];
        JsonNode? value = root;
        foreach (string part in pointer.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            value = value is JsonArray a && int.TryParse(part, out int i) && i < a.Count ? a[i] : value is JsonObject o ? o[part.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)] : null;
        }

        return keyword switch
        {
            "enum" when field == "kind" => $"'{value}' is not a kind of run: threshold-search, strength-duration, refractory, current-steps, conditions, step-response, " +
                "resting-potential, conduction, synaptic-weights, temporal-summation or spatial-summation",
            "const" when field == "format" => $"'{value}' is not a format this Bench reads: bench-practical-1",
            "enum" or "const" => $"'{value}' is not allowed here",
            "" or "false" or "additionalProperties" => $"'{field}' is not a field here (misspelt, or in the wrong place)",
            _ => $"{keyword}: {message}",
        };
    }

    private static int LineOf(string pointer, Dictionary<string, int> lines)
    {
        for (string p = pointer; ; p = p[..p.LastIndexOf('/')])
        {
            if (lines.TryGetValue(p, out int line)) return line;
            if (p.Length == 0) return 1;
        }
    }

    private static JsonNode? ToJson(YamlNode node, string pointer, Dictionary<string, int> lines)
    {
        lines[pointer] = (int)node.Start.Line;
        switch (node)
        {
            case YamlMappingNode map:
                var o = new JsonObject();
                foreach (var (key, value) in map.Children)
                {
                    string name = ((YamlScalarNode)key).Value ?? "";
                    o[name] = ToJson(value, pointer + "/" + name.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal), lines);
                }

                return o;
            case YamlSequenceNode list:
                var a = new JsonArray();
                int i = 0;
                foreach (var item in list.Children) a.Add(ToJson(item, pointer + "/" + (i++).ToString(CultureInfo.InvariantCulture), lines));
                return a;
            case YamlScalarNode scalar:
                string text = scalar.Value ?? "";
                if (scalar.Style is not (ScalarStyle.Plain or ScalarStyle.Any)) return JsonValue.Create(text);
                if (text is "null" or "~" or "") return null;
                if (text is "true" or "false") return JsonValue.Create(text == "true");
                if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double number)) return JsonValue.Create(number);
                return JsonValue.Create(text);
            default:
                return null;
        }
    }

    private static Practical Build(JsonObject o)
    {
        var steps = o["steps"]!.AsArray().Select(s =>
        {
            var step = s!.AsObject();
            var run = step["run"]!.AsObject();
            double Get(string key, double fallback) => run[key]?.GetValue<double>() ?? fallback;
            List<Condition> Conditions() => [.. run["conditions"]!.AsArray().Select(c => new Condition((string)c!["id"]!, (string)c["name"]!,
                (c["parameters"] as JsonObject ?? []).ToDictionary(p => p.Key, p => p.Value!.GetValue<double>(), StringComparer.Ordinal)))];
            List<double> Sorted(string key) => [.. run[key]!.AsArray().Select(d => d!.GetValue<double>()).Order()];
            StepRun what = (string)run["kind"]! switch
            {
                "threshold-search" => new ThresholdSearch(Get("pulse_ms", 1), Get("low_nA", 0), Get("high_nA", 1000), Get("tolerance_nA", 2), (int)Get("repeats", 3)),
                // Tables are read in ascending order (periods bracketed between neighbours): the lists are sorted.
                "strength-duration" => new StrengthDuration([.. run["durations_ms"]!.AsArray().Select(d => d!.GetValue<double>()).Order()], Get("low_nA", 0), Get("high_nA", 2000),
                    Get("tolerance_nA", 2), (int)Get("repeats", 1)),
                "conditions" => new ConditionSeries(Get("pulse_ms", 1), Get("amplitude_nA", 300), (int)Get("repeats", 3), Conditions()),
                "resting-potential" => new RestingSeries(Get("record_ms", 50), (int)Get("repeats", 3), (string?)run["x_parameter"], Conditions()),
                "conduction" => new ConductionSeries((string)run["axon"]! == "myelinated", Sorted("diameters_um"), Get("celsius", 18.5)),
                "synaptic-weights" => new SynapticWeights((string?)run["synapse"] == "inhibitory", Sorted("weights_mS_per_cm2")),
                "temporal-summation" => new TemporalSummation(Get("weight_mS_per_cm2", 0.3), Sorted("intervals_ms")),
                "spatial-summation" => new SpatialSummation(Get("weight_mS_per_cm2", 0.3), Get("inhibitory_weight_mS_per_cm2", 0.5)),
                "step-response" => new StepResponse(Get("step_ms", 100), Get("amplitude_nA", 50), (int)Get("repeats", 3)),
                "current-steps" => new CurrentSteps([.. run["amplitudes_nA"]!.AsArray().Select(d => d!.GetValue<double>()).Order()], Get("step_ms", 200), (int)Get("sustained_spikes", 3)),
                _ => new RefractorySeries([.. run["intervals_ms"]!.AsArray().Select(d => d!.GetValue<double>()).Order()], Get("pulse_ms", 1), Get("conditioning_nA", 300),
                    Get("high_nA", 2000), Get("tolerance_nA", 2), Get("recovered_ratio", 1.1)),
            };
            return new PracticalStep((string)step["id"]!, (string)step["text"]!, what,
                [.. (step["questions"] as JsonArray ?? []).Select(q => (string)q!)]);
        }).ToList();
        return new Practical((string)o["name"]!, (string)o["title"]!, (string?)o["intro"] ?? "", steps) { Model = (string?)o["model"] };
    }
}
