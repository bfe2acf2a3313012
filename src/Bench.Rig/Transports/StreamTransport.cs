using System.Buffers;
using System.IO.Pipelines;

namespace Bench.Rig.Transports;

/// <summary>
/// A transport over a <see cref="Stream"/> (a serial port's, a socket's, a pseudo-terminal's): one loop copies what the
/// stream yields into <see cref="Input"/>, another copies <see cref="Output"/> into the stream. An I/O error or the end
/// of the stream completes <see cref="Input"/> with <see cref="RigDisconnectedException"/>.
/// </summary>
public class StreamTransport : IRigTransport
{
    private readonly Stream stream;
    private readonly bool ownsStream;
    // Inline schedulers: a waiting reader resumes on the thread that flushed, never through the thread pool, so a busy
    // pool cannot hold back bytes (a heartbeat held back trips the rig's watchdog).
    private readonly Pipe input = new(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false, pauseWriterThreshold: 0));
    // Output is bounded: when nobody drains the line (a host that died on a pseudo-terminal), the writer waits
    // rather than buffering without end.
    private readonly Pipe output = new(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false, pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19));
    private readonly CancellationTokenSource stopping = new();
    private readonly Task reading;
    private readonly Task writing;
    private int disposed;

    /// <summary>Starts copying in both directions.</summary>
    /// <param name="stream">The byte stream.</param>
    /// <param name="name">What to call it in messages.</param>
    /// <param name="ownsStream">Dispose the stream with the transport (only when this transport created it).</param>
    /// <param name="blocking">The stream's reads and writes block a thread (serial ports, terminals): each direction gets a
    /// thread of its own rather than tying up the thread pool, which must stay free for the timing-critical loops.</param>
    public StreamTransport(Stream stream, string name, bool ownsStream, bool blocking = false)
    {
        this.stream = stream;
        this.ownsStream = ownsStream;
        Name = name;
        reading = blocking
            ? Task.Factory.StartNew(ReadLoopBlocking, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)
            : Task.Run(ReadLoopAsync);
        writing = blocking
            ? Task.Factory.StartNew(WriteLoopBlocking, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)
            : Task.Run(WriteLoopAsync);
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public PipeReader Input => input.Reader;

    /// <inheritdoc/>
    public PipeWriter Output => output.Writer;

    private async Task ReadLoopAsync()
    {
        Exception? error = null;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                var memory = input.Writer.GetMemory(64 * 1024);
                int n = await stream.ReadAsync(memory, stopping.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    error = new RigDisconnectedException($"{Name} closed the connection");
                    break;
                }

                input.Writer.Advance(n);
                await input.Writer.FlushAsync().ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or UnauthorizedAccessException or InvalidOperationException)
        {
            error = new RigDisconnectedException($"{Name} disconnected: {e.Message}", e);
        }

        await input.Writer.CompleteAsync(stopping.IsCancellationRequested ? null : error).ConfigureAwait(false);
    }

    private void ReadLoopBlocking()
    {
        Exception? error = null;
        var buffer = new byte[64 * 1024];
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                int n = stream.Read(buffer);
                if (n == 0)
                {
                    if (stopping.IsCancellationRequested) break;
                    error = new RigDisconnectedException($"{Name} closed the connection");
                    break;
                }

                input.Writer.Write(buffer.AsSpan(0, n));
                input.Writer.FlushAsync().AsTask().GetAwaiter().GetResult();
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or UnauthorizedAccessException or InvalidOperationException or TimeoutException)
        {
            error = stopping.IsCancellationRequested ? null : new RigDisconnectedException($"{Name} disconnected: {e.Message}", e);
        }

        input.Writer.Complete(error);
    }

    private void WriteLoopBlocking()
    {
        var reader = output.Reader;
        try
        {
            while (true)
            {
                var result = reader.ReadAsync(stopping.Token).AsTask().GetAwaiter().GetResult();
                foreach (var segment in result.Buffer) stream.Write(segment.Span);
                stream.Flush();
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) break;
            }

            reader.Complete();
        }
        catch (OperationCanceledException)
        {
            reader.Complete();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or UnauthorizedAccessException or InvalidOperationException or TimeoutException)
        {
            reader.Complete(new RigDisconnectedException($"{Name} disconnected: {e.Message}", e));
        }
    }

    private async Task WriteLoopAsync()
    {
        var reader = output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(stopping.Token).ConfigureAwait(false);
                foreach (var segment in result.Buffer)
                {
                    await stream.WriteAsync(segment, stopping.Token).ConfigureAwait(false);
                }

                await stream.FlushAsync(stopping.Token).ConfigureAwait(false);
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) break;
            }

            await reader.CompleteAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or UnauthorizedAccessException or InvalidOperationException or TimeoutException)
        {
            // Writers learn of it at their next flush.
            await reader.CompleteAsync(new RigDisconnectedException($"{Name} disconnected: {e.Message}", e)).ConfigureAwait(false);
        }
    }

    /// <summary>Stops both loops and releases the stream if this transport owns it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        await output.Writer.CompleteAsync().ConfigureAwait(false);
        // Let pending output reach the device (e.g. a final StopAll) before the stream closes.
        await Task.WhenAny(writing, Task.Delay(500)).ConfigureAwait(false);
        await stopping.CancelAsync().ConfigureAwait(false);
        if (ownsStream) await DisposeStreamAsync().ConfigureAwait(false);
        await Task.WhenAny(Task.WhenAll(reading, writing), Task.Delay(1000)).ConfigureAwait(false);
        stopping.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Closes the stream; serial ports and terminals override to release their handles as well.</summary>
    protected virtual ValueTask DisposeStreamAsync() => stream.DisposeAsync();
}
