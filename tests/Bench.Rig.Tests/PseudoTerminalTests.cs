using System.Diagnostics;
using System.Text.Json;
using Bench.Core.Instrument;
using Bench.Core.Stimulus;
using Bench.Rig.Session;
using Bench.Rig.Transports;
using static Bench.Rig.Tests.RigTestHelpers;

namespace Bench.Rig.Tests;

/// <summary>
/// The host's serial transport against <c>bench emulate --pty</c> running as a separate process, over a real
/// pseudo-terminal: exactly how Bench talks to a board on /dev/ttyACM0.
/// </summary>
[Trait("Category", "EndToEnd")]
public class PseudoTerminalTests
{
    [Fact]
    public async Task Ten_seconds_at_20_kHz_arrive_with_no_sample_lost_and_a_stimulus_lands_on_its_sample()
    {
        // --speed 2: ten seconds of rig time in five of ours; the link budget (1 Mbaud) follows rig time. Room for 10⁶
        // samples: the emulator, descheduled on a loaded machine, catches up in one go; its default 4,096 (0.1 s at
        // this speed) would overrun, and this test expects nothing lost.
        await using var emulator = await EmulatorProcess.StartAsync("--pty", "--speed", "2", "--seed", "7", "--buffer-samples", "1000000");
        Assert.StartsWith("/dev/pts/", emulator.Port);
        await using var session = await RigSession.ConnectAsync(SerialTransport.Open(emulator.Port));
        Assert.Equal("EMU", session.Device.Board);
        Assert.Equal(0xB3C4_0000_0000_0007UL, session.Device.UniqueId);
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        var protocol = StimulusProtocol.Parse("""{"unit":"nA","trains":[{"phase1_ms":0.5,"phase1_amplitude":1000,"interphase_ms":0.1,"phase2_ms":0.5,"phase2_amplitude":-1000,"interval_ms":20,"count":3}]}""");
        await session.PlayAsync(protocol, atDeviceSampleIndex: 60_000);
        var batches = await Collect(session, 200_000, TimeSpan.FromSeconds(60));
        // The pulses were reported before the samples after them; ending the session closes the account.
        var (more, events) = await EndAsync(session);
        batches.AddRange(more);
        ulong expected = 0;
        foreach (var b in batches)
        {
            Assert.Equal(expected, b.FirstSampleIndex);
            expected += (ulong)b.Codes.Length;
        }

        Assert.Equal(0UL, session.Health.LostSamples);
        Assert.Equal(0, session.Health.CrcErrors);
        Assert.DoesNotContain(events, e => e is GapEvent);
        var pulses = events.OfType<PulsePlayedEvent>().ToList();
        Assert.Equal([60_000UL, 60_400UL, 60_800UL], pulses.Select(p => p.SessionOnsetIndex));
        Assert.All(pulses, p => Assert.Equal((short)1000, p.Pulse.Phase1Code));
        Assert.All(pulses, p => Assert.Equal((short)-1000, p.Pulse.Phase2Code));
        // The charge-balanced biphasic pulse (+100 then −100 µA/cm²) excites the model: an action potential in the samples.
        var calibration = FrontEnd.Emulated.Calibration;
        var v = batches.SelectMany(b => b.Codes).Select(c => calibration.ToMillivolts(c)).ToArray();
        Assert.True(v[60_000..60_200].Max() > 20, $"peak {v[60_000..60_200].Max()} mV after the first pulse");
        Assert.True(session.Clock!.IsFitted);
        // --speed 2 makes the rig's clock run twice as fast as ours: +100 %, i.e. +1,000,000 ppm, which the fit must see.
        Assert.InRange(session.Clock.DriftPpm, 980_000, 1_020_000);
    }

    [Fact]
    public async Task Injected_drops_appear_as_gaps_of_exactly_their_length()
    {
        await using var emulator = await EmulatorProcess.StartAsync("--pty", "--speed", "2", "--faults", "drop=0.02", "--seed", "11", "--buffer-samples", "1000000");
        await using var session = await RigSession.ConnectAsync(SerialTransport.Open(emulator.Port));
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        var batches = await Collect(session, 60_000, TimeSpan.FromSeconds(60));
        await session.StopAsync();
        var (more, events) = await EndAsync(session);
        batches.AddRange(more);
        var gaps = events.OfType<GapEvent>().ToList();
        Assert.NotEmpty(gaps);
        AssertGapsMatchJumps(batches, gaps, 20);
    }

    [Fact]
    public async Task A_pulled_cable_is_reported_and_the_same_rig_is_resumed_on_its_new_port()
    {
        // Room for 10⁶ samples: only the pulled cable may lose any (an overrun of a descheduled emulator would add a gap).
        await using var emulator = await EmulatorProcess.StartAsync("--pty", "--faults", "disconnect_at=1,disconnect=0.5", "--seed", "5", "--buffer-samples", "1000000");
        var firstPort = emulator.Port;
        var session = await RigSession.ConnectAsync(SerialTransport.Open(firstPort), new RigSessionOptions
        {
            // Look for the rig where the emulator says it reappeared (a real host scans every serial port).
            Reconnect = async token =>
            {
                var line = await emulator.NextAsync(TimeSpan.FromSeconds(30));
                return line.TryGetProperty("event", out var e) && e.GetString() == "reappeared" ? SerialTransport.Open(line.GetProperty("port").GetString()!) : null;
            },
        });
        await using (session)
        {
            await session.ConfigureAsync(20_000);
            await session.StartAsync();
            var batches = await Collect(session, 50_000, TimeSpan.FromSeconds(60));
            var events = Drain(session);
            Assert.Contains(events, e => e is DisconnectedEvent);
            var back = Assert.Single(events.OfType<ReconnectedEvent>());
            Assert.StartsWith("/dev/pts/", back.Port);
            var gap = Assert.Single(events.OfType<GapEvent>());
            Assert.Equal("disconnected", gap.Cause);
            // At least the half second the rig was away, counted by the host's clock until it resumed (longer when a
            // loaded machine takes its time to find the rig again); the indices jump by exactly that much.
            Assert.InRange((double)gap.Length, 0.3 * 20_000, 10.0 * 20_000);
            Assert.Contains(batches, b => b.FirstSampleIndex == gap.StartIndex + gap.Length);
            Assert.Equal(1, session.Health.Disconnects);
        }
    }

    [Fact]
    public async Task Record_export_and_decode_work_from_the_command_line()
    {
        // Room for 10⁶ samples: the summary must say nothing was lost, however the emulator is scheduled.
        await using var emulator = await EmulatorProcess.StartAsync("--pty", "--buffer-samples", "1000000");
        string dir = Directory.CreateTempSubdirectory("bench-record-").FullName;
        try
        {
            string protocol = Path.Combine(dir, "p.json");
            File.WriteAllText(protocol, """{"unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":300,"interval_ms":25,"count":2}]}""");
            string capture = Path.Combine(dir, "rec.bin");
            string nwb = Path.Combine(dir, "rec.nwb");
            var (code, output, error) = await RunBench("record", "--port", emulator.Port, "--stimulus", protocol, "--rate", "20000", "--duration", "1", "--out", nwb, "--raw", capture);
            Assert.True(code == 0, error);
            var summary = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
            Assert.True(summary.GetProperty("samples").GetInt64() >= 20_000);
            Assert.Equal(0, summary.GetProperty("lost_samples").GetInt64());
            Assert.Equal(2, summary.GetProperty("stimulus_events").GetInt32());
            Assert.Equal(20_000, summary.GetProperty("rate_hz").GetDouble());
            // 200 ms in, or later (and the recording as much longer) when this machine was slow to ask for it.
            double startMs = summary.GetProperty("stimulus_start_ms").GetDouble();
            Assert.True(startMs >= 200, output);
            Assert.Equal((long)Math.Round((1000 + startMs - 200) * 20), summary.GetProperty("expected_samples").GetInt64());
            Assert.True(File.Exists(capture + ".json"));
            Assert.True(File.Exists(nwb));
            Assert.False(File.Exists(capture + ".partial"));

            (code, output, error) = await RunBench("export", nwb, "--format", "csv");
            Assert.True(code == 0, error);
            var rows = File.ReadAllLines(Path.ChangeExtension(nwb, ".csv"));
            Assert.Equal("time_ms,v_mV,stimulus_nA", rows[0]);
            var onsets = rows.Skip(1).Select(r => r.Split(',')).Where((r, i) => i > 0 && r[2] != "0").Select(r => double.Parse(r[0], System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(startMs, onsets[0]);   // the file's stimulus begins where the summary says

            (code, output, _) = await RunBench("decode", capture);
            Assert.Equal(0, code);
            var last = JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;
            Assert.Equal(0, last.GetProperty("crc_errors").GetInt32());
            Assert.Equal(0, last.GetProperty("sequence_gaps").GetInt32());

            // A protocol the rig cannot play is refused before anything is recorded.
            string bad = Path.Combine(dir, "bad.json");
            File.WriteAllText(bad, """{"unit":"uA/cm2","trains":[{"phase1_ms":1,"phase1_amplitude":30}]}""");
            (code, _, error) = await RunBench("record", "--port", emulator.Port, "--stimulus", bad, "--duration", "1", "--out", Path.Combine(dir, "bad.nwb"), "--raw", Path.Combine(dir, "bad.bin"));
            Assert.Equal(2, code);
            Assert.Contains("give the protocol in \"nA\"", error);
            Assert.Equal(["bad.json"], Directory.GetFiles(dir, "bad.*").Select(Path.GetFileName));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Devices_finds_the_rig_by_its_unique_id_and_reports_what_does_not_answer()
    {
        await using var emulator = await EmulatorProcess.StartAsync("--pty", "--seed", "42");
        // A rig answers its first Hello at once; 5 s only bounds the wait on a loaded machine (the missing port fails at once).
        var (code, output, error) = await RunBench("devices", "--json", "--port", emulator.Port, "--port", "/dev/ttyACM9", "--timeout", "5");
        Assert.True(code == 0, error);
        var list = JsonDocument.Parse(output).RootElement.EnumerateArray().ToList();
        var rig = list.Single(d => d.GetProperty("port").GetString() == emulator.Port);
        Assert.Equal("rig", rig.GetProperty("status").GetString());
        Assert.Equal("EMU", rig.GetProperty("board").GetString());
        Assert.Equal("b3c400000000002a", rig.GetProperty("unique_id").GetString());
        var missing = list.Single(d => d.GetProperty("port").GetString() == "/dev/ttyACM9");
        Assert.Contains("does not exist", missing.GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_missing_or_silent_port_is_a_clear_error_and_touches_no_file()
    {
        string dir = Directory.CreateTempSubdirectory("bench-never-").FullName;
        try
        {
            // An earlier capture of the same name, with its sidecar: a run that fails must leave both as they were.
            string keep = Path.Combine(dir, "keep.bin");
            File.WriteAllBytes(keep, [1, 2, 3]);
            File.WriteAllText(keep + ".json", "{}");
            var (code, _, error) = await RunBench("record", "--port", "/dev/ttyACM9", "--duration", "1", "--out", Path.Combine(dir, "never.nwb"), "--raw", keep);
            Assert.Equal(2, code);
            Assert.Contains("port /dev/ttyACM9 does not exist", error);
            (code, _, error) = await RunBench("record", "--port", "tcp://127.0.0.1:1", "--duration", "1", "--out", Path.Combine(dir, "never.nwb"), "--raw", keep);
            Assert.Equal(2, code);
            Assert.Contains("cannot connect to tcp://127.0.0.1:1", error);
            Assert.Equal([1, 2, 3], File.ReadAllBytes(keep));
            Assert.Equal("{}", File.ReadAllText(keep + ".json"));
            Assert.Equal(["keep.bin", "keep.bin.json"], Directory.GetFiles(dir).Select(Path.GetFileName).Order());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    internal static async Task<(int Code, string Output, string Error)> RunBench(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet", [EmulatorProcess.BenchDll, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, await output, await error);
    }
}
