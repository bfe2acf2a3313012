using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Bench.Core.Comparison;
using Bench.Core.Protocol;
using Bench.Core.Instrument;

namespace Bench.Storage.Recordings;

/// <summary>The rig a recording was made with, as its sidecar describes it.</summary>
/// <param name="Board">Board name.</param>
/// <param name="UniqueId">The rig's 64-bit identity.</param>
/// <param name="Firmware">Firmware version.</param>
/// <param name="ClockHz">Device clock.</param>
/// <param name="AdcBits">ADC resolution.</param>
/// <param name="AdcReferenceMv">ADC full scale.</param>
public sealed record RecordingDevice(string Board, ulong UniqueId, string Firmware, uint ClockHz, int AdcBits, int AdcReferenceMv);

/// <summary>The model a recording was compared with while it was made (<c>bench record --compare</c>).</summary>
/// <param name="Name">Catalog name.</param>
/// <param name="Parameters">Its overrides.</param>
/// <param name="PreparationAreaUm2">Area the stimulus current was spread over.</param>
public sealed record RecordedModel(string Name, IReadOnlyDictionary<string, double> Parameters, double PreparationAreaUm2);

/// <summary>What a recording says about itself (an NWB file's metadata, or a raw capture's sidecar).</summary>
/// <param name="CapturePath">The recording: the NWB file, or the raw capture.</param>
/// <param name="SampleRateHz">The rig's sample rate.</param>
/// <param name="Calibration">ADC counts → mV, as recorded.</param>
/// <param name="CalibrationSource">Where the calibration came from.</param>
/// <param name="Stimulus">The Stimulus the rig accepted (null: none).</param>
/// <param name="NanoampsPerCode">The stimulus output's nA per code (0 without a stimulus).</param>
/// <param name="Device">The rig (null in a sidecar without it).</param>
/// <param name="Model">The model compared live, if any.</param>
/// <param name="Sidecar">The whole sidecar (of an NWB file: Bench's metadata in it).</param>
public sealed record RecordingInfo(string CapturePath, double SampleRateHz, Calibration Calibration, string? CalibrationSource, StimulusCommand? Stimulus,
    double NanoampsPerCode, RecordingDevice? Device, RecordedModel? Model, JsonObject Sidecar)
{
    /// <summary>Every Stimulus command played during the recording, in order (a service recording may hold several);
    /// <see cref="Stimulus"/> is the first.</summary>
    public IReadOnlyList<StimulusCommand> Stimuli { get; init; } = Stimulus is null ? [] : [Stimulus];

    /// <summary>Set when pulses were played but the file does not say what the rig was commanded (an NWB file of an
    /// older Bench): the stimulus is known as a current, but a model cannot be driven pulse by pulse.</summary>
    public string? StimulusCommandMissing { get; init; }

    /// <summary>True for an NWB file; false for a raw capture with its sidecar.</summary>
    public bool IsNwb { get; init; }

    /// <summary>True when the file keeps the model's prediction, sample by sample (a recording compared live).</summary>
    public bool HasModelPrediction { get; init; }

    /// <summary>How to compare this recording with a model whose stimulus spreads over <paramref name="preparationAreaUm2"/>.</summary>
    public ComparisonSetup ToComparisonSetup(double preparationAreaUm2) => new()
    {
        SampleRateHz = SampleRateHz, Calibration = Calibration, Stimulus = Stimulus, NanoampsPerCode = NanoampsPerCode, PreparationAreaUm2 = preparationAreaUm2,
    };
}

/// <summary>Something in a recording, in capture order.</summary>
public abstract record RecordingItem;

/// <summary>Consecutive samples of channel 0 from <paramref name="FirstIndex"/> (raw ADC codes), and the stimulus
/// current as played at each when the recording keeps it (an NWB file does; a raw capture's is computed on request).</summary>
/// <param name="FirstIndex">Sample index of <c>Codes[0]</c>.</param>
/// <param name="Codes">Raw ADC counts.</param>
/// <param name="StimulusNanoamps">The current as played at each sample (nA), when known.</param>
/// <param name="ModelMv">The model's prediction kept with the recording (mV; NaN where the model had not caught up), when the file has one.</param>
public sealed record RecordedSamples(ulong FirstIndex, ushort[] Codes, float[]? StimulusNanoamps = null, float[]? ModelMv = null) : RecordingItem;

/// <summary>Samples that never arrived: from <paramref name="FirstIndex"/>, <paramref name="Length"/> of them.</summary>
public sealed record RecordedGap(ulong FirstIndex, ulong Length) : RecordingItem;

/// <summary>A pulse as the rig reported it.</summary>
public sealed record RecordedPulse(StimulusEvent Pulse) : RecordingItem;

/// <summary>A capture or sidecar that cannot be read; the message names the file and what is wrong.</summary>
public sealed class RecordingFormatException : IOException
{
    /// <summary>Creates the exception.</summary>
    public RecordingFormatException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RecordingFormatException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public RecordingFormatException(string message, Exception innerException) : base(message, innerException)
    {
    }
}

/// <summary>
/// Reads a recording (<c>bench record</c>'s raw capture <c>x.bin</c> and its sidecar <c>x.bin.json</c>, format
/// bench-raw-1): the metadata, then the samples, gaps and pulses in the order they crossed the wire. Samples are never
/// filled in: a jump in the sample index is a gap; a block that repeats samples already read is skipped.
/// </summary>
public sealed class RecordingReader
{
    private readonly Func<IEnumerable<RecordingItem>> read;

    internal RecordingReader(RecordingInfo info, Func<IEnumerable<RecordingItem>>? read = null)
    {
        Info = info;
        this.read = read ?? ReadCapture;
    }

    /// <summary>What the recording says about itself.</summary>
    public RecordingInfo Info { get; }

    /// <summary>Opens a recording: an NWB file Bench wrote (any version), or a raw capture with its sidecar.</summary>
    /// <exception cref="RecordingFormatException">A missing file or sidecar, invalid JSON, another format, or a missing field; the message says which and what to do.</exception>
    public static RecordingReader Open(string capturePath)
    {
        string full = Path.GetFullPath(capturePath);
        if (!File.Exists(full))
        {
            string hint = File.Exists(full + ".journal") ? $": its journal {full}.journal is there (the recording was interrupted): `bench recover {full}` writes the file from it" : "";
            throw new RecordingFormatException($"recording {full} does not exist{hint}");
        }

        if (NwbRecordingFile.IsHdf5(full)) return NwbRecordingFile.Open(full);
        string sidecarPath = RecordingSidecar.PathFor(full);
        if (!File.Exists(sidecarPath)) throw new RecordingFormatException($"{full} is neither an NWB file nor a raw capture with its sidecar ({sidecarPath} is missing: it holds the sample rate and calibration)");
        JsonObject sidecar;
        try
        {
            sidecar = JsonNode.Parse(File.ReadAllText(sidecarPath)) as JsonObject ?? throw new RecordingFormatException($"the sidecar {sidecarPath} is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new RecordingFormatException($"the sidecar {sidecarPath} is not valid JSON: {e.Message}", e);
        }

        if (sidecar["format"] is not JsonValue format || !format.TryGetValue(out string? name) || name != RecordingSidecar.Format)
        {
            throw new RecordingFormatException($"{sidecarPath} is not a {RecordingSidecar.Format} sidecar");
        }

        try
        {
            double rate = sidecar["configuration"]!["sample_rate_hz"]!.GetValue<double>();
            var cal = sidecar["calibration"]!;
            var calibration = new Calibration(cal["mv_per_count"]!.GetValue<double>(), cal["offset_mv"]!.GetValue<double>());
            string? source = cal["source"]?.GetValue<string>();
            StimulusCommand? command = null;
            double perCode = 0;
            if (sidecar["stimulus_command"] is JsonObject s) (command, perCode) = StimulusCommandJson.FromJson(s);

            RecordingDevice? device = null;
            if (sidecar["device"] is JsonObject d)
            {
                device = new RecordingDevice(d["board"]?.GetValue<string>() ?? "", ulong.Parse(d["unique_id"]?.GetValue<string>() ?? "0", NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                    d["firmware"]?.GetValue<string>() ?? "", d["clock_hz"]?.GetValue<uint>() ?? 0, d["adc_bits"]?.GetValue<int>() ?? 0, d["adc_ref_mv"]?.GetValue<int>() ?? 0);
            }

            RecordedModel? model = null;
            if (sidecar["model"] is JsonObject m)
            {
                var parameters = (m["parameters"] as JsonObject ?? []).ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<double>(), StringComparer.Ordinal);
                model = new RecordedModel(m["name"]!.GetValue<string>(), parameters, m["preparation_area_um2"]?.GetValue<double>() ?? 1e6);
            }

            return new RecordingReader(new RecordingInfo(full, rate, calibration, source, command, perCode, device, model, sidecar));
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException or OverflowException)
        {
            throw new RecordingFormatException($"the sidecar {sidecarPath} lacks the sample rate or calibration this needs, or its stimulus is incomplete ({e.Message})", e);
        }
    }

    /// <summary>Samples, gaps and pulses in capture order (an NWB file's pulses follow the samples of their onset).</summary>
    public IEnumerable<RecordingItem> Read() => read();

    /// <summary>
    /// The samples with the stimulus current as played at each (nA). An NWB file keeps the current; a raw capture's is
    /// computed from its pulses and the command's phase lengths (a first pass reads the pulses).
    /// </summary>
    public IEnumerable<RecordedSamples> SamplesWithCurrent()
    {
        if (Info.IsNwb)
        {
            foreach (var s in Read().OfType<RecordedSamples>()) yield return s.StimulusNanoamps is null ? s with { StimulusNanoamps = new float[s.Codes.Length] } : s;
            yield break;
        }

        var phases = new List<(ulong Start, ulong End, double Nanoamps)>();
        foreach (var e in Pulses())
        {
            var command = Info.Stimuli.FirstOrDefault(c => c.StimId == e.StimId) ?? Info.Stimulus;
            if (command is null || e.Train >= command.Trains.Count) continue;
            var t = command.Trains[e.Train];
            ulong p1 = t.Phase1Samples, gap = t.InterphaseSamples, p2 = t.Phase2Samples;
            phases.Add((e.OnsetIndex, e.OnsetIndex + p1, e.Phase1Code * Info.NanoampsPerCode));
            if (p2 > 0) phases.Add((e.OnsetIndex + p1 + gap, e.OnsetIndex + p1 + gap + p2, e.Phase2Code * Info.NanoampsPerCode));
        }

        phases.Sort((a, b) => a.Start.CompareTo(b.Start));
        int next = 0;
        foreach (var block in Read().OfType<RecordedSamples>())
        {
            var current = new float[block.Codes.Length];
            for (int i = 0; i < current.Length; i++)
            {
                ulong index = block.FirstIndex + (ulong)i;
                while (next < phases.Count && phases[next].End <= index) next++;
                current[i] = next < phases.Count && phases[next].Start <= index ? (float)phases[next].Nanoamps : 0;
            }

            yield return block with { StimulusNanoamps = current };
        }
    }

    private IEnumerable<RecordingItem> ReadCapture()
    {
        var decoder = new FrameDecoder();
        using var stream = File.OpenRead(Info.CapturePath);
        var buffer = new byte[1 << 16];
        var items = new List<RecordingItem>();
        ulong expected = 0;
        int n;
        while ((n = stream.Read(buffer)) > 0)
        {
            items.Clear();
            expected = Decode(decoder, buffer.AsSpan(0, n), items, expected);
            foreach (var item in items) yield return item;
        }
    }

    /// <summary>Only the pulses, in capture order (a pass before the samples, when pulses must be known up front).</summary>
    public IEnumerable<StimulusEvent> Pulses() => Read().OfType<RecordedPulse>().Select(p => p.Pulse);

    private static ulong Decode(FrameDecoder decoder, ReadOnlySpan<byte> bytes, List<RecordingItem> items, ulong expected)
    {
        while (decoder.TryDecode(ref bytes, out var frame))
        {
            switch (frame.Kind)
            {
                case MessageKind.SampleBlock when SampleBlock.TryParse(frame.Payload, out var block) == ParseError.None:
                    if (block.FirstSampleIndex < expected) break;   // a repeat of what was already read
                    if (block.FirstSampleIndex > expected) items.Add(new RecordedGap(expected, block.FirstSampleIndex - expected));
                    var codes = new ushort[block.SampleCount];
                    for (int i = 0; i < codes.Length; i++) codes[i] = block[i, 0];
                    items.Add(new RecordedSamples(block.FirstSampleIndex, codes));
                    expected = block.FirstSampleIndex + block.SampleCount;
                    break;
                case MessageKind.StimulusEvent when StimulusEvent.TryParse(frame.Payload, out var pulse) == ParseError.None:
                    items.Add(new RecordedPulse(pulse));
                    break;
                default:
                    break;
            }
        }

        return expected;
    }
}
