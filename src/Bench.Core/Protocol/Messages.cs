using System.Buffers.Binary;

namespace Bench.Core.Protocol;

/// <summary>A message with a fixed payload layout that the encoder can write.</summary>
public interface IMessage
{
    /// <summary>The kind on the wire.</summary>
    MessageKind Kind { get; }

    /// <summary>Payload bytes this message takes.</summary>
    int PayloadLength { get; }

    /// <summary>Writes the payload (exactly <see cref="PayloadLength"/> bytes).</summary>
    void WritePayload(Span<byte> destination);
}

// The messages' records (fields, offsets, WritePayload, TryParse), the kinds and Nack codes are generated from
// firmware-protocol/messages.json into Messages.Generated.cs; this file holds what is not a layout fact.

public readonly partial record struct Hello
{
    /// <summary>This host's Hello.</summary>
    public static Hello Current => new(ProtocolLimits.Version, ProtocolLimits.MinorVersion);
}

/// <summary>
/// SampleBlock (0x85, device → host), §5.10, as a view on the frame: nothing is copied or allocated.
/// Its layout (FixedLength, the offsets) is generated from firmware-protocol/messages.json (Messages.Generated.cs).
/// </summary>
public readonly ref partial struct SampleBlock
{
    /// <summary>Creates a view.</summary>
    public SampleBlock(ulong firstSampleIndex, byte channelCount, byte sampleCount, ReadOnlySpan<byte> samples)
    {
        FirstSampleIndex = firstSampleIndex;
        ChannelCount = channelCount;
        SampleCount = sampleCount;
        RawSamples = samples;
    }

    /// <summary>Device sample index of the first period.</summary>
    public ulong FirstSampleIndex { get; }

    /// <summary>Channels per period.</summary>
    public byte ChannelCount { get; }

    /// <summary>Sample periods in the block.</summary>
    public byte SampleCount { get; }

    /// <summary>The samples as on the wire (little-endian u16, period-major).</summary>
    public ReadOnlySpan<byte> RawSamples { get; }

    /// <summary>Raw ADC code of channel <paramref name="channel"/> in period <paramref name="period"/>.</summary>
    public ushort this[int period, int channel] => BinaryPrimitives.ReadUInt16LittleEndian(RawSamples[(2 * ((period * ChannelCount) + channel))..]);

    /// <summary>Raw ADC code number <paramref name="index"/> in wire order (period-major, interleaved by channel).</summary>
    public ushort SamplesAt(int index) => BinaryPrimitives.ReadUInt16LittleEndian(RawSamples[(2 * index)..]);

    /// <summary>Copies all values (interleaved) into <paramref name="destination"/>; returns how many.</summary>
    public int CopyTo(Span<ushort> destination)
    {
        int n = ChannelCount * SampleCount;
        for (int i = 0; i < n; i++) destination[i] = BinaryPrimitives.ReadUInt16LittleEndian(RawSamples[(2 * i)..]);
        return n;
    }

    /// <summary>Parses a payload; trailing bytes are ignored (§7).</summary>
    public static ParseError TryParse(ReadOnlySpan<byte> p, out SampleBlock m)
    {
        m = default;
        if (p.Length < FixedLength) return ParseError.BadLength;
        byte channels = p[ChannelCountOffset], periods = p[SampleCountOffset];
        int values = channels * periods;
        if (p.Length < FixedLength + (2 * values)) return ParseError.BadLength;
        m = new SampleBlock(BinaryPrimitives.ReadUInt64LittleEndian(p[FirstSampleIndexOffset..]), channels, periods, p.Slice(SamplesOffset, 2 * values));
        return ParseError.None;
    }

    /// <summary>Writes a SampleBlock payload; returns its length.</summary>
    public static int WritePayload(Span<byte> d, ulong firstSampleIndex, byte channelCount, ReadOnlySpan<ushort> samples)
    {
        if (channelCount == 0 || samples.Length % channelCount != 0 || samples.Length > ProtocolLimits.MaxSampleValues)
        {
            throw new ArgumentException($"a SampleBlock holds whole periods of {channelCount} channels, at most {ProtocolLimits.MaxSampleValues} values");
        }

        BinaryPrimitives.WriteUInt64LittleEndian(d[FirstSampleIndexOffset..], firstSampleIndex);
        d[ChannelCountOffset] = channelCount;
        d[SampleCountOffset] = (byte)(samples.Length / channelCount);
        for (int i = 0; i < samples.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(d[(SamplesOffset + (2 * i))..], samples[i]);
        return FixedLength + (2 * samples.Length);
    }
}
