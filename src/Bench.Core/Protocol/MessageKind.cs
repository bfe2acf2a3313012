namespace Bench.Core.Protocol;

/// <summary>Message kinds (PROTOCOL.md §5.1). Bit 7 set: device → host.</summary>
public enum MessageKind : byte
{
    /// <summary>Host asks who the device is; answered by <see cref="DeviceInfo"/>.</summary>
    Hello = 0x01,

    /// <summary>Sample rate, channels, gains.</summary>
    Configure = 0x02,

    /// <summary>Start acquisition (sample index restarts at 0).</summary>
    Start = 0x03,

    /// <summary>Stop acquisition and all stimuli.</summary>
    Stop = 0x04,

    /// <summary>A pulse-train protocol for one output.</summary>
    Stimulus = 0x05,

    /// <summary>Every output to zero now.</summary>
    StopAll = 0x06,

    /// <summary>Feeds the device's watchdog; answered by <see cref="Status"/>.</summary>
    Heartbeat = 0x07,

    /// <summary>Versions, identity, ADC and output limits.</summary>
    DeviceInfo = 0x81,

    /// <summary>A command was accepted.</summary>
    Ack = 0x82,

    /// <summary>A command was refused.</summary>
    Nack = 0x83,

    /// <summary>Device time, buffers, error counters, stimulation state.</summary>
    Status = 0x84,

    /// <summary>Samples from the first sample index on.</summary>
    SampleBlock = 0x85,

    /// <summary>One pulse as played.</summary>
    StimulusEvent = 0x86,
}

/// <summary>Why a delivered frame's payload did not parse (PROTOCOL.md §5.1).</summary>
public enum ParseError
{
    /// <summary>It parsed.</summary>
    None,

    /// <summary>The kind is not one this codec knows.</summary>
    UnknownKind,

    /// <summary>The payload is shorter than its kind, or its counts, require.</summary>
    BadLength,

    /// <summary>A count the codec checks is too large (DeviceInfo.output_count &gt; 8).</summary>
    OutOfRange,
}

/// <summary>Nack codes (PROTOCOL.md §5.8).</summary>
public enum NackCode : byte
{
    /// <summary>Kind not known to the device.</summary>
    UnknownKind = 1,

    /// <summary>Payload too short.</summary>
    BadLength = 2,

    /// <summary>A value breaks a limit; detail is the payload offset of the first offending field.</summary>
    OutOfRange = 3,

    /// <summary>Conflicts with the current state.</summary>
    Busy = 4,

    /// <summary>Start before any accepted Configure.</summary>
    NotConfigured = 5,

    /// <summary>The device's command slot was full.</summary>
    Overrun = 6,

    /// <summary>A damaged body was received.</summary>
    BadCrc = 7,

    /// <summary>Stimulus start index already passed.</summary>
    TooLate = 8,

    /// <summary>Stimulus while acquisition is stopped.</summary>
    NotRunning = 9,

    /// <summary>Another protocol major version.</summary>
    UnsupportedVersion = 10,

    /// <summary>Stimulus refused: the heartbeat watchdog tripped or was not fed.</summary>
    Watchdog = 11,
}

/// <summary>Sizes and constants of the framing (PROTOCOL.md §2).</summary>
public static class ProtocolLimits
{
    /// <summary>The protocol major version carried in every frame.</summary>
    public const byte Version = 1;

    /// <summary>The minor version this host speaks.</summary>
    public const byte MinorVersion = 0;

    /// <summary>Version, kind and sequence number.</summary>
    public const int HeaderLength = 4;

    /// <summary>The CRC's length.</summary>
    public const int CrcLength = 2;

    /// <summary>Smallest frame (empty payload).</summary>
    public const int MinFrameLength = HeaderLength + CrcLength;

    /// <summary>Largest payload.</summary>
    public const int MaxPayloadLength = 248;

    /// <summary>Largest decoded frame.</summary>
    public const int MaxFrameLength = MaxPayloadLength + MinFrameLength;

    /// <summary>Largest COBS body between delimiters.</summary>
    public const int MaxBodyLength = MaxFrameLength + 1;

    /// <summary>Largest frame on the wire, both delimiters included.</summary>
    public const int MaxWireLength = MaxBodyLength + 2;

    /// <summary>Most 16-bit values in one SampleBlock (channels × samples).</summary>
    public const int MaxSampleValues = 119;

    /// <summary>Most trains in one Stimulus.</summary>
    public const int MaxTrains = 11;

    /// <summary>Most outputs in one DeviceInfo.</summary>
    public const int MaxOutputs = 8;

    /// <summary>The name of a kind as the specification writes it, or "unknown".</summary>
    public static string KindName(byte kind) => Enum.IsDefined((MessageKind)kind) ? ((MessageKind)kind).ToString() : "unknown";
}
