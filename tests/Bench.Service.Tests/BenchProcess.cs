using System.Diagnostics;

namespace Bench.Service.Tests;

/// <summary>Runs the <c>bench</c> command line as its own process, as a user does, with no input.</summary>
internal static class BenchProcess
{
    public static string BenchDll => Path.Combine(AppContext.BaseDirectory, "bench.dll");

    public static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo("dotnet", [BenchDll, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true })!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await stdout, await stderr);
    }
}
