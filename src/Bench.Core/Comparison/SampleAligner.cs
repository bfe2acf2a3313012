using System.Numerics;
using System.Runtime.CompilerServices;

namespace Bench.Core.Comparison;

/// <summary>
/// The comparison's sample clock: device index ↔ ms from the model's start, and ms → whole samples.
/// </summary>
/// <param name="Start">The device index at which the model starts (time 0).</param>
/// <param name="RateHz">The rig's sample rate (Hz).</param>
internal readonly record struct SampleClock(ulong Start, double RateHz)
{
    /// <summary>The sample interval (ms).</summary>
    public double DtMs { get; } = 1000.0 / RateHz;

    /// <summary>Time of device index <paramref name="index"/> from the model's start (ms).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double TimeOf(ulong index) => (index - Start) * DtMs;

    /// <summary>Whole samples covering <paramref name="ms"/> (rounded up; a hair's rounding error does not add one).</summary>
    public ulong Samples(double ms) => (ulong)Math.Max(0, Math.Ceiling((ms * RateHz / 1000) - 1e-9));
}

/// <summary>
/// Lines the recording up with the model by device index: the calibrated samples as they arrive, the model's
/// prediction and drive for each index it has stepped, in rings sized once (no allocation per sample). Tracks what has
/// been received (<see cref="ReceivedEnd"/>; a lost sample is NaN) and how far the model has stepped
/// (<see cref="ComparedThrough"/>), how much may be held back for a pulse's event, and gaps reported ahead of their samples.
/// </summary>
internal sealed class SampleAligner
{
    private readonly double mvPerCount;
    private readonly double offsetMv;
    private readonly ulong start;
    private readonly ulong holdLimit;
    private readonly Queue<(ulong First, ulong End)> pendingGaps = new(16);

    /// <summary>Calibrated recording (mV) by index &amp; <see cref="Mask"/>; NaN where a sample was lost.</summary>
    public readonly double[] Recorded;

    /// <summary>The model's potential (mV, offset included) by index &amp; <see cref="Mask"/>.</summary>
    public readonly double[] Predicted;

    /// <summary>The stimulus the model received over each sample period (model units) by index &amp; <see cref="Mask"/>.</summary>
    public readonly double[] Drive;

    /// <summary>Ring index mask (capacity − 1).</summary>
    public readonly ulong Mask;

    /// <param name="start">The model's first device index.</param>
    /// <param name="mvPerCount">Calibration: mV per ADC count.</param>
    /// <param name="offsetMv">Calibration: mV at count 0.</param>
    /// <param name="holdLimit">Samples that may be received but not yet compared (a pulse awaiting its event).</param>
    /// <param name="behind">Samples behind the model that the metrics and the AP analysis still read.</param>
    public SampleAligner(ulong start, double mvPerCount, double offsetMv, ulong holdLimit, ulong behind)
    {
        this.start = start;
        this.mvPerCount = mvPerCount;
        this.offsetMv = offsetMv;
        this.holdLimit = holdLimit;
        ulong capacity = BitOperations.RoundUpToPowerOf2(behind + holdLimit + 1);
        Mask = capacity - 1;
        Recorded = new double[capacity];
        Predicted = new double[capacity];
        Drive = new double[capacity];
        ReceivedEnd = ComparedThrough = start;
    }

    /// <summary>Index just past the newest sample received (or declared lost).</summary>
    public ulong ReceivedEnd { get; private set; }

    /// <summary>Every index before this one has been stepped by the model (compared or excluded).</summary>
    public ulong ComparedThrough { get; set; }

    /// <summary>True when the samples held back fill the hold limit: the model must go on without waiting any more.</summary>
    public bool Full => ReceivedEnd - ComparedThrough >= holdLimit;

    /// <summary>Samples that may still be received before the oldest held-back one would be overwritten (at least 1).</summary>
    public ulong Room => Math.Max(1, holdLimit - (ReceivedEnd - ComparedThrough));

    /// <summary>True when a block ending at <paramref name="end"/> holds samples not yet received and none before the start.</summary>
    public bool HasNew(ulong firstIndex, ulong end) => end > ReceivedEnd && firstIndex >= start;

    /// <summary>Stores received ADC counts from <see cref="ReceivedEnd"/> on, calibrated.</summary>
    public void Store(ReadOnlySpan<ushort> counts)
    {
        for (int k = 0; k < counts.Length; k++)
        {
            Recorded[(ReceivedEnd + (ulong)k) & Mask] = (mvPerCount * counts[k]) + offsetMv;
        }

        ReceivedEnd += (ulong)counts.Length;
    }

    /// <summary>Marks <paramref name="count"/> samples from <see cref="ReceivedEnd"/> on as lost.</summary>
    public void StoreMissing(ulong count)
    {
        for (ulong k = 0; k < count; k++) Recorded[(ReceivedEnd + k) & Mask] = double.NaN;
        ReceivedEnd += count;
    }

    /// <summary>A gap reported before the samples that precede it: it waits for them.</summary>
    public void DeferGap(ulong first, ulong end) => pendingGaps.Enqueue((first, end));

    /// <summary>The end of the next deferred gap whose samples before it have all arrived.</summary>
    public bool TryTakeDueGap(out ulong end)
    {
        if (pendingGaps.Count > 0 && pendingGaps.Peek().First <= ReceivedEnd)
        {
            end = pendingGaps.Dequeue().End;
            return true;
        }

        end = 0;
        return false;
    }

    /// <summary>Records the model's potential and drive for index <paramref name="index"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetModel(ulong index, double predictedMv, double drive)
    {
        ulong r = index & Mask;
        Predicted[r] = predictedMv;
        Drive[r] = drive;
    }

    /// <summary>The oldest index whose prediction is still held.</summary>
    public ulong OldestPredicted => Math.Max(ComparedThrough > Mask ? ComparedThrough - Mask : 0, start);

    /// <summary>Copies the model's potential for indices from <paramref name="firstIndex"/>; NaN where not computed (yet, or any more).</summary>
    /// <returns>How many leading values are real.</returns>
    public int CopyPredicted(ulong firstIndex, Span<double> destination)
    {
        int real = 0;
        ulong through = ComparedThrough;
        ulong oldest = through > Mask ? through - Mask : 0;
        for (int k = 0; k < destination.Length; k++)
        {
            ulong i = firstIndex + (ulong)k;
            bool known = i < through && i >= oldest && i >= start;
            destination[k] = known ? Predicted[i & Mask] : double.NaN;
            if (known && real == k) real++;
        }

        return real;
    }
}
