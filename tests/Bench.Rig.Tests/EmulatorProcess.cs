using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;

namespace Bench.Rig.Tests;

/// <summary><c>bench emulate</c> running as its own process, as a user runs it; its announcements read from stdout.</summary>
internal sealed class EmulatorProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly Channel<JsonElement> announcements = Channel.CreateUnbounded<JsonElement>();

    private EmulatorProcess(Process process)
    {
        this.process = process;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 } line) announcements.Writer.TryWrite(JsonDocument.Parse(line).RootElement.Clone());
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public static string BenchDll => Path.Combine(AppContext.BaseDirectory, "bench.dll");

    /// <summary>The port of the first announcement.</summary>
    public string Port { get; private set; } = "";

    public static async Task<EmulatorProcess> StartAsync(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet", [BenchDll, "emulate", .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        var emulator = new EmulatorProcess(Process.Start(info)!);
        emulator.Port = (await emulator.NextAsync(TimeSpan.FromSeconds(30))).GetProperty("port").GetString()!;
        return emulator;
    }

    /// <summary>The next line the emulator prints (JSON).</summary>
    public async Task<JsonElement> NextAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        return await announcements.Reader.ReadAsync(cts.Token);
    }

    /// <summary>Stops the emulator as Ctrl+C or a service manager would (SIGTERM), so it flushes what it writes; killed after 10 s.</summary>
    public async Task StopAsync()
    {
        if (process.HasExited) return;
        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await process.WaitForExitAsync(grace.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        process.Dispose();
    }
}
