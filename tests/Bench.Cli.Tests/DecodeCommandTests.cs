using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bench.Cli.Tests;

[Trait("Category", "EndToEnd")]
public sealed class DecodeCommandTests : IDisposable
{
    private static readonly JsonArray Vectors = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "vectors", "vectors.json")))!.AsArray();
    private readonly string dir = Directory.CreateTempSubdirectory("bench-decode-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static (int Code, string[] Lines, string Err) Decode(string path)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = BenchCli.Run(["decode", path], output, error);
        return (code, output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries), error.ToString());
    }

    private string Capture(byte[] bytes)
    {
        string path = Path.Combine(dir, $"c{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void Prints_every_frame_of_every_vector_then_a_summary()
    {
        foreach (var v in Vectors)
        {
            var (code, lines, _) = Decode(Capture(Convert.FromHexString(v!["hex"]!.GetValue<string>())));
            Assert.Equal(0, code);
            var frames = v["frames"]!.AsArray();
            Assert.Equal(frames.Count + 1, lines.Length);
            for (int i = 0; i < frames.Count; i++)
            {
                var line = JsonNode.Parse(lines[i])!.AsObject();
                // A DeviceInfo line also gives the unique id as 16 hex digits, as the rest of Bench writes it; the other
                // fields are the vectors' own.
                if (line.Remove("unique_id_hex", out var hex))
                {
                    ulong id = line["unique_id"]!.GetValueKind() == JsonValueKind.String ? ulong.Parse((string)line["unique_id"]!, System.Globalization.CultureInfo.InvariantCulture) : (ulong)line["unique_id"]!;
                    Assert.Equal(id.ToString("x16", System.Globalization.CultureInfo.InvariantCulture), (string?)hex);
                }

                Assert.True(JsonNode.DeepEquals(frames[i], line), $"{v["name"]}: {lines[i]}");
            }

            var summary = JsonNode.Parse(lines[^1])!;
            var errors = v["errors"]!;
            Assert.Equal(errors["frames_ok"]!.GetValue<long>(), summary["frames"]!.GetValue<long>());
            foreach (var key in new[] { "crc_errors", "resyncs", "bytes_skipped", "frames_lost", "cobs_errors", "oversized" })
            {
                Assert.Equal(errors[key]!.GetValue<long>(), summary[key]!.GetValue<long>());
            }
        }
    }

    [Fact]
    public void Hostile_input_never_crashes_and_is_accounted_for()
    {
        var random = new Random(1);
        foreach (int length in new[] { 0, 1, 255, 256, 257, 70_000, 1_000_000 })
        {
            var bytes = new byte[length];
            random.NextBytes(bytes);
            if (length == 70_000) Array.Fill(bytes, (byte)0xFF);   // one endless oversized body
            var (code, lines, _) = Decode(Capture(bytes));
            Assert.Equal(0, code);
            var summary = JsonDocument.Parse(lines[^1]).RootElement;
            Assert.Equal(length, summary.GetProperty("bytes").GetInt64());
            foreach (var key in new[] { "frames", "crc_errors", "resyncs", "bytes_skipped", "sequence_gaps" })
            {
                Assert.True(summary.TryGetProperty(key, out _), key);
            }
        }
    }

    [Fact]
    public void Counts_sequence_gaps_in_a_capture_with_lost_frames()
    {
        var hex = string.Concat(Vectors.Where(v => v!["name"]!.GetValue<string>().StartsWith("sample_block", StringComparison.Ordinal) && v["valid"]!.GetValue<bool>()).Select(v => v!["hex"]!.GetValue<string>()));
        var (_, lines, _) = Decode(Capture(Convert.FromHexString(hex)));
        var summary = JsonDocument.Parse(lines[^1]).RootElement;
        Assert.True(summary.GetProperty("frames").GetInt64() >= 3);
        Assert.Equal(lines.Length - 1, summary.GetProperty("frames").GetInt64());
    }

    [Fact]
    public void Missing_file_and_folder_are_clear_errors()
    {
        var (code, _, error) = Decode(Path.Combine(dir, "nope.bin"));
        Assert.Equal(2, code);
        Assert.Contains("does not exist", error);
        (code, _, error) = Decode(dir);
        Assert.Equal(2, code);
        Assert.Contains("is a folder", error);
    }

    [Fact]
    public void Reads_standard_input_with_a_dash()
    {
        var hex = Vectors.First(v => v!["name"]!.GetValue<string>() == "hello")!["hex"]!.GetValue<string>();
        var info = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "bench.dll"), "decode", "-"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
        };
        using var process = Process.Start(info)!;
        process.StandardInput.BaseStream.Write(Convert.FromHexString(hex));
        process.StandardInput.Close();
        var lines = process.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
        Assert.Equal("Hello", JsonDocument.Parse(lines[0]).RootElement.GetProperty("kind").GetString());
        Assert.Equal(1, JsonDocument.Parse(lines[^1]).RootElement.GetProperty("frames").GetInt32());
    }
}
