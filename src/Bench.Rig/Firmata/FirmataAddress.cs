using System.Globalization;

namespace Bench.Rig.Firmata;

/// <summary>
/// A Firmata rig's address: <c>firmata:/dev/ttyACM0</c>, optionally with the baud rate,
/// <c>firmata:/dev/ttyACM0?baud=115200</c> (57600, StandardFirmata's, by default; ConfigurableFirmata uses 115200).
/// </summary>
/// <param name="Port">The serial port.</param>
/// <param name="Baud">The baud rate the firmware was built for.</param>
public sealed record FirmataAddress(string Port, int Baud)
{
    /// <summary>The scheme prefix.</summary>
    public const string Prefix = "firmata:";

    /// <summary>StandardFirmata's baud rate (the Arduino IDE's example).</summary>
    public const int StandardFirmataBaud = 57600;

    /// <summary>ConfigurableFirmata's baud rate.</summary>
    public const int ConfigurableFirmataBaud = 115200;

    /// <summary>Whether <paramref name="address"/> names a Firmata rig (well formed or not).</summary>
    public static bool IsFirmata(string? address) => address?.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase) == true;

    /// <summary>Parses <paramref name="address"/>; <paramref name="error"/> says what is wrong when it is not one.</summary>
    public static bool TryParse(string address, out FirmataAddress parsed, out string? error)
    {
        parsed = new FirmataAddress("", StandardFirmataBaud);
        error = null;
        const string Form = "firmata:/dev/ttyACM0, or firmata:/dev/ttyACM0?baud=115200 for ConfigurableFirmata";
        if (!IsFirmata(address))
        {
            error = $"'{address}' is not a Firmata address: give {Form}";
            return false;
        }

        string rest = address[Prefix.Length..];
        int baud = StandardFirmataBaud;
        int query = rest.IndexOf('?', StringComparison.Ordinal);
        if (query >= 0)
        {
            string option = rest[(query + 1)..];
            rest = rest[..query];
            if (!option.StartsWith("baud=", StringComparison.Ordinal) || !int.TryParse(option.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out baud) || baud is < 300 or > 2_000_000)
            {
                error = $"'{address}': the only option is baud=N (300 to 2000000), e.g. {Form}";
                return false;
            }
        }

        if (!rest.StartsWith("/dev/", StringComparison.Ordinal) || rest.Length <= "/dev/".Length || rest.Contains("..", StringComparison.Ordinal))
        {
            error = $"'{address}': a Firmata board is on a serial port under /dev: give {Form}";
            return false;
        }

        parsed = new FirmataAddress(rest, baud);
        return true;
    }

    /// <summary>The address as written canonically.</summary>
    public override string ToString() => Baud == StandardFirmataBaud ? Prefix + Port : string.Create(CultureInfo.InvariantCulture, $"{Prefix}{Port}?baud={Baud}");
}
