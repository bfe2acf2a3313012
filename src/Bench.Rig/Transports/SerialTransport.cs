using System.Runtime.InteropServices;

namespace Bench.Rig.Transports;

/// <summary>
/// A rig on a serial line (a UART, a USB CDC-ACM port, a USB-serial bridge, a pseudo-terminal), 8N1 without flow
/// control as PROTOCOL.md §9 binds it. The line is opened and set up with termios directly and read by poll(2) (see
/// <see cref="DescriptorTransport"/>); System.IO.Ports stays for what it does well, listing ports.
/// </summary>
public sealed partial class SerialTransport : DescriptorTransport
{
    /// <summary>The protocol's default baud rate.</summary>
    public const int DefaultBaud = 1_000_000;

    /// <summary>How long an Uno-class board's bootloader runs after DTR resets it on open, before the sketch answers.</summary>
    public static readonly TimeSpan BoardResetDelay = TimeSpan.FromSeconds(1.5);

    /// <summary>
    /// How long the reader rests after each burst before it reads again: a few milliseconds of latency (less than a
    /// USB-serial bridge's own 16 ms latency timer) for a tenth of the wake-ups at high sample rates.
    /// </summary>
    public static readonly TimeSpan ReadCoalescing = TimeSpan.FromMilliseconds(8);

    private SerialTransport(int fd, string portName, TimeSpan resetDelay) : base(fd, portName, ownsDescriptor: true, ReadCoalescing)
    {
        ResetDelay = resetDelay;
    }

    /// <inheritdoc/>
    public override TimeSpan ResetDelay { get; }

    /// <summary>Opens <paramref name="portName"/>.</summary>
    /// <param name="portName">e.g. /dev/ttyACM0.</param>
    /// <param name="baud">Baud rate (ignored by pseudo-terminals and CDC-ACM, which run at USB speed).</param>
    /// <param name="dtr">Assert DTR on open; an Uno resets when it is asserted (PROTOCOL.md §9), so the session then
    /// waits <see cref="BoardResetDelay"/> before it speaks.</param>
    /// <exception cref="RigConnectionException">The port does not exist, is busy, or is not permitted; the message says which.</exception>
    public static SerialTransport Open(string portName, int baud = DefaultBaud, bool dtr = true)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("serial ports are opened with termios on Linux; use tcp:// elsewhere");
        if (!File.Exists(portName))
        {
            throw new RigConnectionException($"port {portName} does not exist; `bench devices` lists the serial ports present");
        }

        if (baud <= 0) throw new RigConnectionException($"baud rate {baud} is not valid: use e.g. {DefaultBaud}, 115200 or 57600");
        int fd = OpenNative(portName, ORdWr | ONoCtty | ONonBlock | OCloexec);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw errno switch
            {
                EAccess or EPerm => new RigConnectionException($"port {portName} is not permitted: add your user to the dialout group (then log in again)"),
                EBusy => new RigConnectionException($"port {portName} is busy: another program holds it"),
                ENoEnt or ENxIo or ENoDev => new RigConnectionException($"port {portName} does not exist (any more): was the board unplugged? `bench devices` lists the serial ports present"),
                _ => new RigConnectionException($"port {portName} could not be opened: {Marshal.GetPInvokeErrorMessage(errno)}"),
            };
        }

        try
        {
            // One program per port: a second one would steal half the bytes of each frame.
            if (Flock(fd, LockEx | LockNb) != 0)
            {
                throw new RigConnectionException($"port {portName} is busy: another program holds it");
            }

            Configure(fd, portName, baud);
            bool pseudoTerminal = portName.StartsWith("/dev/pts/", StringComparison.Ordinal);
            if (!pseudoTerminal)
            {
                // Keep other openers out too (programs that do not lock), and set DTR as asked; a pseudo-terminal has
                // no modem lines and nothing there resets.
                _ = Ioctl(fd, TiocExcl, 0);
                int dtrBit = TiocmDtr;
                _ = IoctlPtr(fd, dtr ? TiocmBis : TiocmBic, ref dtrBit);
            }

            // Whatever an earlier program left unread is not this session's.
            _ = TcFlush(fd, TcIoFlush);
            return new SerialTransport(fd, portName, dtr && !pseudoTerminal ? BoardResetDelay : TimeSpan.Zero);
        }
        catch
        {
            _ = Close(fd);
            throw;
        }
    }

    private static unsafe void Configure(int fd, string portName, int baud)
    {
        // termios is 60 bytes on glibc/x86-64 and aarch64; a larger buffer is harmless.
        byte* termios = stackalloc byte[128];
        if (TcGetAttr(fd, termios) != 0)
        {
            throw new RigConnectionException($"{portName} is not a serial port (errno {Marshal.GetLastPInvokeError()}): give the path of a board's port, e.g. /dev/ttyACM0");
        }

        CfMakeRaw(termios);
        uint* cflag = (uint*)(termios + 8);
        *cflag = (*cflag | CLocal | CRead) & ~CrtsCts & ~CStopB;
        byte* cc = termios + 17;
        cc[VMin] = 1;
        cc[VTime] = 0;
        // glibc's cfsetspeed takes the rate in baud as well as a B constant; an unknown rate is refused.
        if (CfSetSpeed(termios, (uint)baud) != 0)
        {
            throw new RigConnectionException($"baud rate {baud} is not one the serial driver supports: use e.g. {DefaultBaud}, 115200 or 57600");
        }

        if (TcSetAttr(fd, 0 /* TCSANOW */, termios) != 0)
        {
            throw new RigConnectionException($"could not set up {portName} (8N1, {baud} baud): {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }
    }

    private const int ORdWr = 0x2, ONoCtty = 0x100, ONonBlock = 0x800, OCloexec = 0x80000;
    private const int EPerm = 1, ENoEnt = 2, ENxIo = 6, EAccess = 13, EBusy = 16, ENoDev = 19;
    private const int LockEx = 2, LockNb = 4;
    private const uint CLocal = 0x800, CRead = 0x80, CStopB = 0x40, CrtsCts = 0x80000000;
    private const int VTime = 5, VMin = 6;
    private const nuint TiocExcl = 0x540C, TiocmBis = 0x5416, TiocmBic = 0x5417;
    private const int TiocmDtr = 0x002, TcIoFlush = 2;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenNative(string path, int flags);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(int fd, int operation);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, nint argument);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlPtr(int fd, nuint request, ref int argument);

    [LibraryImport("libc", EntryPoint = "tcgetattr", SetLastError = true)]
    private static unsafe partial int TcGetAttr(int fd, byte* termios);

    [LibraryImport("libc", EntryPoint = "tcsetattr", SetLastError = true)]
    private static unsafe partial int TcSetAttr(int fd, int action, byte* termios);

    [LibraryImport("libc", EntryPoint = "tcflush", SetLastError = true)]
    private static partial int TcFlush(int fd, int queue);

    [LibraryImport("libc", EntryPoint = "cfmakeraw")]
    private static unsafe partial void CfMakeRaw(byte* termios);

    [LibraryImport("libc", EntryPoint = "cfsetspeed", SetLastError = true)]
    private static unsafe partial int CfSetSpeed(byte* termios, uint speed);
}
