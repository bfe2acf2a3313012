using System.Buffers;
using System.IO.Pipelines;
using Bench.Rig.Transports;

namespace Bench.Rig.Firmata;

/// <summary>
/// A rig transport as the blocking <see cref="Stream"/> ArduinoBoard reads on its own thread. When the link ends (the
/// board unplugged, the port gone) <see cref="Lost"/> is raised once, and reads then wait until the stream is disposed
/// instead of returning 0 again and again to a reader that would spin on it.
/// </summary>
internal sealed class TransportStream : Stream
{
    private readonly PipeReader input;
    private readonly Stream output;
    private readonly ManualResetEventSlim closed = new();
    private volatile bool disposed;
    private int lost;

    public TransportStream(IRigTransport transport)
    {
        input = transport.Input;
        output = transport.Output.AsStream(leaveOpen: true);
    }

    /// <summary>Raised once, from the reading thread, when the link ends; the argument says why.</summary>
    public event Action<string>? Lost;

    /// <summary>Bytes read so far.</summary>
    public long BytesRead => Interlocked.Read(ref bytesRead);

    private long bytesRead;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        while (!disposed && Volatile.Read(ref lost) == 0)
        {
            ReadResult result;
            try
            {
                result = input.ReadAsync().AsTask().GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                OnLost(e.Message);
                break;
            }

            if (result.IsCanceled) break;   // disposing
            var data = result.Buffer;
            if (!data.IsEmpty)
            {
                int n = (int)Math.Min(count, data.Length);
                data.Slice(0, n).CopyTo(buffer.AsSpan(offset, n));
                input.AdvanceTo(data.GetPosition(n));
                Interlocked.Add(ref bytesRead, n);
                return n;
            }

            input.AdvanceTo(data.End);
            if (result.IsCompleted) OnLost("the port closed");
        }

        // A lost link: wait for disposal rather than hand the reader 0 again and again.
        if (!disposed) closed.Wait();
        throw new ObjectDisposedException(nameof(TransportStream), "the Firmata link was closed");
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        if (disposed) return;   // after the session's own last words (D9 low), nothing more needs to reach the board
        if (Volatile.Read(ref lost) != 0) throw new IOException("the Firmata board is no longer connected");
        output.Write(buffer, offset, count);
    }

    public override void Flush()
    {
        if (!disposed) output.Flush();
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private void OnLost(string why)
    {
        if (Interlocked.Exchange(ref lost, 1) == 0) Lost?.Invoke(why);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !disposed)
        {
            disposed = true;
            closed.Set();
            input.CancelPendingRead();   // a read in progress returns at once
            output.Dispose();
            closed.Dispose();
        }

        base.Dispose(disposing);
    }
}
