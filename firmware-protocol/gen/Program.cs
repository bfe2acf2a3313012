// The protocol generator: reads firmware-protocol/messages.json, the one description of every message, and writes
// what follows from it mechanically (struct layouts, field encoders and parsers, JSON names, tables).
//
//   dotnet run --project firmware-protocol/gen              write every generated file that changed
//   dotnet run --project firmware-protocol/gen -- --check   regenerate in memory; exit 1 naming each stale file
//   (either with --root DIR: the repository; by default the one this is run in)
//
// Framing (COBS, CRC, the decoder), validation and the vectors' own logic stay hand-written.
using System.Text;
using Bench.ProtocolGen;

string? root = null;
bool check = false;
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--check") check = true;
    else if (args[i] == "--root" && i + 1 < args.Length) root = args[++i];
    else
    {
        Console.Error.WriteLine($"protocol-gen: unknown argument {args[i]} (use --check, --root DIR)");
        return 2;
    }
}

root ??= FindRoot(Directory.GetCurrentDirectory()) ?? FindRoot(AppContext.BaseDirectory);
if (root is null)
{
    Console.Error.WriteLine("protocol-gen: no firmware-protocol/messages.json above this directory: pass --root");
    return 2;
}

var spec = Spec.Load(Path.Combine(root, "firmware-protocol", "messages.json"));
var outputs = new Dictionary<string, string>
{
    ["firmware-protocol/c/src/bench_protocol_messages.h"] = CCode.Header(spec),
    ["firmware-protocol/c/src/bench_protocol_messages.c"] = CCode.Source(spec),
    ["src/Bench.Core/Protocol/Messages.Generated.cs"] = CSharpCode.Messages(spec),
};
string protocolMd = Path.Combine(root, "firmware-protocol", "PROTOCOL.md");
outputs["firmware-protocol/PROTOCOL.md"] = Markdown.Fill(File.ReadAllText(protocolMd), spec);

int stale = 0;
foreach (var (relative, text) in outputs)
{
    string path = Path.Combine(root, relative);
    string? old = File.Exists(path) ? File.ReadAllText(path) : null;
    if (old == text) continue;
    if (check)
    {
        // The canonical "file: error CODE: text" form: MSBuild (Bench.Core's build runs this check) shows it as the error.
        Console.Error.WriteLine($"{Path.GetFullPath(path)}: error PROTOGEN1: stale: it is not what firmware-protocol/messages.json gives; generated files are not edited by hand: edit messages.json and run `dotnet run --project firmware-protocol/gen`");
        stale++;
    }
    else
    {
        File.WriteAllText(path, text, new UTF8Encoding(false));
        Console.WriteLine($"protocol-gen: wrote {relative}");
    }
}

if (check && stale == 0) Console.WriteLine($"protocol-gen: {outputs.Count} generated files are up to date with firmware-protocol/messages.json");
return stale == 0 ? 0 : 1;

static string? FindRoot(string start)
{
    for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
    {
        if (File.Exists(Path.Combine(d.FullName, "firmware-protocol", "messages.json"))) return d.FullName;
    }

    return null;
}
