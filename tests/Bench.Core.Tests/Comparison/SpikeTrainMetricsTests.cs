using Bench.Core.Comparison;

namespace Bench.Core.Tests.Comparison;

public class SpikeTrainMetricsTests
{
    [Fact]
    public void Gamma_follows_jolivet_with_the_chance_correction()
    {
        // 4 recorded, 5 model spikes in 1000 ms, 3 within ±2 ms of each other.
        double[] recorded = [100, 300, 500, 700];
        double[] model = [101, 299.5, 520, 701.5, 900];
        Assert.Equal(3, SpikeTrainMetrics.Coincidences(recorded, model, 2));
        // ν = 5/1000 per ms; <N_coinc> = 2·ν·Δ·N_data = 2·0.005·2·4 = 0.08; 𝒩 = 1 − 2·0.005·2 = 0.98;
        // Γ = (3 − 0.08) / (½·(4 + 5)) / 0.98 = 2.92 / 4.5 / 0.98.
        double expected = 2.92 / 4.5 / 0.98;
        Assert.Equal(expected, SpikeTrainMetrics.Gamma(recorded, model, 1000, 2), 12);
    }

    [Fact]
    public void Gamma_of_identical_trains_is_one_and_of_disjoint_trains_below_zero()
    {
        double[] a = [10, 50, 90];
        // Identical: N_coinc = 3, ν = 3/100, <N_coinc> = 2·0.03·2·3 = 0.36, 𝒩 = 0.88: (3 − 0.36)/3/0.88 = 1.
        Assert.Equal(1, SpikeTrainMetrics.Gamma(a, a, 100, 2), 12);
        double[] b = [30, 70];
        Assert.True(SpikeTrainMetrics.Gamma(a, b, 100, 2) < 0);
        Assert.True(double.IsNaN(SpikeTrainMetrics.Gamma([], [], 100, 2)));
    }

    [Fact]
    public void Victor_purpura_matches_hand_computed_distances()
    {
        // One spike shifted by 1 ms at q = 0.5/ms costs 0.5; by 5 ms it is cheaper to delete and insert (2).
        Assert.Equal(0.5, SpikeTrainMetrics.VictorPurpura([10], [11], 0.5), 12);
        Assert.Equal(2, SpikeTrainMetrics.VictorPurpura([10], [15], 0.5), 12);
        // Empty against n spikes: n insertions.
        Assert.Equal(3, SpikeTrainMetrics.VictorPurpura([], [1, 2, 3], 0.5));
        // {10, 20, 30} → {10.5, 21, 40}: shifts 0.5 and 1 (0.25 + 0.5), then 30 → 40 costs 5 > 2: delete + insert.
        Assert.Equal(0.25 + 0.5 + 2, SpikeTrainMetrics.VictorPurpura([10, 20, 30], [10.5, 21, 40], 0.5), 12);
        // q = 0: only the counts matter.
        Assert.Equal(1, SpikeTrainMetrics.VictorPurpura([10, 20, 30], [100, 200], 0), 12);
    }

    [Fact]
    public void Victor_purpura_by_pieces_equals_the_full_programme()
    {
        var random = new Random(3);
        for (int trial = 0; trial < 200; trial++)
        {
            double[] a = [.. Enumerable.Range(0, random.Next(0, 30)).Select(_ => random.NextDouble() * 300).Order()];
            double[] b = [.. Enumerable.Range(0, random.Next(0, 30)).Select(_ => random.NextDouble() * 300).Order()];
            double q = random.NextDouble() * 2;
            Assert.Equal(SpikeTrainMetrics.VictorPurpura(a, b, q), SpikeTrainMetrics.VictorPurpuraSegmented(a, b, q), 9);
        }
    }

    [Fact]
    public void Matching_pairs_one_to_one_within_the_window_in_time_order()
    {
        double[] recorded = [10, 20, 30, 60];
        double[] model = [11, 25, 29, 31];
        var pairs = new List<(int, int)>();
        int n = SpikeTrainMetrics.Match(recorded, model, 2, (i, j) => pairs.Add((i, j)));
        // 10↔11; 20 has no model spike within 2 ms (25 is 5 away); 30↔29; 31 and 60 unmatched.
        Assert.Equal(2, n);
        Assert.Equal([(0, 0), (2, 2)], pairs);
        var (count, sum, sumAbs) = SpikeTrainMetrics.MatchSums(recorded, model, 2);
        Assert.Equal(2, count);
        Assert.Equal(0, sum, 12);
        Assert.Equal(2, sumAbs, 12);
    }
}
