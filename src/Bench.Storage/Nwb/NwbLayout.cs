using System.Globalization;
using System.Text;
using System.Text.Json;
using PureHDF;

namespace Bench.Storage.Nwb;

/// <summary>The NWB group tree around the streamed datasets: everything that is known before the first sample.</summary>
internal static class NwbLayout
{
    internal const string Acquisition = "/acquisition/membrane_potential";
    internal const string Electrode = "/general/intracellular_ephys/electrode";

    public static H5File Build(NwbRecording r, H5Dataset<short[]> counts, H5Dataset<double[]>? timestamps,
        H5Dataset<float[]>? model, H5Dataset<float[]>? stimulus, DateTimeOffset created)
    {
        var inv = CultureInfo.InvariantCulture;
        var cal = r.Calibration;
        string deviceName = SafeName(r.Device.Board);
        string protocolName = ProtocolName(r.ProtocolJson);
        string timestampsPath = Acquisition + "/timestamps";

        counts.Attributes = new()
        {
            // NWB's volts = conversion · count + offset, the calibration's mV = mV/count · count + offset mV, over 1000.
            // float64 where the schema says float32 (a wider float is accepted) so the calibration keeps every digit.
            ["conversion"] = cal.MillivoltsPerCount / 1000,
            ["offset"] = cal.OffsetMv / 1000,
            ["resolution"] = Math.Abs(cal.MillivoltsPerCount) / 1000,
            ["unit"] = "volts",
            ["continuity"] = "continuous",
        };
        if (timestamps is not null) timestamps.Attributes = new() { ["interval"] = 1, ["unit"] = "seconds" };

        // Each series' time: starting_time and rate when no sample is missing; else the membrane's timestamps, linked.
        // A new dataset object each time: PureHDF writes one object given twice as one dataset under two names.
        void AddTime(H5Group series, bool owner)
        {
            if (timestamps is null)
            {
                series["starting_time"] = new H5Dataset(0.0) { Attributes = new() { ["rate"] = r.SampleRateHz, ["unit"] = "seconds" } };
            }
            else if (owner)
            {
                series["timestamps"] = timestamps;
            }
            else
            {
                series["timestamps"] = new H5SoftLink(timestampsPath);
            }
        }

        var membrane = new H5Group
        {
            ["data"] = counts,
            ["electrode"] = new H5SoftLink(Electrode),
            Attributes = Typed("CurrentClampSeries", "core", new()
            {
                ["description"] = "Membrane potential recorded by the rig: raw ADC counts; volts = conversion * count + offset.",
                ["comments"] = r.IsRegular
                    ? "Every sample arrived: time is starting_time + index / rate."
                    : "Samples lost on the link are absent, never filled in: time comes from 'timestamps' (device sample index / rate). "
                        + "The gaps are listed in /intervals/invalid_times.",
                ["stimulus_description"] = protocolName,
            }),
        };
        AddTime(membrane, owner: true);
        var acquisition = new H5Group { ["membrane_potential"] = membrane };

        var presentation = new H5Group();
        if (stimulus is not null)
        {
            stimulus.Attributes = new()
            {
                ["conversion"] = 1e-9,
                ["offset"] = 0.0,
                ["resolution"] = r.StimulusNanoampsPerCode is { } perCode ? perCode * 1e-9 : -1.0,
                ["unit"] = "amperes",
                ["continuity"] = "step",
            };
            presentation["stimulus"] = new H5Group
            {
                ["data"] = stimulus,
                ["electrode"] = new H5SoftLink(Electrode),
                Attributes = Typed("CurrentClampStimulusSeries", "core", new()
                {
                    ["description"] = "Stimulus current as the rig played it, at each recorded sample (nA; amperes = conversion * value).",
                    ["stimulus_description"] = protocolName,
                }),
            };
            AddTime((H5Group)presentation["stimulus"], owner: false);
        }

        var processing = new H5Group();
        if (model is not null)
        {
            model.Attributes = new()
            {
                ["conversion"] = 0.001,
                ["offset"] = 0.0,
                ["resolution"] = -1.0,
                ["unit"] = "volts",
                ["continuity"] = "continuous",
            };
            processing["comparison"] = new H5Group
            {
                ["model_prediction"] = ModelSeries(r, model, AddTime),
                Attributes = Typed("ProcessingModule", "core", new() { ["description"] = "Bench's comparison of the recording with a simulation." }),
            };
        }

        var general = new H5Group
        {
            ["devices"] = new H5Group
            {
                [deviceName] = new H5Group
                {
                    Attributes = Typed("Device", "core", new()
                    {
                        ["description"] = $"Bench rig: board {r.Device.Board}, firmware {r.Device.Firmware}, protocol {r.Device.Protocol}, unique id {r.Device.UniqueIdHex}",
                        ["manufacturer"] = "Bench",
                    }),
                },
            },
            ["intracellular_ephys"] = new H5Group
            {
                ["electrode"] = new H5Group
                {
                    ["description"] = "The rig's recording electrode (current clamp).",
                    ["device"] = new H5SoftLink($"/general/devices/{deviceName}"),
                    Attributes = Typed("IntracellularElectrode", "core", []),
                },
            },
            // NWB keeps machine-readable metadata as attributes of the free-text /general datasets.
            ["data_collection"] = new H5Dataset(DataCollectionText(r, inv))
            {
                Attributes = new()
                {
                    ["sample_rate_hz"] = r.SampleRateHz,
                    ["samples"] = r.SampleCount,
                    ["lost_samples"] = r.LostSamples,
                    ["calibration_mv_per_count"] = cal.MillivoltsPerCount,
                    ["calibration_offset_mv"] = cal.OffsetMv,
                    ["calibration_source"] = r.CalibrationSource,
                    ["device_board"] = r.Device.Board,
                    ["device_firmware"] = r.Device.Firmware,
                    ["device_protocol"] = r.Device.Protocol,
                    ["device_unique_id"] = r.Device.UniqueIdHex,
                    ["bench"] = r.BenchJson ?? "{}",
                },
            },
        };
        if (r.ProtocolJson is not null)
        {
            general["stimulus"] = new H5Dataset(r.ProtocolJson) { Attributes = new() { ["format"] = "bench stimulus protocol (JSON)" } };
        }

        var events = r.Events.OrderBy(e => e.OnsetSample).ToArray();
        var intervals = new H5Group
        {
            ["stimulus_events"] = Table("One row per pulse the rig played, as it reported it (StimulusEvent).",
                ("start_time", "Pulse onset (s): onset sample / rate.", events.Select(e => e.OnsetSample / r.SampleRateHz).ToArray()),
                ("stop_time", "Pulse end (s): (onset + phase 1 + interphase + phase 2 samples) / rate.",
                    events.Select(e => (e.OnsetSample + e.DurationSamples) / r.SampleRateHz).ToArray()),
                ("train", "Train index in the stimulus command.", events.Select(e => e.Train).ToArray()),
                ("pulse", "Pulse index within its train.", events.Select(e => e.Pulse).ToArray()),
                ("phase1_nA", "Phase 1 amplitude as played (nA).", events.Select(e => e.Phase1Nanoamps).ToArray()),
                ("phase2_nA", "Phase 2 amplitude as played (nA).", events.Select(e => e.Phase2Nanoamps).ToArray()),
                ("onset_sample", "Sample index of the onset, counted from the recording's time zero.", events.Select(e => e.OnsetSample).ToArray()),
                ("stim_id", "Id of the stimulus command the pulse belongs to (see /general/stimulus).", events.Select(e => (int)e.StimId).ToArray()),
                ("output", "Stimulus output it was played on.", events.Select(e => (int)e.Output).ToArray()),
                ("phase1_code", "Phase 1 as the DAC code played.", events.Select(e => (int)e.Phase1Code).ToArray()),
                ("phase2_code", "Phase 2 as the DAC code played.", events.Select(e => (int)e.Phase2Code).ToArray()),
                ("flags", "The rig's StimulusEvent flags: 1 = last pulse of its protocol, 2 = aborted.", events.Select(e => (int)e.Flags).ToArray()),
                ("onset_uncertainty_ms", "How far the pulse's edges may be from start_time and stop_time (ms): 0 when the rig timed the pulse to the sample; a host-timed pulse (a Firmata rig) states its own.",
                    events.Select(e => e.OnsetUncertaintyMs).ToArray()),
                ("late_ms", "For a host-timed pulse: how much later than commanded its onset was written (ms; recorded, not an error); 0 for a rig-timed pulse.",
                    events.Select(e => e.LateMs).ToArray())),
            // NWB's own table of times whose data are not to be used: here, samples lost on the link.
            ["invalid_times"] = Table("Samples lost on the link: absent from the data, never filled in.",
                ("start_time", "Time the first lost sample would have had (s).", r.Gaps.Select(g => g.FirstLostSample / r.SampleRateHz).ToArray()),
                ("stop_time", "Time of the first sample after the gap (s).", r.Gaps.Select(g => (g.FirstLostSample + g.LostSamples) / r.SampleRateHz).ToArray()),
                ("first_lost_sample", "Device sample index of the first lost sample.", r.Gaps.Select(g => g.FirstLostSample).ToArray()),
                ("lost_samples", "Number of consecutive samples lost.", r.Gaps.Select(g => g.LostSamples).ToArray())),
        };

        string start = IsoWithZone(r.StartTimeUtc);
        return new H5File
        {
            ["identifier"] = r.Identifier,
            ["session_description"] = r.SessionDescription,
            // Two dataset objects: given the same string twice, PureHDF writes one dataset under two names (hard links),
            // which NWB readers take for a link, not the required timestamps_reference_time.
            ["session_start_time"] = new H5Dataset(start),
            ["timestamps_reference_time"] = new H5Dataset(start),
            ["file_create_date"] = new[] { IsoWithZone(created) },
            ["acquisition"] = acquisition,
            ["analysis"] = new H5Group(),
            ["processing"] = processing,
            ["stimulus"] = new H5Group { ["presentation"] = presentation, ["templates"] = new H5Group() },
            ["general"] = general,
            ["intervals"] = intervals,
            Attributes = Typed("NWBFile", "core", new() { ["nwb_version"] = NwbWriter.NwbVersion }),
        };
    }

    private static H5Group ModelSeries(NwbRecording r, H5Dataset<float[]> model, Action<H5Group, bool> addTime)
    {
        var series = new H5Group
        {
            ["data"] = model,
            Attributes = Typed("TimeSeries", "core", new()
            {
                ["description"] = $"Membrane potential predicted by the model '{r.ModelName}' driven by the stimulus as played (mV; volts = conversion * value).",
                ["comments"] = "Same times as /acquisition/membrane_potential.",
            }),
        };
        addTime(series, false);
        return series;
    }

    /// <summary>A TimeIntervals table (a DynamicTable): one VectorData per column, ids 0..rows-1.</summary>
    private static H5Group Table(string description, params (string Name, string Description, Array Data)[] columns)
    {
        int rows = columns[0].Data.Length;
        var group = new H5Group
        {
            ["id"] = new H5Dataset(Enumerable.Range(0, rows).Select(i => (long)i).ToArray()) { Attributes = Typed("ElementIdentifiers", "hdmf-common", []) },
            Attributes = Typed("TimeIntervals", "core", new()
            {
                ["description"] = description,
                ["colnames"] = columns.Select(c => c.Name).ToArray(),
            }),
        };
        foreach (var (name, about, data) in columns)
        {
            group[name] = new H5Dataset(data) { Attributes = Typed("VectorData", "hdmf-common", new() { ["description"] = about }) };
        }

        return group;
    }

    private static Dictionary<string, object> Typed(string type, string ns, Dictionary<string, object> attributes)
    {
        attributes["neurodata_type"] = type;
        attributes["namespace"] = ns;
        attributes["object_id"] = Guid.NewGuid().ToString("D");
        return attributes;
    }

    private static string DataCollectionText(NwbRecording r, CultureInfo inv)
    {
        var text = new StringBuilder();
        text.Append(inv, $"Recorded by Bench from rig {r.Device.Board} (unique id {r.Device.UniqueIdHex}, firmware {r.Device.Firmware}, ");
        text.Append(inv, $"protocol {r.Device.Protocol}) at {r.SampleRateHz} Hz: {r.SampleCount} samples. ");
        text.Append(inv, $"ADC counts are stored raw; membrane mV = {r.Calibration.MillivoltsPerCount:R} * count + {r.Calibration.OffsetMv:R} ");
        text.Append(inv, $"(calibration: {r.CalibrationSource}). ");
        text.Append(inv, $"{r.LostSamples} samples were lost on the link in {r.Gaps.Count} gap(s), listed in /intervals/invalid_times; ");
        text.Append("lost samples are absent from the data, never filled in.");
        return text.ToString();
    }

    private static string ProtocolName(string? json)
    {
        if (json is null) return "none";
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("name", out var name)
            && name.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(name.GetString())
            ? name.GetString()!
            : "unnamed protocol";
    }

    /// <summary>An HDF5 link name from a board name: anything but [A-Za-z0-9._-] becomes '_' ('/' would nest groups).</summary>
    private static string SafeName(string board)
    {
        var chars = board.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_').ToArray();
        string name = new(chars);
        return name.Length == 0 || name.All(c => c == '.') ? "rig" : name;
    }

    /// <summary>ISO 8601 in this computer's time zone with its offset (NWB asks for the zone; microseconds: the device
    /// clock is finer than milliseconds).</summary>
    private static string IsoWithZone(DateTimeOffset time) =>
        TimeZoneInfo.ConvertTime(time, TimeZoneInfo.Local).ToString("yyyy-MM-dd'T'HH:mm:ss.ffffffzzz", CultureInfo.InvariantCulture);
}
