using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Xunit.Abstractions;

namespace Bench.Rig.Tests;

/// <summary>Runs alone: it loads both cores on purpose.</summary>
[CollectionDefinition("classroom", DisableParallelization = true)]
public sealed class ClassroomGroup;

/// <summary>
/// A class without hardware (issue 12 §4.7): twenty benches started at once on this 2-core machine, each an emulated
/// rig (<c>bench emulate --pty</c>) and a recorder (<c>bench record</c>) as separate processes, as a teacher runs them.
/// Every recorder gets every sample with nothing lost, and nothing dies with a stack trace.
/// </summary>
[Collection("classroom")]
[Trait("Category", "EndToEnd")]
public sealed class ClassroomLoadTests(ITestOutputHelper output)
{
    private const int Benches = 20;
    private const double Seconds = 10;

    [Fact]
    public async Task Twenty_emulated_benches_at_20_kHz_record_everything_at_once()
    {
        string folder = Directory.CreateTempSubdirectory("bench-class-").FullName;
        var emulators = new List<EmulatorProcess>();
        var recorders = new List<Process>();
        try
        {
            emulators.AddRange(await Task.WhenAll(Enumerable.Range(1, Benches).Select(i => EmulatorProcess.StartAsync("--pty", "--seed", i.ToString(CultureInfo.InvariantCulture)))));
            foreach (var (emulator, i) in emulators.Select((e, i) => (e, i)))
            {
                recorders.Add(Process.Start(new ProcessStartInfo("dotnet",
                    [EmulatorProcess.BenchDll, "record", "--port", emulator.Port, "--rate", "20000", "--duration", Seconds.ToString(CultureInfo.InvariantCulture), "--out", Path.Combine(folder, $"bench-{i}.nwb")])
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                })!);
            }

            var results = await Task.WhenAll(recorders.Select(async r =>
            {
                var stdout = r.StandardOutput.ReadToEndAsync();
                var stderr = r.StandardError.ReadToEndAsync();
                using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(3));
                await r.WaitForExitAsync(deadline.Token);
                return (r.ExitCode, Out: await stdout, Err: await stderr);
            }));

            int complete = 0;
            foreach (var (code, stdout, stderr) in results)
            {
                output.WriteLine($"exit {code}: {stdout.Trim().Split('\n')[^1]} {stderr.Trim()}");
                Assert.DoesNotContain("Unhandled exception", stderr);
                Assert.DoesNotContain("   at ", stderr);
                if (code != 0) continue;
                var summary = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement;
                if (summary.GetProperty("lost_samples").GetInt64() == 0 && summary.GetProperty("samples").GetInt64() == (long)(Seconds * 20_000)) complete++;
            }

            Assert.Equal(Benches, complete);
        }
        finally
        {
            foreach (var r in recorders)
            {
                if (!r.HasExited) r.Kill(entireProcessTree: true);
                r.Dispose();
            }

            await Task.WhenAll(emulators.Select(e => e.DisposeAsync().AsTask()));
            Directory.Delete(folder, recursive: true);
        }
    }
}
