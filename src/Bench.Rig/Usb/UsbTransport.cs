using System.Buffers;
using System.IO.Pipelines;
using Bench.Rig.Transports;

namespace Bench.Rig.Usb;

/// <summary>
/// An <see cref="IRigTransport"/> over a pair of USB bulk endpoints.
/// A reader thread turns bulk IN transfers into <see cref="Input"/>; a writer thread turns
/// <see cref="Output"/> into bulk OUT transfers, each followed by a zero-length packet when its length
/// is a non-zero multiple of the max packet size (so the device sees where the transfer ends).
/// </summary>
/// <remarks>
/// Errors: a disconnect (<see cref="UsbError.NoDevice"/> or <see cref="UsbError.Io"/>) in either direction
/// stops both threads; <see cref="Output"/> then throws <see cref="RigDisconnectedException"/> on write and
/// afterwards <see cref="Input"/> throws it on read (bytes not yet read by then are dropped). A stall or
/// timeout fails only its own direction with an <see cref="IOException"/>, after one attempt to clear the halt.
/// After <see cref="DisposeAsync"/>, Input is complete and writes throw <see cref="ObjectDisposedException"/>;
/// output not yet sent is dropped.
/// </remarks>
public sealed class UsbTransport : IRigTransport
{
    /// <summary>Default <c>readTimeoutMs</c>: how long one bulk IN transfer waits, which bounds how long Dispose waits for the reader.</summary>
    public const int DefaultReadTimeoutMs = 100;

    /// <summary>Default <c>writeTimeoutMs</c>: a healthy device takes a 16 KiB transfer in well under this, even at full speed.</summary>
    public const int DefaultWriteTimeoutMs = 500;

    /// <summary>
    /// Size of each bulk IN request. A multiple of every legal bulk packet size (so no overflow); large for
    /// throughput; no latency cost since a transfer ends at the device's short packet or ZLP, and on a
    /// timeout the bytes received so far are still delivered.
    /// </summary>
    internal const int ReadBufferBytes = 16 * 1024;

    /// <summary>Largest bulk OUT transfer; bigger pending output is split.</summary>
    internal const int MaxWriteTransferBytes = 16 * 1024;

    // Room for ~1 s of a fast ephys stream, so a briefly slow consumer does not stall the USB reads.
    private const long InputPauseBytes = 1024 * 1024;

    private readonly IUsbBulkEndpoints endpoints;
    private readonly bool ownsEndpoints;
    private readonly string label;
    private readonly int readTimeoutMs;
    private readonly int writeTimeoutMs;
    private readonly Pipe input;
    private readonly Pipe output;
    private readonly CancellationTokenSource stop = new();
    private readonly Thread readerThread;
    private readonly Thread writerThread;
    private readonly TaskCompletionSource readerExited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource writerExited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private RigDisconnectedException? disconnect; // set once, by whichever thread sees the disconnect first
    private volatile bool disposing;
    private int disposed;

    /// <summary>
    /// Runs a transport over <paramref name="endpoints"/>, which the caller keeps ownership of:
    /// disposing the transport does not dispose them.
    /// </summary>
    /// <param name="endpoints">The claimed bulk endpoint pair.</param>
    /// <param name="address">The device, used for <see cref="Name"/> and in messages.</param>
    /// <param name="readTimeoutMs">Timeout of each bulk IN transfer (a timeout just repeats the read).</param>
    /// <param name="writeTimeoutMs">Timeout of each bulk OUT transfer (a timeout fails <see cref="Output"/>).</param>
    public UsbTransport(IUsbBulkEndpoints endpoints, UsbAddress address,
        int readTimeoutMs = DefaultReadTimeoutMs, int writeTimeoutMs = DefaultWriteTimeoutMs)
        : this(endpoints, address, ownsEndpoints: false, readTimeoutMs, writeTimeoutMs)
    {
    }

    internal UsbTransport(IUsbBulkEndpoints endpoints, UsbAddress address, bool ownsEndpoints, int readTimeoutMs, int writeTimeoutMs)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(readTimeoutMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(writeTimeoutMs);
        if (endpoints.MaxPacketSize <= 0)
            throw new ArgumentException($"MaxPacketSize must be positive, was {endpoints.MaxPacketSize}", nameof(endpoints));
        this.endpoints = endpoints;
        this.ownsEndpoints = ownsEndpoints;
        this.readTimeoutMs = readTimeoutMs;
        this.writeTimeoutMs = writeTimeoutMs;
        Name = address.ToString();
        label = address.Label;
        // Inline schedulers, as StreamTransport: a busy thread pool must not hold back a heartbeat or a sample.
        input = new Pipe(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, pauseWriterThreshold: InputPauseBytes, resumeWriterThreshold: InputPauseBytes / 2, useSynchronizationContext: false));
        output = new Pipe(new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false));

        // Dedicated threads, because libusb's synchronous transfers block for up to their timeout.
        readerThread = new Thread(ReadLoop) { IsBackground = true, Name = $"USB IN {label}" };
        writerThread = new Thread(WriteLoop) { IsBackground = true, Name = $"USB OUT {label}" };
        writerThread.Start();
        readerThread.Start();
    }

    /// <summary>Opens the device with libusb and runs a transport over it; the transport owns and releases the device.</summary>
    /// <exception cref="UsbException">See <see cref="LibUsbBulkEndpoints.Open"/>.</exception>
    /// <exception cref="IOException">Several devices match and no serial was given.</exception>
    public static UsbTransport Open(ushort vid, ushort pid, string? serial = null) => Open(new UsbAddress(vid, pid, serial));

    /// <summary>Opens the device at <paramref name="address"/> (e.g. from <see cref="UsbAddress.Parse"/>); the transport owns it.</summary>
    /// <exception cref="UsbException">See <see cref="LibUsbBulkEndpoints.Open"/>.</exception>
    /// <exception cref="IOException">Several devices match and no serial was given.</exception>
    public static UsbTransport Open(UsbAddress address)
    {
        var endpoints = LibUsbBulkEndpoints.Open(address.Vid, address.Pid, address.Serial);
        try
        {
            // Name the device by the serial it reported, so logs identify it even if none was asked for.
            return new UsbTransport(endpoints, endpoints.Address, ownsEndpoints: true, DefaultReadTimeoutMs, DefaultWriteTimeoutMs);
        }
        catch
        {
            endpoints.Dispose();
            throw;
        }
    }

    /// <summary>"usb:vvvv:pppp[:serial]", hex in lower case.</summary>
    public string Name { get; }

    /// <inheritdoc/>
    public PipeReader Input => input.Reader;

    /// <inheritdoc/>
    public PipeWriter Output => output.Writer;

    /// <summary>Stops both threads (within about the read timeout) and, if this transport opened the device, releases it. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
            return;
        disposing = true;
        stop.Cancel(); // wakes a writer waiting for output and a reader blocked on a full Input pipe
        await Task.WhenAll(readerExited.Task, writerExited.Task).ConfigureAwait(false);
        if (this.ownsEndpoints)
            this.endpoints.Dispose();
        stop.Dispose();
    }

    private void ReadLoop()
    {
        Exception? error = null;
        byte[] buffer = new byte[ReadBufferBytes];
        try
        {
            while (!stop.IsCancellationRequested)
            {
                int received = this.endpoints.Read(buffer, this.readTimeoutMs);
                if (received == 0)
                    continue; // a timeout or a zero-length packet: no bytes, and neither ends the stream
                input.Writer.Write(buffer.AsSpan(0, received));
                FlushResult flushed = Wait(input.Writer.FlushAsync(stop.Token)); // blocks while the consumer lags
                if (flushed.IsCompleted)
                    break; // the consumer completed Input: nobody wants more bytes
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Disposing, or the writer saw a disconnect.
        }
        catch (UsbException e) when (e.Error == UsbError.Pipe)
        {
            error = Stalled(UsbEndpointDirection.In, "bytes from the device may have been lost", e);
        }
        catch (Exception e)
        {
            error = IsDisconnect(e) ? Disconnected(e) : e;
        }
        finally
        {
            if (Volatile.Read(ref disconnect) is not null)
            {
                // Fail Output before Input, so a consumer that sees Input fail finds writes failing too.
                stop.Cancel();
                writerThread.Join();
                error = Volatile.Read(ref disconnect);
            }
            input.Writer.Complete(error);
            readerExited.SetResult();
        }
    }

    private void WriteLoop()
    {
        Exception? error = null;
        byte[] chunk = new byte[MaxWriteTransferBytes];
        int maxPacket = this.endpoints.MaxPacketSize;
        try
        {
            while (true)
            {
                ReadResult result = Wait(output.Reader.ReadAsync(stop.Token));
                ReadOnlySequence<byte> pending = result.Buffer;
                try
                {
                    while (!pending.IsEmpty && !stop.IsCancellationRequested)
                    {
                        int length = (int)Math.Min(pending.Length, MaxWriteTransferBytes);
                        pending.Slice(0, length).CopyTo(chunk); // pipe segments are not contiguous; a transfer must be
                        this.endpoints.Write(chunk.AsSpan(0, length), this.writeTimeoutMs);
                        // Bulk OUT ends at a short packet; a transfer filling whole packets needs a ZLP to end it.
                        if (length % maxPacket == 0)
                            this.endpoints.Write(ReadOnlySpan<byte>.Empty, this.writeTimeoutMs);
                        pending = pending.Slice(length);
                    }
                }
                finally
                {
                    output.Reader.AdvanceTo(pending.Start);
                }
                if (result.IsCompleted && pending.IsEmpty)
                    break; // the consumer completed Output and everything was sent
                if (stop.IsCancellationRequested)
                    break;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Disposing, or the reader saw a disconnect.
        }
        catch (UsbException e) when (e.Error == UsbError.Pipe)
        {
            error = Stalled(UsbEndpointDirection.Out, "bytes sent to the device were lost", e);
        }
        catch (UsbException e) when (e.Error == UsbError.Timeout)
        {
            error = new IOException($"USB device {label} did not accept data within {this.writeTimeoutMs} ms (write timeout): it is not reading; reopen the transport", e);
        }
        catch (Exception e)
        {
            error = IsDisconnect(e) ? Disconnected(e) : e;
        }
        finally
        {
            error ??= (Exception?)Volatile.Read(ref disconnect) ?? (disposing ? new ObjectDisposedException(Name, $"USB transport {Name} is disposed") : null);
            output.Reader.Complete(error); // later Output writes throw this
            writerExited.SetResult();
        }
    }

    /// <summary>Tries once to clear the halt, then returns the exception that fails this direction.</summary>
    private IOException Stalled(UsbEndpointDirection direction, string consequence, UsbException stall)
    {
        string outcome;
        try
        {
            this.endpoints.ClearHalt(direction);
            outcome = "the halt was cleared";
        }
        catch (Exception e) when (IsDisconnect(e))
        {
            return Disconnected(e);
        }
        catch (UsbException e)
        {
            outcome = $"clearing the halt failed too ({e.Message})";
        }
        string endpoint = direction == UsbEndpointDirection.In ? "IN" : "OUT";
        return new IOException($"USB device {label} stalled its bulk {endpoint} endpoint: {consequence}; {outcome}; reopen the transport", stall);
    }

    private static bool IsDisconnect(Exception e) => e is UsbException { Error: UsbError.NoDevice or UsbError.Io };

    /// <summary>Records the disconnect (first one wins) and stops the other thread.</summary>
    private RigDisconnectedException Disconnected(Exception cause)
    {
        Interlocked.CompareExchange(ref disconnect, new RigDisconnectedException($"USB device {label} disconnected", cause), null);
        stop.Cancel();
        return disconnect;
    }

    // Blocking waits are right here: these run on the transport's own threads, never on a caller's.
    private static T Wait<T>(ValueTask<T> pending) =>
        pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
}
