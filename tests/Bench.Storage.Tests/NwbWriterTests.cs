using System.Text.Json.Nodes;
using Bench.Storage.Nwb;
using static Bench.Storage.Tests.NwbTestData;

namespace Bench.Storage.Tests;

[Trait("Category", "EndToEnd")]
public sealed class NwbWriterTests : IDisposable
{
    private readonly string dir = TempDirectory();

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static readonly NwbStimulusEvent[] Events =
    [
        new(OnsetSample: 660, DurationSamples: 20, Train: 0, Pulse: 1, Phase1Nanoamps: 1.5, Phase2Nanoamps: -0.75),
        new(OnsetSample: 500, DurationSamples: 20, Train: 0, Pulse: 0, Phase1Nanoamps: 2.5, Phase2Nanoamps: 0),
    ];

    /// <summary>3000 device samples with 50 lost at 1200: 2950 in the file, in chunks of 700 that end at the gap.</summary>
    private static readonly (ulong, ulong)[] Runs = [(0, 1200), (1250, 3000)];

    [Fact]
    public void H_5_py_reads_back_everything_written()
    {
        string path = Path.Combine(dir, "rec.nwb");
        var recording = Recording(2950, [new NwbGap(1200, 50)], Events) with
        {
            ModelName = "hh",
            HasStimulusCurrent = true,
            StimulusNanoampsPerCode = 0.05,
        };
        var summary = NwbWriter.Write(path, recording, Chunks(Runs, 700, model: true, stimulus: true));

        Assert.Equal(2950, summary.Samples);
        Assert.Equal(50UL, summary.LostSamples);
        Assert.Equal(new FileInfo(path).Length, summary.FileBytes);
        Assert.False(File.Exists(path + ".partial"));

        var f = H5py.Read(path);

        // Root: version, type, the required datasets and groups.
        Assert.Equal("2.7.0", (string?)f["root_attrs"]!["nwb_version"]);
        Assert.Equal("NWBFile", (string?)f["root_attrs"]!["neurodata_type"]);
        Assert.Equal("core", (string?)f["root_attrs"]!["namespace"]);
        Assert.True(Guid.TryParse((string?)f["root_object_id"], out _));
        Assert.Equal("bench-test-0001", (string?)f["identifier"]);
        Assert.Equal("Bench NWB writer test", (string?)f["session_description"]);
        // In this computer's time zone, with its offset: the same instant, and the zone a reader needs.
        var started = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero).AddTicks(1234560);
        foreach (string key in new[] { "session_start_time", "timestamps_reference_time" })
        {
            string text = (string)f[key]!;
            Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d$", text);
            Assert.Equal(started, DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture));
        }

        string created = (string)f["file_create_date"]!.AsArray().Single()!;
        Assert.Matches(@"[+-]\d\d:\d\d$", created);
        Assert.True(DateTimeOffset.Parse(created, System.Globalization.CultureInfo.InvariantCulture) > DateTimeOffset.UtcNow.AddMinutes(-5));
        Assert.Equal(
            ["acquisition", "analysis", "file_create_date", "general", "identifier", "intervals", "processing", "session_description",
             "session_start_time", "stimulus", "timestamps_reference_time"],
            Strings(f["top_level"]));
        Assert.Empty(f["stimulus_templates"]!.AsArray());

        // Every typed object, with its namespace; object ids unique.
        var types = f["types"]!.AsObject();
        Assert.Equal("CurrentClampSeries", (string?)types["/acquisition/membrane_potential"]);
        Assert.Equal("CurrentClampStimulusSeries", (string?)types["/stimulus/presentation/stimulus"]);
        Assert.Equal("ProcessingModule", (string?)types["/processing/comparison"]);
        Assert.Equal("TimeSeries", (string?)types["/processing/comparison/model_prediction"]);
        Assert.Equal("Device", (string?)types["/general/devices/uno"]);
        Assert.Equal("IntracellularElectrode", (string?)types["/general/intracellular_ephys/electrode"]);
        Assert.Equal("TimeIntervals", (string?)types["/intervals/stimulus_events"]);
        Assert.Equal("TimeIntervals", (string?)types["/intervals/invalid_times"]);
        Assert.Equal("VectorData", (string?)types["/intervals/invalid_times/lost_samples"]);
        Assert.Equal("ElementIdentifiers", (string?)types["/intervals/invalid_times/id"]);
        Assert.Equal("hdmf-common", (string?)f["namespaces"]!["/intervals/invalid_times/lost_samples"]);
        Assert.Equal("core", (string?)f["namespaces"]!["/intervals/invalid_times"]);
        Assert.Equal((int)f["object_ids"]!, (int)f["unique_object_ids"]!);
        Assert.Equal(types.Count + 1, (int)f["object_ids"]!);

        // The acquisition: raw counts, calibration as conversion/offset (float64, every digit kept), gap-aware times.
        var m = f["membrane"]!;
        Assert.Equal("int16", (string?)m["dtype"]);
        Assert.Equal(2950, (int)m["length"]!);
        Assert.Equal(Calibration.MillivoltsPerCount / 1000, (double)m["attrs"]!["conversion"]!);
        Assert.Equal(Calibration.OffsetMv / 1000, (double)m["attrs"]!["offset"]!);
        Assert.Equal(Calibration.MillivoltsPerCount / 1000, (double)m["attrs"]!["resolution"]!);
        Assert.Equal("float64", (string?)m["attrs_types"]!["conversion"]);
        Assert.Equal("volts", (string?)m["attrs"]!["unit"]);
        Assert.Equal("gzip", (string?)m["compression"]);
        Assert.True((bool)m["shuffle"]!);
        Assert.Equal([0, 7, 14], m["first"]!.AsArray().Select(v => (int)v!));
        Assert.Equal(Count(2999), (short)m["last"]!);
        Assert.Equal(Received().Sum(i => (double)Count(i)), (double)m["sum"]!);
        Assert.Equal("float64", (string?)m["timestamps_dtype"]);
        Assert.Equal(2950, (int)m["timestamps_length"]!);
        Assert.Equal("seconds", (string?)m["timestamps_attrs"]!["unit"]);
        Assert.Equal(1, (int)m["timestamps_attrs"]!["interval"]!);
        Assert.Null(m["timestamps_link"]);
        Assert.Equal(0.0, (double)m["first_time"]!);
        Assert.Equal(2999 / RateHz, (double)m["last_time"]!);
        Assert.True((bool)m["times_increasing"]!);
        var jump = Assert.Single(m["jumps"]!.AsArray())!;
        Assert.Equal(1199, (int)jump["index"]!);
        Assert.Equal(1199 / RateHz, (double)jump["before"]!);
        Assert.Equal(1250 / RateHz, (double)jump["after"]!);
        Assert.Equal("paired pulse", (string?)m["group_attrs"]!["stimulus_description"]);
        Assert.Equal("/general/intracellular_ephys/electrode", (string?)f["membrane_electrode_link"]);

        // Device and electrode, linked.
        Assert.Equal("/general/devices/uno", (string?)f["electrode_device_link"]);
        Assert.Equal("Bench rig: board uno, firmware 1.2.3, protocol 1.0, unique id 0123456789abcdef",
            (string?)f["devices"]!["uno"]!["description"]);
        Assert.Equal("Device", (string?)f["electrode_device_board_attrs"]!["neurodata_type"]);

        // Model prediction and stimulus current share the acquisition's timestamps through links.
        var model = f["model"]!;
        Assert.Equal("float32", (string?)model["dtype"]);
        Assert.Equal(2950, (int)model["length"]!);
        Assert.Equal(0.001, (double)model["attrs"]!["conversion"]!);
        Assert.Equal("volts", (string?)model["attrs"]!["unit"]);
        Assert.Equal("/acquisition/membrane_potential/timestamps", (string?)model["timestamps_link"]);
        Assert.Equal(2950, (int)model["timestamps_length"]!);
        Assert.Equal([ModelMv(0), ModelMv(1), ModelMv(2)], model["first"]!.AsArray().Select(v => (float)(double)v!));
        Assert.Equal(ModelMv(2999), (float)(double)model["last"]!);
        var stim = f["stimulus"]!;
        Assert.Equal("float32", (string?)stim["dtype"]);
        Assert.Equal(1e-9, (double)stim["attrs"]!["conversion"]!);
        Assert.Equal(0.05 * 1e-9, (double)stim["attrs"]!["resolution"]!);
        Assert.Equal("amperes", (string?)stim["attrs"]!["unit"]);
        Assert.Equal(20 * 2.5 + (20 * 1.5), (double)stim["sum"]!);
        Assert.Equal("/acquisition/membrane_potential/timestamps", (string?)stim["timestamps_link"]);
        Assert.Equal("/general/intracellular_ephys/electrode", (string?)f["stimulus_electrode_link"]);

        // The protocol, and the calibration and device as machine-readable attributes.
        Assert.Equal(ProtocolJson, (string?)f["protocol"]);
        var dc = f["data_collection_attrs"]!;
        Assert.Equal(Calibration.MillivoltsPerCount, (double)dc["calibration_mv_per_count"]!);
        Assert.Equal(Calibration.OffsetMv, (double)dc["calibration_offset_mv"]!);
        Assert.Equal("two-point", (string?)dc["calibration_source"]);
        Assert.Equal("0123456789abcdef", (string?)dc["device_unique_id"]);
        Assert.Equal("1.2.3", (string?)dc["device_firmware"]);
        Assert.Equal(RateHz, (double)dc["sample_rate_hz"]!);
        Assert.Equal(2950, (long)dc["samples"]!);
        Assert.Equal(50, (long)dc["lost_samples"]!);
        Assert.Contains("50 samples were lost", (string?)f["data_collection"], StringComparison.Ordinal);

        // One row per pulse (sorted by onset) and per gap.
        var events = f["intervals"]!["stimulus_events"]!;
        Assert.Equal(["start_time", "stop_time", "train", "pulse", "phase1_nA", "phase2_nA", "onset_sample", "stim_id", "output", "phase1_code", "phase2_code", "flags",
             "onset_uncertainty_ms", "late_ms"],
            Strings(events["colnames"]));
        Assert.Equal([0, 1], events["ids"]!.AsArray().Select(v => (int)v!));
        var rows = events["rows"]!.AsArray();
        Assert.Equal(2, rows.Count);
        AssertRow(rows[0]!, ("start_time", 500 / RateHz), ("stop_time", 520 / RateHz), ("train", 0), ("pulse", 0), ("phase1_nA", 2.5),
            ("phase2_nA", 0), ("onset_sample", 500));
        AssertRow(rows[1]!, ("start_time", 660 / RateHz), ("stop_time", 680 / RateHz), ("train", 0), ("pulse", 1), ("phase1_nA", 1.5),
            ("phase2_nA", -0.75), ("onset_sample", 660));
        Assert.Equal("VectorData", (string?)events["column_types"]!["onset_sample"]);
        Assert.Equal("uint64", (string?)events["column_dtypes"]!["onset_sample"]);

        var gaps = f["intervals"]!["invalid_times"]!;
        Assert.Equal(["start_time", "stop_time", "first_lost_sample", "lost_samples"], Strings(gaps["colnames"]));
        AssertRow(Assert.Single(gaps["rows"]!.AsArray())!, ("start_time", 1200 / RateHz), ("stop_time", 1250 / RateHz),
            ("first_lost_sample", 1200), ("lost_samples", 50));
    }

    [Fact]
    public void An_empty_recording_without_optional_parts_is_still_readable()
    {
        string path = Path.Combine(dir, "empty.nwb");
        var recording = Recording(0, []) with { ProtocolJson = null };
        var summary = NwbWriter.Write(path, recording, []);
        Assert.Equal(0, summary.Samples);

        var f = H5py.Read(path);
        Assert.Equal(0, (int)f["membrane"]!["length"]!);
        // Nothing lost: starting_time and rate, no timestamp per sample (NWB's best practice for regular series).
        Assert.Null(f["membrane"]!["timestamps_length"]);
        Assert.Equal(0.0, (double)f["membrane"]!["starting_time"]!);
        Assert.Equal(RateHz, (double)f["membrane"]!["starting_time_attrs"]!["rate"]!);
        Assert.Null(f["protocol"]);
        Assert.Null(f["model"]);
        Assert.Null(f["stimulus"]);
        Assert.Empty(f["intervals"]!["invalid_times"]!["rows"]!.AsArray());
        Assert.Empty(f["intervals"]!["stimulus_events"]!["rows"]!.AsArray());
        Assert.Equal("none", (string?)f["membrane"]!["group_attrs"]!["stimulus_description"]);
        Assert.False(f["types"]!.AsObject().ContainsKey("/processing/comparison"));
    }

    [Fact]
    public void Chunks_must_be_in_increasing_order()
    {
        string path = Path.Combine(dir, "x.nwb");
        using (var writer = NwbWriter.Create(path, Recording(200, [])))
        {
            writer.Append(Chunk(0, 100));
            var e = Assert.Throws<ArgumentException>(() => writer.Append(Chunk(50, 100)));
            Assert.Contains("increasing sample order", e.Message, StringComparison.Ordinal);
            Assert.Throws<ArgumentException>(() => writer.Append(Chunk(0, 10)));
            // Refused chunks leave the writer as it was: the right chunk still goes in.
            writer.Append(Chunk(100, 100));
            Assert.Equal(200, writer.SamplesWritten);
            Assert.True(File.Exists(path + ".partial"));
        }

        // Disposed without Complete: nothing under either name.
        Assert.False(File.Exists(path));
        Assert.False(File.Exists(path + ".partial"));
    }

    [Fact]
    public void A_jump_in_sample_indices_must_be_a_declared_gap()
    {
        string path = Path.Combine(dir, "x.nwb");
        using (var writer = NwbWriter.Create(path, Recording(200, [])))
        {
            writer.Append(Chunk(0, 100));
            var e = Assert.Throws<ArgumentException>(() => writer.Append(Chunk(150, 100)));
            Assert.Contains("no gap is declared", e.Message, StringComparison.Ordinal);
        }

        using (var writer = NwbWriter.Create(path, Recording(200, [new NwbGap(100, 30)])))
        {
            writer.Append(Chunk(0, 100));
            Assert.Contains("the declared gap there is 30 samples", Assert.Throws<ArgumentException>(() => writer.Append(Chunk(150, 100))).Message,
                StringComparison.Ordinal);
            Assert.Contains("continues there without one", Assert.Throws<ArgumentException>(() => writer.Append(Chunk(100, 100))).Message,
                StringComparison.Ordinal);
        }

        using (var writer = NwbWriter.Create(path, Recording(200, [new NwbGap(150, 30)])))
        {
            // A chunk that holds samples the recording says were lost.
            writer.Append(Chunk(0, 100));
            Assert.Contains("declares lost", Assert.Throws<ArgumentException>(() => writer.Append(Chunk(100, 100))).Message, StringComparison.Ordinal);
        }

        Assert.Empty(Directory.GetFiles(dir));
    }

    [Fact]
    public void The_declared_sample_count_is_enforced()
    {
        string path = Path.Combine(dir, "x.nwb");
        using (var writer = NwbWriter.Create(path, Recording(150, [])))
        {
            writer.Append(Chunk(0, 100));
            Assert.Contains("more than the 150", Assert.Throws<ArgumentException>(() => writer.Append(Chunk(100, 100))).Message, StringComparison.Ordinal);
            var e = Assert.Throws<InvalidOperationException>(writer.Complete);
            Assert.Contains("declared 150 samples but 100 arrived", e.Message, StringComparison.Ordinal);
        }

        Assert.Empty(Directory.GetFiles(dir));
    }

    [Fact]
    public void Model_and_stimulus_columns_must_match_the_declaration()
    {
        string path = Path.Combine(dir, "x.nwb");
        using (var writer = NwbWriter.Create(path, Recording(100, []) with { ModelName = "hh" }))
        {
            Assert.Contains("ModelMv has 0 values for 100 samples", Assert.Throws<ArgumentException>(() => writer.Append(Chunk(0, 100))).Message,
                StringComparison.Ordinal);
            Assert.Contains("ModelMv has 50 values", Assert.Throws<ArgumentException>(
                () => writer.Append(Chunk(0, 100) with { ModelMv = new float[50] })).Message, StringComparison.Ordinal);
        }

        using (var writer = NwbWriter.Create(path, Recording(100, [])))
        {
            Assert.Contains("carries StimulusNanoamps but the recording declares no stimulus current", Assert.Throws<ArgumentException>(
                () => writer.Append(Chunk(0, 100) with { StimulusNanoamps = new float[100] })).Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void An_existing_file_is_replaced_only_when_asked()
    {
        string path = Path.Combine(dir, "x.nwb");
        File.WriteAllText(path, "not an NWB file");
        Assert.Throws<IOException>(() => NwbWriter.Write(path, Recording(100, []), [Chunk(0, 100)]));
        Assert.Equal("not an NWB file", File.ReadAllText(path));

        NwbWriter.Write(path, Recording(100, []), [Chunk(0, 100)], overwrite: true);
        Assert.Equal(100, (int)H5py.Read(path)["membrane"]!["length"]!);
    }

    [Fact]
    public void A_failing_source_leaves_no_file()
    {
        string path = Path.Combine(dir, "x.nwb");
        static IEnumerable<SampleChunk> Failing()
        {
            yield return Chunk(0, 100);
            throw new IOException("link dropped");
        }

        Assert.Throws<IOException>(() => NwbWriter.Write(path, Recording(200, []), Failing()));
        Assert.Empty(Directory.GetFiles(dir));
    }

    [Fact]
    public void An_inconsistent_description_is_refused_up_front()
    {
        string path = Path.Combine(dir, "x.nwb");
        Assert.Contains("SampleRateHz", Assert.Throws<ArgumentException>(() => NwbWriter.Create(path, Recording(1, []) with { SampleRateHz = 0 })).Message,
            StringComparison.Ordinal);
        Assert.Contains("ProtocolJson: not valid JSON", Assert.Throws<ArgumentException>(
            () => NwbWriter.Create(path, Recording(1, []) with { ProtocolJson = "{trains" })).Message, StringComparison.Ordinal);
        Assert.Contains("Gaps[1]", Assert.Throws<ArgumentException>(
            () => NwbWriter.Create(path, Recording(1, [new NwbGap(10, 5), new NwbGap(12, 5)]))).Message, StringComparison.Ordinal);
        Assert.Contains("Gaps[0]", Assert.Throws<ArgumentException>(() => NwbWriter.Create(path, Recording(1, [new NwbGap(10, 0)]))).Message,
            StringComparison.Ordinal);
        Assert.Contains("MillivoltsPerCount", Assert.Throws<ArgumentException>(
            () => NwbWriter.Create(path, Recording(1, []) with { Calibration = new(0, 0) })).Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(dir));
    }

    [Fact]
    public void Stimulus_events_take_their_length_from_the_command()
    {
        var command = new Bench.Core.Protocol.StimulusCommand(7, 0, 0, 0,
            [new Bench.Core.Protocol.StimulusTrain(0, 100, 20, 4, -50, 20, 200, 2)]);
        var played = new Bench.Core.Protocol.StimulusEvent(4000, 7, 0, 0, 1, 100, -50, 0);
        var e = NwbStimulusEvent.From(played, command, nanoampsPerCode: 0.05);
        Assert.Equal(new NwbStimulusEvent(4000, 44, 0, 1, 100 * 0.05, -50 * 0.05) { StimId = 7, Phase1Code = 100, Phase2Code = -50 }, e);
        Assert.Throws<ArgumentException>(() => NwbStimulusEvent.From(played with { Train = 1 }, command, 0.05));
    }

    private static SampleChunk Chunk(ulong first, int n) =>
        new(first, Enumerable.Range(0, n).Select(i => Count(first + (ulong)i)).ToArray());

    private static IEnumerable<ulong> Received() => Runs.SelectMany(r => Enumerable.Range((int)r.Item1, (int)(r.Item2 - r.Item1)).Select(i => (ulong)i));

    private static string[] Strings(JsonNode? array) => array!.AsArray().Select(v => (string)v!).ToArray();

    private static void AssertRow(JsonNode row, params (string Column, double Value)[] expected)
    {
        foreach (var (column, value) in expected) Assert.True(value == (double)row[column]!, $"{column}: expected {value}, read {row[column]}");
    }
}
