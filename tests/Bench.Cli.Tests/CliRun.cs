using System.Text.Json;

namespace Bench.Cli.Tests;

/// <summary>Runs <c>bench</c> in this process, as its tests do.</summary>
internal static class CliRun
{
    /// <summary>The exit code and what was written to stdout and stderr.</summary>
    public static (int Code, string Out, string Err) Bench(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = BenchCli.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>The last line of <paramref name="output"/>, as JSON (a command's summary).</summary>
    public static JsonElement LastJson(string output) => JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
}
