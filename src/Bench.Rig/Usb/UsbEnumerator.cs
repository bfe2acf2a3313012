using System.Collections;

namespace Bench.Rig.Usb;

/// <summary>A USB device seen on the bus.</summary>
/// <param name="Vid">USB vendor ID.</param>
/// <param name="Pid">USB product ID.</param>
/// <param name="Serial">Serial-number string; null unless the listing was filtered by VID/PID and the device could be opened.</param>
/// <param name="Bus">Bus number.</param>
/// <param name="Address">Device address on that bus (changes at every re-plug).</param>
/// <param name="Product">Product string; null under the same conditions as <paramref name="Serial"/>.</param>
public sealed record UsbDeviceInfo(ushort Vid, ushort Pid, string? Serial, byte Bus, byte Address, string? Product)
{
    /// <summary>The transport name that selects this device, e.g. "usb:1209:0001:0123456789ABCDEF".</summary>
    public string Name => new UsbAddress(Vid, Pid, Serial).ToString();
}

/// <summary>The result of <see cref="UsbEnumerator.List"/>: the devices, and why there are none if USB is unusable.</summary>
public sealed class UsbDeviceList : IReadOnlyList<UsbDeviceInfo>
{
    private readonly IReadOnlyList<UsbDeviceInfo> devices;

    private UsbDeviceList(IReadOnlyList<UsbDeviceInfo> devices, string? unavailableReason)
    {
        this.devices = devices;
        UnavailableReason = unavailableReason;
    }

    /// <summary>Null when libusb could enumerate (even if it found nothing); otherwise why it could not.</summary>
    public string? UnavailableReason { get; }

    /// <inheritdoc/>
    public int Count => this.devices.Count;

    /// <inheritdoc/>
    public UsbDeviceInfo this[int index] => this.devices[index];

    /// <inheritdoc/>
    public IEnumerator<UsbDeviceInfo> GetEnumerator() => this.devices.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    internal static UsbDeviceList Of(IReadOnlyList<UsbDeviceInfo> devices) => new(devices, null);

    internal static UsbDeviceList Unavailable(string reason) => new([], reason);

    /// <summary>The list for a failed libusb_init / libusb_get_device_list returning <paramref name="code"/>.</summary>
    internal static UsbDeviceList Unavailable(int code, string operation) =>
        Unavailable($"USB is unavailable on this machine: {operation} failed with {UsbErrors.Name((UsbError)code)} " +
                    "(no USB subsystem in the kernel, or no access to it)");
}

/// <summary>Lists USB devices through libusb.</summary>
public static class UsbEnumerator
{
    /// <summary>
    /// Lists the USB devices, optionally only those with <paramref name="vid"/> and/or <paramref name="pid"/>.
    /// Without a filter no device is opened (opening needs permissions and can disturb other programs), so
    /// Serial and Product are null; with a filter each match is opened briefly to read them.
    /// Never throws for a missing or unusable USB stack: the list is then empty and
    /// <see cref="UsbDeviceList.UnavailableReason"/> says why.
    /// </summary>
    public static UsbDeviceList List(ushort? vid = null, ushort? pid = null)
    {
        try
        {
            return ListCore(vid, pid);
        }
        catch (DllNotFoundException e)
        {
            return UsbDeviceList.Unavailable($"USB is unavailable: {LibUsb.Library} is not installed (apt-get install libusb-1.0-0): {e.Message}");
        }
    }

    private static unsafe UsbDeviceList ListCore(ushort? vid, ushort? pid)
    {
        int rc = LibUsb.libusb_init(out LibUsbContextHandle context);
        using (context)
        {
            if (rc < 0)
                return UsbDeviceList.Unavailable(rc, "libusb_init");

            nint count = LibUsb.libusb_get_device_list(context, out nint list);
            if (count < 0)
                return UsbDeviceList.Unavailable((int)count, "libusb_get_device_list");
            try
            {
                var devices = new List<UsbDeviceInfo>();
                for (int i = 0; i < count; i++)
                {
                    nint device = ((nint*)list)[i];
                    if (LibUsb.libusb_get_device_descriptor(device, out DeviceDescriptor descriptor) < 0)
                        continue; // cannot happen on Linux (cached); skip rather than fail the whole listing
                    if ((vid is not null && descriptor.idVendor != vid) || (pid is not null && descriptor.idProduct != pid))
                        continue;

                    string? serial = null, product = null;
                    if (vid is not null || pid is not null)
                        ReadStrings(context, device, descriptor, out serial, out product);
                    devices.Add(new UsbDeviceInfo(descriptor.idVendor, descriptor.idProduct, serial,
                        LibUsb.libusb_get_bus_number(device), LibUsb.libusb_get_device_address(device), product));
                }
                return UsbDeviceList.Of(devices);
            }
            finally
            {
                LibUsb.libusb_free_device_list(list, unrefDevices: 1);
            }
        }
    }

    /// <summary>Opens <paramref name="device"/> just long enough to read its strings; leaves them null if it cannot (e.g. no permission).</summary>
    private static void ReadStrings(LibUsbContextHandle context, nint device, in DeviceDescriptor descriptor, out string? serial, out string? product)
    {
        serial = product = null;
        if (LibUsb.libusb_open(device, out LibUsbDeviceHandle handle) < 0)
        {
            handle.Dispose();
            return;
        }
        handle.KeepAlive(context);
        using (handle)
        {
            serial = LibUsb.ReadStringDescriptor(handle, descriptor.iSerialNumber);
            product = LibUsb.ReadStringDescriptor(handle, descriptor.iProduct);
        }
    }
}
