using System.IO.Pipelines;
using System.Runtime.InteropServices;

namespace Bench.Rig.Transports;

/// <summary>
/// A transport on a Unix file descriptor (a serial port, a pseudo-terminal end) read and written directly: one thread
/// sleeps in poll(2) until bytes arrive (or the transport closes) and hands everything that is there to
/// <see cref="Input"/> in one go; one thread writes <see cref="Output"/>. Nothing polls on a timer, so an idle or
/// slow link costs no CPU and a busy one costs one wake-up per burst the kernel delivers — not per millisecond, as
/// System.IO.Ports' reading loop does on Linux (dotnet/runtime#2379). With a coalescing interval, the reader rests
/// that long after each burst before it looks again (as a USB-serial bridge's latency timer does), so a board that
/// sends a frame every millisecond wakes this process a hundred times a second, not a thousand; the first bytes after
/// a quiet spell (a command's answer) are still read at once.
/// </summary>
public partial class DescriptorTransport : IRigTransport
{
    private readonly int fd;
    private readonly bool ownsDescriptor;
    private readonly int wakeFd;
    // Inline schedulers: a waiting reader resumes on the thread that flushed, never through the thread pool, so a busy
    // pool cannot hold back bytes (a heartbeat held back trips the rig's watchdog).
    private readonly Pipe input = new(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false, pauseWriterThreshold: 0));
    // Output is bounded: when nobody drains the line (a host that died on a pseudo-terminal), the writer waits rather
    // than buffering without end.
    private readonly Pipe output = new(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false, pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19));
    private readonly int coalesceMs;
    private readonly Thread reader;
    private readonly Thread writer;
    private volatile bool stopping;
    private int disposed;

    /// <summary>Starts reading and writing <paramref name="fd"/>, which must be in non-blocking mode.</summary>
    /// <param name="fd">The open descriptor (O_NONBLOCK).</param>
    /// <param name="name">What to call it in messages.</param>
    /// <param name="ownsDescriptor">Close it with the transport (only when the caller handed it over).</param>
    /// <param name="coalesce">How long the reader rests after a burst before it reads again (zero: never).</param>
    public DescriptorTransport(int fd, string name, bool ownsDescriptor, TimeSpan coalesce = default)
    {
        this.fd = fd;
        coalesceMs = (int)Math.Ceiling(Math.Clamp(coalesce.TotalMilliseconds, 0, 100));
        this.ownsDescriptor = ownsDescriptor;
        Name = name;
        wakeFd = EventFd(0, EfdCloexec | EfdNonblock);
        if (wakeFd < 0) throw new IOException($"eventfd failed (errno {Marshal.GetLastPInvokeError()})");
        // Threads of their own: they sleep in the kernel, cost nothing while idle, and never wait for the thread pool.
        reader = new Thread(ReadLoop) { IsBackground = true, Name = "bench read " + name };
        writer = new Thread(WriteLoop) { IsBackground = true, Name = "bench write " + name };
        reader.Start();
        writer.Start();
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public PipeReader Input => input.Reader;

    /// <inheritdoc/>
    public PipeWriter Output => output.Writer;

    /// <inheritdoc/>
    public virtual TimeSpan ResetDelay => TimeSpan.Zero;

    /// <summary>Bytes received so far.</summary>
    public long BytesReceived => Interlocked.Read(ref bytesReceived);

    /// <summary>Wake-ups of the reading thread that found bytes (one per burst the kernel delivered).</summary>
    public long Reads => Interlocked.Read(ref reads);

    private long bytesReceived, reads;

    private unsafe void ReadLoop()
    {
        Exception? error = null;
        Span<PollFd> fds = stackalloc PollFd[2];
        try
        {
            while (!stopping)
            {
                fds[0] = new PollFd { Fd = fd, Events = PollIn };
                fds[1] = new PollFd { Fd = wakeFd, Events = PollIn };
                int ready;
                fixed (PollFd* p = fds) ready = Poll(p, 2, -1);
                if (ready < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == EIntr) continue;
                    throw new IOException($"poll failed (errno {errno})");
                }

                if (stopping || fds[1].Revents != 0) break;
                if ((fds[0].Revents & (PollIn | PollHup | PollErr | PollNval)) == 0) continue;
                // Everything the kernel holds now, into the pipe, then one flush: one wake-up of the reader per burst.
                int total = 0;
                while (true)
                {
                    var memory = input.Writer.GetSpan(64 * 1024);
                    nint n;
                    fixed (byte* b = memory) n = Read(fd, b, memory.Length);
                    if (n > 0)
                    {
                        input.Writer.Advance((int)n);
                        total += (int)n;
                        if (total >= 1 << 20) break;
                        continue;
                    }

                    if (n == 0)
                    {
                        error = new RigDisconnectedException($"{Name} closed the connection");
                        break;
                    }

                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == EIntr) continue;
                    if (errno == EAgain) break;
                    // EIO: a pseudo-terminal's other end closed, or a USB serial device was unplugged.
                    error = new RigDisconnectedException($"{Name} disconnected: {Marshal.GetPInvokeErrorMessage(errno)}");
                    break;
                }

                if (total > 0)
                {
                    Interlocked.Add(ref bytesReceived, total);
                    Interlocked.Increment(ref reads);
                    var flushing = input.Writer.FlushAsync();
                    var flushed = flushing.IsCompleted ? flushing.Result : flushing.AsTask().GetAwaiter().GetResult();
                    if (flushed.IsCompleted) break;   // nobody reads any more
                }

                if (error is not null) break;
                if ((fds[0].Revents & PollNval) != 0)
                {
                    error = new RigDisconnectedException($"{Name} was closed");
                    break;
                }

                if (total > 0 && coalesceMs > 0)
                {
                    // Rest, but wake at once for disposal.
                    var rest = new PollFd { Fd = wakeFd, Events = PollIn };
                    if (Poll(&rest, 1, coalesceMs) > 0) break;
                }
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            error = new RigDisconnectedException($"{Name} disconnected: {e.Message}", e);
        }

        input.Writer.Complete(stopping ? null : error);
    }

    private unsafe void WriteLoop()
    {
        var pipe = output.Reader;
        Exception? error = null;
        try
        {
            while (true)
            {
                // Blocking here on purpose: this thread exists to write, and sleeps until there is something to write.
                var result = pipe.ReadAsync().AsTask().GetAwaiter().GetResult();
                foreach (var segment in result.Buffer) WriteAll(segment.Span);
                pipe.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled) break;
            }
        }
        catch (IOException e)
        {
            error = e is RigDisconnectedException ? e : new RigDisconnectedException($"{Name} disconnected: {e.Message}", e);
        }

        pipe.Complete(error);
    }

    private unsafe void WriteAll(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            nint n;
            fixed (byte* b = data) n = Write(fd, b, data.Length);
            if (n > 0)
            {
                data = data[(int)n..];
                continue;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (n < 0 && errno == EIntr) continue;
            if (n < 0 && errno == EAgain)
            {
                // The line's buffer is full (nobody reads the other end): wait for room, but not for ever.
                var out1 = new PollFd { Fd = fd, Events = PollOut };
                if (Poll(&out1, 1, 2000) == 0) throw new IOException($"nothing drained {Name} for 2 s");
                if (stopping) throw new IOException($"{Name} is closing");
                continue;
            }

            throw new IOException(Marshal.GetPInvokeErrorMessage(errno));
        }
    }

    /// <summary>Stops both threads, lets pending output out first, and closes the descriptor if this transport owns it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        await output.Writer.CompleteAsync().ConfigureAwait(false);
        // Let pending output reach the device (e.g. a final StopAll) before the descriptor closes.
        await Task.Run(() => writer.Join(500)).ConfigureAwait(false);
        stopping = true;
        WakeReader();
        await Task.Run(() => reader.Join(1000)).ConfigureAwait(false);
        output.Reader.CancelPendingRead();
        await Task.Run(() => writer.Join(500)).ConfigureAwait(false);
        if (ownsDescriptor) _ = Close(fd);
        _ = Close(wakeFd);
        OnClosed();
        GC.SuppressFinalize(this);
    }

    /// <summary>Called once the descriptor is closed (a serial port releases its lock here).</summary>
    protected virtual void OnClosed()
    {
    }

    private unsafe void WakeReader()
    {
        ulong one = 1;
        _ = Write(wakeFd, (byte*)&one, sizeof(ulong));
    }

    private const short PollIn = 0x1, PollOut = 0x4, PollErr = 0x8, PollHup = 0x10, PollNval = 0x20;
    private const int EIntr = 4, EAgain = 11, EfdCloexec = 0x80000, EfdNonblock = 0x800;

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint Read(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint Write(int fd, byte* buffer, nint count);

    /// <summary>close(2).</summary>
    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private protected static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static partial int EventFd(uint initial, int flags);
}
