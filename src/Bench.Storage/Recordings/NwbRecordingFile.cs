using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Bench.Core.Comparison;
using Bench.Core.Protocol;
using Bench.Core.Instrument;
using PureHDF;
using PureHDF.Selections;
using PureHDF.VOL.Native;

namespace Bench.Storage.Recordings;

/// <summary>
/// Reads a recording from an NWB file Bench wrote (the service, <c>bench record</c>, <c>bench recover</c>): the membrane
/// potential as counts with NWB's conversion and offset, its times (starting_time and rate, or a timestamp per sample
/// where samples were lost), the stimulus current as played, the pulses (<c>/intervals/stimulus_events</c>), the lost
/// samples (<c>/intervals/invalid_times</c>; <c>/intervals/gaps</c> in files of an earlier Bench), and Bench's own
/// metadata (<c>/general/data_collection</c>'s attributes, <c>/general/stimulus</c>). Streams the samples in HDF5
/// chunks, so a long recording never has to fit in memory.
/// </summary>
internal static class NwbRecordingFile
{
    private const string Membrane = "/acquisition/membrane_potential";
    private const string Stimulus = "/stimulus/presentation/stimulus";
    private const string Prediction = "/processing/comparison/model_prediction";
    private const int Block = 65536;

    private static ReadOnlySpan<byte> Hdf5Signature => [0x89, (byte)'H', (byte)'D', (byte)'F', (byte)'\r', (byte)'\n', 0x1a, (byte)'\n'];

    /// <summary>True when the file starts with HDF5's signature.</summary>
    public static bool IsHdf5(string path)
    {
        Span<byte> head = stackalloc byte[8];
        using var f = File.OpenRead(path);
        return f.ReadAtLeast(head, 8, throwOnEndOfStream: false) == 8 && head.SequenceEqual(Hdf5Signature);
    }

    public static RecordingReader Open(string path)
    {
        try
        {
            using var file = H5File.OpenRead(path);
            if (!file.LinkExists(Membrane) || !file.LinkExists("/general/data_collection"))
            {
                throw new RecordingFormatException($"{path} is an HDF5 file but not an NWB recording Bench wrote: it lacks {Membrane} or /general/data_collection");
            }

            var collection = file.Get("/general/data_collection");
            double rate = Number(collection, "sample_rate_hz");
            var data = (IH5Dataset)file.Get(Membrane + "/data");
            // NWB's volts = conversion · count + offset; Bench's mV per count and offset mV are those × 1000. The
            // collection's attributes keep Bench's figures exactly; the series' attributes are what any NWB reader uses.
            var calibration = collection.AttributeExists("calibration_mv_per_count")
                ? new Calibration(Number(collection, "calibration_mv_per_count"), Number(collection, "calibration_offset_mv"))
                : new Calibration(Number(data, "conversion") * 1000, Number(data, "offset") * 1000);
            string? source = Text(collection, "calibration_source");
            var bench = collection.AttributeExists("bench") ? JsonNode.Parse(Text(collection, "bench") ?? "{}") as JsonObject ?? [] : [];
            var device = new RecordingDevice(Text(collection, "device_board") ?? "", ulong.Parse(Text(collection, "device_unique_id") ?? "0", NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                Text(collection, "device_firmware") ?? "", bench["device"]?["clock_hz"]?.GetValue<uint>() ?? 0, bench["device"]?["adc_bits"]?.GetValue<int>() ?? 0,
                bench["device"]?["adc_ref_mv"]?.GetValue<int>() ?? 0);
            RecordedModel? model = null;
            if (bench["model"] is JsonObject m && m["name"]?.GetValue<string>() is { } name)
            {
                var parameters = (m["parameters"] as JsonObject ?? []).ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<double>(), StringComparer.Ordinal);
                model = new RecordedModel(name, parameters, m["preparation_area_um2"]?.GetValue<double>() ?? 1e6);
            }

            var (commands, perCode) = Commands(file, bench);
            var events = Events(file);
            // A command played "as soon as possible" started where the rig says its first pulse did: the file knows
            // that, so the command is anchored there, as it was while it played.
            for (int i = 0; i < commands.Count; i++)
            {
                var c = commands[i];
                int k = events.FindIndex(e => e.StimId == c.StimId && e.Output == c.Output);
                if ((c.Flags & StimulusCommand.AtIndex) != 0 || k < 0) continue;
                var first = events[k];
                ulong onset = first.OnsetIndex;
                ulong offset = c.Trains.Count == 0 || first.Train >= c.Trains.Count ? 0 : PlayedStimulus.OffsetOf(c, first.Train, first.Pulse);
                if (onset >= offset) commands[i] = c with { Flags = (byte)(c.Flags | StimulusCommand.AtIndex), StartIndex = onset - offset };
            }

            string? missing = events.Count > 0 && commands.Count == 0
                ? $"{path} was written by an earlier Bench that kept the pulses as played but not the stimulus commands: bench export reads it; to compare or fit, record it again"
                : null;
            var info = new RecordingInfo(path, rate, calibration, source, commands.Count > 0 ? commands[0] : null, perCode, device, model, bench)
            {
                Stimuli = commands, StimulusCommandMissing = missing, IsNwb = true, HasModelPrediction = file.LinkExists(Prediction + "/data"),
            };
            return new RecordingReader(info, () => Items(path, rate, events));
        }
        catch (Exception e) when (e is not RecordingFormatException and not OutOfMemoryException)
        {
            throw new RecordingFormatException($"{path} cannot be read as a Bench NWB recording: {e.Message}", e);
        }
    }

    private static (List<StimulusCommand> Commands, double NanoampsPerCode) Commands(NativeFile file, JsonObject bench)
    {
        var commands = new List<StimulusCommand>();
        double perCode = bench["nanoamps_per_code"]?.GetValue<double>() ?? 0;
        if (!file.LinkExists("/general/stimulus")) return (commands, perCode);
        string json = ((IH5Dataset)file.Get("/general/stimulus")).Read<string>();
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (JsonException)
        {
            return (commands, perCode);   // free text written by another program: no commands
        }

        if (root?["played"] is not JsonArray played) return (commands, perCode);
        foreach (var p in played)
        {
            if (p?["command"] is not JsonObject c) continue;
            var (command, scale) = StimulusCommandJson.FromJson(c);
            commands.Add(command);
            if (perCode == 0) perCode = scale;
        }

        return (commands, perCode);
    }

    private static List<StimulusEvent> Events(NativeFile file)
    {
        const string table = "/intervals/stimulus_events";
        var events = new List<StimulusEvent>();
        if (!file.LinkExists(table)) return events;
        var onset = Column<ulong>(file, table, "onset_sample");
        if (onset.Length == 0) return events;
        var train = Column<int>(file, table, "train");
        var pulse = Column<int>(file, table, "pulse");
        bool coded = file.LinkExists(table + "/stim_id");
        var stimId = coded ? Column<int>(file, table, "stim_id") : new int[onset.Length];
        var output = coded ? Column<int>(file, table, "output") : new int[onset.Length];
        var p1 = coded ? Column<int>(file, table, "phase1_code") : new int[onset.Length];
        var p2 = coded ? Column<int>(file, table, "phase2_code") : new int[onset.Length];
        var flags = coded ? Column<int>(file, table, "flags") : new int[onset.Length];
        for (int i = 0; i < onset.Length; i++)
        {
            events.Add(new StimulusEvent(onset[i], (ushort)stimId[i], (byte)output[i], (byte)train[i], (ushort)pulse[i], (short)p1[i], (short)p2[i], (byte)flags[i]));
        }

        events.Sort((a, b) => a.OnsetIndex.CompareTo(b.OnsetIndex));
        return events;
    }

    /// <summary>The samples in blocks (with the current as played), a gap wherever the time jumps, each pulse after the block holding its onset.</summary>
    private static IEnumerable<RecordingItem> Items(string path, double rate, List<StimulusEvent> events)
    {
        using var file = H5File.OpenRead(path);
        var data = (IH5Dataset)file.Get(Membrane + "/data");
        ulong n = data.Space.Dimensions.Length == 0 ? 0 : data.Space.Dimensions[0];
        IH5Dataset? timestamps = file.LinkExists(Membrane + "/timestamps") ? (IH5Dataset)file.Get(Membrane + "/timestamps") : null;
        ulong startIndex = 0;
        if (timestamps is null && file.LinkExists(Membrane + "/starting_time"))
        {
            startIndex = (ulong)Math.Round(((IH5Dataset)file.Get(Membrane + "/starting_time")).Read<double>() * rate);
        }

        IH5Dataset? current = file.LinkExists(Stimulus + "/data") ? (IH5Dataset)file.Get(Stimulus + "/data") : null;
        IH5Dataset? prediction = file.LinkExists(Prediction + "/data") ? (IH5Dataset)file.Get(Prediction + "/data") : null;
        ulong expected = startIndex;
        int nextEvent = 0;
        for (ulong at = 0; at < n; at += Block)
        {
            ulong count = Math.Min(Block, n - at);
            var selection = new HyperslabSelection(at, count);
            var counts = data.Read<short[]>(selection);
            var nanoamps = current?.Read<float[]>(selection);
            var modelMv = prediction?.Read<float[]>(selection);
            ulong[] indices;
            if (timestamps is null)
            {
                indices = new ulong[count];
                for (ulong i = 0; i < count; i++) indices[i] = startIndex + at + i;
            }
            else
            {
                var t = timestamps.Read<double[]>(selection);
                indices = Array.ConvertAll(t, x => (ulong)Math.Round(x * rate));
            }

            // Runs of consecutive indices within the block; a jump is a gap.
            int runStart = 0;
            for (int i = 1; i <= (int)count; i++)
            {
                if (i < (int)count && indices[i] == indices[i - 1] + 1) continue;
                ulong first = indices[runStart];
                if (first > expected) yield return new RecordedGap(expected, first - expected);
                // Each pulse right after the sample of its onset, as near as the wire would bring it: a comparison waits
                // at a pulse for its report, and must not be handed a whole block first.
                int cut = runStart;
                while (cut < i)
                {
                    while (nextEvent < events.Count && events[nextEvent].OnsetIndex < indices[cut]) yield return new RecordedPulse(events[nextEvent++]);
                    int end = i;
                    if (nextEvent < events.Count && events[nextEvent].OnsetIndex <= indices[i - 1]) end = cut + (int)(events[nextEvent].OnsetIndex - indices[cut]) + 1;
                    var codes = new ushort[end - cut];
                    for (int k = 0; k < codes.Length; k++) codes[k] = (ushort)counts[cut + k];
                    yield return new RecordedSamples(indices[cut], codes, nanoamps?[cut..end], modelMv?[cut..end]);
                    cut = end;
                }

                expected = first + (ulong)(i - runStart);
                while (nextEvent < events.Count && events[nextEvent].OnsetIndex < expected) yield return new RecordedPulse(events[nextEvent++]);
                runStart = i;
            }
        }

        while (nextEvent < events.Count) yield return new RecordedPulse(events[nextEvent++]);
    }

    private static T[] Column<T>(NativeFile file, string table, string column) => ((IH5Dataset)file.Get($"{table}/{column}")).Read<T[]>();

    private static double Number(IH5Object o, string attribute)
    {
        if (!o.AttributeExists(attribute)) throw new RecordingFormatException($"{o.Name} lacks the attribute {attribute}");
        return o.Attribute(attribute).Read<double>();
    }

    private static string? Text(IH5Object o, string attribute) => o.AttributeExists(attribute) ? o.Attribute(attribute).Read<string>() : null;
}
