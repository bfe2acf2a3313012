using System.Text;
using System.Text.Json;

namespace Bench.ProtocolGen;

/// <summary>One flag bit of a field.</summary>
internal sealed record Bit(int Index, string Name, string C, string Cs, string Doc);

/// <summary>One named value of a field (a C macro).</summary>
internal sealed record Value(int Number, string C, string Doc);

/// <summary>One field, in wire order; an array when <see cref="Count"/> is set (always last).</summary>
internal sealed record Field(
    string Name, string Type, string Cs, string Notes, string? Unit, string? Count, string? CountOf, string? CountDoc,
    int? Min, int? Max, string? CMax, string? CsMax, bool ParseChecksMax, IReadOnlyList<Bit> Bits, IReadOnlyList<Value> Values)
{
    /// <summary>Bytes of one value (of one element, for an array).</summary>
    public int Size(Spec spec) => Type switch
    {
        "u8" => 1,
        "u16" or "i16" => 2,
        "u32" => 4,
        "u64" => 8,
        _ when CharLength is int n => n,
        _ => spec.Struct(Type).FixedLength,
    };

    /// <summary>N of char[N], else null.</summary>
    public int? CharLength => Type.StartsWith("char[", StringComparison.Ordinal) ? int.Parse(Type[5..^1], System.Globalization.CultureInfo.InvariantCulture) : null;

    /// <summary>An array of fields?</summary>
    public bool IsArray => Count is not null;

    /// <summary>An array of a struct type?</summary>
    public bool IsStructArray => IsArray && Type is not ("u8" or "u16" or "i16" or "u32" or "u64");
}

/// <summary>A message (with a kind) or a struct used inside one.</summary>
internal sealed record Layout(
    string Name, string C, string Cs, string Doc, IReadOnlyList<Field> Fields, int? Kind, string Direction, string Section,
    string Answer, bool CsView)
{
    /// <summary>The fields before the array, if any.</summary>
    public IReadOnlyList<Field> Fixed => [.. Fields.Where(f => !f.IsArray)];

    /// <summary>The array field, or null.</summary>
    public Field? Array => Fields.FirstOrDefault(f => f.IsArray);

    /// <summary>Bytes of the fixed part (the array's offset).</summary>
    public int FixedLength { get; set; }

    /// <summary>Each field's offset.</summary>
    public Dictionary<string, int> Offsets { get; } = [];

    /// <summary>The C macro prefix: BP_TRAIN, BP_DEVICE_INFO.</summary>
    public string Macro => "BP_" + C.ToUpperInvariant();
}

/// <summary>A Nack code.</summary>
internal sealed record NackCode(int Code, string Name, string Cs, string Doc, string Meaning, string Detail);

/// <summary>The whole description.</summary>
internal sealed class Spec
{
    public required int Major { get; init; }

    public required int Minor { get; init; }

    public required IReadOnlyList<NackCode> NackCodes { get; init; }

    public required IReadOnlyList<Layout> Structs { get; init; }

    public required IReadOnlyList<Layout> Messages { get; init; }

    public Layout Struct(string name) => Structs.FirstOrDefault(s => s.Name == name) ?? throw new InvalidDataException($"messages.json: no struct {name}");

    public static Spec Load(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var r = doc.RootElement;
        var spec = new Spec
        {
            Major = r.GetProperty("version").GetProperty("major").GetInt32(),
            Minor = r.GetProperty("version").GetProperty("minor").GetInt32(),
            NackCodes = [.. r.GetProperty("nack_codes").EnumerateArray().Select(n => new NackCode(
                n.GetProperty("code").GetInt32(), Str(n, "name")!, Str(n, "cs")!, Str(n, "doc")!, Str(n, "meaning")!, Str(n, "detail")!))],
            Structs = [.. r.GetProperty("structs").EnumerateArray().Select(ReadLayout)],
            Messages = [.. r.GetProperty("messages").EnumerateArray().Select(ReadLayout)],
        };
        foreach (var l in spec.Structs.Concat(spec.Messages))
        {
            int at = 0;
            foreach (var f in l.Fields)
            {
                if (l.Array is { } a && a != f && l.Fields.ToList().IndexOf(f) > l.Fields.ToList().IndexOf(a))
                {
                    throw new InvalidDataException($"messages.json: {l.Name}.{f.Name} follows the array {a.Name}: an array is the last field");
                }

                l.Offsets[f.Name] = at;
                if (!f.IsArray) at += f.Size(spec);
            }

            l.FixedLength = at;
        }

        return spec;
    }

    private static Layout ReadLayout(JsonElement e)
    {
        string name = Str(e, "name")!;
        return new Layout(
            name, Str(e, "c") ?? Snake(name), Str(e, "cs") ?? name, Str(e, "doc")!,
            [.. e.GetProperty("fields").EnumerateArray().Select(ReadField)],
            e.TryGetProperty("kind", out var k) ? k.GetInt32() : null, Str(e, "direction") ?? "", Str(e, "section") ?? "",
            Str(e, "answer") ?? "", e.TryGetProperty("cs_view", out var v) && v.GetBoolean());
    }

    private static Field ReadField(JsonElement e) => new(
        Str(e, "name")!, Str(e, "type")!, Str(e, "cs") ?? Pascal(Str(e, "name")!), Str(e, "notes") ?? "", Str(e, "unit"),
        Str(e, "count"), Str(e, "count_of"), Str(e, "count_doc"), Int(e, "min"), Int(e, "max"), Str(e, "c_max"), Str(e, "cs_max"),
        e.TryGetProperty("parse_checks_max", out var p) && p.GetBoolean(),
        e.TryGetProperty("bits", out var b) ? [.. b.EnumerateArray().Select(x => new Bit(x.GetProperty("bit").GetInt32(), Str(x, "name")!, Str(x, "c")!, Str(x, "cs")!, Str(x, "doc")!))] : [],
        e.TryGetProperty("values", out var v) ? [.. v.EnumerateArray().Select(x => new Value(x.GetProperty("value").GetInt32(), Str(x, "c")!, Str(x, "doc")!))] : []);

    private static string? Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? v.GetString() : null;

    private static int? Int(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? v.GetInt32() : null;

    /// <summary>sample_rate_hz → SampleRateHz.</summary>
    public static string Pascal(string snake) => string.Concat(snake.Split('_').Select(w => char.ToUpperInvariant(w[0]) + w[1..]));

    /// <summary>DeviceInfo → device_info.</summary>
    public static string Snake(string pascal)
    {
        var sb = new StringBuilder();
        foreach (char c in pascal)
        {
            if (char.IsUpper(c) && sb.Length > 0) sb.Append('_');
            sb.Append(char.ToLowerInvariant(c));
        }

        return sb.ToString();
    }
}
