using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Bench.Rig.Emulation;
using Bench.Rig.Transports;
using Xunit.Abstractions;

namespace Bench.Cli.Tests;

/// <summary>The emulated rig in this process, served on a TCP port (bench record connects as to any rig).</summary>
internal sealed class InProcessRig : IAsyncDisposable
{
    private readonly CancellationTokenSource stop = new();
    private readonly TcpListener listener = new(IPAddress.Loopback, 0);
    private readonly Task serving;

    public InProcessRig(EmulatorOptions options)
    {
        var rig = new EmulatedRig(options);
        listener.Start();
        Port = $"tcp://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";
        serving = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var client = await listener.AcceptTcpClientAsync(stop.Token);
                client.NoDelay = true;
                await using var device = new StreamTransport(client.GetStream(), Port, ownsStream: true);
                await rig.RunAsync(device, stop.Token);
            }
        });
    }

    public string Port { get; }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        listener.Stop();
        // The accept loop ends with the cancellation or the stopped listener; the deadline only ends one that hangs
        // (before the token it uses is disposed).
        try
        {
            await serving.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        stop.Dispose();
    }
}

/// <summary>
/// bench record --compare, bench compare and bench fit on a recording of the emulated rig whose preparation has a
/// mismatched sodium conductance (gNa 100 instead of the model's 120) and 0.2 mV of noise.
/// </summary>
public sealed class CompareCommandTests(ITestOutputHelper log) : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("bench-compare-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private async Task<string> RecordMismatched()
    {
        // Real time, and room for 2²⁰ samples (the default 4,096 a descheduled emulator can overrun). The capture keeps
        // the samples that arrive while the rig is being stopped, at rest, which dilute the whole recording's RMSE: on a
        // loaded machine the stop takes seconds, and at 5× real time two of them held ten times the recording and took
        // its RMSE below what the test asks of a mismatch. In real time it takes a stop of about 8 s to do that.
        await using var rig = new InProcessRig(new EmulatorOptions { Parameters = new Dictionary<string, double> { ["gNa"] = 100 }, Speed = 1, Baud = 0, Seed = 3, BufferCapacitySamples = 1 << 20 });
        string protocol = Path.Combine(dir, "p.json");
        File.WriteAllText(protocol, """{"unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":300,"interval_ms":25,"count":2},{"start_ms":100,"phase1_ms":1,"phase1_amplitude":300,"interval_ms":15,"count":3}]}""");
        string capture = Path.Combine(dir, "rec.nwb");
        var (code, output, error) = CliRun.Bench("record", "--port", rig.Port, "--stimulus", protocol, "--rate", "20000", "--duration", "0.5", "--out", capture,
            "--raw", Path.Combine(dir, "rec.bin"), "--compare");
        log.WriteLine(output);
        Assert.True(code == 0, error);
        var lines = output.Trim().Split('\n');
        // Live lines while recording (one per 0.5 s of samples at most), the summary last.
        var summary = CliRun.LastJson(output);
        Assert.Equal(5, summary.GetProperty("stimulus_events").GetInt32());
        var comparison = summary.GetProperty("comparison");
        Assert.Equal(5, comparison.GetProperty("spikes_recorded").GetInt32());
        Assert.True(comparison.GetProperty("rmse_mV").GetDouble() > 0.5);
        Assert.All(lines[..^1], l => Assert.True(JsonDocument.Parse(l).RootElement.TryGetProperty("window_rmse_mV", out _)));
        Assert.InRange(lines.Length - 1, 0, (int)Math.Ceiling(summary.GetProperty("expected_samples").GetInt64() / 10_000.0) + 1);
        return capture;
    }

    [Fact]
    public async Task Compare_shows_the_mismatch_and_fit_recovers_the_sodium_conductance()
    {
        string capture = await RecordMismatched();

        var (code, output, error) = CliRun.Bench("compare", capture);
        log.WriteLine(output);
        Assert.True(code == 0, error);
        var json = CliRun.LastJson(output);
        Assert.Equal("hh", json.GetProperty("model").GetString());
        Assert.Equal(5, json.GetProperty("spikes_recorded").GetInt32());
        Assert.Equal(5, json.GetProperty("spikes_model").GetInt32());
        // The capture holds every sample that arrived, also those after the recording's duration while the rig was
        // being stopped (at rest): the whole-recording RMSE is diluted by them, the pulse epochs are not.
        double mismatched = json.GetProperty("rmse_mV").GetDouble();
        Assert.True(mismatched > 0.3, $"rmse {mismatched}");
        Assert.All(json.GetProperty("epochs").EnumerateArray().Skip(1).Take(4), e => Assert.True(e.GetProperty("rmse_mV").GetDouble() > 0.8));
        Assert.True(json.GetProperty("mean_spike_time_error_ms").GetDouble() > 0.02);
        Assert.True(json.TryGetProperty("gamma", out _));
        Assert.Equal(6, json.GetProperty("epochs").GetArrayLength());
        Assert.Equal(5, json.GetProperty("action_potentials").GetArrayLength());
        Assert.Contains("Gamma", output);

        // The raw capture kept beside it (--raw) reads too, and tells the same story.
        (code, output, error) = CliRun.Bench("compare", Path.Combine(dir, "rec.bin"));
        Assert.True(code == 0, error);
        var raw = CliRun.LastJson(output);
        Assert.Equal(5, raw.GetProperty("spikes_recorded").GetInt32());
        Assert.Equal(json.GetProperty("mean_spike_time_error_ms").GetDouble(), raw.GetProperty("mean_spike_time_error_ms").GetDouble(), 6);

        // With the preparation's own gNa the model reproduces it down to the noise.
        (code, output, error) = CliRun.Bench("compare", capture, "--param", "gNa=100");
        Assert.True(code == 0, error);
        json = CliRun.LastJson(output);
        Assert.True(json.GetProperty("rmse_mV").GetDouble() < 0.25);
        Assert.True(json.GetProperty("rmse_mV").GetDouble() < mismatched / 1.3);
        Assert.All(json.GetProperty("epochs").EnumerateArray().Skip(1), e => Assert.True(e.GetProperty("rmse_mV").GetDouble() < 0.3));
        Assert.Equal(1, json.GetProperty("gamma").GetDouble(), 6);

        var watch = Stopwatch.StartNew();
        (code, output, error) = CliRun.Bench("fit", capture, "--params", "gNa");
        watch.Stop();
        log.WriteLine(output);
        Assert.True(code == 0, error);
        Assert.Contains("fit: evaluation", output);
        json = CliRun.LastJson(output);
        double gNa = json.GetProperty("params").GetProperty("gNa").GetDouble();
        log.WriteLine($"gNa {gNa} ± {json.GetProperty("uncertainty").GetProperty("gNa")}, {watch.Elapsed.TotalSeconds:0.00} s");
        // The rig's gNa is 100: within three of the fit's standard uncertainties, or 0.5.
        double u = json.GetProperty("uncertainty").GetProperty("gNa").GetDouble();
        Assert.True(Math.Abs(gNa - 100) <= Math.Max(0.5, 3 * u), $"gNa {gNa} ± {u}");
        Assert.True(json.GetProperty("rmse_mV").GetProperty("before").GetDouble() > 0.3);
        Assert.True(json.GetProperty("rmse_mV").GetProperty("after").GetDouble() < 0.25);
        var interval = json.GetProperty("interval95").GetProperty("gNa");
        Assert.InRange(gNa, interval[0].GetDouble(), interval[1].GetDouble());

        // Four parameters from five identical pulses: they trade off, and the fit says so, which and what would
        // separate them, on stderr and in the JSON, and writes the protocol it suggests.
        string suggestion = Path.Combine(dir, "suggested.json");
        watch.Restart();
        (code, output, error) = CliRun.Bench("fit", capture, "--params", "gNa,gK,gL,EL", "--suggest-protocol", suggestion);
        watch.Stop();
        log.WriteLine(output);
        log.WriteLine(error);
        Assert.True(code == 0, error);
        json = CliRun.LastJson(output);
        log.WriteLine($"4 parameters: {watch.Elapsed.TotalSeconds:0.00} s (fit {json.GetProperty("seconds").GetDouble():0.00} s)");
        var tradeOffs = json.GetProperty("trade_offs");
        Assert.True(tradeOffs.GetArrayLength() > 0);
        Assert.True(Math.Abs(tradeOffs[0].GetProperty("correlation").GetDouble()) > 0.9);
        Assert.Contains("trade off", error);
        Assert.Contains("--suggest-protocol", error);
        Assert.Equal(1, json.GetProperty("correlations").GetProperty("gL").GetProperty("gL").GetDouble(), 6);
        Assert.True(json.GetProperty("effective_samples").GetDouble() > 100);
        var protocol = Bench.Core.Stimulus.StimulusProtocol.Parse(File.ReadAllText(suggestion));
        Assert.Contains(protocol.Trains, t => t.Phase1Amplitude < 0);
        Assert.Equal("nA", json.GetProperty("suggested_protocol").GetProperty("unit").GetString());
    }

    [Fact]
    public void Mistakes_are_one_line_and_exit_2()
    {
        var (code, _, error) = CliRun.Bench("compare", Path.Combine(dir, "none.bin"));
        Assert.Equal(2, code);
        Assert.Contains("compare: recording", error);
        Assert.Contains("does not exist", error);
        string capture = Path.Combine(dir, "x.bin");
        File.WriteAllBytes(capture, []);
        (code, _, error) = CliRun.Bench("fit", capture, "--params", "gNa");
        Assert.Equal(2, code);
        Assert.Contains("sidecar", error);
        File.WriteAllText(capture + ".json", """{"format":"bench-raw-1","configuration":{"sample_rate_hz":20000},"calibration":{"mv_per_count":0.04,"offset_mv":-100}}""");
        (code, _, error) = CliRun.Bench("compare", capture, "--model", "nope");
        Assert.Equal(2, code);
        Assert.Contains("unknown model 'nope'", error);
        (code, _, error) = CliRun.Bench("compare", capture, "--param", "gXX=1");
        Assert.Equal(2, code);
        Assert.Contains("unknown parameter 'gXX'", error);
        (code, _, error) = CliRun.Bench("fit", capture, "--params", "gXX");
        Assert.Equal(2, code);
        Assert.Contains("unknown parameter 'gXX'", error);
        (code, _, error) = CliRun.Bench("fit", capture, "--params", ",");
        Assert.Equal(2, code);
        Assert.Contains("--params names no parameter", error);
        (code, _, error) = CliRun.Bench("record", "--port", "tcp://127.0.0.1:1", "--duration", "1", "--out", Path.Combine(dir, "y.nwb"), "--model", "hh");
        Assert.Equal(2, code);
        Assert.Contains("go with --compare", error);
        (code, _, error) = CliRun.Bench("record", "--port", "tcp://127.0.0.1:1", "--duration", "1", "--out", capture);
        Assert.Equal(2, code);
        Assert.Contains("--out names the NWB file to write", error);
    }
}
