using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Bench.Core.Stimulus;

/// <summary>The unit of a protocol's amplitudes.</summary>
public enum StimulusUnit
{
    /// <summary>Current density in µA/cm² (<c>uA/cm2</c>), for a single compartment.</summary>
    MicroampsPerCm2,

    /// <summary>Injected current in nA (<c>nA</c>), e.g. into the end x = 0 of an axon.</summary>
    Nanoamps,
}

/// <summary>
/// One train of identical pulses, as in Pulse Pal's stimulus model: a pulse is phase 1, then an optional
/// gap and phase 2 (biphasic, charge-balanced pulses); <see cref="IntervalMs"/> is start to start.
/// </summary>
/// <param name="StartMs">Onset of the first pulse.</param>
/// <param name="Phase1Ms">Duration of phase 1.</param>
/// <param name="Phase1Amplitude">Amplitude of phase 1, in the protocol's unit.</param>
/// <param name="InterphaseMs">Gap between phase 1 and phase 2.</param>
/// <param name="Phase2Ms">Duration of phase 2 (0 for a monophasic pulse).</param>
/// <param name="Phase2Amplitude">Amplitude of phase 2, in the protocol's unit.</param>
/// <param name="IntervalMs">Onset to onset of consecutive pulses.</param>
/// <param name="Count">Pulses in the train (at least 1).</param>
public sealed record PulseTrain(
    double StartMs,
    double Phase1Ms,
    double Phase1Amplitude,
    double InterphaseMs,
    double Phase2Ms,
    double Phase2Amplitude,
    double IntervalMs,
    int Count)
{
    /// <summary>Phase 1, gap and phase 2 together.</summary>
    public double PulseWidthMs => Phase1Ms + InterphaseMs + Phase2Ms;

    /// <summary>End of the last pulse's last phase.</summary>
    public double EndMs => StartMs + ((Count - 1) * IntervalMs) + PulseWidthMs;

    /// <summary>Onset of pulse <paramref name="index"/> (0-based).</summary>
    public double OnsetMs(int index) => StartMs + (index * IntervalMs);

    /// <summary>The amplitude this train contributes at time <paramref name="tMs"/> (phases are half-open [start, end)).</summary>
    public double AmplitudeAt(double tMs)
    {
        double sinceStart = tMs - StartMs;
        if (sinceStart < 0 || tMs >= EndMs)
        {
            return 0;
        }

        int k = Count == 1 || IntervalMs <= 0 ? 0 : Math.Min(Count - 1, (int)Math.Floor(sinceStart / IntervalMs));
        double offset = sinceStart - (k * IntervalMs);
        if (offset < Phase1Ms)
        {
            return Phase1Amplitude;
        }

        offset -= Phase1Ms + InterphaseMs;
        return offset >= 0 && offset < Phase2Ms ? Phase2Amplitude : 0;
    }
}

/// <summary>
/// A stimulus protocol: one JSON format shared by the models and (later) the rig firmware.
/// Trains add. Amplitudes are in <see cref="Unit"/>.
/// </summary>
public sealed class StimulusProtocol
{
    private static readonly string[] TopLevelFields = ["name", "unit", "trains"];
    private static readonly string[] TrainFields =
        ["start_ms", "phase1_ms", "phase1_amplitude", "interphase_ms", "phase2_ms", "phase2_amplitude", "interval_ms", "count"];

    /// <summary>Creates a protocol; use <see cref="Parse(string)"/> for user input, which validates.</summary>
    public StimulusProtocol(string name, StimulusUnit unit, IReadOnlyList<PulseTrain> trains)
    {
        Name = name;
        Unit = unit;
        Trains = trains;
    }

    /// <summary>A human-readable name.</summary>
    public string Name { get; }

    /// <summary>The unit of every amplitude.</summary>
    public StimulusUnit Unit { get; }

    /// <summary>The trains; their amplitudes add.</summary>
    public IReadOnlyList<PulseTrain> Trains { get; }

    /// <summary>A protocol with no pulses (a recording at rest).</summary>
    public static StimulusProtocol None { get; } = new("none", StimulusUnit.MicroampsPerCm2, []);

    /// <summary>The wire name of a unit (<c>uA/cm2</c> or <c>nA</c>).</summary>
    public static string UnitName(StimulusUnit unit) => unit == StimulusUnit.Nanoamps ? "nA" : "uA/cm2";

    /// <summary>Sum of all trains' amplitudes at <paramref name="tMs"/>.</summary>
    public double AmplitudeAt(double tMs)
    {
        double sum = 0;
        foreach (var train in Trains)
        {
            sum += train.AmplitudeAt(tMs);
        }

        return sum;
    }

    /// <summary>The end of the last pulse of any train, or 0 when there are none.</summary>
    public double EndMs => Trains.Count == 0 ? 0 : Trains.Max(t => t.EndMs);

    /// <summary>
    /// Parses and validates a protocol. Every rule broken is reported with the field's path, e.g.
    /// <c>trains[0].count: must be an integer ≥ 1 (got 0)</c>.
    /// </summary>
    /// <exception cref="StimulusProtocolException">The text is not a valid protocol.</exception>
    public static StimulusProtocol Parse(string json) => Parse(json, int.MaxValue);

    /// <summary>
    /// Parses and validates a protocol of at most <paramref name="maxTrains"/> trains (a rig plays at most
    /// <see cref="Protocol.ProtocolLimits.MaxTrains"/>): a longer one is refused before any train is read.
    /// </summary>
    /// <exception cref="StimulusProtocolException">The text is not a valid protocol, or has too many trains.</exception>
    public static StimulusProtocol Parse(string json, int maxTrains)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Skip, AllowDuplicateProperties = false });
        }
        catch (JsonException e)
        {
            throw new StimulusProtocolException($"not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}): {FirstSentence(e.Message)}");
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new StimulusProtocolException("the protocol must be a JSON object with \"unit\" and \"trains\"");
            }

            RejectUnknown(root, TopLevelFields, "");
            string name = root.TryGetProperty("name", out var n)
                ? (n.ValueKind == JsonValueKind.String ? n.GetString()! : throw new StimulusProtocolException("name: must be a string"))
                : "";

            if (!root.TryGetProperty("unit", out var u) || u.ValueKind != JsonValueKind.String)
            {
                throw new StimulusProtocolException("unit: required, one of \"uA/cm2\" (current density) or \"nA\" (injected current)");
            }

            var unit = u.GetString() switch
            {
                "uA/cm2" => StimulusUnit.MicroampsPerCm2,
                "nA" => StimulusUnit.Nanoamps,
                var other => throw new StimulusProtocolException($"unit: unknown unit \"{other}\"; use \"uA/cm2\" (current density) or \"nA\" (injected current)"),
            };

            if (!root.TryGetProperty("trains", out var trainsElement) || trainsElement.ValueKind != JsonValueKind.Array)
            {
                throw new StimulusProtocolException("trains: required, an array of pulse trains (may be empty)");
            }

            // Counted before any train is built: a protocol of a million trains costs nothing to refuse.
            int count = trainsElement.GetArrayLength();
            if (count > maxTrains)
            {
                throw new StimulusProtocolException($"trains: {count} trains, more than the {maxTrains} a rig plays in one protocol");
            }

            var trains = new List<PulseTrain>(count);
            int index = 0;
            foreach (var t in trainsElement.EnumerateArray())
            {
                trains.Add(ParseTrain(t, $"trains[{index}]"));
                index++;
            }

            return new StimulusProtocol(name, unit, trains);
        }
    }

    private static PulseTrain ParseTrain(JsonElement t, string path)
    {
        if (t.ValueKind != JsonValueKind.Object)
        {
            throw new StimulusProtocolException($"{path}: must be an object with {string.Join(", ", TrainFields)}");
        }

        RejectUnknown(t, TrainFields, path + ".");
        double Duration(string field) => Number(t, path, field, allowNegative: false);
        double Amplitude(string field) => Number(t, path, field, allowNegative: true);

        int count = 1;
        if (t.TryGetProperty("count", out var c))
        {
            if (c.ValueKind != JsonValueKind.Number || !c.TryGetInt32(out count) || count < 1)
            {
                throw new StimulusProtocolException($"{path}.count: must be an integer ≥ 1 (got {c.GetRawText()})");
            }
        }

        var train = new PulseTrain(
            Duration("start_ms"), Duration("phase1_ms"), Amplitude("phase1_amplitude"), Duration("interphase_ms"),
            Duration("phase2_ms"), Amplitude("phase2_amplitude"), Duration("interval_ms"), count);

        if (train.Phase1Ms == 0 && train.Phase2Ms == 0)
        {
            throw new StimulusProtocolException($"{path}: the pulse has no duration: phase1_ms (and phase2_ms) are 0");
        }

        if (count > 1 && train.IntervalMs < train.PulseWidthMs)
        {
            throw new StimulusProtocolException(string.Create(CultureInfo.InvariantCulture,
                $"{path}.interval_ms: pulses would overlap: interval {train.IntervalMs} ms is shorter than the pulse (phase1_ms + interphase_ms + phase2_ms = {train.PulseWidthMs} ms)"));
        }

        if (count > 1 && train.IntervalMs <= 0)
        {
            throw new StimulusProtocolException($"{path}.interval_ms: must be > 0 when count > 1");
        }

        // Each number is finite, but together they can overflow: a train must end at a time that is a number.
        if (!double.IsFinite(train.EndMs))
        {
            throw new StimulusProtocolException(string.Create(CultureInfo.InvariantCulture,
                $"{path}: the train never ends: start_ms + (count − 1) × interval_ms + the pulse ({train.StartMs} + {count - 1} × {train.IntervalMs} + {train.PulseWidthMs} ms) overflows"));
        }

        return train;
    }

    /// <summary>
    /// Checks that every phase lasts at least one step of <paramref name="dtMs"/>: a shorter phase could fall between
    /// the steps' midpoints and deliver nothing.
    /// </summary>
    /// <exception cref="StimulusProtocolException">A phase is shorter than dt; the message names it.</exception>
    public void CheckResolution(double dtMs)
    {
        for (int i = 0; i < Trains.Count; i++)
        {
            var t = Trains[i];
            foreach (var (field, ms) in new[] { ("phase1_ms", t.Phase1Ms), ("phase2_ms", t.Phase2Ms) })
            {
                if (ms > 0 && ms < dtMs)
                {
                    throw new StimulusProtocolException(string.Create(CultureInfo.InvariantCulture,
                        $"trains[{i}].{field}: {ms} ms is shorter than the time step ({dtMs} ms), so the phase could fall between steps; use a smaller dt"));
                }
            }
        }
    }

    private static double Number(JsonElement obj, string path, string field, bool allowNegative)
    {
        if (!obj.TryGetProperty(field, out var e))
        {
            return 0;
        }

        // JSON has no NaN or infinity literals, so a non-number here is a string like "NaN" or a typo.
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out double value) || !double.IsFinite(value))
        {
            throw new StimulusProtocolException($"{path}.{field}: must be a finite number (got {e.GetRawText()})");
        }

        if (!allowNegative && value < 0)
        {
            throw new StimulusProtocolException(string.Create(CultureInfo.InvariantCulture, $"{path}.{field}: must not be negative (got {value})"));
        }

        return value;
    }

    private static void RejectUnknown(JsonElement obj, string[] known, string prefix)
    {
        foreach (var p in obj.EnumerateObject())
        {
            if (Array.IndexOf(known, p.Name) < 0)
            {
                throw new StimulusProtocolException($"{prefix}{p.Name}: unknown field; valid fields are {string.Join(", ", known)}");
            }
        }
    }

    private static string FirstSentence(string message)
    {
        int i = message.IndexOf(". ", StringComparison.Ordinal);
        return i < 0 ? message : message[..(i + 1)];
    }

    /// <summary>Writes the protocol in its JSON format (every field explicit).</summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("name", Name);
            w.WriteString("unit", UnitName(Unit));
            w.WriteStartArray("trains");
            foreach (var t in Trains)
            {
                w.WriteStartObject();
                w.WriteNumber("start_ms", t.StartMs);
                w.WriteNumber("phase1_ms", t.Phase1Ms);
                w.WriteNumber("phase1_amplitude", t.Phase1Amplitude);
                w.WriteNumber("interphase_ms", t.InterphaseMs);
                w.WriteNumber("phase2_ms", t.Phase2Ms);
                w.WriteNumber("phase2_amplitude", t.Phase2Amplitude);
                w.WriteNumber("interval_ms", t.IntervalMs);
                w.WriteNumber("count", t.Count);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }
}

/// <summary>A stimulus protocol broke a rule; the message names the field and the rule.</summary>
public sealed class StimulusProtocolException : Exception
{
    /// <summary>Creates the exception with a message naming the field and the rule.</summary>
    public StimulusProtocolException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public StimulusProtocolException()
    {
    }

    /// <summary>Creates the exception with an inner cause.</summary>
    public StimulusProtocolException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
