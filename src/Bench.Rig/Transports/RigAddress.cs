using System.Globalization;
using Bench.Rig.Usb;

namespace Bench.Rig.Transports;

/// <summary>Opens a transport from what a user types: a serial path, <c>tcp://host:port</c> or <c>usb:VID:PID[:serial]</c>.</summary>
public static class RigAddress
{
    /// <summary>
    /// What is wrong with <paramref name="address"/> as written (null: it has a rig address's form). Nothing is opened:
    /// a typo is told apart from a rig that does not answer before anything running is disturbed.
    /// </summary>
    public static string? Check(string? address)
    {
        const string Forms = "a serial port under /dev (e.g. /dev/ttyACM0), tcp://host:port, usb:VID:PID[:serial] or firmata:/dev/ttyACM0 (a stock Arduino running Firmata)";
        if (string.IsNullOrWhiteSpace(address)) return $"no rig address given: give {Forms}";
        if (address.Length > 512 || address.Any(char.IsControl)) return $"'{Shorten(address)}' is not a rig address: give {Forms}";
        if (address.StartsWith("tcp://", StringComparison.OrdinalIgnoreCase))
        {
            var hostPort = address["tcp://".Length..];
            int colon = hostPort.LastIndexOf(':');
            return colon <= 0 || !int.TryParse(hostPort.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535
                ? $"'{address}' is not tcp://host:port (e.g. tcp://127.0.0.1:7000)"
                : null;
        }

        if (Firmata.FirmataAddress.IsFirmata(address))
        {
            return Firmata.FirmataAddress.TryParse(address, out _, out string? firmataError) ? null : firmataError;
        }

        if (address.StartsWith("usb:", StringComparison.OrdinalIgnoreCase))
        {
            return UsbAddress.TryParse(address, out _, out string? error) ? null : error ?? $"'{address}' is not usb:VID:PID[:serial]";
        }

        if (!address.StartsWith("/dev/", StringComparison.Ordinal) || address.Contains("/../", StringComparison.Ordinal))
        {
            return $"'{Shorten(address)}' is not a rig address: give {Forms}";
        }

        return null;
    }

    private static string Shorten(string s)
    {
        var clean = new string([.. s.Take(80).Select(c => char.IsControl(c) ? '?' : c)]);
        return s.Length > 80 ? clean + "…" : clean;
    }

    /// <summary>Opens <paramref name="address"/>.</summary>
    /// <exception cref="RigConnectionException">It cannot be opened; the message says why and what to do.</exception>
    public static async Task<IRigTransport> OpenAsync(string address, int baud = SerialTransport.DefaultBaud, CancellationToken cancellationToken = default)
    {
        if (Firmata.FirmataAddress.IsFirmata(address))
        {
            throw new RigConnectionException($"'{address}' is a Firmata board, which is not a byte transport for Bench's protocol: connect it with FirmataSession (bench record/serve do)");
        }

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
