using Bench.Core.Protocol;

namespace Bench.Rig.Session;

/// <summary>Samples of one block, in the session's continuous sample index (it keeps counting across reconnects).</summary>
/// <param name="FirstSampleIndex">Session sample index of the first sample.</param>
/// <param name="Codes">Raw ADC codes, one channel.</param>
/// <param name="HostSeconds">Host time (s, session clock) at which the block arrived.</param>
public sealed record SampleBatch(ulong FirstSampleIndex, ushort[] Codes, double HostSeconds);

/// <summary>Something that happened on the link or at the rig.</summary>
public abstract record RigEvent(double HostSeconds);

/// <summary>Samples that never arrived: from <paramref name="StartIndex"/>, <paramref name="Length"/> of them. Never filled in.</summary>
public sealed record GapEvent(double HostSeconds, ulong StartIndex, ulong Length, string Cause) : RigEvent(HostSeconds);

/// <summary>A pulse as the rig played it, with its onset in the session's sample index.</summary>
public sealed record PulsePlayedEvent(double HostSeconds, StimulusEvent Pulse, ulong SessionOnsetIndex) : RigEvent(HostSeconds)
{
    /// <summary>For a host-timed pulse (a Firmata rig): the host time (s) its onset was commanded for; null when the rig timed it.</summary>
    public double? CommandedHostSeconds { get; init; }

    /// <summary>For a host-timed pulse: how far its edges may be from where they are recorded on the sample clock (ms).</summary>
    public double? UncertaintyMs { get; init; }

    /// <summary>For a host-timed pulse: how much later than commanded the onset was written (ms; recorded, not an error).</summary>
    public double? LateMs { get; init; }
}

/// <summary>A Status the rig sent on its own (e.g. its watchdog tripped).</summary>
public sealed record StatusEvent(double HostSeconds, Status Status) : RigEvent(HostSeconds);

/// <summary>The link dropped; what was received is kept.</summary>
public sealed record DisconnectedEvent(double HostSeconds, string Reason) : RigEvent(HostSeconds);

/// <summary>The same rig (same unique id) came back, on <paramref name="Port"/>.</summary>
public sealed record ReconnectedEvent(double HostSeconds, string Port) : RigEvent(HostSeconds);

/// <summary>
/// The rig did not come back: the session ends here. Samples stopped arriving at <paramref name="LostAtHostSeconds"/>
/// (host seconds); whatever the rig acquired after that is lost.
/// </summary>
public sealed record GaveUpEvent(double HostSeconds, string Reason, double LostAtHostSeconds) : RigEvent(HostSeconds);

/// <summary>Health counters of a session, all since it began.</summary>
public sealed record RigHealth
{
    /// <summary>Frames that failed their CRC.</summary>
    public long CrcErrors { get; init; }

    /// <summary>Other damaged bodies (COBS, short, oversized, other version).</summary>
    public long FramingErrors { get; init; }

    /// <summary>Frames lost, from sequence gaps.</summary>
    public long FramesLost { get; init; }

    /// <summary>Sequence gaps seen.</summary>
    public long SequenceGaps { get; init; }

    /// <summary>Samples never received (sum of all gaps).</summary>
    public ulong LostSamples { get; init; }

    /// <summary>Number of gaps.</summary>
    public long Gaps { get; init; }

    /// <summary>Samples received.</summary>
    public ulong Samples { get; init; }

    /// <summary>Commands sent again after a timeout.</summary>
    public long CommandRetries { get; init; }

    /// <summary>Times the link dropped.</summary>
    public long Disconnects { get; init; }

    /// <summary>The rig's own overrun count (from its last Status).</summary>
    public uint DeviceOverruns { get; init; }

    /// <summary>Samples the rig dropped to overruns (from its last Status).</summary>
    public uint DeviceDroppedSamples { get; init; }

    /// <summary>CRC errors the rig saw on what the host sent (from its last Status).</summary>
    public ushort DeviceCrcErrors { get; init; }

    /// <summary>The rig's buffer high-water mark (samples).</summary>
    public ushort DeviceBufferHighWater { get; init; }
}

/// <summary>The rig refused a command; the message says which and why.</summary>
public sealed class RigCommandRefusedException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public RigCommandRefusedException(string message, Nack nack) : base(message)
    {
        Nack = nack;
    }

    /// <summary>Creates the exception.</summary>
    public RigCommandRefusedException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public RigCommandRefusedException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RigCommandRefusedException(string message, Exception innerException) : base(message, innerException)
    {
    }

    /// <summary>The refusal as the rig sent it.</summary>
    public Nack Nack { get; }
}
