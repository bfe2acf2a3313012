using Bench.Core.Stimulus;

namespace Bench.Service;

/// <summary>A stimulus protocol the page offers: its name, a line on what it shows, and the protocol (JSON).</summary>
public sealed record ProtocolEntry(string Name, string Description, bool BuiltIn, string Json);

/// <summary>
/// The protocols the page offers: a built-in set that shows the classic phenomena on the emulated rig's preparation
/// (10⁶ µm², so 100 nA = 10 µA/cm²), and the lab's own, saved as JSON files in the data directory's <c>protocols/</c>.
/// </summary>
public sealed class ProtocolLibrary
{
    private static readonly ProtocolEntry[] BuiltIns =
    [
        new("single-pulse", "One 1 ms pulse of 200 nA: a single action potential.", true,
            """{"name":"single-pulse","unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":200,"count":1}]}"""),
        new("subthreshold", "One 1 ms pulse of 30 nA: a passive response, no action potential (below threshold).", true,
            """{"name":"subthreshold","unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":30,"count":1}]}"""),
        new("paired-pulse", "Two 1 ms pulses of 300 nA 25 ms apart: two action potentials.", true,
            """{"name":"paired-pulse","unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":300,"interval_ms":25,"count":2}]}"""),
        // 10 ms: past the first AP's falling phase, in its after-hyperpolarisation, so the failed response shows on its own.
        new("refractory", "Two 1 ms pulses of 200 nA 10 ms apart: the second lands in the after-hyperpolarisation and fails (refractory period).", true,
            """{"name":"refractory","unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":200,"interval_ms":10,"count":2}]}"""),
        new("relative-refractory", "As refractory, but the second pulse is 600 nA: a stronger stimulus fires a second action potential (relative refractory period).", true,
            """{"name":"relative-refractory","unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":200,"count":1},{"start_ms":10,"phase1_ms":1,"phase1_amplitude":600,"count":1}]}"""),
        new("biphasic-train", "Ten charge-balanced biphasic pulses (1 ms at +600 nA, then 1 ms at -600 nA) at 50 Hz: repetitive firing, one action potential per pulse.", true,
            """{"name":"biphasic-train","unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":600,"interphase_ms":0.1,"phase2_ms":1,"phase2_amplitude":-600,"interval_ms":20,"count":10}]}"""),
    ];

    /// <summary>How many action potentials each built-in protocol shows on the default emulated preparation and on the model (its tests check it).</summary>
    public static IReadOnlyDictionary<string, int> BuiltInSpikeCounts { get; } = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["single-pulse"] = 1, ["subthreshold"] = 0, ["paired-pulse"] = 2, ["refractory"] = 1, ["relative-refractory"] = 2, ["biphasic-train"] = 10,
    };

    private readonly string directory;

    /// <summary>Keeps saved protocols in <paramref name="dataDirectory"/>/protocols.</summary>
    public ProtocolLibrary(string dataDirectory) => directory = Path.Combine(dataDirectory, "protocols");

    /// <summary>Built-in and saved protocols.</summary>
    public IReadOnlyList<ProtocolEntry> List()
    {
        var list = new List<ProtocolEntry>(BuiltIns);
        if (Directory.Exists(directory))
        {
            foreach (var file in Directory.GetFiles(directory, "*.json").Order(StringComparer.Ordinal))
            {
                string name = Path.GetFileNameWithoutExtension(file);
                if (BuiltIns.Any(b => b.Name == name)) continue;
                var (json, description) = TakeDescription(File.ReadAllText(file));
                list.Add(new ProtocolEntry(name, description ?? "saved", false, json));
            }
        }

        return list;
    }

    /// <summary>The protocol called <paramref name="name"/>, or null.</summary>
    public ProtocolEntry? Find(string name) => List().FirstOrDefault(p => p.Name == name);

    /// <summary>The longest description kept with a saved protocol (characters).</summary>
    public const int MaxDescriptionLength = 500;

    /// <summary>
    /// Splits a saved protocol's JSON into the protocol and its <c>description</c> (a top-level string, which the
    /// protocol format itself does not have); JSON that is not an object is returned as it is, for the parser to name.
    /// </summary>
    /// <exception cref="StimulusProtocolException">The description is not a string of at most <see cref="MaxDescriptionLength"/> characters.</exception>
    public static (string Json, string? Description) TakeDescription(string json)
    {
        System.Text.Json.Nodes.JsonObject? root;
        try
        {
            root = System.Text.Json.Nodes.JsonNode.Parse(json, documentOptions: new System.Text.Json.JsonDocumentOptions { CommentHandling = System.Text.Json.JsonCommentHandling.Skip }) as System.Text.Json.Nodes.JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            return (json, null);
        }

        if (root is null || !root.TryGetPropertyValue("description", out var node)) return (json, null);
        if (node is not System.Text.Json.Nodes.JsonValue value || !value.TryGetValue(out string? description))
        {
            throw new StimulusProtocolException("description: give a line of text for people (a JSON string)");
        }

        if (description.Length > MaxDescriptionLength) throw new StimulusProtocolException($"description: {description.Length} characters; at most {MaxDescriptionLength}");
        root.Remove("description");
        return (root.ToJsonString(), description.Trim());
    }

    /// <summary>Validates and saves a protocol under <paramref name="name"/> (built-in names cannot be replaced), with a description for the page.</summary>
    /// <exception cref="StimulusProtocolException">The JSON is not a valid protocol (the message names the field).</exception>
    /// <exception cref="ArgumentException">The name is not allowed.</exception>
    public ProtocolEntry Save(string name, string json, string? description = null)
    {
        Names.Validate(name, "protocol");
        if (BuiltIns.Any(b => b.Name == name)) throw new ArgumentException($"'{name}' is a built-in protocol: save yours under another name");
        var protocol = StimulusProtocol.Parse(json, Bench.Core.Protocol.ProtocolLimits.MaxTrains);
        if (protocol.Unit != StimulusUnit.Nanoamps) throw new StimulusProtocolException("unit: a rig's output is a current: give the protocol in nA");
        Bench.Core.Instrument.RigStimulus.CheckBounds(protocol);
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, name + ".json");
        string stored = json;
        if (!string.IsNullOrEmpty(description) && System.Text.Json.Nodes.JsonNode.Parse(json) is System.Text.Json.Nodes.JsonObject root)
        {
            root["description"] = description;
            stored = root.ToJsonString();
        }

        File.WriteAllText(path + ".partial", stored);
        File.Move(path + ".partial", path, overwrite: true);
        return new ProtocolEntry(name, string.IsNullOrEmpty(description) ? "saved" : description, false, json);
    }

    /// <summary>Deletes a saved protocol; false if there was none.</summary>
    public bool Delete(string name)
    {
        Names.Validate(name, "protocol");
        string path = Path.Combine(directory, name + ".json");
        if (!File.Exists(path)) return false;
        File.Delete(path);
        return true;
    }
}

/// <summary>Names of things kept in the data directory follow the recordings' rule, so none can escape it.</summary>
public static class Names
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the rule unless <paramref name="name"/> is a safe name.</summary>
    public static void Validate(string? name, string what)
    {
        if (!Bench.Storage.Catalog.RecordingNames.IsValid(name))
        {
            throw new ArgumentException($"{what} name '{name}' is not allowed: use 1 to 100 letters, digits, '.', '_' or '-', not starting with '.'");
        }
    }
}
