using System.Runtime.InteropServices;

namespace Bench.Rig.Usb;

/// <summary>
/// The libusb-1.0 functions Bench uses, bound with <see cref="LibraryImportAttribute"/>.
/// Names and argument order follow libusb.h exactly so they can be looked up there.
/// Every function returning <c>int</c> returns 0 (or a count) on success and a negative
/// <see cref="UsbError"/> code on failure.
/// </summary>
internal static unsafe partial class LibUsb
{
    /// <summary>The soname Debian's libusb-1.0-0 package installs; no -dev symlink is needed.</summary>
    internal const string Library = "libusb-1.0.so.0";

    internal const byte ClassVendorSpecific = 0xFF;
    internal const byte EndpointDirectionIn = 0x80;
    internal const byte TransferTypeMask = 0x03;
    internal const byte TransferTypeBulk = 0x02;
    /// <summary>wMaxPacketSize bits 0..10 are the size; bits 11..12 are a high-bandwidth multiplier that bulk never uses.</summary>
    internal const ushort MaxPacketSizeMask = 0x07FF;

    [LibraryImport(Library)]
    internal static partial int libusb_init(out LibUsbContextHandle ctx);

    [LibraryImport(Library)]
    internal static partial void libusb_exit(nint ctx);

    /// <summary>Returns the device count or a negative error; <paramref name="list"/> is a NULL-terminated libusb_device*[].</summary>
    [LibraryImport(Library)]
    internal static partial nint libusb_get_device_list(LibUsbContextHandle ctx, out nint list);

    [LibraryImport(Library)]
    internal static partial void libusb_free_device_list(nint list, int unrefDevices);

    /// <summary>Reads the cached device descriptor: needs no open handle and no permission.</summary>
    [LibraryImport(Library)]
    internal static partial int libusb_get_device_descriptor(nint dev, out DeviceDescriptor desc);

    [LibraryImport(Library)]
    internal static partial byte libusb_get_bus_number(nint dev);

    [LibraryImport(Library)]
    internal static partial byte libusb_get_device_address(nint dev);

    /// <summary>Opens the device; the handle holds its own reference, so the device list may be freed afterwards.</summary>
    [LibraryImport(Library)]
    internal static partial int libusb_open(nint dev, out LibUsbDeviceHandle handle);

    [LibraryImport(Library)]
    internal static partial void libusb_close(nint handle);

    /// <summary>Returns the string's length (ASCII, non-ASCII replaced by '?', not NUL-terminated) or an error.</summary>
    [LibraryImport(Library)]
    internal static partial int libusb_get_string_descriptor_ascii(LibUsbDeviceHandle handle, byte descIndex, byte* data, int length);

    /// <summary>Parses the active configuration (from the kernel's cache on Linux: no control transfer).</summary>
    [LibraryImport(Library)]
    internal static partial int libusb_get_active_config_descriptor(nint dev, ConfigDescriptor** config);

    [LibraryImport(Library)]
    internal static partial void libusb_free_config_descriptor(ConfigDescriptor* config);

    [LibraryImport(Library)]
    internal static partial int libusb_claim_interface(LibUsbDeviceHandle handle, int interfaceNumber);

    [LibraryImport(Library)]
    internal static partial int libusb_release_interface(LibUsbDeviceHandle handle, int interfaceNumber);

    /// <summary>Linux only (LIBUSB_ERROR_NOT_SUPPORTED elsewhere): detach a kernel driver on claim, reattach on release.</summary>
    [LibraryImport(Library)]
    internal static partial int libusb_set_auto_detach_kernel_driver(LibUsbDeviceHandle handle, int enable);

    /// <summary>
    /// Synchronous bulk transfer. <paramref name="timeoutMs"/> 0 means "wait forever", so callers
    /// must never pass 0. On LIBUSB_ERROR_TIMEOUT, <paramref name="transferred"/> may still be non-zero.
    /// </summary>
    [LibraryImport(Library)]
    internal static partial int libusb_bulk_transfer(LibUsbDeviceHandle handle, byte endpoint, byte* data, int length, out int transferred, uint timeoutMs);

    [LibraryImport(Library)]
    internal static partial int libusb_clear_halt(LibUsbDeviceHandle handle, byte endpoint);

    // Returns a pointer to a static string: it must not be marshalled as string, because the
    // generated marshaller would then free() libusb's constant.
    [LibraryImport(Library, EntryPoint = "libusb_error_name")]
    private static partial byte* libusb_error_name_native(int errorCode);

    /// <summary>libusb_error_name as a managed string, e.g. -6 → "LIBUSB_ERROR_BUSY".</summary>
    internal static string libusb_error_name(int errorCode) =>
        Marshal.PtrToStringUTF8((nint)libusb_error_name_native(errorCode)) ?? $"libusb error {errorCode}";

    /// <summary>Reads string descriptor <paramref name="index"/>; null if the device has none or refuses.</summary>
    internal static string? ReadStringDescriptor(LibUsbDeviceHandle handle, byte index)
    {
        if (index == 0)
            return null; // index 0 means "no such string" in a device descriptor
        byte* text = stackalloc byte[256]; // a string descriptor is at most 255 bytes
        int length = libusb_get_string_descriptor_ascii(handle, index, text, 256);
        return length < 0 ? null : Marshal.PtrToStringUTF8((nint)text, length);
    }
}

// The structs below mirror libusb.h (1.0.x; layout unchanged since 1.0.0). Sequential layout gives C's
// natural alignment, so padding matches on every ABI .NET runs on; a test pins the 64-bit sizes and offsets.

/// <summary>struct libusb_device_descriptor (USB 2.0 §9.6.1), 18 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct DeviceDescriptor
{
    public byte bLength;
    public byte bDescriptorType;
    public ushort bcdUSB;
    public byte bDeviceClass;
    public byte bDeviceSubClass;
    public byte bDeviceProtocol;
    public byte bMaxPacketSize0;
    public ushort idVendor;
    public ushort idProduct;
    public ushort bcdDevice;
    public byte iManufacturer;
    public byte iProduct;
    public byte iSerialNumber;
    public byte bNumConfigurations;
}

/// <summary>struct libusb_config_descriptor.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ConfigDescriptor
{
    public byte bLength;
    public byte bDescriptorType;
    public ushort wTotalLength;
    public byte bNumInterfaces;
    public byte bConfigurationValue;
    public byte iConfiguration;
    public byte bmAttributes;
    public byte MaxPower;
    /// <summary>Array of bNumInterfaces entries.</summary>
    public UsbInterface* @interface;
    public byte* extra;
    public int extra_length;
}

/// <summary>struct libusb_interface: the alternate settings of one interface.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct UsbInterface
{
    /// <summary>Array of num_altsetting entries.</summary>
    public InterfaceDescriptor* altsetting;
    public int num_altsetting;
}

/// <summary>struct libusb_interface_descriptor.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct InterfaceDescriptor
{
    public byte bLength;
    public byte bDescriptorType;
    public byte bInterfaceNumber;
    public byte bAlternateSetting;
    public byte bNumEndpoints;
    public byte bInterfaceClass;
    public byte bInterfaceSubClass;
    public byte bInterfaceProtocol;
    public byte iInterface;
    /// <summary>Array of bNumEndpoints entries.</summary>
    public EndpointDescriptor* endpoint;
    public byte* extra;
    public int extra_length;
}

/// <summary>struct libusb_endpoint_descriptor.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct EndpointDescriptor
{
    public byte bLength;
    public byte bDescriptorType;
    public byte bEndpointAddress;
    public byte bmAttributes;
    public ushort wMaxPacketSize;
    public byte bInterval;
    public byte bRefresh;
    public byte bSynchAddress;
    public byte* extra;
    public int extra_length;
}

/// <summary>A libusb_context*; released with libusb_exit.</summary>
internal sealed class LibUsbContextHandle : SafeHandle
{
    /// <summary>Used by the LibraryImport marshaller for <c>out</c> parameters.</summary>
    public LibUsbContextHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        LibUsb.libusb_exit(handle);
        return true;
    }
}

/// <summary>
/// A libusb_device_handle*; released with libusb_close. It keeps its context alive (AddRef) so that
/// even finalizer-order release cannot run libusb_exit before libusb_close.
/// </summary>
internal sealed class LibUsbDeviceHandle : SafeHandle
{
    private LibUsbContextHandle? context;

    /// <summary>Used by the LibraryImport marshaller for <c>out</c> parameters.</summary>
    public LibUsbDeviceHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    /// <summary>Pins <paramref name="context"/> until this handle is released. Call once, right after a successful open.</summary>
    internal void KeepAlive(LibUsbContextHandle context)
    {
        bool added = false;
        context.DangerousAddRef(ref added);
        this.context = context;
    }

    protected override bool ReleaseHandle()
    {
        LibUsb.libusb_close(handle);
        this.context?.DangerousRelease();
        return true;
    }
}
