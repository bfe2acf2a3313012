namespace Bench.Rig.Usb;

/// <summary>Which of the two bulk endpoints an operation concerns.</summary>
public enum UsbEndpointDirection
{
    /// <summary>Device to host.</summary>
    In,
    /// <summary>Host to device.</summary>
    Out,
}

/// <summary>
/// A claimed pair of bulk endpoints, with blocking transfers. This is the seam between
/// <see cref="UsbTransport"/> and libusb: <see cref="LibUsbBulkEndpoints"/> is the real one, tests use a fake.
/// <see cref="Read"/> and <see cref="Write"/> may be called concurrently from two threads (one each);
/// <see cref="IDisposable.Dispose"/> must not race with them.
/// </summary>
public interface IUsbBulkEndpoints : IDisposable
{
    /// <summary>wMaxPacketSize of the bulk OUT endpoint, in bytes (64 at full speed, 512 at high speed).</summary>
    int MaxPacketSize { get; }

    /// <summary>
    /// One bulk IN transfer into <paramref name="buffer"/>: returns the bytes received, which is 0 on a
    /// timeout with nothing received and also 0 for a zero-length packet. A timeout is not an error.
    /// </summary>
    /// <exception cref="UsbException">Stall (<see cref="UsbError.Pipe"/>), disconnect (<see cref="UsbError.NoDevice"/>, <see cref="UsbError.Io"/>), overflow, ….</exception>
    int Read(Span<byte> buffer, int timeoutMs);

    /// <summary>One bulk OUT transfer of all of <paramref name="data"/>; an empty span sends a zero-length packet.</summary>
    /// <exception cref="UsbException">Stall, timeout (the device did not take the data in time), disconnect, ….</exception>
    void Write(ReadOnlySpan<byte> data, int timeoutMs);

    /// <summary>Clears a halt (stall) on the endpoint of <paramref name="direction"/>.</summary>
    /// <exception cref="UsbException">The clear failed.</exception>
    void ClearHalt(UsbEndpointDirection direction);
}
