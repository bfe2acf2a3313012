using Bench.Rig.Usb;

namespace Bench.Rig.Tests;

public sealed class UsbAddressTests
{
    [Theory]
    [InlineData("usb:1209:0001", 0x1209, 0x0001, null)]
    [InlineData("USB:ABCD:ef01:0123456789ABCDEF", 0xABCD, 0xEF01, "0123456789ABCDEF")]
    [InlineData("usb:1209:0001:a:b", 0x1209, 0x0001, "a:b")] // the serial is everything after the third colon
    public void Parses_valid_addresses(string text, int vid, int pid, string? serial)
    {
        Assert.True(UsbAddress.TryParse(text, out UsbAddress address, out string? error), error);
        Assert.Equal(new UsbAddress((ushort)vid, (ushort)pid, serial), address);
    }

    [Theory]
    [InlineData("usb:ABCD:EF01:Serial", "usb:abcd:ef01:Serial")]
    [InlineData("usb:1209:0001", "usb:1209:0001")]
    public void Round_trips_with_lower_case_hex_and_the_serial_unchanged(string text, string expected)
    {
        Assert.Equal(expected, UsbAddress.Parse(text).ToString());
    }

    [Theory]
    [InlineData("", "empty USB address")]
    [InlineData("/dev/ttyACM0", "is not a USB address")]
    [InlineData("usb:1209", "lacks a product ID")]
    [InlineData("usb:12g9:0001", "vendor ID '12g9' is not 4 hex digits")]
    [InlineData("usb:209:0001", "vendor ID '209' is not 4 hex digits")]
    [InlineData("usb:1209:00001", "product ID '00001' is not 4 hex digits")]
    [InlineData("usb:1209:", "product ID '' is not 4 hex digits")]
    [InlineData("usb:1209:0001:", "the serial after the last ':' is empty")]
    public void Rejects_bad_addresses_saying_why(string text, string reason)
    {
        Assert.False(UsbAddress.TryParse(text, out _, out string? error));
        Assert.Contains(reason, error);
        Assert.Equal(error, Assert.Throws<FormatException>(() => UsbAddress.Parse(text)).Message);
    }
}
