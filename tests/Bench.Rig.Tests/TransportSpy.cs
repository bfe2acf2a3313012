using System.Buffers;
using System.IO.Pipelines;
using Bench.Core.Protocol;
using Bench.Rig.Transports;

namespace Bench.Rig.Tests;

/// <summary>A frame the host wrote, decoded, with when it left (on the spy's clock) and whether the spy lost it.</summary>
internal sealed record SentFrame(TimeSpan At, MessageKind Kind, ushort Seq, byte[] Payload, bool Dropped);

/// <summary>
/// Sits between a session and its transport and records every frame the host writes, decoded with
/// <see cref="FrameDecoder"/>, so a test can say what was (and was not) sent instead of waiting to see nothing
/// happen. It can also lose chosen frames, as a bad link would, to make a command go unanswered.
/// </summary>
internal sealed class TransportSpy : IRigTransport
{
    private readonly IRigTransport inner;
    private readonly SpyWriter writer;
    private readonly List<SentFrame> sent = [];
    private readonly TimeProvider time;
    private readonly long start;

    /// <summary>Wraps <paramref name="inner"/> (owned: disposed with the spy).</summary>
    /// <param name="inner">The transport to the rig.</param>
    /// <param name="time">The clock that stamps frames (the session's, so the stamps compare with its times).</param>
    public TransportSpy(IRigTransport inner, TimeProvider? time = null)
    {
        this.inner = inner;
        this.time = time ?? TimeProvider.System;
        start = this.time.GetTimestamp();
        writer = new SpyWriter(this);
    }

    /// <summary>Frames matching this are recorded but not passed on (null: none are lost).</summary>
    public Func<SentFrame, bool>? Drop { get; set; }

    /// <summary>Every frame written so far, in order.</summary>
    public IReadOnlyList<SentFrame> Sent
    {
        get
        {
            lock (sent) return [.. sent];
        }
    }

    /// <summary>The frames of one kind written so far.</summary>
    public List<SentFrame> SentOf(MessageKind kind) => [.. Sent.Where(f => f.Kind == kind)];

    public string Name => inner.Name;

    public PipeReader Input => inner.Input;

    public PipeWriter Output => writer;

    public TimeSpan ResetDelay => inner.ResetDelay;

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    /// <summary>Buffers what the host writes; at each flush decodes it, records each frame and passes on those not dropped.</summary>
    private sealed class SpyWriter(TransportSpy spy) : PipeWriter
    {
        private readonly ArrayBufferWriter<byte> pending = new(4096);
        private readonly FrameDecoder decoder = new();

        public override void Advance(int bytes) => pending.Advance(bytes);

        public override Memory<byte> GetMemory(int sizeHint = 0) => pending.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => pending.GetSpan(sizeHint);

        public override void CancelPendingFlush() => spy.inner.Output.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => spy.inner.Output.Complete(exception);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            var output = spy.inner.Output;
            var bytes = pending.WrittenSpan;
            var at = spy.time.GetElapsedTime(spy.start);
            while (decoder.TryDecode(ref bytes, out var frame))
            {
                var record = new SentFrame(at, frame.Kind, frame.Seq, frame.Payload.ToArray(), false);
                bool drop = spy.Drop?.Invoke(record) ?? false;
                lock (spy.sent) spy.sent.Add(record with { Dropped = drop });
                if (drop) continue;
                // Re-encoded exactly as it was (same version, kind, sequence number and payload), delimiters included.
                int n = FrameEncoder.EncodeFrame(output.GetSpan(ProtocolLimits.MaxWireLength), frame.Version, frame.KindCode, frame.Seq, frame.Payload);
                output.Advance(n);
            }

            pending.ResetWrittenCount();
            return output.FlushAsync(cancellationToken);
        }
    }
}
