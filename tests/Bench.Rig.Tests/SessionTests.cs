using System.Buffers;
using Bench.Core.Protocol;
using Bench.Core.Rig;
using Bench.Core.Stimulus;
using Bench.Rig.Emulation;
using Bench.Rig.Session;
using Bench.Rig.Transports;
using static Bench.Rig.Tests.RigTestHelpers;

namespace Bench.Rig.Tests;

/// <summary>RigSession against the emulated rig over an in-memory link (fast; the pty tests run the real thing).</summary>
public sealed class SessionTests : IAsyncLifetime
{
    private readonly CancellationTokenSource stop = new();
    private readonly System.Collections.Concurrent.ConcurrentBag<Task> devices = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await stop.CancelAsync();
        await Task.WhenAll(devices).WaitAsync(TimeSpan.FromSeconds(5));
        stop.Dispose();
    }

    private (InMemoryTransport Host, EmulatedRig Rig) StartRig(EmulatorOptions? options = null)
    {
        var rig = new EmulatedRig(options ?? new EmulatorOptions { Speed = 10, Baud = 0 });
        var (host, device) = InMemoryTransport.CreatePair();
        devices.Add(Task.Run(() => rig.RunAsync(device, stop.Token)));
        return (host, rig);
    }

    [Fact]
    public async Task Handshake_reports_the_rig_and_configure_sets_the_exact_period()
    {
        var (host, rig) = StartRig();
        await using var session = await RigSession.ConnectAsync(host);
        Assert.Equal("EMU", session.Device.Board);
        Assert.Equal(rig.Info.UniqueId, session.Device.UniqueId);
        await session.ConfigureAsync(20_000);
        Assert.Equal(800u, session.PeriodTicks);
        Assert.Equal(20_000, session.SampleRateHz);
    }

    [Fact]
    public async Task Streams_contiguous_samples_with_no_gap()
    {
        var (host, _) = StartRig();
        await using var session = await RigSession.ConnectAsync(host);
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        var batches = await Collect(session, 40_000, TimeSpan.FromSeconds(20));
        ulong expected = 0;
        foreach (var b in batches)
        {
            Assert.Equal(expected, b.FirstSampleIndex);
            expected += (ulong)b.Codes.Length;
        }

        Assert.Equal(0UL, session.Health.LostSamples);
        Assert.DoesNotContain(Drain(session), e => e is GapEvent);
        // At rest the hh preparation sits at −70 mV: through the front end's calibration.
        var calibration = FrontEnd.Emulated.Calibration;
        double mean = batches.SelectMany(b => b.Codes).Skip(2000).Average(c => calibration.ToMillivolts(c));
        Assert.InRange(mean, -71, -69);
    }

    [Fact]
    public async Task A_stimulus_plays_at_the_requested_sample_and_evokes_an_action_potential()
    {
        var (host, _) = StartRig();
        await using var session = await RigSession.ConnectAsync(host);
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        // 300 nA = 30 µA/cm² on the 10⁶ µm² preparation, 1 ms, twice 25 ms apart, from device sample 4000 (200 ms).
        var protocol = StimulusProtocol.Parse("""{"unit":"nA","trains":[{"start_ms":0,"phase1_ms":1,"phase1_amplitude":300,"interval_ms":25,"count":2}]}""");
        var command = await session.PlayAsync(protocol, atDeviceSampleIndex: 4000);
        Assert.Equal(20, command.Trains[0].Phase1Samples);
        var batches = await Collect(session, 8000, TimeSpan.FromSeconds(20));
        await Task.Delay(200);
        var pulses = Drain(session).OfType<PulsePlayedEvent>().ToList();
        Assert.Equal([4000UL, 4500UL], pulses.Select(p => p.SessionOnsetIndex));
        Assert.True((pulses[^1].Pulse.Flags & StimulusEvent.Last) != 0);
        var calibration = FrontEnd.Emulated.Calibration;
        var v = batches.SelectMany(b => b.Codes).Select(c => calibration.ToMillivolts(c)).ToArray();
        Assert.True(v[4000..4200].Max() > 20, "an action potential after the first pulse");
        Assert.True(v[3800..4000].Max() < -60, "rest before it");
    }

    [Fact]
    public async Task A_bad_protocol_is_refused_on_the_host_and_nothing_is_sent()
    {
        var (host, _) = StartRig();
        await using var session = await RigSession.ConnectAsync(host);
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        var tooStrong = StimulusProtocol.Parse("""{"unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":5000}]}""");
        var e = await Assert.ThrowsAsync<StimulusProtocolException>(() => session.PlayAsync(tooStrong));
        Assert.Contains("exceeds the rig's limit of 2047 nA", e.Message);
        var density = StimulusProtocol.Parse("""{"unit":"uA/cm2","trains":[{"phase1_ms":1,"phase1_amplitude":5}]}""");
        Assert.Contains("give the protocol in \"nA\"", (await Assert.ThrowsAsync<StimulusProtocolException>(() => session.PlayAsync(density))).Message);
        var offGrid = StimulusProtocol.Parse("""{"unit":"nA","trains":[{"phase1_ms":0.03,"phase1_amplitude":5}]}""");
        Assert.Contains("not a whole number of sample periods", (await Assert.ThrowsAsync<StimulusProtocolException>(() => session.PlayAsync(offGrid))).Message);
        await Task.Delay(100);
        Assert.DoesNotContain(Drain(session), x => x is PulsePlayedEvent);
        Assert.Equal(0, (session.LastStatus?.StimActiveMask ?? 0));
    }

    [Fact]
    public async Task The_rig_refuses_an_out_of_limit_stimulus_sent_raw()
    {
        var (host, rig) = StartRig();
        await using var session = await RigSession.ConnectAsync(host);
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        // 3000 codes: past the rig's ±2047, bypassing the host's check.
        var raw = new StimulusCommand(9, 0, 0, 0, [new StimulusTrain(0, 3000, 10, 0, 0, 0, 10, 1)]);
        var e = await Assert.ThrowsAsync<RigCommandRefusedException>(() => session.SendCommandForTestAsync(raw));
        Assert.Equal((byte)NackCode.OutOfRange, e.Nack.Code);
        Assert.Equal(13 + 4, e.Nack.Detail);
        Assert.Contains("beyond the rig's limits", e.Message);
        await Task.Delay(100);
        Assert.DoesNotContain(Drain(session), x => x is PulsePlayedEvent);
    }

    [Fact]
    public async Task Dropped_frames_appear_as_gaps_of_exactly_their_length()
    {
        // A large buffer: only the drop fault may lose samples here (an overrun under CI load would add gaps of its own).
        var (host, rig) = StartRig(new EmulatorOptions { Speed = 10, Baud = 0, BufferCapacitySamples = 1 << 20, Faults = new FaultOptions(DropProbability: 0.05), Seed = 3 });
        await using var session = await RigSession.ConnectAsync(host);
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        var batches = await Collect(session, 40_000, TimeSpan.FromSeconds(20));
        await session.StopAsync();
        await Task.Delay(200);
        while (session.Samples.TryRead(out var more)) batches.Add(more);
        var gaps = Drain(session).OfType<GapEvent>().ToList();
        Assert.NotEmpty(gaps);
        // Between consecutive batches, the indices jump by exactly the gap reported there (whole 1 ms blocks of 20
        // samples at 20 kHz), and nowhere else.
        AssertGapsMatchJumps(batches, gaps, 20);
        // And the gaps are exactly the blocks the rig's drop fault threw away (runs of adjacent lost blocks merge).
        var dropped = new List<(ulong Start, ulong Length)>();
        foreach (var (first, n) in rig.DroppedBlocks.Where(d => d.FirstIndex < batches[^1].FirstSampleIndex).OrderBy(d => d.FirstIndex))
        {
            if (dropped.Count > 0 && dropped[^1].Start + dropped[^1].Length == first) dropped[^1] = (dropped[^1].Start, dropped[^1].Length + (ulong)n);
            else dropped.Add((first, (ulong)n));
        }

        Assert.Equal(dropped, gaps.Where(g => g.StartIndex < batches[^1].FirstSampleIndex).Select(g => (g.StartIndex, g.Length)));
        Assert.Equal((ulong)gaps.Sum(g => (long)g.Length), session.Health.LostSamples);
        Assert.True(session.Health.FramesLost > 0);
    }

    [Fact]
    public async Task Corrupted_bytes_are_counted_as_crc_errors_and_their_samples_as_gaps()
    {
        var (host, _) = StartRig(new EmulatorOptions { Speed = 10, Baud = 0, Faults = new FaultOptions(CorruptProbability: 0.0005), Seed = 4 });
        await using var session = await RigSession.ConnectAsync(host);
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        await Collect(session, 40_000, TimeSpan.FromSeconds(20));
        Assert.True(session.Health.CrcErrors + session.Health.FramingErrors > 0, "damaged frames are counted");
        Assert.True(session.Health.LostSamples > 0, "and the samples they carried are reported lost, not invented");
    }

    [Fact]
    public async Task A_stall_overruns_the_rig_and_the_lost_stretch_is_one_gap()
    {
        var (host, _) = StartRig(new EmulatorOptions { Speed = 1, Baud = 0, BufferCapacitySamples = 2000, Faults = new FaultOptions(StallAtSeconds: 0.3, StallSeconds: 0.5) });
        await using var session = await RigSession.ConnectAsync(host);
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        await Collect(session, 20_000, TimeSpan.FromSeconds(20));
        var gap = Assert.Single(Drain(session).OfType<GapEvent>());
        // 0.5 s of samples (10,000) less the 2,000 the rig could hold.
        Assert.InRange((double)gap.Length, 7_000, 9_000);
        Assert.True(session.Health.DeviceOverruns >= 1);
    }

    [Fact]
    public async Task The_clock_mapping_measures_the_rigs_drift()
    {
        var (host, _) = StartRig(new EmulatorOptions { Speed = 1, Baud = 0, Faults = new FaultOptions(DriftPpm: 20_000) });
        await using var session = await RigSession.ConnectAsync(host);
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        await Collect(session, 75_000, TimeSpan.FromSeconds(20));
        Assert.True(session.Clock!.IsFitted);
        Assert.InRange(session.Clock.DriftPpm, 15_000, 25_000);
    }

    [Fact]
    public async Task A_slow_link_overruns_the_rig_which_reports_it()
    {
        // 100 kbaud carries 10 kB/s; 20 kHz of samples needs about 60 kB/s.
        var (host, _) = StartRig(new EmulatorOptions { Speed = 1, Baud = 100_000, BufferCapacitySamples = 512 });
        await using var session = await RigSession.ConnectAsync(host);
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        await Task.Delay(1500);
        Assert.True(session.Health.LostSamples > 0);
        Assert.True(session.Health.DeviceOverruns > 0, "the rig's Status counts its overruns");
        Assert.True(session.Health.DeviceDroppedSamples > 0);
    }

    [Fact]
    public async Task The_watchdog_stops_stimulation_when_heartbeats_stop()
    {
        var (host, _) = StartRig(new EmulatorOptions { Speed = 1, Baud = 0 });
        var session = await RigSession.ConnectAsync(host, new RigSessionOptions { HeartbeatInterval = TimeSpan.FromMilliseconds(100) });
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        await Collect(session, 4000, TimeSpan.FromSeconds(20));   // running steadily before the test proper
        var longTrain = StimulusProtocol.Parse("""{"unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":100,"interval_ms":10,"count":1000}]}""");
        await session.PlayAsync(longTrain);
        await Task.Delay(300);
        Assert.Equal((byte)1, session.LastStatus?.StimActiveMask);
        session.PauseHeartbeatsForTest();
        double pausedAt = session.HostSeconds;
        StatusEvent? tripped = null;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        while (tripped is null)
        {
            var e = await session.Events.ReadAsync(cts.Token);
            if (e is StatusEvent s && (s.Status.Flags & Status.WatchdogTripped) != 0) tripped = s;
        }

        // The last heartbeat left at most 100 ms before the pause (later on a loaded machine); the rig stops 500 ms
        // after it. The window is wide for CI; the firmware's tests measure this to the cycle.
        double ms = (tripped.HostSeconds - pausedAt) * 1000;
        Assert.InRange(ms, 150, 1500);
        Assert.Equal(0, tripped.Status.StimActiveMask);
        await session.DisposeAsync();
    }

    [Fact]
    public async Task A_disconnect_is_reported_and_the_same_rig_is_resumed_with_the_gap_accounted()
    {
        var rig = new EmulatedRig(new EmulatorOptions { Speed = 1, Baud = 0, Faults = new FaultOptions(DisconnectAtSeconds: 1.0) });
        var (host, device) = InMemoryTransport.CreatePair();
        var first = Task.Run(async () =>
        {
            await rig.RunAsync(device, stop.Token);
            ((InMemoryTransport)device).Disconnect();
        });
        devices.Add(first);
        // After the drop the rig "reappears" with no disconnect fault: a second emulator with the same identity.
        var again = new EmulatedRig(new EmulatorOptions { Speed = 1, Baud = 0, UniqueId = rig.Info.UniqueId });
        var session = await RigSession.ConnectAsync(host, new RigSessionOptions
        {
            Reconnect = _ =>
            {
                var (h, d) = InMemoryTransport.CreatePair("memory-2");
                devices.Add(Task.Run(() => again.RunAsync(d, stop.Token), CancellationToken.None));
                return Task.FromResult<IRigTransport?>(h);
            },
        });
        await using (session)
        {
            await session.ConfigureAsync(20_000);
            await session.StartAsync();
            var batches = await Collect(session, 60_000, TimeSpan.FromSeconds(20));
            var events = Drain(session);
            Assert.Contains(events, e => e is DisconnectedEvent);
            Assert.Contains(events, e => e is ReconnectedEvent r && r.Port == "memory-2");
            var gap = Assert.Single(events.OfType<GapEvent>());
            Assert.Equal("disconnected", gap.Cause);
            // Indices stay monotonic and the jump over the outage is exactly the reported gap.
            for (int i = 1; i < batches.Count; i++)
            {
                ulong end = batches[i - 1].FirstSampleIndex + (ulong)batches[i - 1].Codes.Length;
                Assert.True(batches[i].FirstSampleIndex == end || (end == gap.StartIndex && batches[i].FirstSampleIndex == end + gap.Length));
            }
        }
    }
}
