using System.Globalization;
using System.Text.Json.Nodes;

namespace Bench.Core.Comparison;

/// <summary>
/// What a fit says about the recording it was given: which parameters it could not tell apart, and a protocol that
/// would. The advice follows what each parameter shapes: the leak (gL, EL, Cm) the passive response, so a
/// hyperpolarising step, which opens no voltage-gated channel, shows it alone (EL the level it relaxes to, gL the
/// deflection per nA, Cm/gL its time course); gNa and gK the threshold, AP shape and firing rate, which move apart
/// when the pulse amplitude varies and a long step makes the cell fire repetitively.
/// </summary>
public static class FitAdvice
{
    private static readonly HashSet<string> Passive = new(StringComparer.Ordinal) { "gL", "EL", "Cm", ModelFitter.OffsetParameter };

    /// <summary>Pairs whose estimates correlate beyond <paramref name="threshold"/>, strongest first.</summary>
    /// <param name="names">Parameter names, in the correlation matrix's order.</param>
    /// <param name="correlations">Correlation matrix of the estimates.</param>
    /// <param name="threshold">|r| above which a pair is reported (e.g. 0.9).</param>
    public static IReadOnlyList<ParameterTradeOff> TradeOffs(IReadOnlyList<string> names, double[,] correlations, double threshold)
    {
        var pairs = new List<ParameterTradeOff>();
        for (int i = 0; i < names.Count; i++)
        {
            for (int j = 0; j < i; j++)
            {
                double r = correlations[i, j];
                if (Math.Abs(r) > threshold) pairs.Add(new ParameterTradeOff(names[j], names[i], r, AdviceFor(names[j], names[i])));
            }
        }

        return [.. pairs.OrderByDescending(p => Math.Abs(p.Correlation))];
    }

    /// <summary>The protocol change that separates <paramref name="first"/> from <paramref name="second"/>.</summary>
    public static string AdviceFor(string first, string second)
    {
        bool passiveA = Passive.Contains(first), passiveB = Passive.Contains(second);
        if (passiveA && passiveB)
        {
            return (first, second) is ("Cm", _) or (_, "Cm")
                ? "add a hyperpolarising step (e.g. -50 nA for 100 ms): its size gives 1/gL and its time course Cm/gL"
                : "add a hyperpolarising step (e.g. -50 nA for 100 ms): no gated channel opens, so the rest it relaxes back to gives EL and its size gL";
        }

        if (passiveA || passiveB)
        {
            return "add a hyperpolarising step (e.g. -50 nA for 100 ms) to pin the leak down alone, and vary the pulse amplitude";
        }

        return "vary the pulse amplitude (from just below threshold to twice it) and add a long depolarising step (e.g. 100 nA for 100 ms): threshold, latency and firing rate weigh gNa and gK differently from one AP's shape";
    }

    /// <summary>
    /// A protocol (Bench protocol JSON in nA, as <c>examples/*.json</c>, for the emulated rig's 10⁶ µm²: 1 nA =
    /// 0.1 µA/cm²) that constrains <paramref name="names"/>: a hyperpolarising step where a leak parameter is asked,
    /// pulses of rising amplitude and a long depolarising step where an active one is, each after time to recover.
    /// </summary>
    /// <param name="names">The parameters to fit.</param>
    public static string SuggestProtocolJson(IReadOnlyList<string> names)
    {
        bool passive = names.Any(Passive.Contains) || names.Count == 0;
        bool active = names.Any(n => !Passive.Contains(n)) || names.Count == 0;
        var trains = new JsonArray();
        double t = 20;
        void Train(double start, double ms, double nA, double interval, int count) => trains.Add(new JsonObject
        {
            ["start_ms"] = start, ["phase1_ms"] = ms, ["phase1_amplitude"] = nA, ["interval_ms"] = interval, ["count"] = count,
        });
        if (passive)
        {
            // Long enough to settle several membrane time constants (τ = Cm/gL ≈ 3 ms for hh, 20 ms for rc), small
            // enough not to rebound into a spike.
            Train(t, 100, -50, 0, 1);
            t += 200;
        }

        if (active)
        {
            // Below, at and above threshold (a 1 ms pulse fires the emulated cell at about 250 nA), 50 ms apart
            // so each starts from rest; then repetitive firing on a step.
            Train(t, 1, 150, 0, 1);
            Train(t + 50, 1, 300, 50, 2);
            Train(t + 150, 100, 100, 0, 1);
            t += 300;
        }

        var protocol = new JsonObject
        {
            ["name"] = string.Create(CultureInfo.InvariantCulture, $"suggested for fitting {string.Join(", ", names)}"),
            ["unit"] = "nA",
            ["trains"] = trains,
        };
        return protocol.ToJsonString();
    }
}
