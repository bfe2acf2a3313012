using System.Buffers;

namespace Bench.Core.Comparison;

/// <summary>
/// Measures of agreement between two spike trains (times in ms, sorted ascending): coincidences, the coincidence factor Γ
/// and the Victor–Purpura distance. Pure and allocation-free for small trains (the DP row comes from the array pool otherwise).
/// </summary>
public static class SpikeTrainMetrics
{
    /// <summary>
    /// Pairs spikes of <paramref name="recordedMs"/> and <paramref name="modelMs"/> that lie within <paramref name="windowMs"/>
    /// of each other, one to one, greedily in time order (two pointers): a spike further than the window from the other
    /// train's next spike is unmatched. Spikes of one train are at least a dead time apart, so with windows of a few ms
    /// the greedy choice is the nearest one.
    /// </summary>
    /// <param name="recordedMs">The recorded train.</param>
    /// <param name="modelMs">The model's train.</param>
    /// <param name="windowMs">Largest |model − recorded| of a pair.</param>
    /// <param name="onPair">Called for every pair (recorded index, model index), in time order; may be null.</param>
    /// <returns>The number of pairs.</returns>
    public static int Match(ReadOnlySpan<double> recordedMs, ReadOnlySpan<double> modelMs, double windowMs, Action<int, int>? onPair = null)
    {
        var sink = new CallbackSink(onPair);
        return Walk(recordedMs, modelMs, windowMs, ref sink);
    }

    /// <summary>Pairs (see <see cref="Match"/>) with the sum of model − recorded and of its absolute value (ms).</summary>
    public static (int Pairs, double SumDifferenceMs, double SumAbsoluteDifferenceMs) MatchSums(ReadOnlySpan<double> recordedMs, ReadOnlySpan<double> modelMs, double windowMs)
    {
        var sink = new SumSink();
        int pairs = Walk(recordedMs, modelMs, windowMs, ref sink);
        return (pairs, sink.Sum, sink.SumAbs);
    }

    /// <summary>The greedy two-pointer pairing behind <see cref="Match"/>; the sink (a struct, so nothing is allocated) sees each pair.</summary>
    private static int Walk<TSink>(ReadOnlySpan<double> recordedMs, ReadOnlySpan<double> modelMs, double windowMs, ref TSink sink)
        where TSink : struct, IPairSink
    {
        int i = 0, j = 0, pairs = 0;
        while (i < recordedMs.Length && j < modelMs.Length)
        {
            double d = modelMs[j] - recordedMs[i];
            if (d < -windowMs)
            {
                j++;
            }
            else if (d > windowMs)
            {
                i++;
            }
            else
            {
                sink.Add(i, j, d);
                pairs++;
                i++;
                j++;
            }
        }

        return pairs;
    }

    private interface IPairSink
    {
        void Add(int recorded, int model, double differenceMs);
    }

    private readonly struct CallbackSink(Action<int, int>? onPair) : IPairSink
    {
        public void Add(int recorded, int model, double differenceMs) => onPair?.Invoke(recorded, model);
    }

    private struct SumSink : IPairSink
    {
        public double Sum;
        public double SumAbs;

        public void Add(int recorded, int model, double differenceMs)
        {
            Sum += differenceMs;
            SumAbs += Math.Abs(differenceMs);
        }
    }

    /// <summary>Number of coincidences: pairs (see <see cref="Match"/>) no further apart than <paramref name="deltaMs"/>.</summary>
    public static int Coincidences(ReadOnlySpan<double> recordedMs, ReadOnlySpan<double> modelMs, double deltaMs) =>
        Match(recordedMs, modelMs, deltaMs);

    /// <summary>
    /// The coincidence factor Γ of Kistler et al. (1997) in the form of Jolivet et al. (2008):
    /// Γ = (N_coinc − ⟨N_coinc⟩) / (½ (N_data + N_model)) · 1/𝒩, with ⟨N_coinc⟩ = 2 ν Δ N_data the coincidences a Poisson
    /// train at the model's rate ν = N_model / T would reach by chance and 𝒩 = 1 − 2 ν Δ. 1 is a perfect prediction,
    /// 0 is chance. NaN when both trains are empty or the model's rate is so high that chance alone coincides everywhere
    /// (2 ν Δ ≥ 1).
    /// </summary>
    /// <param name="coincidences">N_coinc: pairs within ±Δ.</param>
    /// <param name="recordedSpikes">N_data.</param>
    /// <param name="modelSpikes">N_model.</param>
    /// <param name="durationMs">T: the time both trains cover (gaps excluded).</param>
    /// <param name="deltaMs">Δ: the coincidence window.</param>
    public static double Gamma(int coincidences, int recordedSpikes, int modelSpikes, double durationMs, double deltaMs)
    {
        if (recordedSpikes + modelSpikes == 0 || !(durationMs > 0)) return double.NaN;
        double rate = modelSpikes / durationMs;
        double norm = 1 - (2 * rate * deltaMs);
        if (!(norm > 0)) return double.NaN;
        double expected = 2 * rate * deltaMs * recordedSpikes;
        return (coincidences - expected) / (0.5 * (recordedSpikes + modelSpikes)) / norm;
    }

    /// <summary>Γ of two trains (see <see cref="Gamma(int, int, int, double, double)"/>).</summary>
    public static double Gamma(ReadOnlySpan<double> recordedMs, ReadOnlySpan<double> modelMs, double durationMs, double deltaMs) =>
        Gamma(Coincidences(recordedMs, modelMs, deltaMs), recordedMs.Length, modelMs.Length, durationMs, deltaMs);

    /// <summary>
    /// The Victor–Purpura spike-time distance (Victor &amp; Purpura 1996): the cheapest way to turn one train into the
    /// other, where deleting or inserting a spike costs 1 and moving one by Δt costs q·|Δt|. The standard dynamic programme,
    /// O(n·m) time, O(m) memory.
    /// </summary>
    /// <param name="a">One train (ms).</param>
    /// <param name="b">The other (ms).</param>
    /// <param name="costPerMs">q (1/ms): moving a spike by more than 2/q costs more than deleting and inserting it.</param>
    public static double VictorPurpura(ReadOnlySpan<double> a, ReadOnlySpan<double> b, double costPerMs)
    {
        if (a.Length == 0) return b.Length;
        if (b.Length == 0) return a.Length;
        double[]? rented = null;
        Span<double> row = b.Length + 1 <= 256 ? stackalloc double[b.Length + 1] : (rented = ArrayPool<double>.Shared.Rent(b.Length + 1)).AsSpan(0, b.Length + 1);
        try
        {
            for (int j = 0; j <= b.Length; j++) row[j] = j;
            for (int i = 1; i <= a.Length; i++)
            {
                double diagonal = row[0];   // D[i-1][0]
                row[0] = i;
                for (int j = 1; j <= b.Length; j++)
                {
                    double above = row[j];   // D[i-1][j]
                    double shift = diagonal + (costPerMs * Math.Abs(a[i - 1] - b[j - 1]));
                    row[j] = Math.Min(Math.Min(above + 1, row[j - 1] + 1), shift);
                    diagonal = above;
                }
            }

            return row[b.Length];
        }
        finally
        {
            if (rented is not null) ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// The Victor–Purpura distance computed piece by piece: wherever neither train has a spike for at least 2/q, no shift
    /// across that stretch is cheaper than a deletion and an insertion, so the distance is the sum of the pieces' distances.
    /// Exact, and linear in the number of spikes when spikes are sparse.
    /// </summary>
    public static double VictorPurpuraSegmented(ReadOnlySpan<double> a, ReadOnlySpan<double> b, double costPerMs)
    {
        double total = 0;
        int ia = 0, ib = 0;
        while (ia < a.Length || ib < b.Length)
        {
            int endA = ia, endB = ib;
            NextPiece(a, b, costPerMs, ref endA, ref endB);
            total += VictorPurpura(a[ia..endA], b[ib..endB], costPerMs);
            ia = endA;
            ib = endB;
        }

        return total;
    }

    /// <summary>
    /// From (<paramref name="endA"/>, <paramref name="endB"/>), extends the piece over every spike that lies less than 2/q
    /// after the piece's last spike; on return they index just past the piece.
    /// </summary>
    internal static void NextPiece(ReadOnlySpan<double> a, ReadOnlySpan<double> b, double costPerMs, ref int endA, ref int endB)
    {
        double reach = costPerMs > 0 ? 2 / costPerMs : double.PositiveInfinity;
        double last = double.NaN;
        while (true)
        {
            bool takeA = endA < a.Length && (endB >= b.Length || a[endA] <= b[endB]);
            bool takeB = !takeA && endB < b.Length;
            if (!takeA && !takeB) return;
            double t = takeA ? a[endA] : b[endB];
            if (!double.IsNaN(last) && t - last >= reach) return;
            last = t;
            if (takeA) endA++; else endB++;
        }
    }
}
