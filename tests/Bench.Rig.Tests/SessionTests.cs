using System.Buffers;
using Bench.Core.Protocol;
using Bench.Core.Instrument;
using Bench.Core.Stimulus;
using Bench.Rig.Emulation;
using Bench.Rig.Session;
using Bench.Rig.Transports;
using Bench.Tests;
using Microsoft.Extensions.Time.Testing;
using static Bench.Rig.Tests.RigTestHelpers;

namespace Bench.Rig.Tests;

/// <summary>
/// RigSession against the emulated rig over an in-memory link (fast; the pty tests run the real thing). Tests of when
/// things happen (the watchdog, command time-outs, a stall, clock drift) run the rig and the session on one fake
/// clock stepped by the test (<see cref="SteppedClock"/>), so they say exactly when and hold on a loaded machine; the
/// others run in real time with margins that do, and check what was sent with a <see cref="TransportSpy"/> rather
/// than by waiting to see nothing happen.
/// </summary>
public sealed class SessionTests : IAsyncLifetime
{
    private readonly CancellationTokenSource stop = new();
    private readonly System.Collections.Concurrent.ConcurrentBag<Task> devices = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await stop.CancelAsync();
        await Task.WhenAll(devices).WaitAsync(Eventually.DefaultTimeout);
        stop.Dispose();
    }

    /// <summary>
    /// Ten times real time, and room for 2²⁰ samples (5 s of it): the rig's own thread, descheduled on a loaded machine,
    /// catches up in one go, and 4,096 samples (20 ms at this speed) would overrun and fail a test that expects no loss.
    /// </summary>
    private static readonly EmulatorOptions Fast = new() { Speed = 10, Baud = 0, BufferCapacitySamples = 1 << 20 };

    private (InMemoryTransport Host, EmulatedRig Rig) StartRig(EmulatorOptions? options = null, TimeProvider? time = null)
    {
        var rig = new EmulatedRig(options ?? Fast, time);
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
        // On a stepped clock: the command is sent while the rig's time stands at 0, so sample 4000 is still ahead however
        // slow the machine (in real time a descheduled test could ask for it after the rig had passed it, and be refused).
        var clock = new FakeTimeProvider();
        var (host, rig) = StartRig(new EmulatorOptions { Speed = 1, Baud = 0 }, clock);
        await using var session = await RigSession.ConnectAsync(host, new RigSessionOptions { TimeProvider = clock });
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        // 300 nA = 30 µA/cm² on the 10⁶ µm² preparation, 1 ms, twice 25 ms apart, from device sample 4000 (200 ms).
        var protocol = StimulusProtocol.Parse("""{"unit":"nA","trains":[{"start_ms":0,"phase1_ms":1,"phase1_amplitude":300,"interval_ms":25,"count":2}]}""");
        var command = await session.PlayAsync(protocol, atDeviceSampleIndex: 4000);
        Assert.Equal(20, command.Trains[0].Phase1Samples);
        var steps = new SteppedClock(clock, rig);
        while (steps.Elapsed < TimeSpan.FromSeconds(0.4)) await steps.StepAsync(session, 20_000);
        // Both pulses were reported before the samples after them; ending the session makes that the whole account.
        var (batches, events) = await EndAsync(session);
        Assert.True(batches.Sum(b => b.Codes.Length) >= 8000);
        Assert.Equal(0UL, batches[0].FirstSampleIndex);
        var pulses = events.OfType<PulsePlayedEvent>().ToList();
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
        var spy = new TransportSpy(host);
        await using var session = await RigSession.ConnectAsync(spy);
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        var tooStrong = StimulusProtocol.Parse("""{"unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":5000}]}""");
        var e = await Assert.ThrowsAsync<StimulusProtocolException>(() => session.PlayAsync(tooStrong));
        Assert.Contains("exceeds the rig's limit of 2047 nA", e.Message);
        var density = StimulusProtocol.Parse("""{"unit":"uA/cm2","trains":[{"phase1_ms":1,"phase1_amplitude":5}]}""");
        Assert.Contains("give the protocol in \"nA\"", (await Assert.ThrowsAsync<StimulusProtocolException>(() => session.PlayAsync(density))).Message);
        var offGrid = StimulusProtocol.Parse("""{"unit":"nA","trains":[{"phase1_ms":0.03,"phase1_amplitude":5}]}""");
        Assert.Contains("not a whole number of sample periods", (await Assert.ThrowsAsync<StimulusProtocolException>(() => session.PlayAsync(offGrid))).Message);
        // Refused before anything left the host: no Stimulus frame ever went to the rig.
        Assert.Empty(spy.SentOf(MessageKind.Stimulus));
        Assert.Contains(spy.Sent, f => f.Kind == MessageKind.Start);
    }

    [Fact]
    public async Task The_rig_refuses_an_out_of_limit_stimulus_sent_raw()
    {
        var (host, _) = StartRig();
        var spy = new TransportSpy(host);
        await using var session = await RigSession.ConnectAsync(spy);
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        // 3000 codes: past the rig's ±2047, bypassing the host's check.
        var raw = new StimulusCommand(9, 0, 0, 0, [new StimulusTrain(0, 3000, 10, 0, 0, 0, 10, 1)]);
        var e = await Assert.ThrowsAsync<RigCommandRefusedException>(() => session.SendCommandForTestAsync(raw));
        Assert.Equal((byte)NackCode.OutOfRange, e.Nack.Code);
        Assert.Equal(13 + 4, e.Nack.Detail);
        Assert.Contains("beyond the rig's limits", e.Message);
        // Sent once (a refusal is an answer: nothing to resend), and never played: a pulse is reported before the
        // samples after it, so 100 ms of samples more (2,000) would have brought its report.
        var sent = Assert.Single(spy.SentOf(MessageKind.Stimulus));
        Assert.Equal(ParseError.None, StimulusCommand.TryParse(sent.Payload, out var parsed));
        Assert.Equal(raw.StimId, parsed!.StimId);
        await CollectMore(session, 2000, TimeSpan.FromSeconds(30));
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
        // The last samples and the gaps reported before them: ending the session closes the account.
        var (more, events) = await EndAsync(session);
        batches.AddRange(more);
        var gaps = events.OfType<GapEvent>().ToList();
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
        // From 0.3 s the rig sends nothing for 0.5 s while it goes on acquiring into its 2,000 samples. On a stepped
        // clock only the stall can overrun the rig (the host always keeps up), so the gap is one, and exact.
        var clock = new FakeTimeProvider();
        var (host, rig) = StartRig(new EmulatorOptions { Speed = 1, Baud = 0, BufferCapacitySamples = 2000, Faults = new FaultOptions(StallAtSeconds: 0.3, StallSeconds: 0.5) }, clock);
        await using var session = await RigSession.ConnectAsync(host, new RigSessionOptions { TimeProvider = clock });
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        var steps = new SteppedClock(clock, rig);
        while (steps.Elapsed < TimeSpan.FromSeconds(1))
        {
            // While the rig is stalled nothing reaches the host: then only the rig is waited for (to 0.8 s, the tick
            // in which it begins to send again).
            double next = (steps.Elapsed + SteppedClock.Step).TotalSeconds;
            if (next > 0.2999 && next < 0.8001) await steps.StepAsync();
            else await steps.StepAsync(session, 20_000);
        }

        var gap = Assert.Single(Drain(session).OfType<GapEvent>());
        // The stall's first tick (0.300 s) acquired samples 5,900–5,999 (blocks had gone out to 0.295 s); the rig kept
        // 2,000 samples from there and lost the rest of the 0.5 s (10,000 samples), and one more: in the tick that
        // ended the stall (0.8 s) it acquired sample 15,900 before it sent what it held.
        Assert.Equal(5_900UL + 2_000, gap.StartIndex);
        Assert.Equal(10_000UL - 2_000 + 1, gap.Length);
        Assert.Equal(gap.Length, session.Health.LostSamples);
        Assert.True(session.Health.DeviceOverruns >= 1);
    }

    [Fact]
    public async Task The_clock_mapping_measures_the_rigs_drift()
    {
        // The rig's clock runs 2 % fast: 20,400 samples in a second of the host's, stamped on arrival by a clock that
        // a loaded machine cannot jitter.
        var clock = new FakeTimeProvider();
        var (host, rig) = StartRig(new EmulatorOptions { Speed = 1, Baud = 0, Faults = new FaultOptions(DriftPpm: 20_000) }, clock);
        await using var session = await RigSession.ConnectAsync(host, new RigSessionOptions { TimeProvider = clock });
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        var steps = new SteppedClock(clock, rig);
        await steps.StepUntilAsync(session, 20_400, () => session.Health.Samples >= 75_000, TimeSpan.FromSeconds(10));
        Assert.True(session.Clock!.IsFitted);
        Assert.InRange(session.Clock.DriftPpm, 19_000, 21_000);
    }

    [Fact]
    public async Task A_slow_link_overruns_the_rig_which_reports_it()
    {
        // Real time, on purpose (a load only makes the overrun come sooner). 100 kbaud carries 10 kB/s; 20 kHz of
        // samples needs about 60 kB/s.
        var (host, _) = StartRig(new EmulatorOptions { Speed = 1, Baud = 100_000, BufferCapacitySamples = 512 });
        await using var session = await RigSession.ConnectAsync(host);
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        // The rig's Status (answering the heartbeats) counts its overruns and the samples they cost.
        await Eventually.True(() => session.Health is { LostSamples: > 0, DeviceOverruns: > 0, DeviceDroppedSamples: > 0 }, "the host sees lost samples and the rig reports its overruns");
    }

    /// <summary>A train of 1,000 pulses 10 ms apart: ten seconds of stimulation if nothing stops it.</summary>
    private static readonly StimulusProtocol LongTrain = StimulusProtocol.Parse("""{"unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":100,"interval_ms":10,"count":1000}]}""");

    [Fact]
    public async Task Heartbeats_every_100_ms_keep_a_stimulus_playing()
    {
        var clock = new FakeTimeProvider();
        var (host, rig) = StartRig(new EmulatorOptions { Speed = 1, Baud = 0 }, clock);
        var spy = new TransportSpy(host, clock);
        await using var session = await RigSession.ConnectAsync(spy, new RigSessionOptions { HeartbeatInterval = TimeSpan.FromMilliseconds(100), TimeProvider = clock });
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        await session.PlayAsync(LongTrain);
        var steps = new SteppedClock(clock, rig, spy);
        while (steps.Elapsed < TimeSpan.FromSeconds(1.5)) await steps.StepAsync(session, 20_000);

        // Three times the watchdog's 500 ms: the heartbeats kept it fed, and the train plays on (a pulse every 10 ms).
        Assert.InRange(spy.SentOf(MessageKind.Heartbeat).Count, 15, 17);
        Assert.Equal((byte)1, session.LastStatus?.StimActiveMask);
        var events = Drain(session);
        Assert.DoesNotContain(events, e => e is StatusEvent s && (s.Status.Flags & Status.WatchdogTripped) != 0);
        Assert.InRange(events.OfType<PulsePlayedEvent>().Count(), 145, 151);
    }

    /// <summary>
    /// On a fake clock, the long train starts at time 0 and the host hangs right after the heartbeat that went before
    /// it: the last one the rig sees.
    /// </summary>
    private async Task<(FakeTimeProvider Clock, EmulatedRig Rig, TransportSpy Spy, RigSession Session)> PlayThenHangAsync()
    {
        var clock = new FakeTimeProvider();
        var (host, rig) = StartRig(new EmulatorOptions { Speed = 1, Baud = 0 }, clock);
        var spy = new TransportSpy(host, clock);
        var session = await RigSession.ConnectAsync(spy, new RigSessionOptions { HeartbeatInterval = TimeSpan.FromMilliseconds(100), TimeProvider = clock });
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        await session.PlayAsync(LongTrain);
        session.PauseHeartbeatsForTest();
        return (clock, rig, spy, session);
    }

    [Fact]
    public async Task The_watchdog_stops_stimulation_at_its_first_tick_500_ms_after_the_last_heartbeat()
    {
        var (clock, rig, spy, session) = await PlayThenHangAsync();
        await using var disposeSession = session;
        var steps = new SteppedClock(clock, rig);
        StatusEvent? tripped = null;
        var pulses = new List<PulsePlayedEvent>();
        while (tripped is null)
        {
            Assert.True(steps.Elapsed < TimeSpan.FromSeconds(2), "the watchdog never tripped");
            await steps.StepAsync(session, 20_000);
            foreach (var e in Drain(session))
            {
                if (e is PulsePlayedEvent p) pulses.Add(p);
                if (e is StatusEvent s && (s.Status.Flags & Status.WatchdogTripped) != 0) tripped = s;
            }
        }

        Assert.All(spy.SentOf(MessageKind.Heartbeat), h => Assert.Equal(TimeSpan.Zero, h.At));
        // More than 500 ms without a heartbeat first holds at the rig's tick at 505 ms (at 500 ms it has been exactly
        // 500): the stimulus is off then, and the rig says so at once.
        Assert.Equal(0.505, tripped.HostSeconds, 9);
        Assert.Equal(0, tripped.Status.StimActiveMask);
        // The pulses until then played, one every 10 ms from 0 ms; none after the trip, over the next 100 ms of samples
        // (a pulse is reported before the samples after it).
        for (int i = 0; i < 20; i++) await steps.StepAsync(session, 20_000);
        pulses.AddRange(Drain(session).OfType<PulsePlayedEvent>());
        // The rig acts on its watchdog before it acquires its tick's samples: the pulse due at 500 ms (sample 10,000)
        // never began.
        Assert.Equal(Enumerable.Range(0, 50).Select(k => (ulong)k * 200), pulses.Select(p => p.SessionOnsetIndex));
    }

    [Fact]
    public async Task A_watchdog_noticed_late_still_plays_every_pulse_due_before_its_deadline()
    {
        // The rig's next pass comes 800 ms after the last heartbeat (its thread descheduled, as an emulator's can be):
        // as on a board, the pulses due in the 500 ms before the watchdog's deadline played, and none after it.
        var (clock, rig, _, session) = await PlayThenHangAsync();
        await using var disposeSession = session;
        clock.Advance(TimeSpan.FromMilliseconds(800));
        long late = clock.GetTimestamp();
        await Eventually.True(() => rig.LastPassTimestamp >= late && SteppedClock.Acquired(session) >= 16_000, "the rig's pass at 800 ms and its samples");
        var steps = new SteppedClock(clock, rig);
        for (int i = 0; i < 20; i++) await steps.StepAsync(session, 20_000);
        var events = Drain(session);
        Assert.Contains(events, e => e is StatusEvent s && (s.Status.Flags & Status.WatchdogTripped) != 0);
        Assert.Equal(Enumerable.Range(0, 50).Select(k => (ulong)k * 200), events.OfType<PulsePlayedEvent>().Select(p => p.SessionOnsetIndex));
    }

    /// <summary>A session on a fake clock whose first Start the link loses: the Start is sent and awaits its answer.</summary>
    private async Task<(FakeTimeProvider Clock, TransportSpy Spy, RigSession Session, Task Start)> StartWithTheFirstStartLostAsync()
    {
        var clock = new FakeTimeProvider();
        var (host, _) = StartRig(new EmulatorOptions { Speed = 1, Baud = 0 }, clock);
        var spy = new TransportSpy(host, clock);
        var session = await RigSession.ConnectAsync(spy, new RigSessionOptions { TimeProvider = clock });
        await session.ConfigureAsync(20_000);
        spy.Drop = f => f.Kind == MessageKind.Start && spy.SentOf(MessageKind.Start).Count == 0;
        var start = session.StartAsync();
        await Eventually.True(() => spy.SentOf(MessageKind.Start).Count == 1, "the first Start is sent");
        return (clock, spy, session, start);
    }

    [Fact]
    public async Task A_command_left_unanswered_is_sent_again_at_each_time_out_and_given_up_after_the_sessions_patience()
    {
        // The first Start is lost on the link. Nothing happens until its 250 ms have passed (the answers so far came
        // at once, so the measured round trip leaves the protocol's 250 ms as it is).
        var (clock, spy, session, start) = await StartWithTheFirstStartLostAsync();
        await using var disposeSession = session;
        clock.Advance(TimeSpan.FromMilliseconds(249));
        // The loop woke for the heartbeat due at 100 ms and wrote it in the same flush as anything else due then.
        await Eventually.True(() => spy.SentOf(MessageKind.Heartbeat).Any(h => h.At == TimeSpan.FromMilliseconds(249)), "the loop's pass at 249 ms");
        Assert.Single(spy.SentOf(MessageKind.Start));
        Assert.False(start.IsCompleted);
        clock.Advance(TimeSpan.FromMilliseconds(2));
        await start.WaitAsync(Eventually.DefaultTimeout);
        var starts = spy.SentOf(MessageKind.Start);
        Assert.Equal([TimeSpan.Zero, TimeSpan.FromMilliseconds(251)], starts.Select(f => f.At));
        Assert.Equal([true, false], starts.Select(f => f.Dropped));
        Assert.Equal(1, session.Health.CommandRetries);
        Assert.True(session.IsRunning);

        // A Stop the link loses every time is sent again at each time-out, past its 4 attempts, until the session's
        // patience (5 s) is spent: a slow rig is not a dead one. Then it fails, and says so. (The session sent one Stop
        // when it connected.)
        int earlier = spy.SentOf(MessageKind.Stop).Count;
        spy.Drop = f => f.Kind == MessageKind.Stop;
        var stop = session.StopAsync();
        for (int sent = 1; ; sent++)
        {
            await Eventually.True(() => stop.IsCompleted || spy.SentOf(MessageKind.Stop).Count == earlier + sent, $"Stop sent {sent} times, or given up");
            if (stop.IsCompleted) break;
            clock.Advance(TimeSpan.FromMilliseconds(251));
        }

        var e = await Assert.ThrowsAsync<TimeoutException>(() => stop);
        // Sent at 0, 251, …, 4,769 ms (20 times); at 5,020 ms the attempts and the patience are both spent.
        var stops = spy.SentOf(MessageKind.Stop)[earlier..];
        Assert.Equal(Enumerable.Range(0, 20).Select(k => stops[0].At + (k * TimeSpan.FromMilliseconds(251))), stops.Select(f => f.At));
        Assert.Equal("the rig on memory did not answer Stop (20 attempts in 5020 ms)", e.Message);
        Assert.Equal(1 + 19, session.Health.CommandRetries);
        spy.Drop = null;
    }

    [Fact]
    public async Task A_host_that_wakes_late_gives_a_command_its_time_again_instead_of_counting_an_attempt()
    {
        var (clock, spy, session, start) = await StartWithTheFirstStartLostAsync();
        await using var disposeSession = session;

        // The host was descheduled: its loop wakes at 400 ms, 150 ms past the deadline. The answer may be waiting
        // unread, so the attempt does not count: the Start gets another 250 ms from now, and is not resent yet.
        clock.Advance(TimeSpan.FromMilliseconds(400));
        await Eventually.True(() => spy.SentOf(MessageKind.Heartbeat).Any(h => h.At == TimeSpan.FromMilliseconds(400)), "the loop's pass at 400 ms");
        Assert.Single(spy.SentOf(MessageKind.Start));
        Assert.Equal(0, session.Health.CommandRetries);
        clock.Advance(TimeSpan.FromMilliseconds(251));
        await start.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal([TimeSpan.Zero, TimeSpan.FromMilliseconds(651)], spy.SentOf(MessageKind.Start).Select(f => f.At));
        Assert.Equal(1, session.Health.CommandRetries);
    }

    [Fact]
    public async Task A_stimulus_left_unanswered_is_not_resent_before_the_rig_says_it_did_not_take_it()
    {
        var clock = new FakeTimeProvider();
        var (host, rig) = StartRig(new EmulatorOptions { Speed = 1, Baud = 0 }, clock);
        var spy = new TransportSpy(host, clock);
        await using var session = await RigSession.ConnectAsync(spy, new RigSessionOptions { TimeProvider = clock });
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        spy.Drop = f => f.Kind == MessageKind.Stimulus && spy.SentOf(MessageKind.Stimulus).Count == 0;
        var play = session.PlayAsync(LongTrain);
        await Eventually.True(() => spy.SentOf(MessageKind.Stimulus).Count == 1, "the stimulus is sent");

        // At its time-out the host asks with a heartbeat whether the rig plays it (§6.1); it does not, so the stimulus
        // goes once more, after a heartbeat of its own (the rig refuses a stimulus without a recent one).
        clock.Advance(TimeSpan.FromMilliseconds(251));
        await play.WaitAsync(TimeSpan.FromSeconds(30));
        var after = spy.Sent.SkipWhile(f => f.Kind != MessageKind.Stimulus).Select(f => (f.At.TotalMilliseconds, f.Kind)).ToList();
        Assert.Equal(
            [(0, MessageKind.Stimulus), (251, MessageKind.Heartbeat), (251, MessageKind.Heartbeat), (251, MessageKind.Heartbeat), (251, MessageKind.Stimulus)],
            after);
        Assert.Equal(1, session.Health.CommandRetries);
        // Played once: the next heartbeat's answer says so, and its pulses come one every 10 ms.
        var steps = new SteppedClock(clock, rig, spy);
        while (steps.Elapsed < TimeSpan.FromMilliseconds(400)) await steps.StepAsync(session, 20_000);
        Assert.Equal((byte)1, session.LastStatus?.StimActiveMask);
        var command = await play;
        Assert.InRange(Drain(session).OfType<PulsePlayedEvent>().Count(p => p.Pulse.StimId == command.StimId), 14, 16);
    }

    [Fact]
    public async Task A_disconnect_is_reported_and_the_same_rig_is_resumed_with_the_gap_accounted()
    {
        // Room for 50 s of samples in both: only the outage may lose any (an overrun of a descheduled rig would add a gap).
        var rig = new EmulatedRig(new EmulatorOptions { Speed = 1, Baud = 0, BufferCapacitySamples = 1 << 20, Faults = new FaultOptions(DisconnectAtSeconds: 1.0) });
        var (host, device) = InMemoryTransport.CreatePair();
        var first = Task.Run(async () =>
        {
            await rig.RunAsync(device, stop.Token);
            ((InMemoryTransport)device).Disconnect();
        });
        devices.Add(first);
        // After the drop the rig "reappears" with no disconnect fault: a second emulator with the same identity.
        var again = new EmulatedRig(new EmulatorOptions { Speed = 1, Baud = 0, BufferCapacitySamples = 1 << 20, UniqueId = rig.Info.UniqueId });
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
