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
    /// <param name="inner">The transport to pass through.</param>
    /// <param name="capturePath">The capture file.</param>
    /// <param name="append">Go on at the end of the file (the same rig after a reconnect) instead of starting it anew.</param>
    public CaptureTransport(IRigTransport inner, string capturePath, bool append = false)
    {
        this.inner = inner;
        capture = new FileStream(capturePath, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
        copying = Task.Run(CopyAsync);
    }

    /// <inheritdoc/>
    public string Name => inner.Name;

    /// <inheritdoc/>
    public PipeReader Input => input.Reader;

    /// <inheritdoc/>
    public PipeWriter Output => inner.Output;

    /// <inheritdoc/>
    public TimeSpan ResetDelay => inner.ResetDelay;

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
                    try
                    {
                        capture.Write(segment.Span);
                    }
                    catch (IOException e)
                    {
                        throw new CaptureWriteException($"cannot write the capture {capture.Name}: {e.Message}", e);
                    }

                    BytesCaptured += segment.Length;
                    await input.Writer.WriteAsync(segment).ConfigureAwait(false);
                }

                inner.Input.AdvanceTo(result.Buffer.End);
                long now = Environment.TickCount64;
                if (now - lastFlushTicks >= 200)
                {
                    // To the OS every 200 ms (a crash of Bench loses nothing the OS has); to the disk with it.
                    capture.Flush(flushToDisk: true);
                    lastFlushTicks = now;
                }

                if (result.IsCompleted) break;
            }
        }
        catch (CaptureWriteException e)
        {
            error = e;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
            error = e is RigDisconnectedException ? e : new RigDisconnectedException($"{inner.Name} disconnected: {e.Message}", e);
        }
        finally
        {
            try
            {
                capture.Flush(flushToDisk: true);
            }
            catch (IOException e)
            {
                error ??= new CaptureWriteException($"cannot write the capture {capture.Name}: {e.Message}", e);
            }

            await input.Writer.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await inner.DisposeAsync().ConfigureAwait(false);
        await Task.WhenAny(copying, Task.Delay(1000)).ConfigureAwait(false);
        await capture.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>The capture file could not be written (disk full, removed): the recording stops and says so.</summary>
public sealed class CaptureWriteException : IOException
{
    /// <summary>Creates the exception.</summary>
    public CaptureWriteException(string message, Exception innerException) : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public CaptureWriteException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public CaptureWriteException(string message) : base(message)
    {
    }
}
