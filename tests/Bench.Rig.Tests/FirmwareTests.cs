using System.Diagnostics;
using System.Globalization;
using System.IO.Pipelines;
using Bench.Core.Protocol;
using Bench.Core.Instrument;
using Bench.Core.Stimulus;
using Bench.Rig.Emulation;
using Bench.Rig.Session;
using Bench.Rig.Transports;
using Bench.Tests;
using Xunit.Abstractions;
using static Bench.Rig.Tests.RigTestHelpers;

namespace Bench.Rig.Tests;

/// <summary>
/// The firmware tests run alone: bench-sim is paced to real time and waits for the preparation's answer at every
/// conversion, so they should not share the two cores with the rest of the suite.
/// </summary>
[CollectionDefinition("firmware", DisableParallelization = true)]
public sealed class FirmwareTestGroup;

/// <summary>
/// The reference rig's unmodified firmware on a simulated ATmega328P (bench-sim on simavr), over its pseudo-terminal,
/// through RigSession: the host against the real device code, cycle by cycle, without a board.
/// </summary>
[Collection("firmware")]
[Trait("Category", "EndToEnd")]
public sealed class FirmwareTests(ITestOutputHelper output)
{
    private const int Period = 800;   // CPU cycles per sample at 20 kHz and 16 MHz
    private const int Mid = 2048;     // DAC B's zero-current reference

    [Fact]
    public async Task Handshake_names_the_board_and_a_unique_id_kept_in_EEPROM()
    {
        string eeprom = Path.Combine(Directory.CreateTempSubdirectory("bench-fw-").FullName, "rig.eep");
        ulong first = await UniqueIdAsync(new FirmwareEmulatorOptions { Seed = 3, EepromPath = eeprom }, expectBoard: true);
        // Another power-up RAM pattern, the same EEPROM: the id written at first boot stays.
        ulong again = await UniqueIdAsync(new FirmwareEmulatorOptions { Seed = 4, EepromPath = eeprom }, expectBoard: false);
        ulong other = await UniqueIdAsync(new FirmwareEmulatorOptions { Seed = 4 }, expectBoard: false);
        Assert.NotEqual(0UL, first);
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
    }

    private static async Task<ulong> UniqueIdAsync(FirmwareEmulatorOptions options, bool expectBoard)
    {
        await using var rig = await FirmwareEmulator.StartAsync(options);
        await using var session = await RigSession.ConnectAsync(SerialTransport.Open(rig.Port));
        if (expectBoard)
        {
            Assert.Equal("UNO-R3", session.Device.Board);
            Assert.Equal((byte)10, session.Device.AdcBits);
            Assert.Equal(16_000_000u, session.Device.ClockHz);
            Assert.True(session.Device.MaxSampleRateHz >= 20_000, $"max rate {session.Device.MaxSampleRateHz}");
        }

        return session.Device.UniqueId;
    }

    [Fact]
    public async Task Ten_seconds_at_20_kHz_lose_nothing_and_every_pulse_edge_lands_exactly_on_the_sample_grid()
    {
        string pinLog = Path.Combine(Directory.CreateTempSubdirectory("bench-fw-").FullName, "pins.csv");
        var rig = await FirmwareEmulator.StartAsync(new FirmwareEmulatorOptions { Seed = 5, PinLogPath = pinLog });
        List<SampleBatch> batches;
        List<PulsePlayedEvent> pulses;
        StimulusCommand paired, biphasic;
        await using (rig)
        {
            await using var session = await RigSession.ConnectAsync(SerialTransport.Open(rig.Port));
            await session.ConfigureAsync(20_000);
            await session.StartAsync();
            // Paired pulse: 1 ms at 300 nA twice, 20 ms apart (the second in the first's relative refractory period).
            var pairedProtocol = StimulusProtocol.Parse("""{"unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":300,"interval_ms":20,"count":2}]}""");
            paired = await session.PlayAsync(pairedProtocol, atDeviceSampleIndex: 40_000);
            // One stimulus per output at a time (the firmware answers Busy otherwise): the next once this one is over.
            batches = await Collect(session, 60_000, TimeSpan.FromSeconds(60));
            // Biphasic train, then a second train: charge-balanced pulses with an interphase gap.
            var biphasicProtocol = StimulusProtocol.Parse("""
                {"unit":"nA","trains":[
                  {"phase1_ms":0.5,"phase1_amplitude":400,"interphase_ms":0.1,"phase2_ms":0.5,"phase2_amplitude":-400,"interval_ms":25,"count":3},
                  {"start_ms":100,"phase1_ms":0.25,"phase1_amplitude":-200,"phase2_ms":0.25,"phase2_amplitude":200,"interval_ms":10,"count":2}]}
                """);
            biphasic = await session.PlayAsync(biphasicProtocol, atDeviceSampleIndex: 120_000);
            batches.AddRange(await Collect(session, 200_000 - 60_000, TimeSpan.FromSeconds(60)));
            await session.StopAsync();
            // The pulses were reported before the samples after them; ending the session closes the account.
            var (more, events) = await EndAsync(session);
            batches.AddRange(more);
            pulses = [.. events.OfType<PulsePlayedEvent>()];
            Assert.Equal(0UL, session.Health.LostSamples);
            Assert.Equal(0, session.Health.CrcErrors);
        }

        // Every sample, in order, none lost.
        ulong expected = 0;
        foreach (var b in batches)
        {
            Assert.Equal(expected, b.FirstSampleIndex);
            expected += (ulong)b.Codes.Length;
        }

        Assert.True(expected >= 200_000);

        // StimulusEvents at the requested indices: 40,000 and +400; 120,000, +500, +1000, then the second train at +2000 (100 ms) and +200.
        var pairedOnsets = pulses.Where(p => p.Pulse.StimId == paired.StimId).Select(p => p.Pulse.OnsetIndex).ToList();
        var biphasicOnsets = pulses.Where(p => p.Pulse.StimId == biphasic.StimId).Select(p => p.Pulse.OnsetIndex).ToList();
        Assert.Equal([40_000UL, 40_400UL], pairedOnsets);
        Assert.Equal([120_000UL, 120_500UL, 121_000UL, 122_000UL, 122_200UL], biphasicOnsets);

        // The pin log: each edge of each pulse at cycle c0 + index × 800, with one c0 for all of them.
        var edges = ReadPinLog(pinLog).Where(e => e.Signal is "enable" or "dac_a" && e.Cycle > 0).ToList();
        var wanted = new List<(ulong Index, string Signal, int Value)>();
        foreach (var p in pulses)
        {
            var command = p.Pulse.StimId == paired.StimId ? paired : biphasic;
            wanted.AddRange(ExpectedEdges(p.Pulse.OnsetIndex, command.Trains[p.Pulse.Train]));
        }

        var firstOn = edges.First(e => e.Signal == "enable" && e.Value == 1);
        long c0 = firstOn.Cycle - (40_000L * Period);
        var offsets = new List<long>();
        foreach (var (index, signal, value) in wanted)
        {
            long at = c0 + ((long)index * Period);
            var hit = edges.Where(e => e.Signal == signal && e.Value == value && Math.Abs(e.Cycle - at) < Period / 2).ToList();
            Assert.True(hit.Count == 1, $"{signal}={value} at sample {index} (cycle {at}): found {hit.Count}");
            offsets.Add(hit[0].Cycle - at);
        }

        output.WriteLine($"{offsets.Count} edges; offset from the grid: min {offsets.Min()}, max {offsets.Max()} cycles");
        Assert.All(offsets, o => Assert.Equal(0, o));
        // Nothing else moved: as many output changes as the pulses ask for (plus DAC A's power-up to mid-scale).
        Assert.Equal(wanted.Count, edges.Count(e => e.Cycle > firstOn.Cycle - Period));
        Assert.Equal(20 * Period, edges.First(e => e.Signal == "enable" && e.Value == 0 && e.Cycle > firstOn.Cycle).Cycle - firstOn.Cycle);

        // The model's action potential in the recorded samples: the potential (10-bit, reference front end) leaves rest
        // in the first sample after the onset and overshoots 0 mV.
        var v = new double[expected];
        var calibration = new FrontEnd(FrontEnd.ReferenceRig.GainVoltsPerVolt, FrontEnd.ReferenceRig.OffsetMv, 10, 5000).Calibration;
        foreach (var b in batches)
        {
            for (int i = 0; i < b.Codes.Length; i++) v[b.FirstSampleIndex + (ulong)i] = calibration.ToMillivolts(b.Codes[i]);
        }

        double rest = v[39_800..40_000].Average();
        Assert.InRange(rest, -72, -68);
        // 300 nA over the 10⁶ µm² preparation is 30 µA/cm²: 1.5 mV per 50 µs period at first (noise 0.2 mV, steps 0.16 mV).
        Assert.True(Math.Abs(v[40_000] - rest) < 1.0, $"sample 40000 (the onset) {v[40_000]} mV is still at rest {rest}");
        Assert.True(v[40_001] - rest > 0.7, $"sample 40001 {v[40_001]} mV: the pulse has begun to depolarise");
        Assert.True(v[40_002] - rest > 2.2, $"sample 40002 {v[40_002]} mV: two periods of the pulse");
        double peak = v[40_000..40_100].Max();
        output.WriteLine($"rest {rest:F1} mV, peak {peak:F1} mV after the first pulse");
        Assert.True(peak > 20, $"peak {peak} mV");
    }

    [Fact]
    public async Task An_out_of_limit_stimulus_sent_raw_is_refused_by_the_firmware_and_never_played()
    {
        string pinLog = Path.Combine(Directory.CreateTempSubdirectory("bench-fw-").FullName, "pins.csv");
        var rig = await FirmwareEmulator.StartAsync(new FirmwareEmulatorOptions { Seed = 6, PinLogPath = pinLog });
        await using (rig)
        {
            await using var session = await RigSession.ConnectAsync(SerialTransport.Open(rig.Port));
            await session.ConfigureAsync(20_000);
            await session.StartAsync();
            var limits = session.Device.Outputs[0];
            // One code past the rig's current limit, bypassing the host's checks.
            var tooStrong = new StimulusCommand(41, 0, 0, 0, [new StimulusTrain(0, (short)(limits.MaxAmplitudeCode + 1), 20, 0, 0, 0, 20, 1)]);
            var e = await Assert.ThrowsAsync<RigCommandRefusedException>(() => session.SendCommandForTestAsync(tooStrong));
            Assert.Equal((byte)NackCode.OutOfRange, e.Nack.Code);
            // A phase longer than the rig allows (max_phase_us at 20 kHz = 50 µs per sample).
            ushort tooLong = checked((ushort)((limits.MaxPhaseUs / 50) + 1));
            var tooLongCommand = new StimulusCommand(42, 0, 0, 0, [new StimulusTrain(0, 10, tooLong, 0, 0, 0, tooLong, 1)]);
            var e2 = await Assert.ThrowsAsync<RigCommandRefusedException>(() => session.SendCommandForTestAsync(tooLongCommand));
            Assert.Equal((byte)NackCode.OutOfRange, e2.Nack.Code);
            // A pulse is reported before the samples after it: 0.2 s of samples more would have brought its report.
            await CollectMore(session, 4000, TimeSpan.FromSeconds(60));
            var (_, events) = await EndAsync(session);
            Assert.DoesNotContain(events, x => x is PulsePlayedEvent);
        }

        // And the output pins, logged by the simulator to the cycle until it stopped, never enabled the stimulus.
        Assert.DoesNotContain(ReadPinLog(pinLog), e => e.Signal == "enable" && e.Value == 1);
    }

    [Fact]
    public async Task A_host_killed_mid_train_leaves_the_stimulus_off_within_the_heartbeat_timeout()
    {
        string folder = Directory.CreateTempSubdirectory("bench-fw-").FullName;
        string pinLog = Path.Combine(folder, "pins.csv");
        string protocol = Path.Combine(folder, "long-train.json");
        // 1,000 pulses, one every 10 ms: ten seconds of stimulation if nobody stopped it, time enough to see it playing
        // and kill the host mid-train however loaded the machine is.
        await File.WriteAllTextAsync(protocol, """{"unit":"nA","trains":[{"start_ms":100,"phase1_ms":0.5,"phase1_amplitude":100,"interval_ms":10,"count":1000}]}""");
        // Both sides as users run them: bench emulate --firmware and bench record, each its own process.
        await using var emulator = await EmulatorProcess.StartAsync("--firmware", "--pin-log", pinLog, "--seed", "8");
        string capture = Path.Combine(folder, "killed.bin");
        var record = Process.Start(new ProcessStartInfo("dotnet", [EmulatorProcess.BenchDll, "record", "--port", emulator.Port, "--stimulus", protocol, "--rate", "20000", "--duration", "20",
            "--out", Path.Combine(folder, "killed.nwb"), "--raw", capture])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        // Wait until the train is playing (the rig's pulse reports in what bench record captured), then kill the host
        // outright.
        await Eventually.True(
            () => record.HasExited ? throw new Xunit.Sdk.XunitException("bench record ended: " + record.StandardError.ReadToEnd()) : PulseReports(capture + ".partial") >= 3,
            "bench record captured the first pulses", TimeSpan.FromSeconds(60));
        record.Kill();
        await record.WaitForExitAsync();
        // The rig says when its watchdog has stopped the stimulus: an unsolicited Status, which waits on the port.
        await WatchdogTripAsync(emulator.Port);
        await emulator.StopAsync();

        var rows = ReadPinLog(pinLog);
        var enable = rows.Where(r => r.Signal == "enable").ToList();
        int ons = enable.Count(r => r.Value == 1);
        Assert.InRange(ons, 3, 999);   // killed mid-train: some pulses played, not all
        var lastOff = enable.Last();
        Assert.Equal(0, lastOff.Value);
        // The watchdog counts from the last frame the firmware received (its receive interrupt took the delimiter).
        long lastFrame = rows.Where(r => r.Signal == "rx_frame" && r.Cycle < lastOff.Cycle).Max(r => r.Cycle);
        // The train kept playing until the trip: the off edge must be the watchdog's, not the end of an ordinary pulse.
        var tripped = rows.Where(r => r.Signal == "enable" && r.Cycle > lastFrame).ToList();
        double offAfterMs = (tripped.Last().Cycle - lastFrame) / 16_000.0;
        output.WriteLine($"{ons} pulses played; stimulus off {offAfterMs:F3} ms after the last frame from the host");
        Assert.InRange(offAfterMs, 400, 500.05);
        Assert.Equal(Mid, rows.Last(r => r.Signal == "dac_a").Value);
        Assert.DoesNotContain(rows, r => r.Signal == "enable" && r.Value == 1 && r.Cycle > lastOff.Cycle);
    }

    [Fact]
    public async Task A_missing_firmware_file_is_a_clear_error()
    {
        var e = await Assert.ThrowsAsync<FirmwareEmulatorException>(() => FirmwareEmulator.StartAsync(new FirmwareEmulatorOptions { FirmwareElf = "/nonexistent/rig.elf" }));
        Assert.Contains("does not exist", e.Message);
    }

    /// <summary>The StimulusEvent frames in a capture of what a rig sent (as much as has reached the file).</summary>
    private static int PulseReports(string capture)
    {
        if (!File.Exists(capture)) return 0;
        byte[] bytes;
        using (var file = new FileStream(capture, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            bytes = new byte[file.Length];
            file.ReadExactly(bytes);
        }

        var decoder = new FrameDecoder();
        ReadOnlySpan<byte> span = bytes;
        int pulses = 0;
        while (decoder.TryDecode(ref span, out var frame))
        {
            if (frame.Kind == MessageKind.StimulusEvent) pulses++;
        }

        return pulses;
    }

    /// <summary>Reads the rig's port, as a host that came back would, until a Status says the watchdog tripped.</summary>
    private static async Task WatchdogTripAsync(string port)
    {
        await using var transport = SerialTransport.Open(port);
        var decoder = new FrameDecoder();
        using var deadline = new CancellationTokenSource(Eventually.DefaultTimeout);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await transport.Input.ReadAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new Xunit.Sdk.XunitException($"the rig on {port} did not report a watchdog trip");
            }

            bool tripped = false;
            foreach (var segment in result.Buffer)
            {
                var span = segment.Span;
                while (!tripped && decoder.TryDecode(ref span, out var frame))
                {
                    tripped = frame.Kind == MessageKind.Status && Status.TryParse(frame.Payload, out var status) == ParseError.None
                        && (status.Flags & Status.WatchdogTripped) != 0;
                }
            }

            transport.Input.AdvanceTo(result.Buffer.End);
            if (tripped) return;
            Assert.False(result.IsCompleted, $"the port {port} closed before the rig reported a watchdog trip");
        }
    }

    private static IEnumerable<(ulong Index, string Signal, int Value)> ExpectedEdges(ulong onset, StimulusTrain t)
    {
        // PROTOCOL.md §5.6: the enable pin and DAC A change at the sample edges; the gap (or the pulse's end) drops enable.
        yield return (onset, "enable", 1);
        yield return (onset, "dac_a", Mid + t.Phase1Code);
        ulong k = onset + t.Phase1Samples;
        if (t.Phase2Samples > 0 && t.InterphaseSamples == 0)
        {
            yield return (k, "dac_a", Mid + t.Phase2Code);
        }
        else
        {
            yield return (k, "enable", 0);
            yield return (k, "dac_a", Mid);
            if (t.Phase2Samples > 0)
            {
                yield return (k + t.InterphaseSamples, "enable", 1);
                yield return (k + t.InterphaseSamples, "dac_a", Mid + t.Phase2Code);
            }
        }

        if (t.Phase2Samples > 0)
        {
            ulong end = k + t.InterphaseSamples + t.Phase2Samples;
            yield return (end, "enable", 0);
            yield return (end, "dac_a", Mid);
        }
    }

    private static List<(long Cycle, string Signal, int Value)> ReadPinLog(string path)
    {
        var rows = new List<(long, string, int)>();
        foreach (string line in File.ReadLines(path).Skip(1))
        {
            var f = line.Split(',');
            rows.Add((long.Parse(f[0], CultureInfo.InvariantCulture), f[2], int.Parse(f[3], CultureInfo.InvariantCulture)));
        }

        return rows;
    }
}
