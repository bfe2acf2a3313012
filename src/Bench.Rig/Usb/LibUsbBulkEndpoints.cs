namespace Bench.Rig.Usb;

/// <summary>
/// The real <see cref="IUsbBulkEndpoints"/>: a device opened with libusb, its vendor-specific (class 0xFF)
/// interface claimed, and that interface's first bulk IN and bulk OUT endpoints.
/// </summary>
public sealed unsafe class LibUsbBulkEndpoints : IUsbBulkEndpoints
{
    private readonly LibUsbContextHandle context;
    private readonly LibUsbDeviceHandle handle;
    private readonly BulkInterface claimedInterface;
    private readonly string label;
    private int disposed;

    private LibUsbBulkEndpoints(LibUsbContextHandle context, LibUsbDeviceHandle handle, BulkInterface bulk, UsbAddress address)
    {
        this.context = context;
        this.handle = handle;
        claimedInterface = bulk;
        Address = address;
        this.label = address.Label;
    }

    /// <summary>The opened device, with the serial it reports (null if it has none).</summary>
    public UsbAddress Address { get; }

    /// <inheritdoc/>
    public int MaxPacketSize => claimedInterface.OutMaxPacketSize;

    /// <summary>
    /// Opens the device <paramref name="vid"/>:<paramref name="pid"/> (with serial <paramref name="serial"/>,
    /// or the only such device if null), detaches any kernel driver from its class-0xFF interface and claims it.
    /// </summary>
    /// <exception cref="UsbException">
    /// Not found (<see cref="UsbError.NotFound"/>, also when no 0xFF interface with bulk IN+OUT exists),
    /// busy, access denied, disconnected, or libusb unusable on this machine.
    /// </exception>
    /// <exception cref="IOException">Several devices match and no serial was given.</exception>
    public static LibUsbBulkEndpoints Open(ushort vid, ushort pid, string? serial = null)
    {
        var wanted = new UsbAddress(vid, pid, serial);
        int rc;
        LibUsbContextHandle context;
        try
        {
            rc = LibUsb.libusb_init(out context);
        }
        catch (DllNotFoundException e)
        {
            throw new UsbException(UsbError.NotSupported, $"cannot open USB device {wanted.Label}: {LibUsb.Library} is not installed (apt-get install libusb-1.0-0)", e);
        }
        if (rc < 0)
        {
            context.Dispose();
            throw new UsbException((UsbError)rc, $"cannot open USB device {wanted.Label}: libusb_init failed with {UsbErrors.Name((UsbError)rc)}; this machine has no usable USB subsystem");
        }
        LibUsbDeviceHandle? handle = null;
        try
        {
            handle = OpenMatching(context, wanted, out BulkInterface bulk, out string? actualSerial);
            Check(LibUsb.libusb_set_auto_detach_kernel_driver(handle, 1), "enable kernel-driver auto-detach on", wanted.Label, UsbError.NotSupported);
            Check(LibUsb.libusb_claim_interface(handle, bulk.InterfaceNumber), $"claim interface {bulk.InterfaceNumber} of", wanted.Label);
            return new LibUsbBulkEndpoints(context, handle, bulk, wanted with { Serial = actualSerial });
        }
        catch
        {
            handle?.Dispose();
            context.Dispose();
            throw;
        }
    }

    /// <summary>Finds and opens the device, and locates its bulk interface while the device list is alive.</summary>
    private static LibUsbDeviceHandle OpenMatching(LibUsbContextHandle context, UsbAddress wanted, out BulkInterface bulk, out string? serial)
    {
        nint count = LibUsb.libusb_get_device_list(context, out nint list);
        if (count < 0)
            throw UsbException.FromCode((int)count, "list devices to find", wanted.Label);
        try
        {
            var candidates = new List<(nint Device, DeviceDescriptor Descriptor)>();
            for (int i = 0; i < count; i++)
            {
                nint device = ((nint*)list)[i];
                if (LibUsb.libusb_get_device_descriptor(device, out DeviceDescriptor d) == 0 && d.idVendor == wanted.Vid && d.idProduct == wanted.Pid)
                    candidates.Add((device, d));
            }
            string idLabel = $"{wanted.Vid:x4}:{wanted.Pid:x4}";
            if (candidates.Count == 0)
                throw new UsbException(UsbError.NotFound, $"no USB device {idLabel} found ({count} USB devices present): is it plugged in and powered?");
            if (wanted.Serial is null && candidates.Count > 1)
                throw new IOException($"{candidates.Count} USB devices {idLabel} are connected: give the serial (usb:{idLabel}:SERIAL) to choose one");

            UsbException? openFailure = null;
            var otherSerials = new List<string>();
            foreach (var (device, descriptor) in candidates)
            {
                int rc = LibUsb.libusb_open(device, out LibUsbDeviceHandle handle);
                if (rc < 0)
                {
                    handle.Dispose();
                    openFailure ??= UsbException.FromCode(rc, "open", wanted.Label);
                    continue;
                }
                handle.KeepAlive(context);
                serial = LibUsb.ReadStringDescriptor(handle, descriptor.iSerialNumber);
                if (wanted.Serial is not null && serial != wanted.Serial)
                {
                    otherSerials.Add(serial ?? "(none)");
                    handle.Dispose();
                    continue;
                }
                try
                {
                    bulk = FindBulkInterface(device, wanted.Label);
                }
                catch
                {
                    handle.Dispose();
                    throw;
                }
                return handle;
            }
            // Report a permission/busy problem first: it explains why the serial could not be checked.
            throw openFailure ?? new UsbException(UsbError.NotFound,
                $"no USB device {wanted.Label} found; devices {idLabel} present have serials: {string.Join(", ", otherSerials)}");
        }
        finally
        {
            // Unref'ing is safe: an open handle holds its own reference to its device.
            LibUsb.libusb_free_device_list(list, unrefDevices: 1);
        }
    }

    private static BulkInterface FindBulkInterface(nint device, string label)
    {
        ConfigDescriptor* config;
        Check(LibUsb.libusb_get_active_config_descriptor(device, &config), "read the configuration of", label);
        try
        {
            return FindVendorBulkInterface(config) ?? throw new UsbException(UsbError.NotFound,
                $"USB device {label} has no vendor-specific (class 0xFF) interface with bulk IN and OUT endpoints: is it running Bench firmware?");
        }
        finally
        {
            LibUsb.libusb_free_config_descriptor(config);
        }
    }

    /// <summary>
    /// The first interface whose alternate setting 0 has class 0xFF and both a bulk IN and a bulk OUT
    /// endpoint. Only alternate setting 0 is considered: it is active after claiming, and selecting another
    /// would need a SET_INTERFACE request that Bench firmware does not call for.
    /// </summary>
    internal static BulkInterface? FindVendorBulkInterface(ConfigDescriptor* config)
    {
        for (int i = 0; i < config->bNumInterfaces; i++)
        {
            UsbInterface* usbInterface = &config->@interface[i];
            if (usbInterface->num_altsetting < 1)
                continue;
            InterfaceDescriptor* setting = &usbInterface->altsetting[0];
            if (setting->bInterfaceClass != LibUsb.ClassVendorSpecific)
                continue;
            byte inAddress = 0, outAddress = 0;
            int inMaxPacket = 0, outMaxPacket = 0;
            for (int e = 0; e < setting->bNumEndpoints; e++)
            {
                EndpointDescriptor* endpoint = &setting->endpoint[e];
                if ((endpoint->bmAttributes & LibUsb.TransferTypeMask) != LibUsb.TransferTypeBulk)
                    continue; // e.g. an interrupt endpoint for events
                int maxPacket = endpoint->wMaxPacketSize & LibUsb.MaxPacketSizeMask;
                if ((endpoint->bEndpointAddress & LibUsb.EndpointDirectionIn) != 0)
                {
                    if (inAddress == 0) (inAddress, inMaxPacket) = (endpoint->bEndpointAddress, maxPacket);
                }
                else if (outAddress == 0)
                {
                    (outAddress, outMaxPacket) = (endpoint->bEndpointAddress, maxPacket);
                }
            }
            if (inAddress != 0 && outAddress != 0 && inMaxPacket > 0 && outMaxPacket > 0)
                return new BulkInterface(setting->bInterfaceNumber, inAddress, outAddress, inMaxPacket, outMaxPacket);
        }
        return null;
    }

    /// <inheritdoc/>
    public int Read(Span<byte> buffer, int timeoutMs)
    {
        CheckTimeout(timeoutMs);
        int rc, transferred;
        fixed (byte* data = buffer)
            rc = LibUsb.libusb_bulk_transfer(this.handle, claimedInterface.InEndpoint, data, buffer.Length, out transferred, (uint)timeoutMs);
        // A timeout can end a transfer after some full packets arrived: those bytes are real and must be kept.
        if (rc == 0 || rc == (int)UsbError.Timeout)
            return transferred;
        throw UsbException.FromCode(rc, $"read from IN endpoint 0x{claimedInterface.InEndpoint:x2} of", this.label);
    }

    /// <inheritdoc/>
    public void Write(ReadOnlySpan<byte> data, int timeoutMs)
    {
        CheckTimeout(timeoutMs);
        int rc, transferred;
        byte placeholder = 0; // libusb wants a valid pointer even for a zero-length packet
        fixed (byte* bytes = data)
        {
            byte* pointer = data.IsEmpty ? &placeholder : bytes;
            rc = LibUsb.libusb_bulk_transfer(this.handle, claimedInterface.OutEndpoint, pointer, data.Length, out transferred, (uint)timeoutMs);
        }
        if (rc == (int)UsbError.Timeout)
            throw new UsbException(UsbError.Timeout,
                $"USB device {this.label} took only {transferred} of {data.Length} bytes within {timeoutMs} ms: it is not reading [{UsbErrors.Name(UsbError.Timeout)}]");
        if (rc < 0)
            throw UsbException.FromCode(rc, $"write to OUT endpoint 0x{claimedInterface.OutEndpoint:x2} of", this.label);
        if (transferred != data.Length)
            throw new UsbException(UsbError.Io, $"USB device {this.label} took only {transferred} of {data.Length} bytes");
    }

    /// <inheritdoc/>
    public void ClearHalt(UsbEndpointDirection direction)
    {
        byte endpoint = direction == UsbEndpointDirection.In ? claimedInterface.InEndpoint : claimedInterface.OutEndpoint;
        Check(LibUsb.libusb_clear_halt(this.handle, endpoint), $"clear the halt on endpoint 0x{endpoint:x2} of", this.label);
    }

    /// <summary>Releases the interface (re-attaching the kernel driver if one was detached) and closes the device.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
            return;
        // Fails with NO_DEVICE after an unplug; nothing more to release then, so the result is ignored.
        _ = LibUsb.libusb_release_interface(this.handle, claimedInterface.InterfaceNumber);
        this.handle.Dispose();
        this.context.Dispose(); // the handle pinned the context, so libusb_exit runs after libusb_close
    }

    private static void CheckTimeout(int timeoutMs)
    {
        // libusb treats 0 as "no timeout": a transfer that could block forever would make Dispose hang.
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(timeoutMs);
    }

    private static void Check(int rc, string operation, string label, UsbError? tolerated = null)
    {
        if (rc < 0 && (UsbError)rc != tolerated)
            throw UsbException.FromCode(rc, operation, label);
    }
}

/// <summary>The interface Bench talks through and its bulk endpoint pair (addresses include the direction bit).</summary>
internal readonly record struct BulkInterface(byte InterfaceNumber, byte InEndpoint, byte OutEndpoint, int InMaxPacketSize, int OutMaxPacketSize);
