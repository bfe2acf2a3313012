using System.Buffers;
using BenchmarkDotNet.Attributes;
using Bench.Core.Protocol;

namespace Bench.Benchmarks;

/// <summary>
/// Decoding SampleBlock traffic (full blocks: 119 samples, 257 bytes on the wire) on one core: delimiter search,
/// COBS, CRC, sequence accounting and the SampleBlock header. OperationsPerInvoke is the number of wire bytes, so
/// 1 / Mean (ns) is GB/s.
/// </summary>
[MemoryDiagnoser]
public class DecodeBenchmarks
{
    private const int Frames = 4096;
    private const int WireBytes = Frames * ProtocolLimits.MaxWireLength;
    private readonly FrameDecoder decoder = new();
    private byte[] capture = [];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        var output = new ArrayBufferWriter<byte>(WireBytes);
        var encoder = new FrameEncoder();
        var samples = new ushort[ProtocolLimits.MaxSampleValues];
        for (int f = 0; f < Frames; f++)
        {
            // A 10-bit ADC around mid-scale, as a recording of a resting cell looks.
            for (int i = 0; i < samples.Length; i++) samples[i] = (ushort)(480 + random.Next(64));
            encoder.WriteSampleBlock(output, (ulong)f * 119, 1, samples);
        }

        capture = output.WrittenSpan.ToArray();
        if (capture.Length != WireBytes) throw new InvalidOperationException($"capture is {capture.Length} bytes, expected {WireBytes}");
    }

    [Benchmark(OperationsPerInvoke = WireBytes)]
    public long DecodeSampleBlocks()
    {
        long last = 0;
        ReadOnlySpan<byte> span = capture;
        while (decoder.TryDecode(ref span, out var frame))
        {
            if (frame.Kind == MessageKind.SampleBlock && SampleBlock.TryParse(frame.Payload, out var block) == ParseError.None)
            {
                last += (long)block.FirstSampleIndex + block[block.SampleCount - 1, 0];
            }
        }

        return last;
    }
}
