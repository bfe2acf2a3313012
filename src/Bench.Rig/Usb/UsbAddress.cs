using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Bench.Rig.Usb;

/// <summary>
/// Which USB device a transport talks to, written "usb:VVVV:PPPP[:serial]": vendor and product ID as
/// exactly four hex digits each, then optionally the serial-number string (everything after the third
/// colon, compared exactly, so it may itself contain colons).
/// </summary>
/// <param name="Vid">USB vendor ID.</param>
/// <param name="Pid">USB product ID.</param>
/// <param name="Serial">Serial-number string; null matches any one device.</param>
public readonly record struct UsbAddress(ushort Vid, ushort Pid, string? Serial = null)
{
    /// <summary>The scheme prefix, "usb:".</summary>
    public const string Prefix = "usb:";

    /// <summary>"usb:1209:0001" or "usb:1209:0001:SERIAL", hex in lower case.</summary>
    public override string ToString() =>
        Serial is null ? $"{Prefix}{Vid:x4}:{Pid:x4}" : $"{Prefix}{Vid:x4}:{Pid:x4}:{Serial}";

    /// <summary>How messages name the device: "1209:0001" or "1209:0001 (serial ABC)".</summary>
    public string Label => Serial is null ? $"{Vid:x4}:{Pid:x4}" : $"{Vid:x4}:{Pid:x4} (serial {Serial})";

    /// <summary>Parses "usb:VVVV:PPPP[:serial]"; on failure <paramref name="error"/> says what is wrong.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out UsbAddress address, [NotNullWhen(false)] out string? error)
    {
        address = default;
        const string expected = "expected usb:VVVV:PPPP[:serial] with 4 hex digits each, e.g. usb:1209:0001";
        if (string.IsNullOrEmpty(text))
        {
            error = $"empty USB address: {expected}";
            return false;
        }
        if (!text.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            error = $"'{text}' is not a USB address: {expected}";
            return false;
        }
        string[] parts = text[Prefix.Length..].Split(':', 3);
        if (parts.Length < 2)
        {
            error = $"'{text}' lacks a product ID: {expected}";
            return false;
        }
        if (!TryParseId(parts[0], out ushort vid))
        {
            error = $"'{text}': vendor ID '{parts[0]}' is not 4 hex digits: {expected}";
            return false;
        }
        if (!TryParseId(parts[1], out ushort pid))
        {
            error = $"'{text}': product ID '{parts[1]}' is not 4 hex digits: {expected}";
            return false;
        }
        string? serial = parts.Length == 3 ? parts[2] : null;
        if (serial is { Length: 0 })
        {
            error = $"'{text}': the serial after the last ':' is empty (omit the ':' to accept any serial)";
            return false;
        }
        address = new UsbAddress(vid, pid, serial);
        error = null;
        return true;
    }

    /// <summary>Parses "usb:VVVV:PPPP[:serial]".</summary>
    /// <exception cref="FormatException">The text is not such an address; the message says why.</exception>
    public static UsbAddress Parse(string text) =>
        TryParse(text, out UsbAddress address, out string? error) ? address : throw new FormatException(error);

    private static bool TryParseId(string text, out ushort id)
    {
        id = 0;
        // Exactly four digits: "12" or "01209" are more likely typos than intent.
        return text.Length == 4 && ushort.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out id);
    }
}
