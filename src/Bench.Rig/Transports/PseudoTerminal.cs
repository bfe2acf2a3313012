using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Bench.Rig.Transports;

/// <summary>
/// A Unix pseudo-terminal pair (openpty): the emulated rig holds the master end, and a host opens the slave path
/// (/dev/pts/N) exactly as it would open a real board's serial port. The slave is put in raw mode so no byte is
/// translated or echoed.
/// </summary>
public sealed partial class PseudoTerminal : IDisposable
{
    private readonly SafeFileHandle master;
    private readonly SafeFileHandle slave;

    private PseudoTerminal(SafeFileHandle master, SafeFileHandle slave, string path)
    {
        this.master = master;
        this.slave = slave;
        SlavePath = path;
    }

    /// <summary>The path a host opens, e.g. /dev/pts/3.</summary>
    public string SlavePath { get; }

    /// <summary>Opens a new pair.</summary>
    /// <exception cref="RigConnectionException">The system could not make one.</exception>
    public static unsafe PseudoTerminal Open()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("pseudo-terminals are made with openpty on Linux; use --tcp elsewhere");
        }

        byte* name = stackalloc byte[256];
        if (OpenPty(out int masterFd, out int slaveFd, name, IntPtr.Zero, IntPtr.Zero) != 0)
        {
            throw new RigConnectionException($"openpty failed (errno {Marshal.GetLastPInvokeError()})");
        }

        var master = new SafeFileHandle(masterFd, ownsHandle: true);
        var slave = new SafeFileHandle(slaveFd, ownsHandle: true);
        // termios is 60 bytes on glibc/x86-64; a larger buffer is harmless.
        byte* termios = stackalloc byte[128];
        bool raw = TcGetAttr(slaveFd, termios) == 0;
        if (raw)
        {
            CfMakeRaw(termios);
            raw = TcSetAttr(slaveFd, 0 /* TCSANOW */, termios) == 0;
        }

        if (!raw)
        {
            master.Dispose();
            slave.Dispose();
            throw new RigConnectionException("could not put the pseudo-terminal in raw mode");
        }

        return new PseudoTerminal(master, slave, Marshal.PtrToStringUTF8((IntPtr)name)!);
    }

    /// <summary>A transport on the master end (the device side of the line).</summary>
    /// <remarks>Dispose the transport before the terminal: the terminal owns the descriptor.</remarks>
    public DescriptorTransport OpenMaster(string name)
    {
        int fd = (int)master.DangerousGetHandle();
        int flags = Fcntl(fd, 3 /* F_GETFL */, 0);
        if (flags < 0 || Fcntl(fd, 4 /* F_SETFL */, flags | 0x800 /* O_NONBLOCK */) < 0)
        {
            throw new RigConnectionException($"could not make the pseudo-terminal non-blocking (errno {Marshal.GetLastPInvokeError()})");
        }

        return new DescriptorTransport(fd, name, ownsDescriptor: false);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        // Closing the master hangs up the line: the host's reads fail as on a pulled cable, and the path disappears.
        master.Dispose();
        slave.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "openpty", SetLastError = true)]
    private static unsafe partial int OpenPty(out int master, out int slave, byte* name, IntPtr termp, IntPtr winp);

    [LibraryImport("libc", EntryPoint = "tcgetattr")]
    private static unsafe partial int TcGetAttr(int fd, byte* termios);

    [LibraryImport("libc", EntryPoint = "tcsetattr")]
    private static unsafe partial int TcSetAttr(int fd, int action, byte* termios);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "cfmakeraw")]
    private static unsafe partial void CfMakeRaw(byte* termios);
}
