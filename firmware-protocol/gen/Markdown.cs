using System.Text;
using System.Text.RegularExpressions;

namespace Bench.ProtocolGen;

/// <summary>PROTOCOL.md's message tables: each between a "generated: NAME" comment and "end generated".</summary>
internal static partial class Markdown
{
    [GeneratedRegex(@"(?<begin><!-- generated: (?<name>[^ ]+) [^>]*-->\n)(?<body>.*?)(?<end><!-- end generated -->)", RegexOptions.Singleline)]
    private static partial Regex Section();

    public static string Fill(string text, Spec spec)
    {
        var seen = new HashSet<string>();
        string filled = Section().Replace(text, m =>
        {
            string name = m.Groups["name"].Value;
            seen.Add(name);
            return m.Groups["begin"].Value + Table(spec, name) + m.Groups["end"].Value;
        });
        var missing = spec.Messages.Where(x => x.Fields.Count > 0).Select(x => x.Name).Concat(spec.Structs.Select(x => x.Name))
            .Concat(["kinds", "nack_codes"]).Where(n => !seen.Contains(n)).ToList();
        if (missing.Count > 0) throw new InvalidDataException($"PROTOCOL.md has no generated table for {string.Join(", ", missing)}: add <!-- generated: NAME … --> … <!-- end generated -->");
        return filled;
    }

    private static string Table(Spec spec, string name)
    {
        var s = new StringBuilder();
        if (name == "kinds")
        {
            s.Append("| Kind | Name | Direction | Payload bytes | Answer |\n|---:|---|---|---|---|\n");
            foreach (var m in spec.Messages) s.Append($"| `0x{m.Kind:X2}` | {m.Name} | {m.Direction} | {PayloadBytes(spec, m)} | {m.Answer} |\n");
        }
        else if (name == "nack_codes")
        {
            s.Append("| Code | Name | Meaning | detail |\n|---:|---|---|---|\n");
            foreach (var n in spec.NackCodes) s.Append($"| {n.Code} | {n.Name} | {n.Meaning} | {n.Detail} |\n");
        }
        else
        {
            var l = spec.Messages.Concat(spec.Structs).FirstOrDefault(x => x.Name == name)
                ?? throw new InvalidDataException($"PROTOCOL.md: generated table {name}: no such message or struct in messages.json");
            s.Append("| Offset | Type | Field | Notes |\n|---:|---|---|---|\n");
            foreach (var f in l.Fields)
            {
                s.Append($"| {l.Offsets[f.Name]} | {Type(spec, f)} | {f.Name} | {f.Notes}{(f.Notes.Length > 0 ? " " : "")}|\n");
            }
        }

        return s.ToString();
    }

    private static string Times(string count) => count.Replace("*", "×", StringComparison.Ordinal);

    private static string Type(Spec spec, Field f)
    {
        if (!f.IsArray) return f.Type;
        string count = f.CountDoc ?? Times(f.Count!);
        return f.IsStructArray ? $"{spec.Struct(f.Type).Name.ToLowerInvariant()}[{count}]" : $"{f.Type}[{count}]";
    }

    private static string PayloadBytes(Spec spec, Layout m)
    {
        if (m.Array is not { } a) return m.FixedLength.ToString(System.Globalization.CultureInfo.InvariantCulture);
        int size = a.Size(spec);
        return $"{m.FixedLength} + {(size == 1 ? "" : $"{size} × ")}{Times(a.Count!)}";
    }
}
