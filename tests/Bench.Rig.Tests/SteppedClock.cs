using Bench.Rig.Emulation;
using Bench.Rig.Session;
using Bench.Tests;
using Microsoft.Extensions.Time.Testing;

namespace Bench.Rig.Tests;

/// <summary>
/// A fake clock shared by an emulated rig and a session, stepped one emulator tick (5 ms) at a time. After each step
/// it waits until the rig has acted on the new time and the host has taken the samples it sent, so no step begins
/// before the last one is done: device time never runs ahead of the host, nothing overruns unless the test makes it,
/// and every time the test reads (a reply's arrival, a trip, a retry) is the same on an idle and on a loaded machine.
/// </summary>
/// <param name="time">The clock of the rig and the session.</param>
/// <param name="rig">The rig whose every pass is waited for.</param>
/// <param name="spy">
/// When given, each step also waits until the rig has answered every heartbeat the host wrote: the rig's receiver is a
/// thread of its own, and a fake clock stepped while it lags behind would let the watchdog see heartbeats late.
/// </param>
internal sealed class SteppedClock(FakeTimeProvider time, EmulatedRig rig, TransportSpy? spy = null)
{
    /// <summary>One step: the emulator's device loop tick (<see cref="EmulatorOptions.TickMs"/>).</summary>
    public static readonly TimeSpan Step = TimeSpan.FromMilliseconds(5);

    /// <summary>Fake time since the clock began (the session's <see cref="RigSession.HostSeconds"/> when it began then too).</summary>
    public TimeSpan Elapsed => time.GetUtcNow() - time.Start;

    /// <summary>Advances one step and waits until the rig has acted on it and <paramref name="hostCaughtUp"/> holds.</summary>
    public async Task StepAsync(Func<bool>? hostCaughtUp = null)
    {
        time.Advance(Step);
        long now = time.GetTimestamp();
        await Eventually.True(() => rig.LastPassTimestamp >= now && (hostCaughtUp?.Invoke() ?? true), $"the rig and the host at {Elapsed.TotalMilliseconds} ms of fake time");
    }

    /// <summary>
    /// Advances one step and waits until the host has every sample the rig acquired by then (received or reported
    /// lost), acquisition having started at <paramref name="runStartSeconds"/> of this clock at
    /// <paramref name="rateHz"/> samples per second of host time.
    /// </summary>
    public Task StepAsync(RigSession session, double rateHz, double runStartSeconds = 0) =>
        StepAsync(() => Acquired(session) >= Due(rateHz, runStartSeconds)
            && (spy is null || session.RoundTripsMs.Count >= spy.SentOf(Bench.Core.Protocol.MessageKind.Heartbeat).Count(h => !h.Dropped)));

    /// <summary>Steps until <paramref name="done"/> holds (with the host kept up as in <see cref="StepAsync(RigSession, double, double)"/>).</summary>
    public async Task StepUntilAsync(RigSession session, double rateHz, Func<bool> done, TimeSpan limit, double runStartSeconds = 0)
    {
        while (!done())
        {
            if (Elapsed > limit) throw new Xunit.Sdk.XunitException($"not done after {limit.TotalSeconds} s of fake time");
            await StepAsync(session, rateHz, runStartSeconds);
        }
    }

    /// <summary>Samples received or reported lost.</summary>
    public static ulong Acquired(RigSession session)
    {
        var h = session.Health;
        return h.Samples + h.LostSamples;
    }

    /// <summary>
    /// The samples the host must have by now: whole blocks (20 at 20 kHz) only, the rig sends no partial ones, less one
    /// block for the rounding of the clock to samples.
    /// </summary>
    private ulong Due(double rateHz, double runStartSeconds)
    {
        double samples = (Elapsed.TotalSeconds - runStartSeconds) * rateHz;
        ulong block = (ulong)Math.Max(1, rateHz / 1000);
        ulong whole = (ulong)Math.Max(0, Math.Floor(samples)) / block * block;
        return whole >= block ? whole - block : 0;
    }
}
