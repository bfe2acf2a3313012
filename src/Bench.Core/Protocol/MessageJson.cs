using System.Text.Json;

namespace Bench.Core.Protocol;

/// <summary>
/// Writes a frame as the JSON object of PROTOCOL.md §11 (the golden vectors' <c>frames</c> entries): version, kind,
/// seq and every payload field in snake_case; 64-bit values as numbers below 2⁵³, else as decimal strings; a frame
/// whose payload does not parse as kind_code, parse_error and payload_hex. <c>bench decode</c> prints exactly this.
/// </summary>
public static partial class MessageJson
{
    private const ulong MaxExactDouble = 1UL << 53;

    /// <summary>Writes <paramref name="frame"/> as one JSON object; returns how its payload parsed.</summary>
    public static ParseError Write(Utf8JsonWriter w, Frame frame)
    {
        w.WriteStartObject();
        w.WriteNumber("version", frame.Version);
        w.WriteString("kind", ProtocolLimits.KindName(frame.KindCode));
        w.WriteNumber("seq", frame.Seq);
        var error = WriteFields(w, frame);
        if (error != ParseError.None)
        {
            w.WriteNumber("kind_code", frame.KindCode);
            w.WriteString("parse_error", error switch
            {
                ParseError.UnknownKind => "unknown_kind",
                ParseError.BadLength => "bad_length",
                _ => "out_of_range",
            });
            w.WriteString("payload_hex", Convert.ToHexStringLower(frame.Payload));
        }

        w.WriteEndObject();
        return error;
    }

    private static void WriteU64(Utf8JsonWriter w, string name, ulong value)
    {
        if (value < MaxExactDouble) w.WriteNumber(name, value); else w.WriteString(name, value.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    // WriteFields, every message's fields by their JSON names, is generated from firmware-protocol/messages.json
    // (Messages.Generated.cs).

    /// <summary>Writes the counters as the vectors' <c>errors</c> object names them.</summary>
    public static void WriteCounters(Utf8JsonWriter w, in DecoderCounters c)
    {
        w.WriteNumber("frames_ok", c.FramesOk);
        w.WriteNumber("crc_errors", c.CrcErrors);
        w.WriteNumber("cobs_errors", c.CobsErrors);
        w.WriteNumber("short_frames", c.ShortFrames);
        w.WriteNumber("oversized", c.Oversized);
        w.WriteNumber("version_errors", c.VersionErrors);
        w.WriteNumber("bytes_skipped", c.BytesSkipped);
        w.WriteNumber("resyncs", c.Resyncs);
        w.WriteNumber("frames_lost", c.FramesLost);
        w.WriteNumber("seq_resets", c.SeqResets);
    }
}
