using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Bench.Core.Protocol;

namespace Bench.Core.Tests.Protocol;

/// <summary>The C# codec against every golden vector of firmware-protocol/vectors/vectors.json (PROTOCOL.md §11).</summary>
public class VectorTests
{
    private static readonly JsonArray Vectors = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "vectors", "vectors.json")))!.AsArray();

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var v in Vectors) data.Add(v!["name"]!.GetValue<string>());
        return data;
    }

    private static JsonNode Vector(string name) => Vectors.First(v => v!["name"]!.GetValue<string>() == name)!;

    /// <summary>Decodes <paramref name="wire"/> fed in chunks of the given sizes (cycled); returns the frames as JSON, the counters and the raw frames.</summary>
    internal static (JsonArray Frames, JsonObject Errors, List<byte[]> Payloads, List<(byte Version, byte Kind, ushort Seq)> Headers) Decode(byte[] wire, int[] chunks)
    {
        var decoder = new FrameDecoder();
        var frames = new JsonArray();
        var payloads = new List<byte[]>();
        var headers = new List<(byte, byte, ushort)>();
        int at = 0, c = 0;
        while (at < wire.Length)
        {
            int n = Math.Min(chunks[c++ % chunks.Length], wire.Length - at);
            ReadOnlySpan<byte> span = wire.AsSpan(at, n);
            at += n;
            while (decoder.TryDecode(ref span, out var frame))
            {
                frames.Add(ToJson(frame));
                payloads.Add(frame.Payload.ToArray());
                headers.Add((frame.Version, frame.KindCode, frame.Seq));
            }
        }

        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            MessageJson.WriteCounters(w, decoder.Counters);
            w.WriteEndObject();
        }

        return (frames, JsonNode.Parse(buffer.WrittenSpan)!.AsObject(), payloads, headers);
    }

    private static JsonNode ToJson(Frame frame)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer)) MessageJson.Write(w, frame);
        return JsonNode.Parse(buffer.WrittenSpan)!;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Decodes_every_vector_in_any_chunking_to_exactly_its_frames_and_counters(string name)
    {
        var v = Vector(name);
        byte[] wire = Convert.FromHexString(v["hex"]!.GetValue<string>());
        foreach (var chunks in new[] { new[] { int.MaxValue }, [1], [2], [3, 1, 7], [5, 64, 1] })
        {
            var (frames, errors, _, _) = Decode(wire, chunks);
            Assert.True(JsonNode.DeepEquals(v["frames"], frames), $"{name} chunks {string.Join(',', chunks)}: frames {frames.ToJsonString()} expected {v["frames"]!.ToJsonString()}");
            Assert.True(JsonNode.DeepEquals(v["errors"], errors), $"{name}: counters {errors.ToJsonString()} expected {v["errors"]!.ToJsonString()}");
        }

        if (v["valid"]!.GetValue<bool>() && v["frames"]!.AsArray().Count == 1)
        {
            Assert.True(JsonNode.DeepEquals(v["fields"], v["frames"]![0]));
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Canonical_vectors_re_encode_to_exactly_their_bytes_through_the_typed_messages(string name)
    {
        var v = Vector(name);
        if (!v["canonical"]!.GetValue<bool>()) return;
        byte[] wire = Convert.FromHexString(v["hex"]!.GetValue<string>());
        var (_, _, payloads, headers) = Decode(wire, [int.MaxValue]);
        var output = new ArrayBufferWriter<byte>();
        for (int i = 0; i < payloads.Count; i++)
        {
            var (version, kind, seq) = headers[i];
            var encoder = new FrameEncoder { NextSeq = seq };
            byte[]? typed = RewriteThroughTypes((MessageKind)kind, payloads[i]);
            if (typed is not null) Assert.Equal(payloads[i], typed);
            if (version == ProtocolLimits.Version)
            {
                encoder.Write(output, (MessageKind)kind, typed ?? payloads[i]);
            }
        }

        Assert.Equal(v["hex"]!.GetValue<string>(), Convert.ToHexStringLower(output.WrittenSpan));
    }

    /// <summary>Parses a payload into its message type and writes it back; null for kinds without fields or that do not parse.</summary>
    private static byte[]? RewriteThroughTypes(MessageKind kind, byte[] payload)
    {
        static byte[] Bytes<T>(T m) where T : IMessage
        {
            var b = new byte[m.PayloadLength];
            m.WritePayload(b);
            return b;
        }

        switch (kind)
        {
            case MessageKind.Hello when Hello.TryParse(payload, out var m) == ParseError.None: return Bytes(m);
            case MessageKind.Configure when Configure.TryParse(payload, out var m) == ParseError.None: return Bytes(m!);
            case MessageKind.Stimulus when StimulusCommand.TryParse(payload, out var m) == ParseError.None: return Bytes(m!);
            case MessageKind.DeviceInfo when DeviceInfo.TryParse(payload, out var m) == ParseError.None: return Bytes(m!);
            case MessageKind.Ack when Ack.TryParse(payload, out var m) == ParseError.None: return Bytes(m);
            case MessageKind.Nack when Nack.TryParse(payload, out var m) == ParseError.None: return Bytes(m);
            case MessageKind.Status when Status.TryParse(payload, out var m) == ParseError.None: return Bytes(m);
            case MessageKind.StimulusEvent when StimulusEvent.TryParse(payload, out var m) == ParseError.None: return Bytes(m);
            case MessageKind.SampleBlock when SampleBlock.TryParse(payload, out var m) == ParseError.None:
                var values = new ushort[m.ChannelCount * m.SampleCount];
                m.CopyTo(values);
                var b = new byte[ProtocolLimits.MaxPayloadLength];
                int n = SampleBlock.WritePayload(b, m.FirstSampleIndex, m.ChannelCount, values);
                return b[..n];
            default: return null;
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void No_single_bit_flip_on_the_wire_of_a_valid_single_frame_vector_delivers_a_frame(string name)
    {
        var v = Vector(name);
        if (!v["valid"]!.GetValue<bool>() || !v["canonical"]!.GetValue<bool>() || v["frames"]!.AsArray().Count != 1) return;
        byte[] wire = Convert.FromHexString(v["hex"]!.GetValue<string>());
        for (int bit = 0; bit < wire.Length * 8; bit++)
        {
            var damaged = (byte[])wire.Clone();
            damaged[bit / 8] ^= (byte)(1 << (bit % 8));
            var (frames, _, _, _) = Decode(damaged, [int.MaxValue]);
            Assert.True(frames.Count == 0, $"{name}: flipping bit {bit} delivered {frames.ToJsonString()}");
        }
    }

    [Fact]
    public void Every_kind_and_the_error_cases_are_covered_by_the_vectors()
    {
        var kinds = Vectors.SelectMany(v => v!["frames"]!.AsArray()).Select(f => f!["kind"]!.GetValue<string>()).ToHashSet();
        foreach (var kind in Enum.GetNames<MessageKind>()) Assert.Contains(kind, kinds);
        foreach (var counter in new[] { "crc_errors", "cobs_errors", "short_frames", "oversized", "version_errors", "bytes_skipped", "resyncs", "frames_lost", "seq_resets" })
        {
            Assert.Contains(Vectors, v => v!["errors"]![counter]!.GetValue<long>() > 0);
        }
    }
}
