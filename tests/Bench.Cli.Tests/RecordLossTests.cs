using Bench.Rig.Emulation;

namespace Bench.Cli.Tests;

/// <summary>bench record states every loss in its summary (issue 12 §4.6): a stall's gap, and samples that never came.</summary>
[Trait("Category", "EndToEnd")]
public sealed class RecordLossTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("bench-loss-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public async Task A_two_second_stall_is_a_gap_in_the_summary_and_the_recording_completes()
    {
        // The rig holds 4,096 samples (0.2 s); a 2 s stall overruns it and the rest is lost at the rig.
        await using var rig = new InProcessRig(new EmulatorOptions { BufferCapacitySamples = 4096, Faults = FaultOptions.Parse("stall_at=1,stall=2") });
        string nwb = Path.Combine(dir, "stall.nwb");
        var (code, output, error) = CliRun.Bench("record", "--port", rig.Port, "--rate", "20000", "--duration", "4", "--out", nwb, "--compare");
        Assert.True(code == 0, error);
        var summary = CliRun.LastJson(output);
        Assert.True(summary.GetProperty("complete").GetBoolean());
        Assert.True(summary.GetProperty("gaps").GetInt32() >= 1, output);
        long lost = summary.GetProperty("lost_samples").GetInt64();
        // 40,000 samples stalled less the 4,096 held, and more only if this loaded machine also stalled the recorder.
        Assert.InRange(lost, 30_000, 60_000);
        Assert.Equal(80_000, summary.GetProperty("samples").GetInt64() + lost);
        Assert.True(File.Exists(nwb));
        // The file says so too, in a way NWB readers understand (timestamps, and the gap in invalid_times), and it is valid.
        Bench.Storage.Tests.NwbSchema.AssertValid(nwb);
        var (exportCode, exported, exportError) = CliRun.Bench("export", nwb);
        Assert.True(exportCode == 0, exportError);
        var rows = System.Text.Json.JsonDocument.Parse(exported).RootElement;
        Assert.Equal(lost, rows.GetProperty("lost_samples").GetInt64());
        Assert.Equal(80_000 - lost, rows.GetProperty("rows").GetInt64());
    }

    [Fact]
    public async Task A_rig_that_stops_sending_ends_the_recording_with_the_missing_samples_counted_as_lost()
    {
        await using var rig = new InProcessRig(new EmulatorOptions { BufferCapacitySamples = 4096, Faults = FaultOptions.Parse("stall_at=1,stall=60") });
        string nwb = Path.Combine(dir, "stopped.nwb");
        var (code, output, error) = CliRun.Bench("record", "--port", rig.Port, "--rate", "20000", "--duration", "3", "--stall-timeout", "1.5", "--out", nwb);
        Assert.Equal(3, code);
        var summary = CliRun.LastJson(output);
        Assert.False(summary.GetProperty("complete").GetBoolean());
        long samples = summary.GetProperty("samples").GetInt64(), lost = summary.GetProperty("lost_samples").GetInt64();
        Assert.InRange(samples, 15_000, 26_000);
        Assert.Equal(60_000, samples + lost);
        Assert.Contains("sent no samples", summary.GetProperty("stopped").GetString());
        // Lines saying what happened (and that the stalled rig did not confirm the stop), never a stack trace.
        Assert.All(error.Trim().Split('\n'), line => Assert.StartsWith("bench: ", line));
        Assert.Contains("incomplete", error);
        Assert.True(File.Exists(nwb));
    }
}
