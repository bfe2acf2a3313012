using System.Runtime.InteropServices;
using Bench.Rig.Usb;

namespace Bench.Rig.Tests;

/// <summary>
/// Tests against the real libusb-1.0 (Debian's libusb-1.0-0). They hold whatever is plugged in: Bench's development
/// and CI machines have no USB in their kernel (libusb_init succeeds and enumerates nothing), a workstation may have
/// a keyboard, a hub, or a Bench rig. "Absent" devices are chosen among the IDs the bus does not show.
/// </summary>
public sealed unsafe class LibUsbTests
{
    [Fact]
    public void Libusb_init_succeeds_and_enumerates_a_null_terminated_list()
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
        }
    }

    [Fact]
    public void Enumerator_lists_what_libusb_sees_and_filters_by_id()
    {
        UsbDeviceList all = UsbEnumerator.List();
        Assert.Null(all.UnavailableReason); // libusb works here, whether or not anything is plugged in
        Assert.Equal(LibusbDeviceCount(), all.Count);

        // Filtered by the ID of a device that is there (if any), and by one that is not.
        if (all.Count > 0)
        {
            var present = all[0];
            UsbDeviceList same = UsbEnumerator.List(present.Vid, present.Pid);
            Assert.Null(same.UnavailableReason);
            Assert.Equal(all.Count(d => d.Vid == present.Vid && d.Pid == present.Pid), same.Count);
            Assert.All(same, d => Assert.Equal((present.Vid, present.Pid), (d.Vid, d.Pid)));
        }

        var (vid, pid) = AbsentId(all);
        UsbDeviceList filtered = UsbEnumerator.List(vid, pid);
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
        var (vid, pid) = AbsentId(UsbEnumerator.List());
        var error = Assert.Throws<UsbException>(() => LibUsbBulkEndpoints.Open(vid, pid));

        Assert.Equal(UsbError.NotFound, error.Error);
        Assert.Matches($@"^no USB device {vid:x4}:{pid:x4} found \(\d+ USB devices present\): is it plugged in and powered\?$", error.Message);
    }

    [Fact]
    public void Opening_a_transport_for_an_absent_device_fails_the_same_way()
    {
        var (vid, pid) = AbsentId(UsbEnumerator.List());
        var error = Assert.Throws<UsbException>(() => UsbTransport.Open(UsbAddress.Parse($"usb:{vid:x4}:{pid:x4}:0123456789ABCDEF")));

        Assert.Equal(UsbError.NotFound, error.Error);
        Assert.StartsWith($"no USB device {vid:x4}:{pid:x4} found", error.Message);
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

    /// <summary>How many devices libusb enumerates now.</summary>
    private static int LibusbDeviceCount()
    {
        Assert.Equal(0, LibUsb.libusb_init(out LibUsbContextHandle context));
        using (context)
        {
            nint count = LibUsb.libusb_get_device_list(context, out nint list);
            Assert.True(count >= 0, UsbErrors.Name((UsbError)(int)count));
            LibUsb.libusb_free_device_list(list, 1);
            return (int)count;
        }
    }

    /// <summary>
    /// A VID:PID no device on the bus has: under pid.codes' test VID (1209, Bench's own), from the top of its product
    /// range down, so a Bench rig plugged in (1209:0001) is never taken for an absent one.
    /// </summary>
    private static (ushort Vid, ushort Pid) AbsentId(UsbDeviceList present)
    {
        const ushort Vid = 0x1209;
        for (int pid = 0xFFFF; pid > 0x0001; pid--)
        {
            if (!present.Any(d => d.Vid == Vid && d.Pid == pid)) return (Vid, (ushort)pid);
        }

        throw new Xunit.Sdk.XunitException("every 1209:xxxx product ID is on the bus");
    }

    private static EndpointDescriptor Endpoint(byte address, byte attributes, ushort maxPacket) =>
        new() { bLength = 7, bDescriptorType = 5, bEndpointAddress = address, bmAttributes = attributes, wMaxPacketSize = maxPacket };
}
