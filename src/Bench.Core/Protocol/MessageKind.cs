namespace Bench.Core.Protocol;

// MessageKind and NackCode are generated from firmware-protocol/messages.json (Messages.Generated.cs).

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

/// <summary>Sizes and constants of the framing (PROTOCOL.md §2).</summary>
/// <remarks>The version and the message maxima are generated from firmware-protocol/messages.json (Messages.Generated.cs).</remarks>
public static partial class ProtocolLimits
{
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

    /// <summary>The name of a kind as the specification writes it, or "unknown".</summary>
    public static string KindName(byte kind) => Enum.IsDefined((MessageKind)kind) ? ((MessageKind)kind).ToString() : "unknown";
}
