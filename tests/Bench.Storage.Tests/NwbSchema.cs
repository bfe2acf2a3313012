using System.Diagnostics;

namespace Bench.Storage.Tests;

/// <summary>
/// Validates NWB files against the official NWB 2.7.0 core schema (with hdmf-common 1.8.0) through HDMF's validator,
/// the machinery pynwb's validator uses (tests/nwb/validate_nwb.py, under Debian's python3-hdmf). The schema YAML is
/// the unmodified copy in ../shared/nwb-schema beside the repository. A missing validator or schema fails the test
/// with what to install: it never skips.
/// </summary>
internal static class NwbSchema
{
    private static readonly Lazy<(string Script, string Schema)> Paths = new(Find);

    /// <summary>The problems HDMF finds in <paramref name="nwbPath"/>: empty for a valid file.</summary>
    public static IReadOnlyList<string> Problems(string nwbPath)
    {
        var (script, schema) = Paths.Value;
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { script, schema, nwbPath }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode is not (0 or 1)) throw new Xunit.Sdk.XunitException($"validate_nwb.py failed ({process.ExitCode}):\n{stderr.Result}");
        return [.. stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.EndsWith(": valid", StringComparison.Ordinal))];
    }

    /// <summary>What a reader that knows only NWB gets from the file (tests/nwb/read_by_type.py: HDMF's reader, objects
    /// found by their NWB type): the membrane potential in volts with its times, the stimulus, the interval tables.</summary>
    public static System.Text.Json.Nodes.JsonObject ReadByType(string nwbPath)
    {
        var (script, schema) = Paths.Value;
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { Path.Combine(Path.GetDirectoryName(script)!, "read_by_type.py"), schema, nwbPath }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new Xunit.Sdk.XunitException($"read_by_type.py failed ({process.ExitCode}):\n{stderr.Result}");
        return System.Text.Json.Nodes.JsonNode.Parse(stdout)!.AsObject();
    }

    /// <summary>Asserts that the file validates with zero problems.</summary>
    public static void AssertValid(string nwbPath)
    {
        var problems = Problems(nwbPath);
        Assert.True(problems.Count == 0, $"{nwbPath} fails the NWB 2.7.0 schema:\n{string.Join('\n', problems)}");
    }

    private static (string, string) Find()
    {
        if (!File.Exists("/usr/bin/python3") || !Directory.Exists("/usr/lib/python3/dist-packages/hdmf"))
        {
            throw new Xunit.Sdk.XunitException("HDMF is missing: NWB files are checked with its validator. Install Debian's python3-hdmf (scripts/test.sh does this).");
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string script = Path.Combine(dir.FullName, "tests", "nwb", "validate_nwb.py");
            string schema = Path.Combine(dir.FullName, "..", "shared", "nwb-schema");
            if (File.Exists(script) && Directory.Exists(Path.Combine(schema, "nwb-schema-2.7.0")))
            {
                return (script, Path.GetFullPath(schema));
            }

            if (File.Exists(script))
            {
                throw new Xunit.Sdk.XunitException($"the NWB schema is missing: expected the official YAML in {Path.GetFullPath(schema)} (nwb-schema-2.7.0, hdmf-common-schema-1.8.0)");
            }
        }

        throw new Xunit.Sdk.XunitException("tests/nwb/validate_nwb.py not found above " + AppContext.BaseDirectory);
    }
}
