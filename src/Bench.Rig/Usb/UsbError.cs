namespace Bench.Rig.Usb;

/// <summary>libusb's error codes (enum libusb_error in libusb.h), with the same numeric values.</summary>
public enum UsbError
{
    /// <summary>LIBUSB_ERROR_IO: input/output error (on Linux also what an unplug mid-transfer often gives).</summary>
    Io = -1,
    /// <summary>LIBUSB_ERROR_INVALID_PARAM.</summary>
    InvalidParam = -2,
    /// <summary>LIBUSB_ERROR_ACCESS: no permission on the device node (udev rule missing).</summary>
    Access = -3,
    /// <summary>LIBUSB_ERROR_NO_DEVICE: the device has been disconnected.</summary>
    NoDevice = -4,
    /// <summary>LIBUSB_ERROR_NOT_FOUND: entity (device, interface) not found.</summary>
    NotFound = -5,
    /// <summary>LIBUSB_ERROR_BUSY: another program or driver holds the interface.</summary>
    Busy = -6,
    /// <summary>LIBUSB_ERROR_TIMEOUT.</summary>
    Timeout = -7,
    /// <summary>LIBUSB_ERROR_OVERFLOW: the device sent more than the buffer holds.</summary>
    Overflow = -8,
    /// <summary>LIBUSB_ERROR_PIPE: the endpoint stalled (the device rejected the request).</summary>
    Pipe = -9,
    /// <summary>LIBUSB_ERROR_INTERRUPTED.</summary>
    Interrupted = -10,
    /// <summary>LIBUSB_ERROR_NO_MEM.</summary>
    NoMem = -11,
    /// <summary>LIBUSB_ERROR_NOT_SUPPORTED.</summary>
    NotSupported = -12,
    /// <summary>LIBUSB_ERROR_OTHER.</summary>
    Other = -99,
}

/// <summary>A USB operation failed; <see cref="Error"/> says how, the message says what to do.</summary>
public sealed class UsbException : IOException
{
    /// <summary>Creates the exception.</summary>
    public UsbException(UsbError error, string message, Exception? innerException = null)
        : base(message, innerException) => Error = error;

    /// <summary>The libusb error behind this exception.</summary>
    public UsbError Error { get; }

    /// <summary>
    /// Builds the exception for libusb return code <paramref name="code"/> from <paramref name="operation"/>
    /// (e.g. "open", "claim interface 0 of") on the device labelled <paramref name="device"/> (e.g. "1209:0001").
    /// </summary>
    internal static UsbException FromCode(int code, string operation, string device)
    {
        var error = (UsbError)code;
        string name = UsbErrors.Name(error);
        string message = error switch
        {
            UsbError.Access => $"permission denied opening USB device {device}: add a udev rule (see README)",
            UsbError.Busy => $"USB device {device} is busy: another program holds its interface",
            UsbError.NoDevice => $"USB device {device} disconnected (during {operation})",
            UsbError.NotFound => $"USB device {device} not found (during {operation})",
            UsbError.Timeout => $"USB device {device} timed out (during {operation})",
            UsbError.Pipe => $"USB device {device} stalled the endpoint (during {operation}): it rejected the request",
            UsbError.Overflow => $"USB device {device} sent more data than requested (during {operation})",
            UsbError.Io => $"I/O error talking to USB device {device} (during {operation}): cable, hub or unplug",
            _ => $"could not {operation} USB device {device}",
        };
        return new UsbException(error, $"{message} [{name}]");
    }
}

/// <summary>Names of <see cref="UsbError"/> values, spelled as libusb_error_name spells them.</summary>
internal static class UsbErrors
{
    /// <summary>
    /// "LIBUSB_ERROR_BUSY" etc., computed without loading libusb so that messages can be built on
    /// machines where it is missing; a test checks every value against the real libusb_error_name.
    /// </summary>
    internal static string Name(UsbError error) => error switch
    {
        UsbError.InvalidParam => "LIBUSB_ERROR_INVALID_PARAM",
        UsbError.NoDevice => "LIBUSB_ERROR_NO_DEVICE",
        UsbError.NotFound => "LIBUSB_ERROR_NOT_FOUND",
        UsbError.NoMem => "LIBUSB_ERROR_NO_MEM",
        UsbError.NotSupported => "LIBUSB_ERROR_NOT_SUPPORTED",
        _ when Enum.IsDefined(error) => "LIBUSB_ERROR_" + error.ToString().ToUpperInvariant(),
        _ => "**UNKNOWN**", // what libusb_error_name returns for codes it does not know
    };
}
