using System.Buffers;
using System.Buffers.Binary;

namespace Bench.Core.Protocol;

/// <summary>A delivered frame: a view into the decoder's buffer, valid until the decoder's next call.</summary>
public readonly ref struct Frame
{
    /// <summary>Creates a view of a decoded frame (header, payload and CRC).</summary>
    public Frame(ReadOnlySpan<byte> decoded)
    {
        Version = decoded[0];
        KindCode = decoded[1];
        Seq = BinaryPrimitives.ReadUInt16LittleEndian(decoded[2..]);
        Payload = decoded[ProtocolLimits.HeaderLength..^ProtocolLimits.CrcLength];
    }

    /// <summary>The protocol major version (1).</summary>
    public byte Version { get; }

    /// <summary>The kind byte as received (may be one this host does not know).</summary>
    public byte KindCode { get; }

    /// <summary>The kind.</summary>
    public MessageKind Kind => (MessageKind)KindCode;

    /// <summary>The sender's sequence number.</summary>
    public ushort Seq { get; }

    /// <summary>The payload.</summary>
    public ReadOnlySpan<byte> Payload { get; }
}

/// <summary>The receiver's counters (PROTOCOL.md §4.4), plus the number of sequence gaps.</summary>
public struct DecoderCounters
{
    /// <summary>Frames delivered.</summary>
    public long FramesOk { readonly get; internal set; }

    /// <summary>COBS-valid bodies of ≥ 6 decoded bytes with a wrong CRC.</summary>
    public long CrcErrors { readonly get; internal set; }

    /// <summary>Bodies whose last COBS group runs past the delimiter.</summary>
    public long CobsErrors { readonly get; internal set; }

    /// <summary>Bodies decoding to fewer than 6 bytes.</summary>
    public long ShortFrames { readonly get; internal set; }

    /// <summary>Bodies that reached a 256th byte.</summary>
    public long Oversized { readonly get; internal set; }

    /// <summary>CRC-valid frames of another protocol major version.</summary>
    public long VersionErrors { readonly get; internal set; }

    /// <summary>Non-zero bytes discarded while hunting for a delimiter.</summary>
    public long BytesSkipped { readonly get; internal set; }

    /// <summary>Returns from hunting after skipped bytes.</summary>
    public long Resyncs { readonly get; internal set; }

    /// <summary>Frames lost, from sequence gaps below 0x8000.</summary>
    public long FramesLost { readonly get; internal set; }

    /// <summary>Sequence jumps of 0x8000 or more (peer restarted, or an old frame).</summary>
    public long SeqResets { readonly get; internal set; }

    /// <summary>Number of sequence gaps (each may lose several frames).</summary>
    public long SequenceGaps { readonly get; internal set; }
}

/// <summary>
/// The incremental receiver of PROTOCOL.md §4: feed it bytes in any chunking; it yields every intact frame and
/// counts everything else. It never throws on bad bytes and allocates nothing after construction.
/// </summary>
public sealed class FrameDecoder
{
    private readonly byte[] body = new byte[ProtocolLimits.MaxBodyLength];
    private readonly byte[] frame = new byte[ProtocolLimits.MaxFrameLength];
    private int bodyLength;
    private bool hunting = true;
    private bool skippedWhileHunting;
    private int lastSeq = -1;
    private DecoderCounters counters;

    /// <summary>The counters since construction or <see cref="Reset"/>.</summary>
    public DecoderCounters Counters => counters;

    /// <summary>The version byte of the last frame counted as a version error (to tell the user which protocol the peer speaks).</summary>
    public byte LastForeignVersion { get; private set; }

    /// <summary>Back to the initial state (HUNT, counters zero), as for a new connection.</summary>
    public void Reset()
    {
        bodyLength = 0;
        hunting = true;
        skippedWhileHunting = false;
        lastSeq = -1;
        counters = default;
    }

    /// <summary>
    /// Consumes bytes from <paramref name="input"/> until a frame is delivered (returns true; the rest of the input
    /// stays in <paramref name="input"/>) or the input is used up (returns false). The frame is valid until the next call.
    /// </summary>
    public bool TryDecode(ref ReadOnlySpan<byte> input, out Frame decoded)
    {
        while (!input.IsEmpty)
        {
            int zero = input.IndexOf((byte)0);
            if (hunting)
            {
                if (zero < 0)
                {
                    counters.BytesSkipped += input.Length;
                    skippedWhileHunting = true;
                    input = default;
                    break;
                }

                if (zero > 0)
                {
                    counters.BytesSkipped += zero;
                    skippedWhileHunting = true;
                }

                if (skippedWhileHunting) counters.Resyncs++;
                skippedWhileHunting = false;
                hunting = false;
                bodyLength = 0;
                input = input[(zero + 1)..];
                continue;
            }

            int take = zero < 0 ? input.Length : zero;
            if (bodyLength + take > ProtocolLimits.MaxBodyLength)
            {
                // The byte that would be the 256th: count it as skipped and hunt from the next one.
                int room = ProtocolLimits.MaxBodyLength - bodyLength;
                counters.Oversized++;
                counters.BytesSkipped++;
                skippedWhileHunting = true;
                hunting = true;
                bodyLength = 0;
                input = input[(room + 1)..];
                continue;
            }

            if (zero < 0)
            {
                input.CopyTo(body.AsSpan(bodyLength));
                bodyLength += input.Length;
                input = default;
                break;
            }

            ReadOnlySpan<byte> closed;
            if (bodyLength == 0)
            {
                closed = input[..zero];   // the whole body is in this chunk: decode straight from it
            }
            else
            {
                input[..zero].CopyTo(body.AsSpan(bodyLength));
                closed = body.AsSpan(0, bodyLength + zero);
            }

            input = input[(zero + 1)..];
            bodyLength = 0;
            if (!closed.IsEmpty && Classify(closed, out decoded))
            {
                return true;
            }
        }

        decoded = default;
        return false;
    }

    private bool Classify(ReadOnlySpan<byte> closed, out Frame decoded)
    {
        decoded = default;
        int length = Cobs.Decode(closed, frame);
        if (length < 0)
        {
            counters.CobsErrors++;
            return false;
        }

        if (length < ProtocolLimits.MinFrameLength)
        {
            counters.ShortFrames++;
            return false;
        }

        var f = frame.AsSpan(0, length);
        if (Crc16.Compute(f[..^ProtocolLimits.CrcLength]) != BinaryPrimitives.ReadUInt16LittleEndian(f[^ProtocolLimits.CrcLength..]))
        {
            counters.CrcErrors++;
            return false;
        }

        if (f[0] != ProtocolLimits.Version)
        {
            counters.VersionErrors++;
            LastForeignVersion = f[0];
            return false;
        }

        counters.FramesOk++;
        int seq = BinaryPrimitives.ReadUInt16LittleEndian(f[2..]);
        if (lastSeq >= 0)
        {
            int gap = (seq - lastSeq - 1) & 0xFFFF;
            if (gap >= 0x8000)
            {
                counters.SeqResets++;
            }
            else if (gap > 0)
            {
                counters.FramesLost += gap;
                counters.SequenceGaps++;
            }
        }

        lastSeq = seq;
        decoded = new Frame(f);
        return true;
    }

    /// <summary>Feeds a whole sequence (e.g. from a <see cref="System.IO.Pipelines.PipeReader"/>), calling <paramref name="onFrame"/> for each frame.</summary>
    public void Decode<TState>(in ReadOnlySequence<byte> input, ref TState state, FrameHandler<TState> onFrame)
    {
        foreach (var segment in input)
        {
            var span = segment.Span;
            while (TryDecode(ref span, out var f))
            {
                onFrame(ref state, f);
            }
        }
    }
}

/// <summary>Receives a frame decoded from a sequence; <paramref name="state"/> is the caller's, passed by reference (no closure).</summary>
public delegate void FrameHandler<TState>(ref TState state, Frame frame);
