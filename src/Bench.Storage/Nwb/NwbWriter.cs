using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using PureHDF;
using PureHDF.Filters;
using PureHDF.Selections;
using PureHDF.VOL.Native;

namespace Bench.Storage.Nwb;

/// <summary>
/// Writes one recording as an NWB 2.7.0 file (HDF5, through PureHDF) that pynwb and h5py read, streaming the samples:
/// create it with the recording's description, <see cref="Append"/> the samples in chunks as they come, then
/// <see cref="Complete"/>. Memory holds one HDF5 chunk (<see cref="ChunkSamples"/> samples) per dataset, whatever the
/// recording's length.
/// </summary>
/// <remarks>
/// <para>The file is written to <c>&lt;path&gt;.partial</c> and moved into place by <see cref="Complete"/>, so a
/// crash or an error never leaves a truncated file under the real name; disposing without completing deletes the
/// partial file.</para>
/// <para>Layout (every typed group or dataset has <c>neurodata_type</c>, <c>namespace</c> and <c>object_id</c>):
/// <c>/acquisition/membrane_potential</c> (CurrentClampSeries: raw int16 ADC counts with <c>conversion</c> and
/// <c>offset</c> to volts, <c>starting_time</c> and <c>rate</c> when every sample arrived, float64 <c>timestamps</c> when lost samples leave gaps),
/// <c>/stimulus/presentation/stimulus</c> (CurrentClampStimulusSeries, nA with conversion 1e-9 to amperes, optional),
/// <c>/processing/comparison/model_prediction</c> (TimeSeries, model mV with conversion 0.001 to volts, optional),
/// <c>/intervals/stimulus_events</c> and <c>/intervals/invalid_times</c> (TimeIntervals: the samples lost), <c>/general/devices/&lt;board&gt;</c>
/// (Device), <c>/general/intracellular_ephys/electrode</c> (IntracellularElectrode), <c>/general/stimulus</c> (the
/// protocol JSON) and <c>/general/data_collection</c> (text, with the calibration and device as attributes).</para>
/// <para>Not thread-safe: one writer is fed by one thread at a time.</para>
/// </remarks>
public sealed class NwbWriter : IDisposable
{
    /// <summary>The NWB version the files follow.</summary>
    public const string NwbVersion = "2.7.0";

    /// <summary>Samples per HDF5 chunk of the per-sample datasets: the unit of compression, of memory while writing
    /// and of a partial read (3.3 s at 20 kHz; 128 KiB of counts, 512 KiB of timestamps before compression).</summary>
    public const int ChunkSamples = 65536;

    /// <summary>Deflate level: zlib's default, 6. On the 2-million-sample test recording level 1 wrote 19 % more bytes
    /// for about 12 % less time and level 9 saved 3 % for 20 % more time, so the default stays.</summary>
    private const int DeflateLevel = 6;

    private readonly NwbRecording _recording;
    private readonly FileStream _stream;
    private readonly H5NativeWriter _h5;
    private readonly H5Dataset<short[]> _counts;
    private readonly H5Dataset<double[]>? _timestamps;
    private readonly H5Dataset<float[]>? _model;
    private readonly H5Dataset<float[]>? _stimulus;
    private readonly short[] _countBuffer;
    private readonly double[]? _timeBuffer;
    private readonly float[]? _modelBuffer;
    private readonly float[]? _stimulusBuffer;
    private readonly bool _overwrite;
    private int _buffered;
    private long _written;
    private ulong _nextIndex;
    private int _nextGap;
    private bool _completed;
    private bool _disposed;

    private NwbWriter(string path, NwbRecording recording, bool overwrite)
    {
        Path = path;
        PartialPath = path + ".partial";
        _recording = recording;
        _overwrite = overwrite;
        int buffer = (int)Math.Min(ChunkSamples, Math.Max(recording.SampleCount, 1));
        _countBuffer = new short[buffer];
        // A regular recording's times are starting_time and rate; one with gaps needs a time per sample.
        if (!recording.IsRegular) _timeBuffer = new double[buffer];
        if (recording.ModelName is not null) _modelBuffer = new float[buffer];
        if (recording.HasStimulusCurrent) _stimulusBuffer = new float[buffer];

        _counts = PerSample<short[]>(recording.SampleCount);
        if (!recording.IsRegular) _timestamps = PerSample<double[]>(recording.SampleCount);
        if (_modelBuffer is not null) _model = PerSample<float[]>(recording.SampleCount);
        if (_stimulusBuffer is not null) _stimulus = PerSample<float[]>(recording.SampleCount);
        var file = NwbLayout.Build(recording, _counts, _timestamps, _model, _stimulus, DateTimeOffset.UtcNow);

        _stream = new FileStream(PartialPath, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 20);
        try
        {
            _h5 = file.BeginWrite(_stream);
        }
        catch
        {
            _stream.Dispose();
            File.Delete(PartialPath);
            throw;
        }
    }

    /// <summary>Where the finished file goes.</summary>
    public string Path { get; }

    /// <summary>Where the file is written until it is complete.</summary>
    public string PartialPath { get; }

    /// <summary>Samples accepted so far.</summary>
    public long SamplesWritten => _written + _buffered;

    /// <summary>Starts writing <paramref name="recording"/> to <paramref name="path"/> (first to
    /// <c>&lt;path&gt;.partial</c>).</summary>
    /// <param name="path">The NWB file to write (conventionally <c>*.nwb</c>).</param>
    /// <param name="recording">What the file describes; checked here.</param>
    /// <param name="overwrite">Replace an existing file at <paramref name="path"/>; otherwise that is an error.</param>
    /// <exception cref="ArgumentException">The description is inconsistent (the message names the field and rule).</exception>
    /// <exception cref="IOException"><paramref name="path"/> exists and <paramref name="overwrite"/> is false.</exception>
    public static NwbWriter Create(string path, NwbRecording recording, bool overwrite = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(recording);
        Validate(recording);
        string full = System.IO.Path.GetFullPath(path);
        if (!overwrite && File.Exists(full)) throw new IOException($"{full} already exists (pass overwrite to replace it)");
        return new NwbWriter(full, recording, overwrite);
    }

    /// <summary>Writes a whole recording from a sequence of chunks; on any error the partial file is deleted.</summary>
    /// <param name="path">The NWB file to write.</param>
    /// <param name="recording">What the file describes.</param>
    /// <param name="chunks">The samples, in order (see <see cref="Append"/>).</param>
    /// <param name="overwrite">Replace an existing file at <paramref name="path"/>.</param>
    /// <returns>What was written.</returns>
    public static NwbWriteSummary Write(string path, NwbRecording recording, IEnumerable<SampleChunk> chunks, bool overwrite = false)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        using var writer = Create(path, recording, overwrite);
        foreach (var chunk in chunks) writer.Append(chunk);
        return writer.Complete();
    }

    /// <summary>Writes a whole recording from chunks that arrive asynchronously (e.g. from a recording's channel).</summary>
    /// <param name="path">The NWB file to write.</param>
    /// <param name="recording">What the file describes.</param>
    /// <param name="chunks">The samples, in order (see <see cref="Append"/>).</param>
    /// <param name="overwrite">Replace an existing file at <paramref name="path"/>.</param>
    /// <param name="cancellationToken">Stops the write; the partial file is deleted.</param>
    /// <returns>What was written.</returns>
    public static async Task<NwbWriteSummary> WriteAsync(string path, NwbRecording recording, IAsyncEnumerable<SampleChunk> chunks,
        bool overwrite = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        using var writer = Create(path, recording, overwrite);
        await foreach (var chunk in chunks.WithCancellation(cancellationToken)) writer.Append(chunk);
        return writer.Complete();
    }

    /// <summary>
    /// Adds consecutive samples. Chunks come in device-index order without overlap; where the index jumps, the jump
    /// must be exactly the next of the recording's <see cref="NwbRecording.Gaps"/> (so the timestamps and the gap table
    /// agree). A chunk that breaks a rule is refused before any of it is written, so the writer stays usable.
    /// </summary>
    /// <exception cref="ArgumentException">The chunk is out of order, overlaps, skips samples that no gap accounts
    /// for, runs past <see cref="NwbRecording.SampleCount"/>, or its model/stimulus columns do not match the
    /// recording's declaration or its length.</exception>
    public void Append(SampleChunk chunk)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed) throw new InvalidOperationException("the file is complete; no more samples can be added");
        int n = chunk.Counts.Length;
        CheckColumn(chunk, chunk.ModelMv.Length, _model is not null, "ModelMv", "model prediction");
        CheckColumn(chunk, chunk.StimulusNanoamps.Length, _stimulus is not null, "StimulusNanoamps", "stimulus current");
        if (n == 0) return;
        CheckIndex(chunk);

        var counts = chunk.Counts.Span;
        var model = chunk.ModelMv.Span;
        var stimulus = chunk.StimulusNanoamps.Span;
        double rate = _recording.SampleRateHz;
        int done = 0;
        while (done < n)
        {
            int take = Math.Min(n - done, _countBuffer.Length - _buffered);
            counts.Slice(done, take).CopyTo(_countBuffer.AsSpan(_buffered));
            if (_modelBuffer is not null) model.Slice(done, take).CopyTo(_modelBuffer.AsSpan(_buffered));
            if (_stimulusBuffer is not null) stimulus.Slice(done, take).CopyTo(_stimulusBuffer.AsSpan(_buffered));
            // Time is the device's sample index over its rate, computed the same way for every sample so a reader can
            // recover the index exactly (index = round(t · rate)).
            ulong first = chunk.FirstSampleIndex + (ulong)done;
            if (_timeBuffer is not null)
            {
                for (int i = 0; i < take; i++) _timeBuffer[_buffered + i] = (first + (ulong)i) / rate;
            }

            _buffered += take;
            done += take;
            if (_buffered == _countBuffer.Length) FlushBuffer();
        }

        _nextIndex = chunk.FirstSampleIndex + (ulong)n;
    }

    /// <summary>Writes what is buffered, closes the HDF5 file and moves it from <see cref="PartialPath"/> to
    /// <see cref="Path"/>.</summary>
    /// <returns>What was written.</returns>
    /// <exception cref="InvalidOperationException">Fewer samples arrived than <see cref="NwbRecording.SampleCount"/>
    /// declared (the partial file is deleted).</exception>
    public NwbWriteSummary Complete()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed) throw new InvalidOperationException("the file is already complete");
        try
        {
            if (SamplesWritten != _recording.SampleCount)
            {
                throw new InvalidOperationException(
                    $"the recording declared {_recording.SampleCount} samples but {SamplesWritten} arrived; the file would hold fill values, so it is not written");
            }

            // Gaps not yet passed must lie after the last sample received (samples lost at the very end).
            if (_nextGap < _recording.Gaps.Count && _recording.Gaps[_nextGap].FirstLostSample < _nextIndex)
            {
                throw new InvalidOperationException($"gap at sample {_recording.Gaps[_nextGap].FirstLostSample} was never seen in the chunks");
            }

            if (_buffered > 0) FlushBuffer();
            _h5.Dispose();
            _stream.Dispose();
            // Make the data durable before the rename makes it visible under its real name.
            using (var sync = new FileStream(PartialPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None)) sync.Flush(flushToDisk: true);
            File.Move(PartialPath, Path, _overwrite);
            _completed = true;
            return new NwbWriteSummary(Path, _written, _recording.LostSamples, new FileInfo(Path).Length);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Abandons an incomplete file (deleting <see cref="PartialPath"/>); after <see cref="Complete"/> it does
    /// nothing.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_completed) return;
        // The file is abandoned: closing the stream is enough. Disposing the HDF5 writer would first compress and write
        // the open chunks and the metadata, work thrown away with the file, and could fail the same way the write did.
        _stream.Dispose();
        File.Delete(PartialPath);
    }

    private void FlushBuffer()
    {
        var memory = new HyperslabSelection(0, (ulong)_buffered);
        var file = new HyperslabSelection((ulong)_written, (ulong)_buffered);
        try
        {
            _h5.Write(_counts, _countBuffer, memory, file);
            if (_timestamps is not null) _h5.Write(_timestamps, _timeBuffer!, memory, file);
            if (_model is not null) _h5.Write(_model, _modelBuffer!, memory, file);
            if (_stimulus is not null) _h5.Write(_stimulus, _stimulusBuffer!, memory, file);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            // PureHDF invokes its typed writer through reflection; surface the real failure (e.g. disk full).
            throw new IOException($"writing {PartialPath} failed: {e.InnerException.Message}", e.InnerException);
        }

        _written += _buffered;
        _buffered = 0;
    }

    private void CheckIndex(SampleChunk chunk)
    {
        ulong first = chunk.FirstSampleIndex;
        int n = chunk.Counts.Length;
        var gaps = _recording.Gaps;
        if (first < _nextIndex)
        {
            throw new ArgumentException(
                $"chunk starts at sample {first} but samples up to {_nextIndex - 1} are already written: chunks must be in increasing sample order without overlap",
                nameof(chunk));
        }

        bool gapHere = _nextGap < gaps.Count && gaps[_nextGap].FirstLostSample == _nextIndex;
        if (first > _nextIndex)
        {
            ulong skipped = first - _nextIndex;
            if (!gapHere || gaps[_nextGap].LostSamples != skipped)
            {
                string declared = gapHere ? $"the declared gap there is {gaps[_nextGap].LostSamples} samples" : "no gap is declared there";
                throw new ArgumentException(
                    $"chunk starts at sample {first}, skipping {skipped} samples from {_nextIndex}, but {declared}: lost samples must be listed in the recording's gaps",
                    nameof(chunk));
            }
        }
        else if (gapHere)
        {
            throw new ArgumentException(
                $"a gap of {gaps[_nextGap].LostSamples} samples is declared at sample {_nextIndex} but the chunk continues there without one", nameof(chunk));
        }

        if (SamplesWritten + n > _recording.SampleCount)
        {
            throw new ArgumentException(
                $"chunk at sample {first} brings the total to {SamplesWritten + n} samples, more than the {_recording.SampleCount} the recording declared", nameof(chunk));
        }

        int next = first > _nextIndex ? _nextGap + 1 : _nextGap;
        ulong end = first + (ulong)n;
        if (next < gaps.Count && gaps[next].FirstLostSample < end)
        {
            throw new ArgumentException(
                $"chunk [{first}, {end}) holds samples the gap at {gaps[next].FirstLostSample} declares lost", nameof(chunk));
        }

        _nextGap = next;
    }

    private static void CheckColumn(SampleChunk chunk, int length, bool declared, string field, string what)
    {
        ulong first = chunk.FirstSampleIndex;
        int samples = chunk.Counts.Length;
        if (declared && length != samples)
        {
            throw new ArgumentException($"chunk at sample {first}: {field} has {length} values for {samples} samples (the recording declares a {what})", nameof(chunk));
        }

        if (!declared && length != 0)
        {
            throw new ArgumentException($"chunk at sample {first} carries {field} but the recording declares no {what}", nameof(chunk));
        }
    }

    private static H5Dataset<T> PerSample<T>(long samples)
    {
        if (samples == 0) return new H5Dataset<T>(fileDims: [0UL]);
        // Shuffle then deflate: the bytes of neighbouring int16 counts and float64 times differ mostly in their low
        // bytes, so grouping bytes by significance lets deflate find the repetition.
        var filters = new List<H5Filter>
        {
            ShuffleFilter.Id,
            new(DeflateFilter.Id, new Dictionary<string, object> { [DeflateFilter.COMPRESSION_LEVEL] = DeflateLevel }),
        };
        return new H5Dataset<T>(
            fileDims: [(ulong)samples],
            chunks: [(uint)Math.Min(ChunkSamples, samples)],
            datasetCreation: new H5DatasetCreation(new SequentialChunkCache(), filters));
    }

    private static void Validate(NwbRecording r)
    {
        static ArgumentException Bad(string field, string rule) => new($"recording.{field}: {rule}");

        if (string.IsNullOrWhiteSpace(r.Identifier)) throw Bad(nameof(r.Identifier), "required");
        if (string.IsNullOrWhiteSpace(r.SessionDescription)) throw Bad(nameof(r.SessionDescription), "required");
        if (r.Device is null || string.IsNullOrWhiteSpace(r.Device.Board)) throw Bad(nameof(r.Device), "a device with a board name is required");
        if (r.Calibration is null) throw Bad(nameof(r.Calibration), "required");
        if (!double.IsFinite(r.Calibration.MillivoltsPerCount) || r.Calibration.MillivoltsPerCount == 0)
        {
            throw Bad("Calibration.MillivoltsPerCount", $"must be finite and non-zero, not {r.Calibration.MillivoltsPerCount}");
        }

        if (!double.IsFinite(r.Calibration.OffsetMv)) throw Bad("Calibration.OffsetMv", "must be finite");
        if (string.IsNullOrWhiteSpace(r.CalibrationSource)) throw Bad(nameof(r.CalibrationSource), "required (e.g. two-point, model-fit, default)");
        if (!double.IsFinite(r.SampleRateHz) || r.SampleRateHz <= 0) throw Bad(nameof(r.SampleRateHz), $"must be positive, not {r.SampleRateHz}");
        if (r.SampleCount < 0) throw Bad(nameof(r.SampleCount), "must not be negative");
        if (r.ModelName is not null && string.IsNullOrWhiteSpace(r.ModelName)) throw Bad(nameof(r.ModelName), "null for no model, or a name");
        if (r.StimulusNanoampsPerCode is { } scale && (!double.IsFinite(scale) || scale <= 0))
        {
            throw Bad(nameof(r.StimulusNanoampsPerCode), "must be positive");
        }

        if (r.ProtocolJson is not null)
        {
            try
            {
                using var _ = JsonDocument.Parse(r.ProtocolJson);
            }
            catch (JsonException e)
            {
                throw Bad(nameof(r.ProtocolJson), $"not valid JSON ({e.Message})");
            }
        }

        if (r.Events is null) throw Bad(nameof(r.Events), "required (empty when nothing was played)");
        for (int i = 0; i < r.Events.Count; i++)
        {
            var e = r.Events[i];
            if (e.Train < 0 || e.Pulse < 0) throw Bad($"Events[{i}]", "train and pulse must not be negative");
            if (!double.IsFinite(e.Phase1Nanoamps) || !double.IsFinite(e.Phase2Nanoamps)) throw Bad($"Events[{i}]", "amplitudes must be finite");
        }

        if (r.Gaps is null) throw Bad(nameof(r.Gaps), "required (empty when nothing was lost)");
        for (int i = 0; i < r.Gaps.Count; i++)
        {
            var g = r.Gaps[i];
            if (g.LostSamples == 0) throw Bad($"Gaps[{i}]", "a gap loses at least one sample");
            if (i > 0 && g.FirstLostSample <= r.Gaps[i - 1].FirstLostSample + r.Gaps[i - 1].LostSamples)
            {
                throw Bad($"Gaps[{i}]", "gaps must be in order, apart from each other (adjacent gaps are one gap)");
            }
        }
    }
}

/// <summary>What an <see cref="NwbWriter"/> wrote.</summary>
/// <param name="Path">The file.</param>
/// <param name="Samples">Samples in the file.</param>
/// <param name="LostSamples">Samples lost on the link (absent from the file).</param>
/// <param name="FileBytes">The file's size.</param>
public sealed record NwbWriteSummary(string Path, long Samples, ulong LostSamples, long FileBytes);

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
