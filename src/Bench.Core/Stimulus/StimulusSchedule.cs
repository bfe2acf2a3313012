namespace Bench.Core.Stimulus;

/// <summary>
/// A protocol sampled on a fixed grid as the models take it (step k receives the amplitude at (k + ½)·dt), held as
/// constant pieces instead of one value per step. Every piece's amplitude is the protocol's own
/// <see cref="StimulusProtocol.AmplitudeAt"/> at one of its steps, and the pieces are cut wherever any step could
/// differ, so stepping piece by piece gives each step exactly the value a per-step lookup gives.
/// </summary>
public sealed class StimulusSchedule
{
    private readonly int[] starts;
    private readonly double[] amplitudes;

    private StimulusSchedule(int steps, int[] starts, double[] amplitudes)
    {
        Steps = steps;
        this.starts = starts;
        this.amplitudes = amplitudes;
    }

    /// <summary>Steps covered.</summary>
    public int Steps { get; }

    /// <summary>Number of constant pieces.</summary>
    public int Count => starts.Length;

    /// <summary>First step of piece <paramref name="i"/>.</summary>
    public int Start(int i) => starts[i];

    /// <summary>One past the last step of piece <paramref name="i"/>.</summary>
    public int End(int i) => i + 1 < starts.Length ? starts[i + 1] : Steps;

    /// <summary>The amplitude over piece <paramref name="i"/>.</summary>
    public double Amplitude(int i) => amplitudes[i];

    /// <summary>The amplitude of step <paramref name="k"/> (a binary search; for random access, not for stepping).</summary>
    public double AmplitudeOfStep(int k)
    {
        int i = Array.BinarySearch(starts, k);
        return amplitudes[i >= 0 ? i : ~i - 1];
    }

    /// <summary>Writes each step's amplitude times <paramref name="scale"/> into <paramref name="destination"/> (one per step).</summary>
    public void Fill(Span<double> destination, double scale = 1)
    {
        for (int i = 0; i < starts.Length; i++)
        {
            int end = Math.Min(End(i), destination.Length);
            if (starts[i] >= end) break;
            destination[starts[i]..end].Fill(amplitudes[i] * scale);
        }
    }

    /// <summary>
    /// Writes the amplitudes (times <paramref name="scale"/>) of steps <paramref name="from"/> … from + length − 1 into
    /// <paramref name="destination"/>: the same values <see cref="Fill"/> writes there, for a window of the run.
    /// </summary>
    public void FillRange(int from, Span<double> destination, double scale = 1)
    {
        if (destination.IsEmpty) return;
        int i = Array.BinarySearch(starts, from);
        i = i >= 0 ? i : ~i - 1;
        int to = from + destination.Length;
        for (; i < starts.Length && starts[i] < to; i++)
        {
            int lo = Math.Max(starts[i], from), hi = Math.Min(End(i), to);
            if (hi > lo) destination[(lo - from)..(hi - from)].Fill(amplitudes[i] * scale);
        }
    }

    /// <summary>Samples <paramref name="protocol"/> for <paramref name="steps"/> steps of <paramref name="dtMs"/>.</summary>
    public static StimulusSchedule Create(StimulusProtocol protocol, int steps, double dtMs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        // Probe the steps within two of every edge (onsets, phase ends) and the step after each probe: away from the
        // edges the amplitude is the same for every step between two probes, so those two steps stand for the gap.
        var candidates = new SortedSet<int> { 0 };
        double durationMs = steps * dtMs;
        foreach (var train in protocol.Trains)
        {
            int pulses = train.Count == 1 || train.IntervalMs <= 0 ? 1 : train.Count;
            for (int j = 0; j < pulses; j++)
            {
                double onset = train.OnsetMs(j);
                if (onset > durationMs + dtMs) break;
                AddEdge(candidates, onset, steps, dtMs);
                AddEdge(candidates, onset + train.Phase1Ms, steps, dtMs);
                AddEdge(candidates, onset + train.Phase1Ms + train.InterphaseMs, steps, dtMs);
                AddEdge(candidates, onset + train.PulseWidthMs, steps, dtMs);
            }

            AddEdge(candidates, train.StartMs, steps, dtMs);
            AddEdge(candidates, train.EndMs, steps, dtMs);
        }

        var probes = new SortedSet<int>(candidates);
        foreach (int c in candidates)
        {
            if (c + 1 < steps) probes.Add(c + 1);
        }

        var pieceStarts = new List<int>();
        var pieceAmplitudes = new List<double>();
        foreach (int k in probes)
        {
            double a = protocol.AmplitudeAt((k + 0.5) * dtMs);
            // Merge equal neighbours bit for bit (0.0 and −0.0 stay apart, as the model would see them).
            if (pieceAmplitudes.Count > 0 && BitConverter.DoubleToInt64Bits(pieceAmplitudes[^1]) == BitConverter.DoubleToInt64Bits(a)) continue;
            pieceStarts.Add(k);
            pieceAmplitudes.Add(a);
        }

        return new StimulusSchedule(steps, [.. pieceStarts], [.. pieceAmplitudes]);
    }

    private static void AddEdge(SortedSet<int> candidates, double edgeMs, int steps, double dtMs)
    {
        double k = Math.Floor((edgeMs / dtMs) - 0.5);
        if (!double.IsFinite(k) || k < -3 || k > steps + 3) return;
        for (int d = -2; d <= 2; d++)
        {
            long c = (long)k + d;
            if (c >= 0 && c < steps) candidates.Add((int)c);
        }
    }
}
