using System.Buffers;
using System.Text;
using Bench.Core.Protocol;
using CsCheck;

namespace Bench.Core.Tests.Protocol;

public class CodecTests
{
    [Fact]
    public void Crc_has_the_catalogued_check_value() =>
        Assert.Equal(0x29B1, Crc16.Compute(Encoding.ASCII.GetBytes("123456789")));

    [Fact]
    public void Crc_slicing_equals_the_bitwise_definition_for_every_length()
    {
        var random = new Random(7);
        for (int length = 0; length < 300; length++)
        {
            var data = new byte[length];
            random.NextBytes(data);
            int crc = 0xFFFF;
            foreach (byte b in data)
            {
                crc ^= b << 8;
                for (int k = 0; k < 8; k++) crc = (crc & 0x8000) != 0 ? ((crc << 1) ^ 0x1021) & 0xFFFF : (crc << 1) & 0xFFFF;
            }

            Assert.Equal(crc, Crc16.Compute(data));
        }
    }

    [Theory]
    [InlineData("11220033", "0311220233")]
    [InlineData("00", "0101")]
    [InlineData("", "01")]
    public void Cobs_matches_the_specification_examples(string raw, string encoded)
    {
        var dest = new byte[300];
        int n = Cobs.Encode(Convert.FromHexString(raw), dest);
        Assert.Equal(encoded, Convert.ToHexStringLower(dest.AsSpan(0, n)));
        var back = new byte[300];
        int m = Cobs.Decode(dest.AsSpan(0, n), back);
        Assert.Equal(raw.ToLowerInvariant(), Convert.ToHexStringLower(back.AsSpan(0, m)));
    }

    [Fact]
    public void A_254_byte_run_is_one_block_without_a_trailing_code()
    {
        var raw = Enumerable.Range(1, 254).Select(i => (byte)i).ToArray();
        var dest = new byte[300];
        int n = Cobs.Encode(raw, dest);
        Assert.Equal(255, n);
        Assert.Equal(0xFF, dest[0]);
    }

    [Fact]
    public void Cobs_fast_path_decodes_exactly_as_the_group_by_group_definition()
    {
        Gen.Byte[1, 255].Array[0, 255].Sample(body =>
        {
            var fast = new byte[254];
            var slow = new byte[254];
            int a = Cobs.Decode(body, fast);
            int b = Cobs.DecodeByGroups(body, slow);
            Assert.Equal(b, a);
            if (a > 0) Assert.Equal(slow[..a], fast[..a]);
        }, iter: 20000);
    }

    private static readonly Gen<byte[]> Payload = Gen.Byte.Array[0, ProtocolLimits.MaxPayloadLength];

    private static readonly Gen<(byte Kind, ushort Seq, byte[] Payload)> AnyFrame = Gen.Select(Gen.Byte, Gen.UShort, Payload);

    private static byte[] Wire(byte kind, ushort seq, byte[] payload)
    {
        var wire = new byte[ProtocolLimits.MaxWireLength];
        int n = FrameEncoder.EncodeFrame(wire, ProtocolLimits.Version, kind, seq, payload);
        return wire[..n];
    }

    private static (List<string> Frames, DecoderCounters Counters) DecodeInChunks(byte[] bytes, int[] chunks)
    {
        var d = new FrameDecoder();
        var frames = new List<string>();
        int at = 0, c = 0;
        while (at < bytes.Length)
        {
            int n = Math.Clamp(chunks.Length == 0 ? bytes.Length : chunks[c++ % chunks.Length], 1, bytes.Length - at);
            ReadOnlySpan<byte> span = bytes.AsSpan(at, n);
            at += n;
            while (d.TryDecode(ref span, out var f)) frames.Add($"{f.KindCode}:{f.Seq}:{Convert.ToHexString(f.Payload)}");
        }

        return (frames, d.Counters);
    }

    [Fact]
    public void Any_bytes_in_any_chunking_decode_without_crashing_and_the_same_as_in_one_piece()
    {
        Gen.Select(Gen.Byte.Array[0, 2000], Gen.Int[1, 300].Array[1, 20]).Sample((bytes, chunks) =>
        {
            var whole = DecodeInChunks(bytes, []);
            var pieces = DecodeInChunks(bytes, chunks);
            Assert.Equal(whole.Frames, pieces.Frames);
            Assert.Equal(whole.Counters, pieces.Counters);
        }, iter: 2000);
    }

    [Fact]
    public void Valid_frames_round_trip_through_garbage_and_any_chunking()
    {
        // Garbage before the first delimiter is skipped; short garbage between frames (≤ 5 bytes) can never form a
        // frame, so exactly the encoded frames come out, in order.
        Gen.Select(AnyFrame.List[1, 20], Gen.Byte.Array[0, 300], Gen.Byte.Array[0, 5], Gen.Int[1, 400].Array[1, 8]).Sample((frames, lead, between, chunks) =>
        {
            var stream = new List<byte>(lead.Where(b => b != 0));
            foreach (var (kind, seq, payload) in frames)
            {
                stream.AddRange(Wire(kind, seq, payload));
                stream.AddRange(between);
                stream.Add(0);
            }

            var (decoded, counters) = DecodeInChunks([.. stream], chunks);
            Assert.Equal(frames.Select(f => $"{f.Kind}:{f.Seq}:{Convert.ToHexString(f.Payload)}"), decoded);
            Assert.Equal(frames.Count, counters.FramesOk);
            Assert.Equal(0, counters.CrcErrors);
        }, iter: 500);
    }

    [Fact]
    public void Every_single_bit_error_in_a_frame_is_detected()
    {
        AnyFrame.Sample((kind, seq, payload) =>
        {
            // The frame as the sender built it (header, payload, CRC), before COBS.
            var wire = Wire(kind, seq, payload);
            var raw = new byte[ProtocolLimits.MaxFrameLength];
            int length = Cobs.Decode(wire.AsSpan(1, wire.Length - 2), raw);
            var body = new byte[ProtocolLimits.MaxBodyLength + 2];
            for (int bit = 0; bit < length * 8; bit++)
            {
                raw[bit / 8] ^= (byte)(1 << (bit % 8));
                body[0] = 0;
                int n = Cobs.Encode(raw.AsSpan(0, length), body.AsSpan(1));
                body[n + 1] = 0;
                var (decoded, counters) = DecodeInChunks(body[..(n + 2)], []);
                Assert.Empty(decoded);
                raw[bit / 8] ^= (byte)(1 << (bit % 8));
            }
        }, iter: 60);
    }

    [Fact]
    public void Sequence_gaps_are_counted_not_guessed()
    {
        var output = new ArrayBufferWriter<byte>();
        var encoder = new FrameEncoder { NextSeq = 65530 };
        for (int i = 0; i < 20; i++)
        {
            ushort seq = encoder.Write(output, MessageKind.Heartbeat);
            if (seq is 65534 or 2 or 3) output.Clear(); // lose these frames (65534, and 2 and 3 after the wrap)
        }

        var (_, counters) = DecodeInChunks(output.WrittenSpan.ToArray(), []);
        // Only frames after the last Clear survive: 4 … 13.
        Assert.Equal(10, counters.FramesOk);
        Assert.Equal(0, counters.FramesLost);

        var d = new FrameDecoder();
        var all = new List<byte>();
        foreach (ushort seq in new ushort[] { 10, 11, 14, 15, 20, 3 })
        {
            all.AddRange(Wire((byte)MessageKind.Heartbeat, seq, []));
        }

        ReadOnlySpan<byte> span = all.ToArray();
        while (d.TryDecode(ref span, out _))
        {
        }

        Assert.Equal(2 + 4, d.Counters.FramesLost);     // 12, 13 and 16…19
        Assert.Equal(2, d.Counters.SequenceGaps);
        Assert.Equal(1, d.Counters.SeqResets);         // 20 → 3 jumps backwards
    }

    [Fact]
    public void Sample_blocks_decode_without_allocating()
    {
        var output = new ArrayBufferWriter<byte>();
        var encoder = new FrameEncoder();
        var samples = Enumerable.Range(0, 119).Select(i => (ushort)(500 + i)).ToArray();
        for (int i = 0; i < 100; i++) encoder.WriteSampleBlock(output, (ulong)(i * 119), 1, samples);
        var bytes = output.WrittenSpan.ToArray();
        var decoder = new FrameDecoder();
        long sum = 0;
        void Run()
        {
            ReadOnlySpan<byte> span = bytes;
            while (decoder.TryDecode(ref span, out var f))
            {
                if (SampleBlock.TryParse(f.Payload, out var block) == ParseError.None) sum += block[block.SampleCount - 1, 0];
            }
        }

        Assert.Equal(0, Allocations.Least(Run));
        // Four runs of the 100 blocks (a warm-up and three measured), each decoded whole.
        Assert.Equal(400L * 618, sum);
        Assert.Equal(400, decoder.Counters.FramesOk);
    }

    [Fact]
    public void A_sequence_of_segments_decodes_like_one_span()
    {
        var output = new ArrayBufferWriter<byte>();
        var encoder = new FrameEncoder();
        for (int i = 0; i < 10; i++) encoder.Write(output, new Ack((ushort)i, 2, (uint)i));
        var bytes = output.WrittenSpan.ToArray();
        var first = new Segment(bytes.AsMemory(0, 17));
        var last = first.Append(bytes.AsMemory(17, 40)).Append(bytes.AsMemory(57));
        var sequence = new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
        int count = 0;
        new FrameDecoder().Decode(sequence, ref count, (ref int n, Frame f) =>
        {
            Assert.Equal(ParseError.None, Ack.TryParse(f.Payload, out var ack));
            Assert.Equal((uint)n, ack.Info);
            n++;
        });
        Assert.Equal(10, count);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
