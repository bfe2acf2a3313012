using System.Collections.Concurrent;
using Bench.Rig.Usb;

namespace Bench.Rig.Tests;

/// <summary>
/// A scriptable <see cref="IUsbBulkEndpoints"/>. IN: a queue of steps; with the queue empty a read waits
/// out its timeout and returns 0, as libusb does with an idle device. OUT: every transfer is recorded,
/// and a queue of failures can be injected. After a disconnect step, every call fails with NO_DEVICE.
/// </summary>
internal sealed class FakeBulkEndpoints(int maxPacketSize = 64) : IUsbBulkEndpoints
{
    internal abstract record InStep;
    /// <summary>A transfer that delivers these bytes (a short packet if not a multiple of the packet size).</summary>
    internal sealed record Data(byte[] Bytes) : InStep;
    /// <summary>A zero-length packet: the transfer completes at once with 0 bytes.</summary>
    internal sealed record Zlp : InStep;
    /// <summary>The transfer waits its full timeout and gets nothing.</summary>
    internal sealed record ReadTimeout : InStep;
    /// <summary>The device stalls the endpoint.</summary>
    internal sealed record Stall : InStep;
    /// <summary>The device is unplugged (libusb reports <paramref name="Error"/>: NO_DEVICE, or IO mid-transfer).</summary>
    internal sealed record Disconnect(UsbError Error = UsbError.NoDevice) : InStep;

    private readonly BlockingCollection<InStep> incoming = new();
    private readonly ConcurrentQueue<UsbError> writeFailures = new();
    private readonly List<byte[]> writes = new();
    private readonly List<UsbEndpointDirection> clearHalts = new();
    private volatile bool unplugged;
    private int disposeCount;
    private int reads;
    private int readsWhenUnplugged = -1;
    private int timeoutsServed;

    public int MaxPacketSize { get; } = maxPacketSize;

    public int Reads => Volatile.Read(ref reads);
    /// <summary>The value of <see cref="Reads"/> when a disconnect step unplugged the device (-1 before).</summary>
    public int ReadsWhenUnplugged => Volatile.Read(ref readsWhenUnplugged);
    public int TimeoutsServed => Volatile.Read(ref timeoutsServed);
    public int DisposeCount => Volatile.Read(ref disposeCount);
    public int LastReadBufferLength { get; private set; }
    public int LastReadTimeoutMs { get; private set; }

    public byte[][] Writes
    {
        get { lock (writes) return writes.ToArray(); }
    }

    public UsbEndpointDirection[] ClearHalts
    {
        get { lock (clearHalts) return clearHalts.ToArray(); }
    }

    /// <summary>When set, ClearHalt fails with this error.</summary>
    public UsbError? ClearHaltFailure { get; set; }

    public void Enqueue(params InStep[] steps)
    {
        foreach (InStep step in steps)
            incoming.Add(step);
    }

    /// <summary>The next OUT transfer fails with <paramref name="error"/> (and NO_DEVICE also unplugs the device).</summary>
    public void FailNextWrite(UsbError error) => writeFailures.Enqueue(error);

    public int Read(Span<byte> buffer, int timeoutMs)
    {
        ObjectDisposedException.ThrowIf(DisposeCount > 0, this);
        Interlocked.Increment(ref reads);
        LastReadBufferLength = buffer.Length;
        LastReadTimeoutMs = timeoutMs;
        ThrowIfUnplugged();
        if (!incoming.TryTake(out InStep? step, timeoutMs))
            return 0; // idle device: the real timeout elapsed
        switch (step)
        {
            case Data data:
                if (data.Bytes.Length > buffer.Length)
                    throw new UsbException(UsbError.Overflow, "fake: more data than the buffer holds");
                data.Bytes.CopyTo(buffer);
                return data.Bytes.Length;
            case Zlp:
                return 0;
            case ReadTimeout:
                Thread.Sleep(timeoutMs);
                Interlocked.Increment(ref timeoutsServed);
                return 0;
            case Stall:
                throw new UsbException(UsbError.Pipe, "fake: IN endpoint stalled");
            case Disconnect disconnect:
                unplugged = true;
                Volatile.Write(ref readsWhenUnplugged, Reads);
                throw new UsbException(disconnect.Error, "fake: device unplugged during read");
            default:
                throw new InvalidOperationException($"unknown step {step}");
        }
    }

    public void Write(ReadOnlySpan<byte> data, int timeoutMs)
    {
        ObjectDisposedException.ThrowIf(DisposeCount > 0, this);
        ThrowIfUnplugged();
        if (writeFailures.TryDequeue(out UsbError error))
        {
            if (error == UsbError.NoDevice)
                unplugged = true;
            throw new UsbException(error, $"fake: write failed with {error}");
        }
        lock (writes)
            writes.Add(data.ToArray());
    }

    public void ClearHalt(UsbEndpointDirection direction)
    {
        lock (clearHalts)
            clearHalts.Add(direction);
        ThrowIfUnplugged();
        if (ClearHaltFailure is UsbError error)
            throw new UsbException(error, $"fake: clear halt failed with {error}");
    }

    public void Dispose() => Interlocked.Increment(ref disposeCount);

    private void ThrowIfUnplugged()
    {
        if (unplugged)
            throw new UsbException(UsbError.NoDevice, "fake: no device");
    }
}
