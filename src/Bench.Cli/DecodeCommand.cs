using System.Buffers;
using System.CommandLine;
using System.Text;
using System.Text.Json;
using Bench.Core.Protocol;

namespace Bench.Cli;

/// <summary>
/// <c>bench decode &lt;capture.bin | -&gt;</c>: decodes a raw byte capture (what a serial sniffer saved) into one JSON
/// line per frame, then a summary line with the receiver's counters.
/// </summary>
internal static class DecodeCommand
{
    public static Command Create(TextWriter output)
    {
        var capture = new Argument<string>("capture") { Description = "file of raw bytes as they crossed the wire, or - for standard input" };
        var command = new Command("decode", "Decode a raw capture of Bench protocol bytes into JSON lines (one per frame, then a summary)") { capture };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(capture)!;
            using var input = Open(path);
            Decode(input, output);
            return 0;
        });
        return command;
    }

    private static Stream Open(string path)
    {
        if (path == "-") return Console.OpenStandardInput();
        if (Directory.Exists(path)) throw new UserErrorException($"decode: {path} is a folder, not a capture file");
        if (!File.Exists(path)) throw new UserErrorException($"decode: capture file {path} does not exist");
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
    }

    /// <summary>Streams <paramref name="input"/> through a fresh receiver, writing JSON lines to <paramref name="output"/>.</summary>
    public static void Decode(Stream input, TextWriter output)
    {
        var decoder = new FrameDecoder();
        var json = new ArrayBufferWriter<byte>(4096);
        using var writer = new Utf8JsonWriter(json);
        var chunk = new byte[1 << 16];
        long bytes = 0, parseErrors = 0;
        int read;
        while ((read = input.Read(chunk)) > 0)
        {
            bytes += read;
            ReadOnlySpan<byte> span = chunk.AsSpan(0, read);
            while (decoder.TryDecode(ref span, out var frame))
            {
                if (MessageJson.Write(writer, frame) != ParseError.None) parseErrors++;
                // The wire's JSON (shared with the C side's test vectors) gives the unique id as a number; everything else in
                // Bench writes it as 16 hex digits, so a DeviceInfo line also carries that form.
                string? hex = frame.Kind == MessageKind.DeviceInfo && DeviceInfo.TryParse(frame.Payload, out var info) == ParseError.None
                    ? info!.UniqueId.ToString("x16", System.Globalization.CultureInfo.InvariantCulture)
                    : null;
                Flush(writer, json, output, hex);
            }
        }

        var c = decoder.Counters;
        writer.WriteStartObject();
        writer.WriteNumber("frames", c.FramesOk);
        writer.WriteNumber("crc_errors", c.CrcErrors);
        writer.WriteNumber("resyncs", c.Resyncs);
        writer.WriteNumber("bytes_skipped", c.BytesSkipped);
        writer.WriteNumber("sequence_gaps", c.SequenceGaps);
        writer.WriteNumber("frames_lost", c.FramesLost);
        writer.WriteNumber("seq_resets", c.SeqResets);
        writer.WriteNumber("cobs_errors", c.CobsErrors);
        writer.WriteNumber("short_frames", c.ShortFrames);
        writer.WriteNumber("oversized", c.Oversized);
        writer.WriteNumber("version_errors", c.VersionErrors);
        writer.WriteNumber("parse_errors", parseErrors);
        writer.WriteNumber("bytes", bytes);
        writer.WriteEndObject();
        Flush(writer, json, output);
        output.Flush();
    }

    private static void Flush(Utf8JsonWriter writer, ArrayBufferWriter<byte> json, TextWriter output, string? uniqueIdHex = null)
    {
        writer.Flush();
        string line = Encoding.UTF8.GetString(json.WrittenSpan);
        if (uniqueIdHex is not null && line.EndsWith('}')) line = line[..^1] + ",\"unique_id_hex\":\"" + uniqueIdHex + "\"}";
        output.WriteLine(line);
        json.ResetWrittenCount();
        writer.Reset();
    }
}
