using System.Globalization;
using Bench.Rig.Usb;

namespace Bench.Rig.Transports;

/// <summary>Opens a transport from what a user types: a serial path, <c>tcp://host:port</c> or <c>usb:VID:PID[:serial]</c>.</summary>
public static class RigAddress
{
    /// <summary>Opens <paramref name="address"/>.</summary>
    /// <exception cref="RigConnectionException">It cannot be opened; the message says why and what to do.</exception>
    public static async Task<IRigTransport> OpenAsync(string address, int baud = SerialTransport.DefaultBaud, CancellationToken cancellationToken = default)
    {
        if (address.StartsWith("tcp://", StringComparison.OrdinalIgnoreCase))
        {
            var hostPort = address["tcp://".Length..];
            int colon = hostPort.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(hostPort.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
            {
                throw new RigConnectionException($"'{address}' is not tcp://host:port (e.g. tcp://127.0.0.1:7000)");
            }

            return await TcpTransport.ConnectAsync(hostPort[..colon], port, cancellationToken).ConfigureAwait(false);
        }

        if (address.StartsWith("usb:", StringComparison.OrdinalIgnoreCase))
        {
            if (!UsbAddress.TryParse(address, out var usb, out string? error))
            {
                throw new RigConnectionException(error ?? $"'{address}' is not usb:VID:PID[:serial]");
            }

            try
            {
                return UsbTransport.Open(usb.Vid, usb.Pid, usb.Serial);
            }
            catch (UsbException e)
            {
                throw new RigConnectionException(e.Message, e);
            }
        }

        return SerialTransport.Open(address, baud);
    }
}
