using System.Buffers.Binary;
using System.Text;

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

/// <summary>Hello (0x01, host → device), §5.2. Offsets: 0 protocol_major u8, 1 protocol_minor u8.</summary>
public readonly record struct Hello(byte ProtocolMajor, byte ProtocolMinor) : IMessage
{
    /// <summary>Payload length.</summary>
    public const int Length = 2;

    /// <inheritdoc/>
    public MessageKind Kind => MessageKind.Hello;

    /// <inheritdoc/>
    public int PayloadLength => Length;

    /// <summary>This host's Hello.</summary>
    public static Hello Current => new(ProtocolLimits.Version, ProtocolLimits.MinorVersion);

    /// <inheritdoc/>
    public void WritePayload(Span<byte> destination)
    {
        var d = destination;
        d[0] = ProtocolMajor;
        d[1] = ProtocolMinor;
    }

    /// <summary>Parses a payload; trailing bytes are ignored (§7).</summary>
    public static ParseError TryParse(ReadOnlySpan<byte> p, out Hello m)
    {
        m = default;
        if (p.Length < Length) return ParseError.BadLength;
        m = new Hello(p[0], p[1]);
        return ParseError.None;
    }
}

/// <summary>One stimulus output of a device (DeviceInfo, §5.3): 16 bytes.</summary>
/// <param name="Unit">1 current (base nA), 2 voltage (base µV).</param>
/// <param name="DacBits">DAC resolution.</param>
/// <param name="MaxAmplitudeCode">Hard limit on |amplitude code|.</param>
/// <param name="Scale">Base units per code.</param>
/// <param name="MaxPhaseUs">Hard limit on one phase's duration (µs).</param>
/// <param name="MaxCharge">Hard limit on |amplitude| × duration of a phase (base unit × ms); 0 = none.</param>
public readonly record struct OutputDescriptor(byte Unit, byte DacBits, ushort MaxAmplitudeCode, uint Scale, uint MaxPhaseUs, uint MaxCharge)
{
    /// <summary>Bytes per descriptor.</summary>
    public const int Length = 16;

    // Offsets: 0 unit u8, 1 dac_bits u8, 2 max_amplitude_code u16, 4 scale u32, 8 max_phase_us u32, 12 max_charge u32.
    internal static OutputDescriptor Read(ReadOnlySpan<byte> p) => new(
        p[0], p[1], BinaryPrimitives.ReadUInt16LittleEndian(p[2..]), BinaryPrimitives.ReadUInt32LittleEndian(p[4..]),
        BinaryPrimitives.ReadUInt32LittleEndian(p[8..]), BinaryPrimitives.ReadUInt32LittleEndian(p[12..]));

    internal void Write(Span<byte> d)
    {
        d[0] = Unit;
        d[1] = DacBits;
        BinaryPrimitives.WriteUInt16LittleEndian(d[2..], MaxAmplitudeCode);
        BinaryPrimitives.WriteUInt32LittleEndian(d[4..], Scale);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], MaxPhaseUs);
        BinaryPrimitives.WriteUInt32LittleEndian(d[12..], MaxCharge);
    }
}

/// <summary>DeviceInfo (0x81, device → host), §5.3.</summary>
public sealed record DeviceInfo(
    byte ProtocolMajor, byte ProtocolMinor, byte FirmwareMajor, byte FirmwareMinor, ushort FirmwarePatch, string Board,
    ulong UniqueId, uint ClockHz, uint MaxSampleRateHz, ushort AdcRefMv, byte AdcBits, byte InputChannels, byte GainCount,
    byte MaxTrains, ushort WatchdogMs, IReadOnlyList<OutputDescriptor> Outputs) : IMessage
{
    /// <summary>Fixed part of the payload.</summary>
    public const int FixedLength = 39;

    /// <inheritdoc/>
    public MessageKind Kind => MessageKind.DeviceInfo;

    /// <inheritdoc/>
    public int PayloadLength => FixedLength + (OutputDescriptor.Length * Outputs.Count);

    /// <inheritdoc/>
    public void WritePayload(Span<byte> destination)
    {
        var d = destination;
        if (Board.Length > 8 || Board.Any(c => c == 0 || c > 0x7F)) throw new ArgumentException("board must be at most 8 ASCII characters");
        if (Outputs.Count > ProtocolLimits.MaxOutputs) throw new ArgumentException("at most 8 outputs");
        // Offsets: 0 protocol_major, 1 protocol_minor, 2 fw_major, 3 fw_minor, 4 fw_patch u16, 6 board char[8],
        // 14 unique_id u64, 22 clock_hz u32, 26 max_sample_rate_hz u32, 30 adc_ref_mv u16, 32 adc_bits, 33 input_channels,
        // 34 gain_count, 35 max_trains, 36 watchdog_ms u16, 38 output_count, 39 outputs[16 each].
        d[..PayloadLength].Clear();
        d[0] = ProtocolMajor;
        d[1] = ProtocolMinor;
        d[2] = FirmwareMajor;
        d[3] = FirmwareMinor;
        BinaryPrimitives.WriteUInt16LittleEndian(d[4..], FirmwarePatch);
        Encoding.ASCII.GetBytes(Board, d.Slice(6, 8));
        BinaryPrimitives.WriteUInt64LittleEndian(d[14..], UniqueId);
        BinaryPrimitives.WriteUInt32LittleEndian(d[22..], ClockHz);
        BinaryPrimitives.WriteUInt32LittleEndian(d[26..], MaxSampleRateHz);
        BinaryPrimitives.WriteUInt16LittleEndian(d[30..], AdcRefMv);
        d[32] = AdcBits;
        d[33] = InputChannels;
        d[34] = GainCount;
        d[35] = MaxTrains;
        BinaryPrimitives.WriteUInt16LittleEndian(d[36..], WatchdogMs);
        d[38] = (byte)Outputs.Count;
        for (int i = 0; i < Outputs.Count; i++) Outputs[i].Write(d.Slice(FixedLength + (OutputDescriptor.Length * i)));
    }

    /// <summary>Parses a payload; trailing bytes are ignored (§7).</summary>
    public static ParseError TryParse(ReadOnlySpan<byte> p, out DeviceInfo? m)
    {
        m = null;
        if (p.Length < FixedLength) return ParseError.BadLength;
        int count = p[38];
        if (p.Length < FixedLength + (OutputDescriptor.Length * count)) return ParseError.BadLength;
        if (count > ProtocolLimits.MaxOutputs) return ParseError.OutOfRange;
        var board = p.Slice(6, 8);
        int end = board.IndexOf((byte)0);
        var outputs = new OutputDescriptor[count];
        for (int i = 0; i < count; i++) outputs[i] = OutputDescriptor.Read(p.Slice(FixedLength + (OutputDescriptor.Length * i)));
        m = new DeviceInfo(p[0], p[1], p[2], p[3], BinaryPrimitives.ReadUInt16LittleEndian(p[4..]),
            Encoding.Latin1.GetString(end < 0 ? board : board[..end]),
            BinaryPrimitives.ReadUInt64LittleEndian(p[14..]), BinaryPrimitives.ReadUInt32LittleEndian(p[22..]),
            BinaryPrimitives.ReadUInt32LittleEndian(p[26..]), BinaryPrimitives.ReadUInt16LittleEndian(p[30..]),
            p[32], p[33], p[34], p[35], BinaryPrimitives.ReadUInt16LittleEndian(p[36..]), outputs);
        return ParseError.None;
    }
}

/// <summary>Configure (0x02, host → device), §5.4. Offsets: 0 sample_rate_hz u32, 4 channel_mask u16, 6 block_samples u8, 7 gains u8[popcount].</summary>
public sealed record Configure(uint SampleRateHz, ushort ChannelMask, byte BlockSamples, IReadOnlyList<byte> Gains) : IMessage
{
    /// <summary>Fixed part of the payload.</summary>
    public const int FixedLength = 7;

    /// <inheritdoc/>
    public MessageKind Kind => MessageKind.Configure;

    /// <inheritdoc/>
    public int PayloadLength => FixedLength + Gains.Count;

    /// <inheritdoc/>
    public void WritePayload(Span<byte> destination)
    {
        var d = destination;
        if (Gains.Count != System.Numerics.BitOperations.PopCount(ChannelMask)) throw new ArgumentException("one gain code per enabled channel");
        BinaryPrimitives.WriteUInt32LittleEndian(d, SampleRateHz);
        BinaryPrimitives.WriteUInt16LittleEndian(d[4..], ChannelMask);
        d[6] = BlockSamples;
        for (int i = 0; i < Gains.Count; i++) d[FixedLength + i] = Gains[i];
    }

    /// <summary>Parses a payload; trailing bytes are ignored (§7).</summary>
    public static ParseError TryParse(ReadOnlySpan<byte> p, out Configure? m)
    {
        m = null;
        if (p.Length < FixedLength) return ParseError.BadLength;
        ushort mask = BinaryPrimitives.ReadUInt16LittleEndian(p[4..]);
        int k = System.Numerics.BitOperations.PopCount(mask);
        if (p.Length < FixedLength + k) return ParseError.BadLength;
        m = new Configure(BinaryPrimitives.ReadUInt32LittleEndian(p), mask, p[6], p.Slice(FixedLength, k).ToArray());
        return ParseError.None;
    }
}

/// <summary>One train of a Stimulus (§5.6): 20 bytes; durations in sample periods, amplitudes as signed DAC codes.</summary>
public readonly record struct StimulusTrain(
    uint DelaySamples, short Phase1Code, ushort Phase1Samples, ushort InterphaseSamples, short Phase2Code, ushort Phase2Samples,
    uint IntervalSamples, ushort PulseCount)
{
    /// <summary>Bytes per train.</summary>
    public const int Length = 20;

    // Offsets: 0 delay_samples u32, 4 phase1_code i16, 6 phase1_samples u16, 8 interphase_samples u16,
    // 10 phase2_code i16, 12 phase2_samples u16, 14 interval_samples u32, 18 pulse_count u16.
    internal static StimulusTrain Read(ReadOnlySpan<byte> p) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(p), BinaryPrimitives.ReadInt16LittleEndian(p[4..]),
        BinaryPrimitives.ReadUInt16LittleEndian(p[6..]), BinaryPrimitives.ReadUInt16LittleEndian(p[8..]),
        BinaryPrimitives.ReadInt16LittleEndian(p[10..]), BinaryPrimitives.ReadUInt16LittleEndian(p[12..]),
        BinaryPrimitives.ReadUInt32LittleEndian(p[14..]), BinaryPrimitives.ReadUInt16LittleEndian(p[18..]));

    internal void Write(Span<byte> d)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(d, DelaySamples);
        BinaryPrimitives.WriteInt16LittleEndian(d[4..], Phase1Code);
        BinaryPrimitives.WriteUInt16LittleEndian(d[6..], Phase1Samples);
        BinaryPrimitives.WriteUInt16LittleEndian(d[8..], InterphaseSamples);
        BinaryPrimitives.WriteInt16LittleEndian(d[10..], Phase2Code);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], Phase2Samples);
        BinaryPrimitives.WriteUInt32LittleEndian(d[14..], IntervalSamples);
        BinaryPrimitives.WriteUInt16LittleEndian(d[18..], PulseCount);
    }
}

/// <summary>Stimulus (0x05, host → device), §5.6. Offsets: 0 stim_id u16, 2 output u8, 3 flags u8, 4 start_index u64, 12 train_count u8, 13 trains.</summary>
public sealed record StimulusCommand(ushort StimId, byte Output, byte Flags, ulong StartIndex, IReadOnlyList<StimulusTrain> Trains) : IMessage
{
    /// <summary>Fixed part of the payload.</summary>
    public const int FixedLength = 13;

    /// <summary>Flag: start at <see cref="StartIndex"/> rather than immediately.</summary>
    public const byte AtIndex = 0x01;

    /// <inheritdoc/>
    public MessageKind Kind => MessageKind.Stimulus;

    /// <inheritdoc/>
    public int PayloadLength => FixedLength + (StimulusTrain.Length * Trains.Count);

    /// <inheritdoc/>
    public void WritePayload(Span<byte> destination)
    {
        var d = destination;
        if (Trains.Count is < 1 or > ProtocolLimits.MaxTrains) throw new ArgumentException("a stimulus has 1 to 11 trains");
        BinaryPrimitives.WriteUInt16LittleEndian(d, StimId);
        d[2] = Output;
        d[3] = Flags;
        BinaryPrimitives.WriteUInt64LittleEndian(d[4..], StartIndex);
        d[12] = (byte)Trains.Count;
        for (int i = 0; i < Trains.Count; i++) Trains[i].Write(d.Slice(FixedLength + (StimulusTrain.Length * i)));
    }

    /// <summary>Parses a payload; trailing bytes are ignored (§7).</summary>
    public static ParseError TryParse(ReadOnlySpan<byte> p, out StimulusCommand? m)
    {
        m = null;
        if (p.Length < FixedLength) return ParseError.BadLength;
        int count = p[12];
        if (p.Length < FixedLength + (StimulusTrain.Length * count)) return ParseError.BadLength;
        var trains = new StimulusTrain[count];
        for (int i = 0; i < count; i++) trains[i] = StimulusTrain.Read(p.Slice(FixedLength + (StimulusTrain.Length * i)));
        m = new StimulusCommand(BinaryPrimitives.ReadUInt16LittleEndian(p), p[2], p[3], BinaryPrimitives.ReadUInt64LittleEndian(p[4..]), trains);
        return ParseError.None;
    }
}

/// <summary>Ack (0x82, device → host), §5.7. Offsets: 0 acked_seq u16, 2 acked_kind u8, 3 info u32.</summary>
public readonly record struct Ack(ushort AckedSeq, byte AckedKind, uint Info) : IMessage
{
    /// <summary>Payload length.</summary>
    public const int Length = 7;

    /// <inheritdoc/>
    public MessageKind Kind => MessageKind.Ack;

    /// <inheritdoc/>
    public int PayloadLength => Length;

    /// <inheritdoc/>
    public void WritePayload(Span<byte> destination)
    {
        var d = destination;
        BinaryPrimitives.WriteUInt16LittleEndian(d, AckedSeq);
        d[2] = AckedKind;
        BinaryPrimitives.WriteUInt32LittleEndian(d[3..], Info);
    }

    /// <summary>Parses a payload; trailing bytes are ignored (§7).</summary>
    public static ParseError TryParse(ReadOnlySpan<byte> p, out Ack m)
    {
        m = default;
        if (p.Length < Length) return ParseError.BadLength;
        m = new Ack(BinaryPrimitives.ReadUInt16LittleEndian(p), p[2], BinaryPrimitives.ReadUInt32LittleEndian(p[3..]));
        return ParseError.None;
    }
}

/// <summary>Nack (0x83, device → host), §5.8. Offsets: 0 acked_seq u16, 2 acked_kind u8, 3 code u8, 4 detail u16.</summary>
public readonly record struct Nack(ushort AckedSeq, byte AckedKind, byte Code, ushort Detail) : IMessage
{
    /// <summary>Payload length.</summary>
    public const int Length = 6;

    /// <inheritdoc/>
    public MessageKind Kind => MessageKind.Nack;

    /// <inheritdoc/>
    public int PayloadLength => Length;

    /// <inheritdoc/>
    public void WritePayload(Span<byte> destination)
    {
        var d = destination;
        BinaryPrimitives.WriteUInt16LittleEndian(d, AckedSeq);
        d[2] = AckedKind;
        d[3] = Code;
        BinaryPrimitives.WriteUInt16LittleEndian(d[4..], Detail);
    }

    /// <summary>Parses a payload; trailing bytes are ignored (§7).</summary>
    public static ParseError TryParse(ReadOnlySpan<byte> p, out Nack m)
    {
        m = default;
        if (p.Length < Length) return ParseError.BadLength;
        m = new Nack(BinaryPrimitives.ReadUInt16LittleEndian(p), p[2], p[3], BinaryPrimitives.ReadUInt16LittleEndian(p[4..]));
        return ParseError.None;
    }
}

/// <summary>Status (0x84, device → host), §5.9.</summary>
public readonly record struct Status(
    ulong SampleIndex, ulong UptimeUs, ushort ReplySeq, byte Flags, byte StimActiveMask, ushort BufferHighWater,
    ushort BufferCapacity, uint Overruns, uint DroppedSamples, ushort RxCrcErrors, ushort RxFramingErrors, ushort RxFramesLost) : IMessage
{
    /// <summary>Payload length.</summary>
    public const int Length = 38;

    /// <summary>Flag bits.</summary>
    public const byte Reply = 1, Configured = 2, Running = 4, Stimulating = 8, WatchdogTripped = 16;

    /// <inheritdoc/>
    public MessageKind Kind => MessageKind.Status;

    /// <inheritdoc/>
    public int PayloadLength => Length;

    // Offsets: 0 sample_index u64, 8 uptime_us u64, 16 reply_seq u16, 18 flags u8, 19 stim_active_mask u8,
    // 20 buffer_high_water u16, 22 buffer_capacity u16, 24 overruns u32, 28 dropped_samples u32,
    // 32 rx_crc_errors u16, 34 rx_framing_errors u16, 36 rx_frames_lost u16.

    /// <inheritdoc/>
    public void WritePayload(Span<byte> destination)
    {
        var d = destination;
        BinaryPrimitives.WriteUInt64LittleEndian(d, SampleIndex);
        BinaryPrimitives.WriteUInt64LittleEndian(d[8..], UptimeUs);
        BinaryPrimitives.WriteUInt16LittleEndian(d[16..], ReplySeq);
        d[18] = Flags;
        d[19] = StimActiveMask;
        BinaryPrimitives.WriteUInt16LittleEndian(d[20..], BufferHighWater);
        BinaryPrimitives.WriteUInt16LittleEndian(d[22..], BufferCapacity);
        BinaryPrimitives.WriteUInt32LittleEndian(d[24..], Overruns);
        BinaryPrimitives.WriteUInt32LittleEndian(d[28..], DroppedSamples);
        BinaryPrimitives.WriteUInt16LittleEndian(d[32..], RxCrcErrors);
        BinaryPrimitives.WriteUInt16LittleEndian(d[34..], RxFramingErrors);
        BinaryPrimitives.WriteUInt16LittleEndian(d[36..], RxFramesLost);
    }

    /// <summary>Parses a payload; trailing bytes are ignored (§7).</summary>
    public static ParseError TryParse(ReadOnlySpan<byte> p, out Status m)
    {
        m = default;
        if (p.Length < Length) return ParseError.BadLength;
        m = new Status(
            BinaryPrimitives.ReadUInt64LittleEndian(p), BinaryPrimitives.ReadUInt64LittleEndian(p[8..]),
            BinaryPrimitives.ReadUInt16LittleEndian(p[16..]), p[18], p[19], BinaryPrimitives.ReadUInt16LittleEndian(p[20..]),
            BinaryPrimitives.ReadUInt16LittleEndian(p[22..]), BinaryPrimitives.ReadUInt32LittleEndian(p[24..]),
            BinaryPrimitives.ReadUInt32LittleEndian(p[28..]), BinaryPrimitives.ReadUInt16LittleEndian(p[32..]),
            BinaryPrimitives.ReadUInt16LittleEndian(p[34..]), BinaryPrimitives.ReadUInt16LittleEndian(p[36..]));
        return ParseError.None;
    }
}

/// <summary>
/// SampleBlock (0x85, device → host), §5.10, as a view on the frame: nothing is copied or allocated.
/// Offsets: 0 first_sample_index u64, 8 channel_count u8, 9 sample_count u8, 10 samples u16[channels × samples], interleaved by channel.
/// </summary>
public readonly ref struct SampleBlock
{
    /// <summary>Fixed part of the payload.</summary>
    public const int FixedLength = 10;

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
        int values = p[8] * p[9];
        if (p.Length < FixedLength + (2 * values)) return ParseError.BadLength;
        m = new SampleBlock(BinaryPrimitives.ReadUInt64LittleEndian(p), p[8], p[9], p.Slice(FixedLength, 2 * values));
        return ParseError.None;
    }

    /// <summary>Writes a SampleBlock payload; returns its length.</summary>
    public static int WritePayload(Span<byte> d, ulong firstSampleIndex, byte channelCount, ReadOnlySpan<ushort> samples)
    {
        if (channelCount == 0 || samples.Length % channelCount != 0 || samples.Length > ProtocolLimits.MaxSampleValues)
        {
            throw new ArgumentException($"a SampleBlock holds whole periods of {channelCount} channels, at most {ProtocolLimits.MaxSampleValues} values");
        }

        BinaryPrimitives.WriteUInt64LittleEndian(d, firstSampleIndex);
        d[8] = channelCount;
        d[9] = (byte)(samples.Length / channelCount);
        for (int i = 0; i < samples.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(d[(FixedLength + (2 * i))..], samples[i]);
        return FixedLength + (2 * samples.Length);
    }
}

/// <summary>StimulusEvent (0x86, device → host), §5.11: one pulse as played.</summary>
public readonly record struct StimulusEvent(
    ulong OnsetIndex, ushort StimId, byte Output, byte Train, ushort Pulse, short Phase1Code, short Phase2Code, byte Flags) : IMessage
{
    /// <summary>Payload length.</summary>
    public const int Length = 19;

    /// <summary>Flag bits.</summary>
    public const byte Last = 1, Aborted = 2;

    /// <inheritdoc/>
    public MessageKind Kind => MessageKind.StimulusEvent;

    /// <inheritdoc/>
    public int PayloadLength => Length;

    // Offsets: 0 onset_index u64, 8 stim_id u16, 10 output u8, 11 train u8, 12 pulse u16, 14 phase1_code i16, 16 phase2_code i16, 18 flags u8.

    /// <inheritdoc/>
    public void WritePayload(Span<byte> destination)
    {
        var d = destination;
        BinaryPrimitives.WriteUInt64LittleEndian(d, OnsetIndex);
        BinaryPrimitives.WriteUInt16LittleEndian(d[8..], StimId);
        d[10] = Output;
        d[11] = Train;
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], Pulse);
        BinaryPrimitives.WriteInt16LittleEndian(d[14..], Phase1Code);
        BinaryPrimitives.WriteInt16LittleEndian(d[16..], Phase2Code);
        d[18] = Flags;
    }

    /// <summary>Parses a payload; trailing bytes are ignored (§7).</summary>
    public static ParseError TryParse(ReadOnlySpan<byte> p, out StimulusEvent m)
    {
        m = default;
        if (p.Length < Length) return ParseError.BadLength;
        m = new StimulusEvent(BinaryPrimitives.ReadUInt64LittleEndian(p), BinaryPrimitives.ReadUInt16LittleEndian(p[8..]), p[10], p[11],
            BinaryPrimitives.ReadUInt16LittleEndian(p[12..]), BinaryPrimitives.ReadInt16LittleEndian(p[14..]),
            BinaryPrimitives.ReadInt16LittleEndian(p[16..]), p[18]);
        return ParseError.None;
    }
}
