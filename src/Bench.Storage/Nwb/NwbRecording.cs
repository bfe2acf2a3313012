using System.Globalization;
using Bench.Core.Protocol;
using Bench.Core.Instrument;

namespace Bench.Storage.Nwb;

/// <summary>
/// Everything about one recording that an NWB file holds besides the samples themselves. The samples arrive
/// afterwards, in chunks (<see cref="SampleChunk"/>), so a long recording never has to be in memory at once; HDF5
/// datasets have a fixed size here, so <see cref="SampleCount"/> must be known before the first chunk.
/// </summary>
/// <param name="Identifier">NWB's <c>identifier</c>: unique among all files (e.g. the recording name and rig id).</param>
/// <param name="SessionDescription">NWB's <c>session_description</c>.</param>
/// <param name="StartTimeUtc">Host time of device sample 0: NWB's <c>session_start_time</c> and
/// <c>timestamps_reference_time</c>, so every time in the file is device sample index / <see cref="SampleRateHz"/>.</param>
/// <param name="Device">The rig.</param>
/// <param name="Calibration">ADC counts to membrane mV, as used for the recording.</param>
/// <param name="CalibrationSource">Where the calibration came from, e.g. <c>two-point</c>, <c>model-fit</c>, <c>default</c>.</param>
/// <param name="SampleRateHz">Samples per second of the device.</param>
/// <param name="SampleCount">How many samples the chunks will hold: the samples received. Lost samples (see
/// <paramref name="Gaps"/>) are not counted: they are absent from the file, never invented.</param>
/// <param name="ProtocolJson">The stimulus protocol as given (Bench's JSON), or null when nothing was played.</param>
/// <param name="Events">One entry per pulse the rig reported playing.</param>
/// <param name="Gaps">Runs of samples lost on the link, in order; the chunks' sample indices must jump exactly over
/// them.</param>
public sealed record NwbRecording(
    string Identifier,
    string SessionDescription,
    DateTimeOffset StartTimeUtc,
    NwbDevice Device,
    Calibration Calibration,
    string CalibrationSource,
    double SampleRateHz,
    long SampleCount,
    string? ProtocolJson,
    IReadOnlyList<NwbStimulusEvent> Events,
    IReadOnlyList<NwbGap> Gaps)
{
    /// <summary>The model whose prediction every chunk carries in <see cref="SampleChunk.ModelMv"/>, or null for
    /// none (then <c>/processing/comparison</c> is not written).</summary>
    public string? ModelName { get; init; }

    /// <summary>True when every chunk carries the stimulus current as played (<see cref="SampleChunk.StimulusNanoamps"/>),
    /// written as <c>/stimulus/presentation/stimulus</c>.</summary>
    public bool HasStimulusCurrent { get; init; }

    /// <summary>The stimulus output's nA per DAC code (the current's resolution), or null if unknown.</summary>
    public double? StimulusNanoampsPerCode { get; init; }

    /// <summary>
    /// What Bench knows about the recording beyond NWB's own fields, as one JSON object (the model's parameters and the
    /// area its current spreads over, the session's clock mapping and drift, the recording's summary): written as the
    /// <c>bench</c> attribute of <c>/general/data_collection</c>, so an NWB reader sees plain text and Bench reads it back.
    /// </summary>
    public string? BenchJson { get; init; }

    /// <summary>True when the samples are evenly spaced from sample 0 (no gaps): NWB's <c>starting_time</c> and
    /// <c>rate</c> then stand for a timestamp per sample, as NWB's best practices ask.</summary>
    public bool IsRegular => Gaps.Count == 0;

    /// <summary>Samples lost on the link: the sum of <see cref="Gaps"/>.</summary>
    public ulong LostSamples => Gaps.Aggregate(0UL, (sum, g) => sum + g.LostSamples);
}

/// <summary>The rig, as its DeviceInfo describes it.</summary>
/// <param name="Board">Board name (at most 8 ASCII characters on the wire).</param>
/// <param name="Firmware">Firmware version, <c>major.minor.patch</c>.</param>
/// <param name="Protocol">Wire protocol version, <c>major.minor</c>.</param>
/// <param name="UniqueId">The board's 64-bit unique id.</param>
public sealed record NwbDevice(string Board, string Firmware, string Protocol, ulong UniqueId)
{
    /// <summary>The unique id as 16 lower-case hex digits, the form used everywhere else (sidecar, catalog).</summary>
    public string UniqueIdHex => UniqueId.ToString("x16", CultureInfo.InvariantCulture);

    /// <summary>The device a DeviceInfo describes.</summary>
    public static NwbDevice From(DeviceInfo info) => new(
        info.Board,
        $"{info.FirmwareMajor}.{info.FirmwareMinor}.{info.FirmwarePatch}",
        $"{info.ProtocolMajor}.{info.ProtocolMinor}",
        info.UniqueId);
}

/// <summary>One pulse as played (a StimulusEvent, with its length from the command's train).</summary>
/// <param name="OnsetSample">Device sample index of the pulse's onset.</param>
/// <param name="DurationSamples">Phase 1 + interphase + phase 2, in samples.</param>
/// <param name="Train">Train index in the command.</param>
/// <param name="Pulse">Pulse index within its train.</param>
/// <param name="Phase1Nanoamps">Phase 1 amplitude (nA).</param>
/// <param name="Phase2Nanoamps">Phase 2 amplitude (nA); 0 for a monophasic pulse.</param>
public readonly record struct NwbStimulusEvent(
    ulong OnsetSample, ulong DurationSamples, int Train, int Pulse, double Phase1Nanoamps, double Phase2Nanoamps)
{
    /// <summary>The stimulus id of the command the pulse belongs to (a recording may hold several protocols).</summary>
    public ushort StimId { get; init; }

    /// <summary>The output it was played on.</summary>
    public byte Output { get; init; }

    /// <summary>The StimulusEvent's flags (<see cref="StimulusEvent.Last"/>, <see cref="StimulusEvent.Aborted"/>).</summary>
    public byte Flags { get; init; }

    /// <summary>Phase 1 as the DAC code the rig played.</summary>
    public short Phase1Code { get; init; }

    /// <summary>Phase 2 as the DAC code the rig played.</summary>
    public short Phase2Code { get; init; }

    /// <summary>How far the pulse's edges may be from its recorded onset and end (ms): 0 when the rig timed it to the sample.</summary>
    public double OnsetUncertaintyMs { get; init; }

    /// <summary>For a host-timed pulse, how much later than commanded its onset was written (ms).</summary>
    public double LateMs { get; init; }

    /// <summary>
    /// The pulse a StimulusEvent reports: the train's phase lengths come from the command that was sent, the
    /// amplitudes from the codes the rig played.
    /// </summary>
    /// <param name="played">The event as received.</param>
    /// <param name="command">The Stimulus command it belongs to.</param>
    /// <param name="nanoampsPerCode">The output's scale (DeviceInfo output descriptor).</param>
    /// <exception cref="ArgumentException">The event names a train the command does not have.</exception>
    public static NwbStimulusEvent From(StimulusEvent played, StimulusCommand command, double nanoampsPerCode)
    {
        if (played.Train >= command.Trains.Count)
        {
            throw new ArgumentException($"stimulus event names train {played.Train}, the command has {command.Trains.Count}", nameof(played));
        }

        var t = command.Trains[played.Train];
        return new NwbStimulusEvent(played.OnsetIndex, (ulong)t.Phase1Samples + t.InterphaseSamples + t.Phase2Samples,
            played.Train, played.Pulse, played.Phase1Code * nanoampsPerCode, played.Phase2Code * nanoampsPerCode)
        {
            StimId = played.StimId, Output = played.Output, Flags = played.Flags, Phase1Code = played.Phase1Code, Phase2Code = played.Phase2Code,
        };
    }
}

/// <summary>A run of samples lost on the link.</summary>
/// <param name="FirstLostSample">Device sample index of the first sample lost.</param>
/// <param name="LostSamples">How many consecutive samples were lost (at least 1).</param>
public readonly record struct NwbGap(ulong FirstLostSample, ulong LostSamples);

/// <summary>
/// Consecutive samples as received: the raw ADC counts and, when the recording declares them, the model's prediction
/// and the stimulus current for the same samples. A chunk's samples are consecutive device indices; a gap falls
/// between chunks.
/// </summary>
/// <param name="FirstSampleIndex">Device sample index of <c>Counts[0]</c>.</param>
/// <param name="Counts">Raw ADC counts (the rig's ADC has at most 15 bits, so they fit an int16).</param>
/// <param name="ModelMv">The model's predicted membrane potential (mV) for each sample; empty when the recording
/// has no model.</param>
/// <param name="StimulusNanoamps">The stimulus current played at each sample (nA); empty when the recording has no
/// stimulus current.</param>
public readonly record struct SampleChunk(
    ulong FirstSampleIndex, ReadOnlyMemory<short> Counts, ReadOnlyMemory<float> ModelMv = default, ReadOnlyMemory<float> StimulusNanoamps = default);
