using System.Buffers;
using System.Buffers.Binary;

namespace Bench.Core.Protocol;

/// <summary>
/// Writes frames as PROTOCOL.md §3 says: header, payload, CRC, COBS, a 0x00 before and after. Keeps the sender's
/// sequence number (one encoder per direction and connection). Allocates nothing.
/// </summary>
public sealed class FrameEncoder
{
    /// <summary>The sequence number the next frame will carry.</summary>
    public ushort NextSeq { get; set; }

    /// <summary>Encodes a message; returns the sequence number used.</summary>
    public ushort Write<TMessage>(IBufferWriter<byte> output, in TMessage message) where TMessage : IMessage
    {
        Span<byte> payload = stackalloc byte[ProtocolLimits.MaxPayloadLength];
        int length = message.PayloadLength;
        if (length > ProtocolLimits.MaxPayloadLength) throw new ArgumentException($"payload of {length} bytes exceeds {ProtocolLimits.MaxPayloadLength}");
        message.WritePayload(payload[..length]);
        return Write(output, message.Kind, payload[..length]);
    }

    /// <summary>Encodes a message with no payload (Start, Stop, StopAll, Heartbeat); returns the sequence number used.</summary>
    public ushort Write(IBufferWriter<byte> output, MessageKind kind) => Write(output, kind, []);

    /// <summary>Encodes a SampleBlock; returns the sequence number used.</summary>
    public ushort WriteSampleBlock(IBufferWriter<byte> output, ulong firstSampleIndex, byte channelCount, ReadOnlySpan<ushort> samples)
    {
        Span<byte> payload = stackalloc byte[ProtocolLimits.MaxPayloadLength];
        int length = SampleBlock.WritePayload(payload, firstSampleIndex, channelCount, samples);
        return Write(output, MessageKind.SampleBlock, payload[..length]);
    }

    /// <summary>Encodes any kind byte and payload (also for tests of how peers treat unknown kinds); returns the sequence number used.</summary>
    public ushort Write(IBufferWriter<byte> output, MessageKind kind, ReadOnlySpan<byte> payload)
    {
        ushort seq = NextSeq++;
        var wire = output.GetSpan(ProtocolLimits.MaxWireLength);
        int written = EncodeFrame(wire, ProtocolLimits.Version, (byte)kind, seq, payload);
        output.Advance(written);
        return seq;
    }

    /// <summary>Writes one frame with the given header fields onto <paramref name="wire"/> (delimiters included); returns its length.</summary>
    public static int EncodeFrame(Span<byte> wire, byte version, byte kind, ushort seq, ReadOnlySpan<byte> payload)
    {
        if (payload.Length > ProtocolLimits.MaxPayloadLength) throw new ArgumentException($"payload of {payload.Length} bytes exceeds {ProtocolLimits.MaxPayloadLength}");
        Span<byte> frame = stackalloc byte[ProtocolLimits.MaxFrameLength];
        frame[0] = version;
        frame[1] = kind;
        BinaryPrimitives.WriteUInt16LittleEndian(frame[2..], seq);
        payload.CopyTo(frame[ProtocolLimits.HeaderLength..]);
        int n = ProtocolLimits.HeaderLength + payload.Length;
        BinaryPrimitives.WriteUInt16LittleEndian(frame[n..], Crc16.Compute(frame[..n]));
        n += ProtocolLimits.CrcLength;
        wire[0] = 0;
        int body = Cobs.Encode(frame[..n], wire[1..]);
        wire[body + 1] = 0;
        return body + 2;
    }
}
