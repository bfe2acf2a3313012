using System.Runtime.InteropServices;
using Bench.Rig.Usb;

namespace Bench.Rig.Tests;

/// <summary>
/// Tests against the real libusb-1.0 (Debian's libusb-1.0-0). Bench's development and CI machines have
/// no USB in their kernel: there libusb_init succeeds (it finds sysfs and starts its udev monitor) and
/// enumerates zero devices. These tests assert exactly that, so on a machine with USB devices the
/// "finds nothing" assertions fail by design and tell you so.
/// </summary>
public sealed unsafe class LibUsbTests
{
    private const string NoUsbHere = "this test expects a machine without USB devices, like Bench's dev/CI machines";

    [Fact]
    public void Libusb_init_succeeds_and_enumerates_no_devices_on_this_machine()
    {
        int rc = LibUsb.libusb_init(out LibUsbContextHandle context);
        using (context)
        {
            Assert.Equal(0, rc);
            Assert.False(context.IsInvalid);
            nint count = LibUsb.libusb_get_device_list(context, out nint list);
            Assert.True(count >= 0, UsbErrors.Name((UsbError)(int)count));
            Assert.Equal(0, ((nint*)list)[count]); // the list is NULL-terminated: proves it was really written
            LibUsb.libusb_free_device_list(list, 1);
            Assert.True(count == 0, NoUsbHere);
        }
    }

    [Fact]
    public void Enumerator_returns_an_empty_list_and_no_unavailability_reason()
    {
        UsbDeviceList all = UsbEnumerator.List();
        UsbDeviceList filtered = UsbEnumerator.List(0x1209, 0x0001);

        Assert.Null(all.UnavailableReason); // libusb works here; there is just nothing plugged in
        Assert.True(all.Count == 0, NoUsbHere);
        Assert.Empty(filtered);
        Assert.Null(filtered.UnavailableReason);
    }

    [Fact]
    public void A_failed_libusb_init_gives_an_empty_list_with_the_reason()
    {
        UsbDeviceList list = UsbDeviceList.Unavailable((int)UsbError.Other, "libusb_init");

        Assert.Empty(list);
        Assert.Equal("USB is unavailable on this machine: libusb_init failed with LIBUSB_ERROR_OTHER " +
                     "(no USB subsystem in the kernel, or no access to it)", list.UnavailableReason);
    }

    [Fact]
    public void Opening_an_absent_device_fails_with_a_not_found_message()
    {
        var error = Assert.Throws<UsbException>(() => LibUsbBulkEndpoints.Open(0x1209, 0x0001));

        Assert.Equal(UsbError.NotFound, error.Error);
        Assert.Equal("no USB device 1209:0001 found (0 USB devices present): is it plugged in and powered?", error.Message);
    }

    [Fact]
    public void Opening_a_transport_for_an_absent_device_fails_the_same_way()
    {
        var error = Assert.Throws<UsbException>(() => UsbTransport.Open(UsbAddress.Parse("usb:1209:0001:0123456789ABCDEF")));

        Assert.Equal(UsbError.NotFound, error.Error);
        Assert.StartsWith("no USB device 1209:0001 found", error.Message);
    }

    [Fact]
    public void Error_names_match_libusb_error_name_for_every_code()
    {
        foreach (UsbError error in Enum.GetValues<UsbError>())
            Assert.Equal(LibUsb.libusb_error_name((int)error), UsbErrors.Name(error));
        Assert.Equal("LIBUSB_ERROR_PIPE", LibUsb.libusb_error_name(-9));
        Assert.Equal(LibUsb.libusb_error_name(-1000), UsbErrors.Name((UsbError)(-1000))); // "**UNKNOWN**"
    }

    [Theory]
    [InlineData(UsbError.Busy, "USB device 1209:0001 is busy: another program holds its interface [LIBUSB_ERROR_BUSY]")]
    [InlineData(UsbError.Access, "permission denied opening USB device 1209:0001: add a udev rule (see README) [LIBUSB_ERROR_ACCESS]")]
    [InlineData(UsbError.NoDevice, "USB device 1209:0001 disconnected (during open) [LIBUSB_ERROR_NO_DEVICE]")]
    [InlineData(UsbError.NotSupported, "could not open USB device 1209:0001 [LIBUSB_ERROR_NOT_SUPPORTED]")]
    public void Libusb_errors_become_clear_messages(UsbError error, string message)
    {
        UsbException exception = UsbException.FromCode((int)error, "open", "1209:0001");

        Assert.Equal(error, exception.Error);
        Assert.Equal(message, exception.Message);
    }

    [Fact]
    public void Descriptor_structs_match_libusb_h_on_64_bit()
    {
        // Sizes and offsets printed by gcc from libusb.h 1.0.26 on x86_64.
        Assert.Equal(8, IntPtr.Size);
        Assert.Equal(18, sizeof(DeviceDescriptor));
        Assert.Equal(8, Marshal.OffsetOf<DeviceDescriptor>(nameof(DeviceDescriptor.idVendor)));
        Assert.Equal(16, Marshal.OffsetOf<DeviceDescriptor>(nameof(DeviceDescriptor.iSerialNumber)));
        Assert.Equal(40, sizeof(ConfigDescriptor));
        Assert.Equal(4, Marshal.OffsetOf<ConfigDescriptor>(nameof(ConfigDescriptor.bNumInterfaces)));
        Assert.Equal(16, Marshal.OffsetOf<ConfigDescriptor>("interface"));
        Assert.Equal(32, Marshal.OffsetOf<ConfigDescriptor>(nameof(ConfigDescriptor.extra_length)));
        Assert.Equal(16, sizeof(UsbInterface));
        Assert.Equal(8, Marshal.OffsetOf<UsbInterface>(nameof(UsbInterface.num_altsetting)));
        Assert.Equal(40, sizeof(InterfaceDescriptor));
        Assert.Equal(5, Marshal.OffsetOf<InterfaceDescriptor>(nameof(InterfaceDescriptor.bInterfaceClass)));
        Assert.Equal(16, Marshal.OffsetOf<InterfaceDescriptor>(nameof(InterfaceDescriptor.endpoint)));
        Assert.Equal(32, sizeof(EndpointDescriptor));
        Assert.Equal(4, Marshal.OffsetOf<EndpointDescriptor>(nameof(EndpointDescriptor.wMaxPacketSize)));
        Assert.Equal(16, Marshal.OffsetOf<EndpointDescriptor>(nameof(EndpointDescriptor.extra)));
    }

    [Fact]
    public void Finds_the_vendor_interface_and_its_bulk_pair_skipping_other_classes_and_endpoint_types()
    {
        // Interface 0: CDC data (class 0x0A) with bulk endpoints — must be skipped.
        EndpointDescriptor* cdcEndpoints = stackalloc EndpointDescriptor[2];
        cdcEndpoints[0] = Endpoint(0x82, attributes: 0x02, maxPacket: 64);
        cdcEndpoints[1] = Endpoint(0x01, attributes: 0x02, maxPacket: 64);
        // Interface 1: vendor class with an interrupt IN first, then bulk OUT and bulk IN.
        EndpointDescriptor* vendorEndpoints = stackalloc EndpointDescriptor[3];
        vendorEndpoints[0] = Endpoint(0x83, attributes: 0x03, maxPacket: 16);
        vendorEndpoints[1] = Endpoint(0x04, attributes: 0x02, maxPacket: 512);
        vendorEndpoints[2] = Endpoint(0x85, attributes: 0x02, maxPacket: 512);
        InterfaceDescriptor* settings = stackalloc InterfaceDescriptor[2];
        settings[0] = new InterfaceDescriptor { bInterfaceNumber = 0, bInterfaceClass = 0x0A, bNumEndpoints = 2, endpoint = cdcEndpoints };
        settings[1] = new InterfaceDescriptor { bInterfaceNumber = 1, bInterfaceClass = 0xFF, bNumEndpoints = 3, endpoint = vendorEndpoints };
        UsbInterface* interfaces = stackalloc UsbInterface[2];
        interfaces[0] = new UsbInterface { altsetting = &settings[0], num_altsetting = 1 };
        interfaces[1] = new UsbInterface { altsetting = &settings[1], num_altsetting = 1 };
        var config = new ConfigDescriptor { bNumInterfaces = 2, @interface = interfaces };

        BulkInterface? found = LibUsbBulkEndpoints.FindVendorBulkInterface(&config);

        Assert.Equal(new BulkInterface(InterfaceNumber: 1, InEndpoint: 0x85, OutEndpoint: 0x04, InMaxPacketSize: 512, OutMaxPacketSize: 512), found);
    }

    [Fact]
    public void A_vendor_interface_without_both_bulk_directions_is_not_used()
    {
        EndpointDescriptor* endpoints = stackalloc EndpointDescriptor[2];
        endpoints[0] = Endpoint(0x81, attributes: 0x02, maxPacket: 64);
        endpoints[1] = Endpoint(0x02, attributes: 0x03, maxPacket: 64); // interrupt OUT, not bulk
        var setting = new InterfaceDescriptor { bInterfaceClass = 0xFF, bNumEndpoints = 2, endpoint = endpoints };
        var usbInterface = new UsbInterface { altsetting = &setting, num_altsetting = 1 };
        var config = new ConfigDescriptor { bNumInterfaces = 1, @interface = &usbInterface };

        Assert.Null(LibUsbBulkEndpoints.FindVendorBulkInterface(&config));
    }

    private static EndpointDescriptor Endpoint(byte address, byte attributes, ushort maxPacket) =>
        new() { bLength = 7, bDescriptorType = 5, bEndpointAddress = address, bmAttributes = attributes, wMaxPacketSize = maxPacket };
}
