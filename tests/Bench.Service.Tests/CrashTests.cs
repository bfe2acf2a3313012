using System.Diagnostics;
using System.Text.Json.Nodes;
using Bench.Storage.Tests;

namespace Bench.Service.Tests;

/// <summary><c>bench serve</c> as its own process, killed with SIGKILL mid-recording: the recording survives.</summary>
[Trait("Category", "EndToEnd")]
public sealed class CrashTests
{
    private static string BenchDll => Path.Combine(AppContext.BaseDirectory, "bench.dll");

    [Fact]
    public async Task A_service_killed_mid_recording_leaves_a_journal_that_bench_recover_turns_into_NWB()
    {
        string data = Directory.CreateTempSubdirectory("bench-crash-").FullName;
        var serve = Process.Start(new ProcessStartInfo("dotnet", [BenchDll, "serve", "--urls", "http://127.0.0.1:0", "--data-dir", data])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        serve.BeginErrorReadLine();
        try
        {
            var first = JsonNode.Parse(await serve.StandardOutput.ReadLineAsync() ?? throw new Xunit.Sdk.XunitException("bench serve printed nothing"))!;
            using var client = new HttpClient { BaseAddress = new Uri((string)first["url"]!) };
            // Wait for the emulated rig (serve connects it after it starts listening).
            await Eventually.True(async () => (await client.GetStringAsync("/api/health")).Contains("\"connected\"", StringComparison.Ordinal), "bench serve connected its emulated rig");
            var start = await client.PostAsync("/api/recordings", new StringContent("""{"name":"crash"}""", System.Text.Encoding.UTF8, "application/json"));
            Assert.True(start.IsSuccessStatusCode, await start.Content.ReadAsStringAsync());
            string nwb = Path.Combine(data, "recordings", "crash.nwb");
            // 0.8 s of rest on file, then a pulse and 0.2 s after it: the service flushes its journal as samples come.
            await Journals.WaitAsync(nwb, j => j.SampleCount >= 16_000, "0.8 s recorded on file");
            await client.PostAsync("/api/stimulus/play", new StringContent("""{"name":"single-pulse"}""", System.Text.Encoding.UTF8, "application/json"));
            var onFile = await Journals.WaitAsync(nwb, j => j.Pulses.Count == 1 && j.EndSampleIndex >= j.Pulses[0].OnsetIndex + 4_000, "the pulse and 0.2 s after it on file");
            long before = onFile.SampleCount;
            serve.Kill();   // SIGKILL: no chance to finish anything
            await serve.WaitForExitAsync();

            Assert.False(File.Exists(nwb));
            Assert.True(File.Exists(nwb + ".journal"));
            var recover = Process.Start(new ProcessStartInfo("dotnet", [BenchDll, "recover", nwb, "--data-dir", data]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            string output = await recover.StandardOutput.ReadToEndAsync();
            string error = await recover.StandardError.ReadToEndAsync();
            await recover.WaitForExitAsync();
            Assert.True(recover.ExitCode == 0, error);
            var result = JsonNode.Parse(output.Trim().Split('\n')[^1])!;
            Assert.False((bool)result["ended_normally"]!);
            long recovered = (long)result["samples"]!;
            // Everything that had reached the file before the kill, and the rest of what was flushed until it. (That the
            // service flushes within 200 ms is shown on a fake clock by JournalFlushTests; timed here, it would fail
            // whenever a loaded machine delays the service's writes.)
            Assert.True(recovered >= before, $"recovered {recovered} samples; {before} were on file before the kill");

            var file = H5py.Read(nwb);
            Assert.Equal(recovered, (long)file["membrane"]!["length"]!);
            Assert.Contains("recovered", (string?)file["session_description"]);
            Assert.Single(file["intervals"]!["stimulus_events"]!["rows"]!.AsArray());

            // The service's next start finds the recording marked recovered in its catalog.
            var again = Process.Start(new ProcessStartInfo("dotnet", [BenchDll, "serve", "--urls", "http://127.0.0.1:0", "--data-dir", data, "--port", "none"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            try
            {
                var url = (string)JsonNode.Parse((await again.StandardOutput.ReadLineAsync())!)!["url"]!;
                using var client2 = new HttpClient { BaseAddress = new Uri(url) };
                var listed = JsonNode.Parse(await client2.GetStringAsync("/api/recordings"))!.AsArray();
                Assert.Equal("recovered", (string?)listed.Single()!["status"]);
                Assert.Equal(recovered, (long)listed.Single()!["samples"]!);
            }
            finally
            {
                again.Kill();
                await again.WaitForExitAsync();
            }
        }
        finally
        {
            if (!serve.HasExited) serve.Kill();
        }
    }
}
