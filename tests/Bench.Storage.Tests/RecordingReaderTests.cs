using System.Buffers;
using Bench.Core.Protocol;
using Bench.Core.Instrument;
using Bench.Storage.Recordings;

namespace Bench.Storage.Tests;

public sealed class RecordingReaderTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("bench-reader-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static DeviceInfo Device => new(1, 0, 1, 2, 3, "EMU", 0xB3C4_0000_0000_0007, 16_000_000, 1_000_000, 5000, 12, 1, 0, 11, 500,
        [new OutputDescriptor(1, 12, 2047, 2, 1_000_000, 500_000)]);

    [Fact]
    public void Yields_samples_gaps_and_pulses_in_capture_order_with_the_sidecar_metadata()
    {
        string capture = Path.Combine(dir, "r.bin");
        var wire = new ArrayBufferWriter<byte>();
        var encoder = new FrameEncoder();
        encoder.WriteSampleBlock(wire, 0, 1, [100, 101, 102]);
        encoder.WriteSampleBlock(wire, 3, 1, [103, 104]);
        var pulse = new StimulusEvent(4, 7, 0, 0, 0, 300, 0, StimulusEvent.Last);
        encoder.Write(wire, pulse);
        encoder.WriteSampleBlock(wire, 3, 1, [103, 104]);          // a repeat: skipped
        encoder.WriteSampleBlock(wire, 10, 1, [110]);              // 5 … 9 never arrived
        wire.Write<byte>([0x00, 0x13, 0x37, 0x00]);                // damage between frames: counted by the decoder, not fatal
        encoder.WriteSampleBlock(wire, 11, 1, [111, 112]);
        File.WriteAllBytes(capture, wire.WrittenSpan.ToArray());
        var command = new StimulusCommand(7, 0, StimulusCommand.AtIndex, 4, [new StimulusTrain(0, 150, 2, 0, 0, 0, 2, 1)]);
        var sidecar = RecordingSidecar.Create("tcp://x", Device, 20_000, 800, new Calibration(0.04, -100), "test", null, command);
        sidecar["model"] = new System.Text.Json.Nodes.JsonObject { ["name"] = "hh", ["parameters"] = new System.Text.Json.Nodes.JsonObject { ["gNa"] = 100.0 } };
        RecordingSidecar.Write(capture, sidecar);

        var reader = RecordingReader.Open(capture);
        var info = reader.Info;
        Assert.Equal(20_000, info.SampleRateHz);
        Assert.Equal(new Calibration(0.04, -100), info.Calibration);
        Assert.Equal(2, info.NanoampsPerCode);
        Assert.Equal(4UL, info.Stimulus!.StartIndex);
        Assert.Equal(command.Trains, info.Stimulus.Trains);
        Assert.Equal(0xB3C4_0000_0000_0007UL, info.Device!.UniqueId);
        Assert.Equal("hh", info.Model!.Name);
        Assert.Equal(100, info.Model.Parameters["gNa"]);
        Assert.Equal(1e6, info.Model.PreparationAreaUm2);

        var items = reader.Read().ToList();
        Assert.Equal(6, items.Count);
        Assert.Equal([100, 101, 102], Assert.IsType<RecordedSamples>(items[0]).Codes);
        Assert.Equal(3UL, Assert.IsType<RecordedSamples>(items[1]).FirstIndex);
        Assert.Equal(pulse, Assert.IsType<RecordedPulse>(items[2]).Pulse);
        Assert.Equal(new RecordedGap(5, 5), items[3]);
        Assert.Equal(10UL, Assert.IsType<RecordedSamples>(items[4]).FirstIndex);
        Assert.Equal([111, 112], Assert.IsType<RecordedSamples>(items[5]).Codes);
        Assert.Equal([pulse], reader.Pulses());
    }

    [Fact]
    public void Missing_or_foreign_files_are_named_in_the_error()
    {
        string capture = Path.Combine(dir, "x.bin");
        Assert.Contains("does not exist", Assert.Throws<RecordingFormatException>(() => RecordingReader.Open(capture)).Message);
        File.WriteAllBytes(capture, []);
        Assert.Contains("sidecar", Assert.Throws<RecordingFormatException>(() => RecordingReader.Open(capture)).Message);
        File.WriteAllText(capture + ".json", "{");
        Assert.Contains("not valid JSON", Assert.Throws<RecordingFormatException>(() => RecordingReader.Open(capture)).Message);
        File.WriteAllText(capture + ".json", """{"format":"other"}""");
        Assert.Contains("is not a bench-raw-1 sidecar", Assert.Throws<RecordingFormatException>(() => RecordingReader.Open(capture)).Message);
        File.WriteAllText(capture + ".json", """{"format":"bench-raw-1"}""");
        Assert.Contains("lacks the sample rate or calibration", Assert.Throws<RecordingFormatException>(() => RecordingReader.Open(capture)).Message);
    }
}
