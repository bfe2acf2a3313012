namespace Bench.Core.Comparison;

/// <summary>
/// The model's prediction as a <see cref="LiveComparison"/> catches up with the samples (it may wait at a pulse for the
/// pulse's report): each <see cref="TryTake"/> hands on the run predicted since the previous call, so a recording or a
/// live view gets every predicted value once, in order. Reuses one buffer: no allocation per call once it is large enough.
/// </summary>
public sealed class PredictionFeed
{
    private readonly LiveComparison comparison;
    private ulong delivered;
    private double[] scratch = new double[4096];

    /// <summary>Follows <paramref name="comparison"/> from its model's start.</summary>
    public PredictionFeed(LiveComparison comparison)
    {
        this.comparison = comparison;
        delivered = comparison.Setup.ModelStartIndex;
    }

    /// <summary>
    /// The values predicted since the last call: from <paramref name="firstIndex"/>, in mV (valid until the next call).
    /// False when there are none.
    /// </summary>
    public bool TryTake(out ulong firstIndex, out ReadOnlySpan<double> predictedMv)
    {
        firstIndex = delivered;
        predictedMv = default;
        ulong through = comparison.ComparedThrough;
        if (through <= delivered) return false;
        // A long gap is stepped through at once and its first predictions are gone from the comparison's buffer: they
        // pair with no sample. Hand on what is held, from where it begins, rather than nothing.
        ulong oldest = comparison.OldestPredicted;
        if (delivered < oldest) delivered = Math.Min(oldest, through);
        firstIndex = delivered;
        if (through <= delivered) return false;
        int n = checked((int)(through - delivered));
        if (scratch.Length < n) scratch = new double[Math.Max(n, scratch.Length * 2)];
        int real = comparison.CopyPredicted(delivered, scratch.AsSpan(0, n));
        delivered = through;
        predictedMv = scratch.AsSpan(0, real);
        return real > 0;
    }
}
