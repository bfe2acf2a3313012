using System.IO.Pipelines;
using Bench.Rig.Transports;

namespace Bench.Rig.Recording;

/// <summary>
/// Passes a transport through while writing every byte received into a capture file, exactly as it crossed the
/// wire: the recording's raw frames, replayable through the same decoder (<c>bench decode</c>, <c>bench export</c>).
/// The file is flushed to disk at least every 200 ms, so a crash or a pulled cable loses at most that much.
/// </summary>
public sealed class CaptureTransport : IRigTransport
{
    private readonly IRigTransport inner;
    private readonly FileStream capture;
    private readonly Pipe input = new(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false, pauseWriterThreshold: 0));
    private readonly Task copying;
    private long lastFlushTicks;

    /// <summary>Wraps <paramref name="inner"/> (owned: disposed with this) and writes what it receives to <paramref name="capturePath"/>.</summary>
    public CaptureTransport(IRigTransport inner, string capturePath)
    {
        this.inner = inner;
        capture = new FileStream(capturePath, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
        copying = Task.Run(CopyAsync);
    }

    /// <inheritdoc/>
    public string Name => inner.Name;

    /// <inheritdoc/>
    public PipeReader Input => input.Reader;

    /// <inheritdoc/>
    public PipeWriter Output => inner.Output;

    /// <summary>Bytes captured so far.</summary>
    public long BytesCaptured { get; private set; }

    private async Task CopyAsync()
    {
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await inner.Input.ReadAsync().ConfigureAwait(false);
                foreach (var segment in result.Buffer)
                {
                    capture.Write(segment.Span);
                    BytesCaptured += segment.Length;
                    await input.Writer.WriteAsync(segment).ConfigureAwait(false);
                }

                inner.Input.AdvanceTo(result.Buffer.End);
                long now = Environment.TickCount64;
                if (now - lastFlushTicks >= 200)
                {
                    capture.Flush(flushToDisk: true);
                    lastFlushTicks = now;
                }

                if (result.IsCompleted) break;
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
            error = e is RigDisconnectedException ? e : new RigDisconnectedException($"{inner.Name} disconnected: {e.Message}", e);
        }

        capture.Flush(flushToDisk: true);
        await input.Writer.CompleteAsync(error).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync().ConfigureAwait(false);
        await Task.WhenAny(copying, Task.Delay(1000)).ConfigureAwait(false);
        await capture.DisposeAsync().ConfigureAwait(false);
    }
}
