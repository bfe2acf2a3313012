using System.IO.Ports;

namespace Bench.Rig.Transports;

/// <summary>
/// A rig on a serial line (a UART, a USB CDC-ACM port, a USB-serial bridge, a pseudo-terminal), 8N1 without flow
/// control as PROTOCOL.md §9 binds it.
/// </summary>
public sealed class SerialTransport : StreamTransport
{
    /// <summary>The protocol's default baud rate.</summary>
    public const int DefaultBaud = 1_000_000;

    private readonly SerialPort port;

    private SerialTransport(SerialPort port) : base(port.BaseStream, port.PortName, ownsStream: true, blocking: true)
    {
        this.port = port;
    }

    /// <summary>Opens <paramref name="portName"/>.</summary>
    /// <param name="portName">e.g. /dev/ttyACM0.</param>
    /// <param name="baud">Baud rate (ignored by pseudo-terminals and CDC-ACM, which run at USB speed).</param>
    /// <param name="dtr">Assert DTR on open; an Uno resets when it is asserted (PROTOCOL.md §9).</param>
    /// <exception cref="RigConnectionException">The port does not exist, is busy, or is not permitted; the message says which.</exception>
    public static SerialTransport Open(string portName, int baud = DefaultBaud, bool dtr = true)
    {
        if (!File.Exists(portName))
        {
            throw new RigConnectionException($"port {portName} does not exist; `bench devices` lists the serial ports present");
        }

        // A pseudo-terminal has no modem lines: setting DTR on it fails (ENOTTY), and nothing there resets anyway.
        bool pseudoTerminal = portName.StartsWith("/dev/pts/", StringComparison.Ordinal);
        var port = new SerialPort(portName, baud, Parity.None, 8, StopBits.One)
        {
            Handshake = Handshake.None,
            DtrEnable = dtr && !pseudoTerminal,
            ReadTimeout = SerialPort.InfiniteTimeout,
            WriteTimeout = 2000,
            ReadBufferSize = 1 << 20,
            WriteBufferSize = 1 << 16,
        };
        try
        {
            port.Open();
        }
        catch (UnauthorizedAccessException e)
        {
            port.Dispose();
            throw new RigConnectionException($"port {portName} is busy or not permitted: another program holds it, or your user is not in the dialout group", e);
        }
        catch (IOException e)
        {
            port.Dispose();
            throw new RigConnectionException($"port {portName} could not be opened: {e.Message}", e);
        }
        catch (ArgumentException e)
        {
            port.Dispose();
            throw new RigConnectionException($"port {portName} could not be opened: {e.Message}", e);
        }

        return new SerialTransport(port);
    }

    /// <inheritdoc/>
    protected override async ValueTask DisposeStreamAsync()
    {
        // Closing the port ends the blocked read.
        try
        {
            port.Close();
        }
        catch (IOException)
        {
            // The device is already gone.
        }

        port.Dispose();
        await Task.CompletedTask.ConfigureAwait(false);
    }
}
