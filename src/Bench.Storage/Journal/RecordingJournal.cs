using System.Globalization;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using Bench.Core.Protocol;
using Bench.Core.Instrument;

namespace Bench.Storage.Journal;

/// <summary>What a journal record is.</summary>
public enum JournalRecordKind : byte
{
    /// <summary>The recording's metadata (UTF-8 JSON): device, calibration, rate, model, start time.</summary>
    Header = 1,

    /// <summary>Consecutive samples: first session index, raw ADC counts, and the model's prediction (mV) when there is one.</summary>
    Samples = 2,

    /// <summary>Samples that never arrived: first index and count.</summary>
    Gap = 3,

    /// <summary>A pulse as the rig played it.</summary>
    Pulse = 4,

    /// <summary>A stimulus protocol as sent (UTF-8 JSON with its stimulus id).</summary>
    Protocol = 5,

    /// <summary>The recording ended normally (UTF-8 JSON summary).</summary>
    End = 6,

    /// <summary>
    /// The model's prediction (mV) for samples written earlier: first session index and one value per sample. The
    /// comparison may hold the model back (waiting for a pulse's report), so its values follow the samples they belong to.
    /// </summary>
    Model = 7,
}

/// <summary>A pulse as played: onset (session sample index), its train, and its phases in nA and samples.</summary>
public readonly record struct JournalPulse(ulong OnsetIndex, ushort StimId, byte Train, ushort Pulse,
    double Phase1Nanoamps, uint Phase1Samples, uint InterphaseSamples, double Phase2Nanoamps, uint Phase2Samples)
{
    /// <summary>The output it was played on.</summary>
    public byte Output { get; init; }

    /// <summary>The rig's StimulusEvent flags.</summary>
    public byte Flags { get; init; }

    /// <summary>Phase 1 as the DAC code played.</summary>
    public short Phase1Code { get; init; }

    /// <summary>Phase 2 as the DAC code played.</summary>
    public short Phase2Code { get; init; }

    /// <summary>How far the pulse's edges may be from where they are recorded (ms): 0 when the rig timed it to the sample;
    /// a host-timed pulse (a Firmata rig) states its own.</summary>
    public double UncertaintyMs { get; init; }

    /// <summary>For a host-timed pulse: how much later than commanded its onset was written (ms); 0 otherwise.</summary>
    public double LateMs { get; init; }

    /// <summary>The pulse a rig reported (codes) with its train's phase lengths, its onset in session indices, in nA.</summary>
    public static JournalPulse From(StimulusEvent played, ulong sessionOnsetIndex, StimulusTrain train, double nanoampsPerCode) =>
        new(sessionOnsetIndex, played.StimId, played.Train, played.Pulse, played.Phase1Code * nanoampsPerCode, train.Phase1Samples,
            train.InterphaseSamples, played.Phase2Code * nanoampsPerCode, train.Phase2Samples)
        {
            Output = played.Output, Flags = played.Flags, Phase1Code = played.Phase1Code, Phase2Code = played.Phase2Code,
        };
}

/// <summary>The header every recording journal starts with (what <see cref="JournalConverter"/> needs to write the NWB file).</summary>
public static class JournalHeader
{
    /// <summary>Builds it.</summary>
    /// <param name="name">The recording's name.</param>
    /// <param name="startedUtc">When the recording started: the host time of <paramref name="firstSampleIndex"/>.</param>
    /// <param name="port">Where the rig is connected.</param>
    /// <param name="device">The rig.</param>
    /// <param name="calibration">Counts → mV in use.</param>
    /// <param name="calibrationSource">Where that calibration came from.</param>
    /// <param name="sampleRateHz">The sample rate.</param>
    /// <param name="firstSampleIndex">The session index of the recording's first sample (its time zero).</param>
    /// <param name="nanoampsPerCode">The stimulus output's nA per DAC code in use.</param>
    /// <param name="model">The comparison's model, if any.</param>
    /// <param name="modelParameters">Its parameter overrides, if any.</param>
    /// <param name="preparationAreaUm2">The membrane area the model's stimulus current spreads over (µm²), with a model.</param>
    /// <param name="timing">How exactly the rig times samples and stimuli (a sentence for the file's description), if known.</param>
    public static JsonObject Create(string name, DateTime startedUtc, string port, DeviceInfo device, Calibration calibration, string calibrationSource,
        double sampleRateHz, ulong firstSampleIndex, double? nanoampsPerCode, string? model, IReadOnlyDictionary<string, double>? modelParameters,
        double? preparationAreaUm2 = null, string? timing = null) => new()
    {
        ["timing"] = timing,
        ["format"] = "bench-journal-1",
        ["name"] = name,
        ["started_utc"] = startedUtc.ToString("O", CultureInfo.InvariantCulture),
        ["port"] = port,
        ["device"] = new JsonObject
        {
            ["board"] = device.Board, ["unique_id"] = device.UniqueId.ToString("x16", CultureInfo.InvariantCulture),
            ["firmware"] = $"{device.FirmwareMajor}.{device.FirmwareMinor}.{device.FirmwarePatch}",
            ["protocol"] = $"{device.ProtocolMajor}.{device.ProtocolMinor}",
            ["clock_hz"] = device.ClockHz, ["adc_bits"] = device.AdcBits, ["adc_ref_mv"] = device.AdcRefMv,
        },
        ["calibration"] = new JsonObject { ["mv_per_count"] = calibration.MillivoltsPerCount, ["offset_mv"] = calibration.OffsetMv, ["source"] = calibrationSource },
        ["sample_rate_hz"] = sampleRateHz,
        ["first_sample_index"] = firstSampleIndex,
        ["nanoamps_per_code"] = nanoampsPerCode,
        ["model"] = model,
        ["model_parameters"] = modelParameters is null ? null : new JsonObject(modelParameters.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
        ["preparation_area_um2"] = preparationAreaUm2,
    };
}

/// <summary>
/// The append-only journal written beside every recording while it runs (<c>x.nwb.journal</c>). Each record is
/// <c>kind (1 byte), length (4, little-endian), payload, CRC-16/CCITT-FALSE of kind+length+payload (2)</c>; the
/// writer hands its buffer to the operating system every <see cref="FlushInterval"/>, so a crash of the program (or
/// a pulled cable, which only ends the stream) loses at most that interval's samples. The NWB file is written from the
/// journal when the recording stops, or by <c>bench recover</c> after a crash, up to the last intact record.
/// </summary>
public sealed class RecordingJournalWriter : IDisposable
{
    /// <summary>The journal's first bytes.</summary>
    public static ReadOnlySpan<byte> Magic => "BENCHJ1\n"u8;

    /// <summary>How often buffered records reach the file.</summary>
    public static TimeSpan FlushInterval { get; } = TimeSpan.FromMilliseconds(200);

    private readonly FileStream file;
    private readonly TimeProvider time;
    private readonly byte[] scratch = new byte[16 + (ProtocolLimits.MaxSampleValues * 6)];
    private long lastFlushTimestamp;

    /// <summary>Creates the journal (it must not exist) and writes its header.</summary>
    /// <param name="path">Where the journal goes.</param>
    /// <param name="header">Its header (<see cref="JournalHeader.Create"/>).</param>
    /// <param name="timeProvider">The clock that times <see cref="FlushInterval"/> (the system's by default; tests pass a fake one to step it).</param>
    public RecordingJournalWriter(string path, JsonObject header, TimeProvider? timeProvider = null)
    {
        time = timeProvider ?? TimeProvider.System;
        file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 1 << 16);
        file.Write(Magic);
        WriteRecord(JournalRecordKind.Header, Encoding.UTF8.GetBytes(header.ToJsonString()));
        Flush();
    }

    /// <summary>The journal's path.</summary>
    public string Path => file.Name;

    /// <summary>Samples written.</summary>
    public long SampleCount { get; private set; }

    /// <summary>Appends consecutive samples; <paramref name="modelMv"/> is empty or one value per sample.</summary>
    public void WriteSamples(ulong firstIndex, ReadOnlySpan<ushort> codes, ReadOnlySpan<float> modelMv)
    {
        if (!modelMv.IsEmpty && modelMv.Length != codes.Length) throw new ArgumentException("one model value per sample, or none", nameof(modelMv));
        // Records stay small enough for the scratch buffer: long batches are split.
        const int Most = ProtocolLimits.MaxSampleValues;
        for (int start = 0; start < codes.Length; start += Most)
        {
            int n = Math.Min(Most, codes.Length - start);
            var p = scratch.AsSpan();
            BinaryPrimitives.WriteUInt64LittleEndian(p, firstIndex + (ulong)start);
            BinaryPrimitives.WriteUInt16LittleEndian(p[8..], (ushort)n);
            p[10] = modelMv.IsEmpty ? (byte)0 : (byte)1;
            int at = 11;
            for (int i = 0; i < n; i++, at += 2) BinaryPrimitives.WriteUInt16LittleEndian(p[at..], codes[start + i]);
            if (!modelMv.IsEmpty)
            {
                for (int i = 0; i < n; i++, at += 4) BinaryPrimitives.WriteSingleLittleEndian(p[at..], modelMv[start + i]);
            }

            WriteRecord(JournalRecordKind.Samples, p[..at]);
        }

        SampleCount += codes.Length;
        MaybeFlush();
    }

    /// <summary>Appends the model's prediction for samples already written.</summary>
    public void WriteModel(ulong firstIndex, ReadOnlySpan<float> modelMv)
    {
        const int Most = ProtocolLimits.MaxSampleValues;
        for (int start = 0; start < modelMv.Length; start += Most)
        {
            int n = Math.Min(Most, modelMv.Length - start);
            var p = scratch.AsSpan();
            BinaryPrimitives.WriteUInt64LittleEndian(p, firstIndex + (ulong)start);
            BinaryPrimitives.WriteUInt16LittleEndian(p[8..], (ushort)n);
            int at = 10;
            for (int i = 0; i < n; i++, at += 4) BinaryPrimitives.WriteSingleLittleEndian(p[at..], modelMv[start + i]);
            WriteRecord(JournalRecordKind.Model, p[..at]);
        }

        MaybeFlush();
    }

    /// <summary>Appends the model's prediction (computed in double precision, kept as float32 mV) for samples already written.</summary>
    public void WriteModel(ulong firstIndex, ReadOnlySpan<double> modelMv)
    {
        var values = modelMv.Length <= 1024 ? stackalloc float[modelMv.Length] : new float[modelMv.Length];
        for (int i = 0; i < modelMv.Length; i++) values[i] = (float)modelMv[i];
        WriteModel(firstIndex, values);
    }

    /// <summary>Appends a gap.</summary>
    public void WriteGap(ulong firstLost, ulong length)
    {
        Span<byte> p = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(p, firstLost);
        BinaryPrimitives.WriteUInt64LittleEndian(p[8..], length);
        WriteRecord(JournalRecordKind.Gap, p);
        MaybeFlush();
    }

    /// <summary>Appends a pulse as played.</summary>
    public void WritePulse(in JournalPulse pulse)
    {
        // 41 bytes as first written, then output, flags and the two codes, then the timing of a host-timed pulse (a
        // reader of any of these lengths reads them all).
        Span<byte> p = stackalloc byte[63];
        BinaryPrimitives.WriteUInt64LittleEndian(p, pulse.OnsetIndex);
        BinaryPrimitives.WriteUInt16LittleEndian(p[8..], pulse.StimId);
        p[10] = pulse.Train;
        BinaryPrimitives.WriteUInt16LittleEndian(p[11..], pulse.Pulse);
        BinaryPrimitives.WriteDoubleLittleEndian(p[13..], pulse.Phase1Nanoamps);
        BinaryPrimitives.WriteUInt32LittleEndian(p[21..], pulse.Phase1Samples);
        BinaryPrimitives.WriteUInt32LittleEndian(p[25..], pulse.InterphaseSamples);
        BinaryPrimitives.WriteDoubleLittleEndian(p[29..], pulse.Phase2Nanoamps);
        BinaryPrimitives.WriteUInt32LittleEndian(p[37..], pulse.Phase2Samples);
        p[41] = pulse.Output;
        p[42] = pulse.Flags;
        BinaryPrimitives.WriteInt16LittleEndian(p[43..], pulse.Phase1Code);
        BinaryPrimitives.WriteInt16LittleEndian(p[45..], pulse.Phase2Code);
        BinaryPrimitives.WriteDoubleLittleEndian(p[47..], pulse.UncertaintyMs);
        BinaryPrimitives.WriteDoubleLittleEndian(p[55..], pulse.LateMs);
        WriteRecord(JournalRecordKind.Pulse, p);
        MaybeFlush();
    }

    /// <summary>Appends a protocol as sent.</summary>
    public void WriteProtocol(JsonObject protocol)
    {
        WriteRecord(JournalRecordKind.Protocol, Encoding.UTF8.GetBytes(protocol.ToJsonString()));
        Flush();
    }

    /// <summary>Marks the normal end, with the summary, and flushes.</summary>
    public void WriteEnd(JsonObject summary)
    {
        WriteRecord(JournalRecordKind.End, Encoding.UTF8.GetBytes(summary.ToJsonString()));
        Flush();
    }

    /// <summary>Hands everything written so far to the operating system (it then survives a crash of this process).</summary>
    public void Flush()
    {
        file.Flush(flushToDisk: false);
        lastFlushTimestamp = time.GetTimestamp();
    }

    private void MaybeFlush()
    {
        if (time.GetElapsedTime(lastFlushTimestamp) >= FlushInterval) Flush();
    }

    private void WriteRecord(JournalRecordKind kind, ReadOnlySpan<byte> payload)
    {
        Span<byte> head = stackalloc byte[5];
        head[0] = (byte)kind;
        BinaryPrimitives.WriteInt32LittleEndian(head[1..], payload.Length);
        ushort crc = Crc16.Update(Crc16.Compute(head), payload);
        Span<byte> tail = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(tail, crc);
        file.Write(head);
        file.Write(payload);
        file.Write(tail);
    }

    /// <summary>Flushes and closes.</summary>
    public void Dispose()
    {
        file.Flush(flushToDisk: true);
        file.Dispose();
    }
}

/// <summary>
/// Reads a journal's records in order, streaming. A damaged record (its CRC fails, or its kind or length is impossible)
/// is skipped: the reader looks for the next place where a whole record with a good CRC starts and goes on from there,
/// counting what it skipped. A last record cut short by a crash ends the reading.
/// </summary>
public sealed class JournalRecordReader : IDisposable
{
    /// <summary>The longest record a journal holds (a header or summary of JSON is the longest; samples are far shorter).</summary>
    private const int MaxRecordBytes = 16 << 20;

    private readonly FileStream file;
    private readonly string path;
    private readonly long limit;
    private byte[] buffer = new byte[1 << 16];
    private long position;

    /// <summary>Opens a journal (a live one may still be appended to; only what is there now, or up to
    /// <paramref name="lengthLimit"/> bytes, is read).</summary>
    /// <exception cref="InvalidDataException">Not a Bench recording journal.</exception>
    public JournalRecordReader(string path, long? lengthLimit = null)
    {
        this.path = path;
        file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
        limit = Math.Min(lengthLimit ?? long.MaxValue, file.Length);
        Span<byte> magic = stackalloc byte[RecordingJournalWriter.Magic.Length];
        if (file.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false) != magic.Length || !magic.SequenceEqual(RecordingJournalWriter.Magic))
        {
            file.Dispose();
            throw new InvalidDataException($"{path} is not a Bench recording journal");
        }

        position = magic.Length;
        IntactBytes = position;
    }

    /// <summary>Where the last intact record read so far ends (the magic included).</summary>
    public long IntactBytes { get; private set; }

    /// <summary>The length read: the file's, or the limit given.</summary>
    public long FileLength => limit;

    /// <summary>Bytes of damaged records skipped so far (not counting a last record cut short).</summary>
    public long SkippedBytes { get; private set; }

    /// <summary>Damaged stretches skipped so far.</summary>
    public int DamagedStretches { get; private set; }

    /// <summary>The next intact record, or false at the end (or at a last record cut short).</summary>
    /// <remarks>The payload is valid until the next call.</remarks>
    public bool TryRead(out JournalRecordKind kind, out ReadOnlySpan<byte> payload)
    {
        if (TryReadAt(position, out kind, out payload, out long next))
        {
            position = next;
            IntactBytes = next;
            return true;
        }

        // Damaged here, or the end. Look for the next whole record; none before the end means the tail was cut short.
        for (long candidate = position + 1; candidate + 7 <= limit; candidate++)
        {
            if (!TryReadAt(candidate, out kind, out payload, out next)) continue;
            SkippedBytes += candidate - position;
            DamagedStretches++;
            position = next;
            IntactBytes = next;
            return true;
        }

        return false;
    }

    private bool TryReadAt(long at, out JournalRecordKind kind, out ReadOnlySpan<byte> payload, out long next)
    {
        kind = default;
        payload = default;
        next = at;
        Span<byte> head = stackalloc byte[5];
        if (at + 7 > limit) return false;
        if (file.Position != at) file.Position = at;
        if (file.ReadAtLeast(head, 5, throwOnEndOfStream: false) != 5) return false;
        int length = BinaryPrimitives.ReadInt32LittleEndian(head[1..]);
        if (!Enum.IsDefined((JournalRecordKind)head[0]) || length < 0 || length > MaxRecordBytes || at + 5 + (long)length + 2 > limit) return false;
        if (buffer.Length < length + 2) buffer = new byte[Math.Max(length + 2, buffer.Length * 2)];
        if (file.ReadAtLeast(buffer.AsSpan(0, length + 2), length + 2, throwOnEndOfStream: false) != length + 2) return false;
        var body = buffer.AsSpan(0, length);
        if (Crc16.Update(Crc16.Compute(head), body) != BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(length))) return false;
        kind = (JournalRecordKind)head[0];
        payload = body;
        next = at + 5 + length + 2;
        return true;
    }

    /// <summary>A samples record: first index, counts, and model mV (empty when the record carries none).</summary>
    public static (ulong FirstIndex, ushort[] Codes, float[] ModelMv) ParseSamples(ReadOnlySpan<byte> payload)
    {
        ulong first = BinaryPrimitives.ReadUInt64LittleEndian(payload);
        int n = BinaryPrimitives.ReadUInt16LittleEndian(payload[8..]);
        bool withModel = payload[10] == 1;
        var codes = new ushort[n];
        var mv = withModel ? new float[n] : [];
        for (int i = 0; i < n; i++) codes[i] = BinaryPrimitives.ReadUInt16LittleEndian(payload[(11 + (2 * i))..]);
        for (int i = 0; withModel && i < n; i++) mv[i] = BinaryPrimitives.ReadSingleLittleEndian(payload[(11 + (2 * n) + (4 * i))..]);
        return (first, codes, mv);
    }

    /// <summary>A samples record's first index and count, without reading the samples.</summary>
    public static (ulong FirstIndex, int Count, bool WithModel) PeekSamples(ReadOnlySpan<byte> payload) =>
        (BinaryPrimitives.ReadUInt64LittleEndian(payload), BinaryPrimitives.ReadUInt16LittleEndian(payload[8..]), payload[10] == 1);

    /// <summary>A model record: first index and mV.</summary>
    public static (ulong FirstIndex, float[] ModelMv) ParseModel(ReadOnlySpan<byte> payload)
    {
        ulong first = BinaryPrimitives.ReadUInt64LittleEndian(payload);
        int n = BinaryPrimitives.ReadUInt16LittleEndian(payload[8..]);
        var mv = new float[n];
        for (int i = 0; i < n; i++) mv[i] = BinaryPrimitives.ReadSingleLittleEndian(payload[(10 + (4 * i))..]);
        return (first, mv);
    }

    /// <summary>A pulse record.</summary>
    public static JournalPulse ParsePulse(ReadOnlySpan<byte> payload)
    {
        var pulse = new JournalPulse(
            BinaryPrimitives.ReadUInt64LittleEndian(payload), BinaryPrimitives.ReadUInt16LittleEndian(payload[8..]), payload[10],
            BinaryPrimitives.ReadUInt16LittleEndian(payload[11..]), BinaryPrimitives.ReadDoubleLittleEndian(payload[13..]),
            BinaryPrimitives.ReadUInt32LittleEndian(payload[21..]), BinaryPrimitives.ReadUInt32LittleEndian(payload[25..]),
            BinaryPrimitives.ReadDoubleLittleEndian(payload[29..]), BinaryPrimitives.ReadUInt32LittleEndian(payload[37..]));
        // A journal written before the codes were kept has 41 bytes: the pulse is then known by its nA only.
        if (payload.Length < 47) return pulse;
        pulse = pulse with
        {
            Output = payload[41], Flags = payload[42],
            Phase1Code = BinaryPrimitives.ReadInt16LittleEndian(payload[43..]), Phase2Code = BinaryPrimitives.ReadInt16LittleEndian(payload[45..]),
        };
        return payload.Length < 63 ? pulse : pulse with
        {
            UncertaintyMs = BinaryPrimitives.ReadDoubleLittleEndian(payload[47..]), LateMs = BinaryPrimitives.ReadDoubleLittleEndian(payload[55..]),
        };
    }

    /// <summary>Every samples record, in order, streamed (up to <paramref name="lengthLimit"/> bytes: what a scan saw).</summary>
    public static IEnumerable<(ulong FirstIndex, ushort[] Codes, float[] ModelMv)> Samples(string path, long? lengthLimit = null)
    {
        using var reader = new JournalRecordReader(path, lengthLimit);
        while (reader.TryRead(out var kind, out var payload))
        {
            if (kind == JournalRecordKind.Samples) yield return ParseSamples(payload);
        }
    }

    /// <summary>Every model record, in order, streamed (up to <paramref name="lengthLimit"/> bytes).</summary>
    public static IEnumerable<(ulong FirstIndex, float[] ModelMv)> Model(string path, long? lengthLimit = null)
    {
        using var reader = new JournalRecordReader(path, lengthLimit);
        while (reader.TryRead(out var kind, out var payload))
        {
            if (kind == JournalRecordKind.Model) yield return ParseModel(payload);
        }
    }

    /// <summary>Closes the file.</summary>
    public void Dispose() => file.Dispose();
}

/// <summary>
/// What a journal holds, read back up to its last intact record. With the samples (<see cref="Read"/>), or only
/// what describes them (<see cref="Scan"/>: counts, index range and jumps; the samples themselves are then streamed
/// with <see cref="JournalRecordReader.Samples"/>, so a long recording never has to fit in memory).
/// </summary>
public sealed class RecordingJournal
{
    /// <summary>The header.</summary>
    public required JsonObject Header { get; init; }

    /// <summary>Sample records in order: first index, counts, model mV (empty if none); empty after <see cref="Scan"/>.</summary>
    public required List<(ulong FirstIndex, ushort[] Codes, float[] ModelMv)> Samples { get; init; }

    /// <summary>Model predictions written after their samples, by first index; empty after <see cref="Scan"/>.</summary>
    public required List<(ulong FirstIndex, float[] ModelMv)> Model { get; init; }

    /// <summary>Gaps as recorded.</summary>
    public required List<(ulong FirstLost, ulong Length)> Gaps { get; init; }

    /// <summary>Where consecutive samples records do not follow on: (where the next was expected, where it starts).</summary>
    public required List<(ulong Expected, ulong First)> Jumps { get; init; }

    /// <summary>Pulses as played.</summary>
    public required List<JournalPulse> Pulses { get; init; }

    /// <summary>Protocols as sent.</summary>
    public required List<JsonObject> Protocols { get; init; }

    /// <summary>The end summary, or null when the recording did not end normally (a crash).</summary>
    public JsonObject? End { get; init; }

    /// <summary>Samples in all.</summary>
    public long SampleCount { get; init; }

    /// <summary>The first sample's index (0 with no samples).</summary>
    public ulong FirstSampleIndex { get; init; }

    /// <summary>The index after the last sample (0 with no samples).</summary>
    public ulong EndSampleIndex { get; init; }

    /// <summary>True when any record carries model values.</summary>
    public bool HasModel { get; init; }

    /// <summary>Bytes of the file that were read as intact records.</summary>
    public long IntactBytes { get; init; }

    /// <summary>Bytes after the last intact record (a record cut short by the crash), which were ignored.</summary>
    public long DiscardedBytes { get; init; }

    /// <summary>Bytes of damaged records skipped in the middle of the journal.</summary>
    public long SkippedBytes { get; init; }

    /// <summary>How many damaged stretches were skipped.</summary>
    public int DamagedStretches { get; init; }

    /// <summary>Reads a journal, samples included, up to its last intact record.</summary>
    /// <exception cref="InvalidDataException">Not a journal, or its header is damaged (nothing can be recovered).</exception>
    public static RecordingJournal Read(string path) => Load(path, withSamples: true);

    /// <summary>Reads everything but the samples and model values (their counts, range and jumps are kept).</summary>
    /// <exception cref="InvalidDataException">Not a journal, or its header is damaged (nothing can be recovered).</exception>
    public static RecordingJournal Scan(string path) => Load(path, withSamples: false);

    private static RecordingJournal Load(string path, bool withSamples)
    {
        using var reader = new JournalRecordReader(path);
        JsonObject? header = null, end = null;
        var samples = new List<(ulong, ushort[], float[])>();
        var gaps = new List<(ulong, ulong)>();
        var jumps = new List<(ulong, ulong)>();
        var model = new List<(ulong, float[])>();
        var pulses = new List<JournalPulse>();
        var protocols = new List<JsonObject>();
        long count = 0;
        ulong first = 0, next = 0;
        bool any = false, hasModel = false;
        while (reader.TryRead(out var kind, out var payload))
        {
            switch (kind)
            {
                case JournalRecordKind.Header:
                    header = JsonNode.Parse(payload)!.AsObject();
                    break;
                case JournalRecordKind.Samples:
                    {
                        var (index, n, withModel) = JournalRecordReader.PeekSamples(payload);
                        if (!any) first = index;
                        else if (index != next) jumps.Add((next, index));
                        any = true;
                        next = index + (ulong)n;
                        count += n;
                        hasModel |= withModel;
                        if (withSamples) samples.Add(JournalRecordReader.ParseSamples(payload));
                        break;
                    }

                case JournalRecordKind.Model:
                    hasModel = true;
                    if (withSamples) model.Add(JournalRecordReader.ParseModel(payload));
                    break;
                case JournalRecordKind.Gap:
                    gaps.Add((BinaryPrimitives.ReadUInt64LittleEndian(payload), BinaryPrimitives.ReadUInt64LittleEndian(payload[8..])));
                    break;
                case JournalRecordKind.Pulse:
                    pulses.Add(JournalRecordReader.ParsePulse(payload));
                    break;
                case JournalRecordKind.Protocol:
                    protocols.Add(JsonNode.Parse(payload)!.AsObject());
                    break;
                case JournalRecordKind.End:
                    end = JsonNode.Parse(payload)!.AsObject();
                    break;
            }
        }

        return new RecordingJournal
        {
            Header = header ?? throw new InvalidDataException($"{path}: the journal's header is damaged; nothing can be recovered"),
            Samples = samples, Model = model, Gaps = gaps, Jumps = jumps, Pulses = pulses, Protocols = protocols, End = end,
            SampleCount = count, FirstSampleIndex = first, EndSampleIndex = next, HasModel = hasModel,
            IntactBytes = reader.IntactBytes, DiscardedBytes = reader.FileLength - reader.IntactBytes,
            SkippedBytes = reader.SkippedBytes, DamagedStretches = reader.DamagedStretches,
        };
    }
}
