namespace Bench.Service;

/// <summary>
/// Min/max decimation of one live trace for the page: each bucket of <see cref="BucketSamples"/> consecutive sample
/// periods becomes its minimum and maximum, so a 20 kHz stream reaches the browser as ~1,000 points a second with every
/// spike's extremes kept. Buckets are numbered from sample 0 (bucket = index / BucketSamples), so the recorded trace
/// and the model's, decimated separately and published at different moments, line up on the page. A bucket a gap
/// emptied is published as null, so the plot breaks instead of joining across the gap. Allocation-free per sample.
/// </summary>
public sealed class TraceDecimator
{
    private readonly double[] minimum, maximum;
    private readonly ulong[] buckets;
    private int count;
    private ulong current = ulong.MaxValue;
    private double lo, hi;

    /// <summary>Builds a decimator holding up to <paramref name="capacityBuckets"/> finished buckets between drains.</summary>
    public TraceDecimator(int bucketSamples, int capacityBuckets = 4096)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bucketSamples, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityBuckets, 2);
        BucketSamples = bucketSamples;
        minimum = new double[capacityBuckets];
        maximum = new double[capacityBuckets];
        buckets = new ulong[capacityBuckets];
    }

    /// <summary>Sample periods per bucket.</summary>
    public int BucketSamples { get; }

    /// <summary>Buckets dropped because nobody drained them in time (the oldest go first).</summary>
    public long DroppedBuckets { get; private set; }

    /// <summary>Adds one sample (its session index and value); NaN values are skipped.</summary>
    public void Add(ulong index, double value)
    {
        if (double.IsNaN(value)) return;
        ulong bucket = index / (ulong)BucketSamples;
        if (bucket != current)
        {
            Close();
            current = bucket;
            lo = hi = value;
            return;
        }

        lo = Math.Min(lo, value);
        hi = Math.Max(hi, value);
    }

    /// <summary>Marks lost samples: the plot breaks there.</summary>
    public void Gap(ulong firstLost, ulong length)
    {
        if (length == 0) return;
        Close();
        // The buckets the gap empties entirely (a gap shorter than a bucket only thins one): an empty one at each end is
        // enough for the plot to break; a long gap needs no more.
        ulong b = (ulong)BucketSamples;
        ulong first = (firstLost + b - 1) / b, end = (firstLost + length) / b;
        if (end <= first) return;
        Push(first, double.NaN, double.NaN);
        if (end - 1 != first) Push(end - 1, double.NaN, double.NaN);
    }

    /// <summary>Copies out the finished buckets (oldest first) and forgets them; the bucket still filling stays.</summary>
    public TraceChunk Drain(double sampleRateHz)
    {
        double bucketMs = BucketSamples * 1000.0 / sampleRateHz;
        var time = new double[count];
        var min = new double?[count];
        var max = new double?[count];
        for (int i = 0; i < count; i++)
        {
            time[i] = Math.Round(buckets[i] * bucketMs, 6);
            min[i] = double.IsNaN(minimum[i]) ? null : Math.Round(minimum[i], 3);
            max[i] = double.IsNaN(maximum[i]) ? null : Math.Round(maximum[i], 3);
        }

        count = 0;
        return new TraceChunk(bucketMs, time, min, max);
    }

    private void Close()
    {
        if (current == ulong.MaxValue) return;
        Push(current, lo, hi);
        current = ulong.MaxValue;
    }

    private void Push(ulong bucket, double low, double high)
    {
        if (count == buckets.Length)
        {
            // Nobody drained: drop the oldest half rather than stall the acquisition that feeds this.
            int keep = count / 2;
            Array.Copy(buckets, count - keep, buckets, 0, keep);
            Array.Copy(minimum, count - keep, minimum, 0, keep);
            Array.Copy(maximum, count - keep, maximum, 0, keep);
            DroppedBuckets += count - keep;
            count = keep;
        }

        buckets[count] = bucket;
        minimum[count] = low;
        maximum[count] = high;
        count++;
    }
}

/// <summary>Decimated buckets of one trace: each bucket's start (ms of session time), minimum and maximum (null: no data).</summary>
public sealed record TraceChunk(double BucketMs, double[] TimeMs, double?[] MinMv, double?[] MaxMv);
