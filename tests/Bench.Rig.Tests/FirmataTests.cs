using System.Globalization;
using Bench.Core.Stimulus;
using Bench.Rig.Emulation;
using Bench.Rig.Firmata;
using Bench.Rig.Session;
using Bench.Rig.Transports;
using Bench.Tests;
using Xunit.Abstractions;

namespace Bench.Rig.Tests;

/// <summary>A test that needs the third-party Firmata sources: skipped, with how to provide them, where they are absent.</summary>
public sealed class FirmataFactAttribute : FactAttribute
{
    /// <summary>Skips when <see cref="FirmataFirmware.MissingReason"/> says why.</summary>
    public FirmataFactAttribute()
    {
        Timeout = 300_000;   // a hung board ends the test, not the run
        if (FirmataFirmware.MissingReason() is { } why) Skip = "Firmata tests skipped: " + why;
    }
}

/// <summary>
/// Bench's Firmata rig against the real StandardFirmata and ConfigurableFirmata, built unmodified and run on a
/// simulated ATmega328P (bench-sim), through its pseudo-terminal and Iot.Device.Bindings' ArduinoBoard.
/// </summary>
[Collection("firmware")]
[Trait("Category", "EndToEnd")]
public sealed class FirmataTests(ITestOutputHelper output)
{
    private const double CyclesPerMs = 16_000;

    /// <summary>Conversion n's code: a sawtooth stepping 37 codes, so every value differs from its neighbours.</summary>
    private static int KnownCode(long n) => (int)((n * 37) % 1024);

    /// <summary>The pin voltage (mV) in the middle of that code's step.</summary>
    private static double KnownWaveform(long n) => (KnownCode(n) + 0.5) * 5000.0 / 1024;

    [FirmataFact]
    public async Task StandardFirmata_A0_every_value_arrives_in_order_with_its_time_within_the_stated_uncertainty()
    {
        var (standard, _) = FirmataFirmware.Build();
        await using var rig = await FirmwareEmulator.StartAsync(new FirmwareEmulatorOptions
        {
            FirmwareElf = standard, SeriesResistorMohm = FirmataWiring.SeriesResistorMohm, Waveform = KnownWaveform, LogConversions = true,
        });
        List<SampleBatch> batches;
        RigTiming timing;
        ClockFit? fit;
        await using (var session = await FirmataSession.ConnectAsync(new FirmataAddress(rig.Port, FirmataAddress.StandardFirmataBaud)))
        {
            Assert.Equal("StandardFirmata.ino", session.FirmwareName);
            Assert.Equal(new Version(2, 5), session.FirmataVersion);
            Assert.Equal(FirmataSession.BoardName, session.Device.Board);
            await session.ConfigureAsync(1000);
            await session.StartAsync();
            batches = await Collect(session, 4000);
            timing = session.Timing;
            fit = session.Clock;
        }

        var received = batches.SelectMany(b => b.Codes).ToArray();
        var fed = rig.Preparation.ConversionLog;
        // The first value reported is the first conversion fed (reporting on A0 starts both); none missing, none extra.
        int first = Enumerable.Range(0, fed.Count - 20).First(j => Enumerable.Range(0, 20).All(k => fed[j + k].Code == received[k]));
        for (int k = 0; k < received.Length; k++)
        {
            Assert.True(fed[first + k].Code == received[k], $"sample {k}: received {received[k]}, fed {fed[first + k].Code}");
        }

        // A0 reports from the connection on (ArduinoBoard opens the pin as an analog input, which starts the firmware's
        // reporting); the run's samples are those from Start on, so the first received is some conversion, and from it
        // on every one must arrive. Their indices run on without a gap, unless the simulated board itself stopped for
        // longer than the loss threshold: simavr's clock stops whenever this machine deschedules it (a real board's
        // never does), and Firmata's loss detection, from arrival times alone, then rightly takes the late arrivals
        // for samples not sent (seen with four busy processes beside the suite; the values above still all arrived).
        double behindMs = WorstFallBehindMs(fed, first, received.Length);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"the simulated board fell {behindMs:0.0} ms behind this machine's clock within 2 s at worst; fitted drift {fit?.DriftPpm:0} ppm"));
        bool contiguous = batches.Zip(batches.Skip(1)).All(p => p.Second.FirstSampleIndex == p.First.FirstSampleIndex + (ulong)p.First.Codes.Length);
        Assert.True(contiguous || behindMs > FirmataSession.LossThresholdMs, $"a gap was counted, though the simulated board fell only {behindMs:0.0} ms behind");
        // Each sample's time is index × 1 ms (as the recording writes it); its true instant is its conversion's cycle.
        var deviation = Enumerable.Range(0, received.Length).Select(k => ((fed[first + k].Cycle - fed[first].Cycle) / CyclesPerMs) - k).ToArray();
        double centre = (deviation.Max() + deviation.Min()) / 2;
        double worst = deviation.Max(d => Math.Abs(d - centre));
        var gaps = Enumerable.Range(1, received.Length - 1).Select(k => (K: k, Ms: (fed[first + k].Cycle - fed[first + k - 1].Cycle) / CyclesPerMs)).OrderByDescending(g => g.Ms).Take(3);
        output.WriteLine("longest intervals between conversions: " + string.Join(", ", gaps.Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Ms:0.000} ms before sample {g.K}"))));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{received.Length} samples in order; sample time vs index x 1 ms: spread {deviation.Min() - centre:0.000} .. {deviation.Max() - centre:0.000} ms (stated ±{timing.SampleTimeUncertaintyMs} ms)"));
        Assert.True(worst <= timing.SampleTimeUncertaintyMs, $"a sample lay {worst:0.000} ms from index × interval, beyond the stated ±{timing.SampleTimeUncertaintyMs} ms");
    }

    /// <summary>
    /// How far (ms) the simulated board's clock fell behind this machine's within any two seconds (the loss detection's
    /// window) once the session had run a second (its clock fit formed): the simulator descheduled, which Firmata's
    /// loss detection, from arrival times alone, cannot tell from samples not sent. (While the session starts, the
    /// simulated board runs some 15 % slow even on a quiet machine; the fit takes that up as a clock rate.)
    /// </summary>
    private static double WorstFallBehindMs(IReadOnlyList<LoggedConversion> log, int first, int count)
    {
        double Lag(int k) => ((log[k].HostSeconds - log[first].HostSeconds) * 1000) - ((log[k].Cycle - log[first].Cycle) / CyclesPerMs);
        int end = Math.Min(first + count, log.Count);
        double worst = 0;
        for (int k = first + 1000; k < end; k++)
        {
            for (int j = k - 1; j >= first + 1000 && log[k].HostSeconds - log[j].HostSeconds <= FirmataClock.WindowSeconds; j -= 10)
            {
                worst = Math.Max(worst, Lag(k) - Lag(j));
            }
        }

        return worst;
    }

    [FirmataFact]
    public async Task StandardFirmata_pulse_train_edges_in_the_pin_log_lie_within_the_stated_uncertainty_and_D9_is_low_after_the_host_stops()
    {
        var (standard, _) = FirmataFirmware.Build();
        string pinLog = Path.Combine(Directory.CreateTempSubdirectory("bench-firmata-").FullName, "pins.csv");
        var rig = await FirmwareEmulator.StartAsync(new FirmwareEmulatorOptions
        {
            FirmwareElf = standard, SeriesResistorMohm = FirmataWiring.SeriesResistorMohm, PinLogPath = pinLog, LogConversions = true, Waveform = KnownWaveform,
        });
        var pulses = new List<PulsePlayedEvent>();
        ulong firstSession;
        ushort[] head;
        await using (rig)
        {
            await using var session = await FirmataSession.ConnectAsync(new FirmataAddress(rig.Port, FirmataAddress.StandardFirmataBaud));
            await session.ConfigureAsync(1000);
            await session.StartAsync();
            firstSession = session.NextSampleIndex;
            // The run's first samples, to find where the run starts in the conversions (A0 reports from the connection on).
            head = (await Collect(session, 20)).SelectMany(b => b.Codes).Take(20).ToArray();
            // What a digital pin cannot do is refused with the reason, before anything is played.
            AssertRefused(session, """{"unit":"nA","trains":[{"phase1_ms":5,"phase1_amplitude":50}]}""", "shorter than the 20 ms");
            AssertRefused(session, """{"unit":"nA","trains":[{"phase1_ms":20,"phase1_amplitude":-50}]}""", "one way only");
            AssertRefused(session, """{"unit":"nA","trains":[{"phase1_ms":20,"phase1_amplitude":50,"phase2_ms":20,"phase2_amplitude":-50}]}""", "biphasic");
            AssertRefused(session, """{"unit":"nA","trains":[{"phase1_ms":20,"phase1_amplitude":30}]}""", "whole number");
            AssertRefused(session, """{"unit":"nA","trains":[{"phase1_ms":20,"phase1_amplitude":50,"interval_ms":25,"count":3}]}""", "between pulses");
            await Eventually.True(() => session.Clock is { IsFitted: true }, "the board's clock fitted");
            // Five 20 ms pulses at 100 ms, from 0.5 s ahead of the newest sample.
            var protocol = StimulusProtocol.Parse("""{"unit":"nA","trains":[{"phase1_ms":20,"phase1_amplitude":50,"interval_ms":100,"count":5}]}""");
            ulong start = session.NextSampleIndex - firstSession + 500;
            var command = await session.PlayAsync(protocol, atDeviceSampleIndex: start);
            Assert.Equal(start, command.StartIndex);
            await foreach (var e in session.Events.ReadAllAsync())
            {
                if (e is PulsePlayedEvent p) pulses.Add(p);
                if (pulses.Count == 5) break;
            }

            // A long pulse, then the host stops while it is on: D9 must be low afterwards.
            var longPulse = StimulusProtocol.Parse("""{"unit":"nA","trains":[{"phase1_ms":5000,"phase1_amplitude":50}]}""");
            await session.PlayAsync(longPulse);
            // The simulated board may run behind real time: wait for the long pulse's own rising edge (the 11th).
            await Eventually.True(() => D9Edges(pinLog) is { Count: 11 } e && e[^1].Value == 1, "D9 high for the long pulse");
            await session.DisposeAsync();   // the host stops mid-pulse
            await Eventually.True(() => D9Edges(pinLog) is { Count: 12 } e && e[^1].Value == 0, "D9 low after the host stopped");
        }

        // The harness has written its pin log (at exit): every change of D9 with its cycle.
        var edges = D9Edges(pinLog);
        Assert.Equal(0, edges[^1].Value);
        // 5 pulses and the long one, each on and off.
        Assert.True(edges.Count == 12, "D9 edges (cycle:level): " + string.Join(" ", edges.Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.Cycle}:{e.Value}"))));
        var conversions = rig.Preparation.ConversionLog;
        int first = Enumerable.Range(0, conversions.Count - 20).First(j => Enumerable.Range(0, 20).All(k => conversions[j + k].Code == head[k]));
        // A pulse is timed by the host; the simulated board keeps real time only as well as this machine lets it. How
        // far it fell behind is part of any edge's error here (a board's crystal does not fall behind).
        double lagMs = HarnessLagMs(rig);
        foreach (var (pulse, n) in pulses.Select((p, i) => (p, i)))
        {
            // Where the rising edge truly was, in sample periods of this run (conversion first + k is device sample k).
            double trueIndex = SampleIndexAt(conversions, edges[2 * n].Cycle) - first;
            double recordedMs = pulse.Pulse.OnsetIndex;
            double errorMs = recordedMs - trueIndex;
            double widthMs = (edges[(2 * n) + 1].Cycle - edges[2 * n].Cycle) / CyclesPerMs;
            double commandedMs = (pulse.CommandedHostSeconds!.Value - pulses[0].CommandedHostSeconds!.Value) * 1000;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"pulse {n}: commanded +{commandedMs:0.000} ms, recorded at sample {pulse.Pulse.OnsetIndex}, edge at {trueIndex:0.000} ({errorMs:+0.000;-0.000} ms), width {widthMs:0.000} ms, written {pulse.LateMs:0.000} ms late, stated ±{pulse.UncertaintyMs:0.00} ms; the simulated board fell at most {lagMs:0.000} ms behind real time"));
            double bound = pulse.UncertaintyMs!.Value + lagMs;
            Assert.True(Math.Abs(errorMs) <= bound, $"pulse {n}: the edge lay {errorMs:0.000} ms from where it was recorded, beyond ±{pulse.UncertaintyMs} ms (+{lagMs:0.000} ms the simulation lagged)");
            Assert.True(Math.Abs(widthMs - 20) <= (2 * pulse.UncertaintyMs.Value) + lagMs, $"pulse {n}: {widthMs:0.000} ms wide, not 20 ± {2 * pulse.UncertaintyMs} ms (+{lagMs:0.000} ms the simulation lagged)");
            Assert.Equal(100.0 * n, commandedMs, 3);
        }
    }

    [FirmataFact]
    public async Task ConfigurableFirmata_at_115200_baud_reports_its_name_and_streams_A0_in_order()
    {
        var (_, configurable) = FirmataFirmware.Build();
        await using var rig = await FirmwareEmulator.StartAsync(new FirmwareEmulatorOptions
        {
            FirmwareElf = configurable, SeriesResistorMohm = FirmataWiring.SeriesResistorMohm, Waveform = KnownWaveform, LogConversions = true,
        });
        List<SampleBatch> batches;
        await using (var session = await FirmataSession.ConnectAsync(new FirmataAddress(rig.Port, FirmataAddress.ConfigurableFirmataBaud)))
        {
            Assert.Equal("ConfigurableFirmata", session.FirmwareName);
            await session.ConfigureAsync(1000);
            await session.StartAsync();
            batches = await Collect(session, 2000);
        }

        var received = batches.SelectMany(b => b.Codes).ToArray();
        var fed = rig.Preparation.ConversionLog;
        int first = Enumerable.Range(0, fed.Count - 20).First(j => Enumerable.Range(0, 20).All(k => fed[j + k].Code == received[k]));
        Assert.All(Enumerable.Range(0, received.Length), k => Assert.Equal(fed[first + k].Code, received[k]));
        double msPerSample = (fed[first + received.Length - 1].Cycle - fed[first].Cycle) / CyclesPerMs / (received.Length - 1);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{received.Length} samples in order; ConfigurableFirmata's true period at a 1 ms interval: {msPerSample:0.0000} ms"));
    }

    [FirmataFact]
    public async Task A_board_that_goes_away_ends_the_session_with_the_reason_and_everything_that_arrived()
    {
        var (standard, _) = FirmataFirmware.Build();
        var rig = await FirmwareEmulator.StartAsync(new FirmwareEmulatorOptions { FirmwareElf = standard, SeriesResistorMohm = FirmataWiring.SeriesResistorMohm });
        await using var session = await FirmataSession.ConnectAsync(new FirmataAddress(rig.Port, FirmataAddress.StandardFirmataBaud));
        await session.ConfigureAsync(1000);
        await session.StartAsync();
        await Eventually.True(() => session.Health.Samples > 200, "samples arriving");
        await rig.DisposeAsync();   // the board is gone: its port hangs up
        var events = new List<RigEvent>();
        await foreach (var e in session.Events.ReadAllAsync()) events.Add(e);   // completes when the session ends
        var lost = Assert.Single(events.OfType<DisconnectedEvent>());
        Assert.Contains("went away", lost.Reason, StringComparison.Ordinal);
        Assert.Single(events.OfType<GaveUpEvent>());
        Assert.False(session.IsConnected);
        ulong samples = 0;
        await foreach (var batch in session.Samples.ReadAllAsync()) samples += (ulong)batch.Codes.Length;
        Assert.Equal(session.Health.Samples, samples);
        await Assert.ThrowsAsync<RigCommandRefusedException>(() => session.PlayAsync(StimulusProtocol.Parse("""{"unit":"nA","trains":[{"phase1_ms":20,"phase1_amplitude":50}]}""")));
    }

    [Fact]
    public void Firmata_addresses_are_checked_before_anything_is_opened()
    {
        Assert.Null(RigAddress.Check("firmata:/dev/ttyACM0"));
        Assert.Null(RigAddress.Check("firmata:/dev/ttyACM0?baud=115200"));
        Assert.True(FirmataAddress.TryParse("firmata:/dev/ttyUSB1?baud=115200", out var parsed, out _));
        Assert.Equal(new FirmataAddress("/dev/ttyUSB1", 115200), parsed);
        Assert.Contains("under /dev", RigAddress.Check("firmata:ttyACM0"), StringComparison.Ordinal);
        Assert.Contains("baud=N", RigAddress.Check("firmata:/dev/ttyACM0?speed=9600"), StringComparison.Ordinal);
        Assert.Contains("firmata:/dev/ttyACM0", RigAddress.Check("nonsense"), StringComparison.Ordinal);
    }

    /// <summary>Every change of D9 in the pin log (the harness writes each out at once), after power-up.</summary>
    private static List<(ulong Cycle, int Value)> D9Edges(string pinLog)
    {
        using var reader = new StreamReader(new FileStream(pinLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
        var edges = new List<(ulong Cycle, int Value)>();
        while (reader.ReadLine() is { } line)
        {
            var f = line.Split(',');
            // A line being written may be cut short: only whole lines count.
            if (f.Length == 4 && f[2] == "enable" && ulong.TryParse(f[0], CultureInfo.InvariantCulture, out ulong cycle) && cycle > 0
                && int.TryParse(f[3], CultureInfo.InvariantCulture, out int value))
            {
                edges.Add((cycle, value));
            }
        }

        return edges;
    }

    /// <summary>How far the harness fell behind real time at worst (its exit summary).</summary>
    /// <remarks>
    /// The summary gives the time it gave up catching up (when more than 20 ms behind) and the most it was behind at
    /// once; a host-timed edge compared with the board's sample clock can be off by their sum.
    /// </remarks>
    private static double HarnessLagMs(FirmwareEmulator rig)
    {
        var match = rig.HarnessMessages.Select(l => System.Text.RegularExpressions.Regex.Match(l, @"fell behind real time by ([0-9.]+) s;.* at most ([0-9.]+) ms behind real time")).LastOrDefault(m => m.Success);
        Assert.True(match is not null, "the harness printed its summary: " + string.Join(" / ", rig.HarnessMessages.TakeLast(2)));
        return (1000 * double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture)) + double.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
    }

    private static void AssertRefused(FirmataSession session, string json, string why)
    {
        var e = Assert.Throws<StimulusProtocolException>(() => session.PlayAsync(StimulusProtocol.Parse(json)).GetAwaiter().GetResult());
        Assert.Contains(why, e.Message, StringComparison.Ordinal);
    }

    /// <summary>The fractional device sample index at <paramref name="cycle"/>: between the conversions around it.</summary>
    private static double SampleIndexAt(IReadOnlyList<LoggedConversion> conversions, ulong cycle)
    {
        int k = 0;
        while (k < conversions.Count - 2 && conversions[k + 1].Cycle <= cycle) k++;
        return k + ((double)(cycle - conversions[k].Cycle) / (conversions[k + 1].Cycle - conversions[k].Cycle));
    }

    private static async Task<List<SampleBatch>> Collect(FirmataSession session, int samples)
    {
        var list = new List<SampleBatch>();
        int n = 0;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        while (n < samples)
        {
            var batch = await session.Samples.ReadAsync(deadline.Token);
            list.Add(batch);
            n += batch.Codes.Length;
        }

        return list;
    }
}
