using System.Reflection;
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

    private readonly NwbRecording recording;
    private readonly FileStream stream;
    private readonly H5NativeWriter h5;
    private readonly H5Dataset<short[]> counts;
    private readonly H5Dataset<double[]>? timestamps;
    private readonly H5Dataset<float[]>? model;
    private readonly H5Dataset<float[]>? stimulus;
    private readonly short[] countBuffer;
    private readonly double[]? timeBuffer;
    private readonly float[]? modelBuffer;
    private readonly float[]? stimulusBuffer;
    private readonly bool overwrite;
    private int buffered;
    private long written;
    private ulong nextIndex;
    private int nextGap;
    private bool completed;
    private bool disposed;

    private NwbWriter(string path, NwbRecording recording, bool overwrite)
    {
        Path = path;
        PartialPath = path + ".partial";
        this.recording = recording;
        this.overwrite = overwrite;
        int buffer = (int)Math.Min(ChunkSamples, Math.Max(recording.SampleCount, 1));
        countBuffer = new short[buffer];
        // A regular recording's times are starting_time and rate; one with gaps needs a time per sample.
        if (!recording.IsRegular) timeBuffer = new double[buffer];
        if (recording.ModelName is not null) modelBuffer = new float[buffer];
        if (recording.HasStimulusCurrent) stimulusBuffer = new float[buffer];

        this.counts = PerSample<short[]>(recording.SampleCount);
        if (!recording.IsRegular) timestamps = PerSample<double[]>(recording.SampleCount);
        if (modelBuffer is not null) this.model = PerSample<float[]>(recording.SampleCount);
        if (stimulusBuffer is not null) this.stimulus = PerSample<float[]>(recording.SampleCount);
        var file = NwbLayout.Build(recording, this.counts, timestamps, this.model, this.stimulus, DateTimeOffset.UtcNow);

        stream = new FileStream(PartialPath, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 20);
        try
        {
            h5 = file.BeginWrite(stream);
        }
        catch
        {
            stream.Dispose();
            File.Delete(PartialPath);
            throw;
        }
    }

    /// <summary>Where the finished file goes.</summary>
    public string Path { get; }

    /// <summary>Where the file is written until it is complete.</summary>
    public string PartialPath { get; }

    /// <summary>Samples accepted so far.</summary>
    public long SamplesWritten => written + buffered;

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
        ObjectDisposedException.ThrowIf(disposed, this);
        if (completed) throw new InvalidOperationException("the file is complete; no more samples can be added");
        int n = chunk.Counts.Length;
        CheckColumn(chunk, chunk.ModelMv.Length, this.model is not null, "ModelMv", "model prediction");
        CheckColumn(chunk, chunk.StimulusNanoamps.Length, this.stimulus is not null, "StimulusNanoamps", "stimulus current");
        if (n == 0) return;
        CheckIndex(chunk);

        var counts = chunk.Counts.Span;
        var model = chunk.ModelMv.Span;
        var stimulus = chunk.StimulusNanoamps.Span;
        double rate = this.recording.SampleRateHz;
        int done = 0;
        while (done < n)
        {
            int take = Math.Min(n - done, countBuffer.Length - buffered);
            counts.Slice(done, take).CopyTo(countBuffer.AsSpan(buffered));
            if (modelBuffer is not null) model.Slice(done, take).CopyTo(modelBuffer.AsSpan(buffered));
            if (stimulusBuffer is not null) stimulus.Slice(done, take).CopyTo(stimulusBuffer.AsSpan(buffered));
            // Time is the device's sample index over its rate, computed the same way for every sample so a reader can
            // recover the index exactly (index = round(t · rate)).
            ulong first = chunk.FirstSampleIndex + (ulong)done;
            if (timeBuffer is not null)
            {
                for (int i = 0; i < take; i++) timeBuffer[buffered + i] = (first + (ulong)i) / rate;
            }

            buffered += take;
            done += take;
            if (buffered == countBuffer.Length) FlushBuffer();
        }

        nextIndex = chunk.FirstSampleIndex + (ulong)n;
    }

    /// <summary>Writes what is buffered, closes the HDF5 file and moves it from <see cref="PartialPath"/> to
    /// <see cref="Path"/>.</summary>
    /// <returns>What was written.</returns>
    /// <exception cref="InvalidOperationException">Fewer samples arrived than <see cref="NwbRecording.SampleCount"/>
    /// declared (the partial file is deleted).</exception>
    public NwbWriteSummary Complete()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (completed) throw new InvalidOperationException("the file is already complete");
        try
        {
            if (SamplesWritten != this.recording.SampleCount)
            {
                throw new InvalidOperationException(
                    $"the recording declared {this.recording.SampleCount} samples but {SamplesWritten} arrived; the file would hold fill values, so it is not written");
            }

            // Gaps not yet passed must lie after the last sample received (samples lost at the very end).
            if (nextGap < this.recording.Gaps.Count && this.recording.Gaps[nextGap].FirstLostSample < nextIndex)
            {
                throw new InvalidOperationException($"gap at sample {this.recording.Gaps[nextGap].FirstLostSample} was never seen in the chunks");
            }

            if (buffered > 0) FlushBuffer();
            h5.Dispose();
            stream.Dispose();
            // Make the data durable before the rename makes it visible under its real name.
            using (var sync = new FileStream(PartialPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None)) sync.Flush(flushToDisk: true);
            File.Move(PartialPath, Path, this.overwrite);
            completed = true;
            return new NwbWriteSummary(Path, written, this.recording.LostSamples, new FileInfo(Path).Length);
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
        if (disposed) return;
        disposed = true;
        if (completed) return;
        // The file is abandoned: closing the stream is enough. Disposing the HDF5 writer would first compress and write
        // the open chunks and the metadata, work thrown away with the file, and could fail the same way the write did.
        stream.Dispose();
        File.Delete(PartialPath);
    }

    private void FlushBuffer()
    {
        var memory = new HyperslabSelection(0, (ulong)buffered);
        var file = new HyperslabSelection((ulong)written, (ulong)buffered);
        try
        {
            h5.Write(this.counts, countBuffer, memory, file);
            if (timestamps is not null) h5.Write(timestamps, timeBuffer!, memory, file);
            if (this.model is not null) h5.Write(this.model, modelBuffer!, memory, file);
            if (this.stimulus is not null) h5.Write(this.stimulus, stimulusBuffer!, memory, file);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            // PureHDF invokes its typed writer through reflection; surface the real failure (e.g. disk full).
            throw new IOException($"writing {PartialPath} failed: {e.InnerException.Message}", e.InnerException);
        }

        written += buffered;
        buffered = 0;
    }

    private void CheckIndex(SampleChunk chunk)
    {
        ulong first = chunk.FirstSampleIndex;
        int n = chunk.Counts.Length;
        var gaps = this.recording.Gaps;
        if (first < nextIndex)
        {
            throw new ArgumentException(
                $"chunk starts at sample {first} but samples up to {nextIndex - 1} are already written: chunks must be in increasing sample order without overlap",
                nameof(chunk));
        }

        bool gapHere = nextGap < gaps.Count && gaps[nextGap].FirstLostSample == nextIndex;
        if (first > nextIndex)
        {
            ulong skipped = first - nextIndex;
            if (!gapHere || gaps[nextGap].LostSamples != skipped)
            {
                string declared = gapHere ? $"the declared gap there is {gaps[nextGap].LostSamples} samples" : "no gap is declared there";
                throw new ArgumentException(
                    $"chunk starts at sample {first}, skipping {skipped} samples from {nextIndex}, but {declared}: lost samples must be listed in the recording's gaps",
                    nameof(chunk));
            }
        }
        else if (gapHere)
        {
            throw new ArgumentException(
                $"a gap of {gaps[nextGap].LostSamples} samples is declared at sample {nextIndex} but the chunk continues there without one", nameof(chunk));
        }

        if (SamplesWritten + n > this.recording.SampleCount)
        {
            throw new ArgumentException(
                $"chunk at sample {first} brings the total to {SamplesWritten + n} samples, more than the {this.recording.SampleCount} the recording declared", nameof(chunk));
        }

        int next = first > nextIndex ? nextGap + 1 : nextGap;
        ulong end = first + (ulong)n;
        if (next < gaps.Count && gaps[next].FirstLostSample < end)
        {
            throw new ArgumentException(
                $"chunk [{first}, {end}) holds samples the gap at {gaps[next].FirstLostSample} declares lost", nameof(chunk));
        }

        nextGap = next;
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
