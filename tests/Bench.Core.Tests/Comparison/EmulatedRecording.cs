using Bench.Core.Comparison;
using Bench.Core.Models;
using Bench.Core.Protocol;
using Bench.Core.Instrument;

namespace Bench.Core.Tests.Comparison;

/// <summary>
/// A recording as the emulated rig makes one, in-process and fast: its model driven by a PulsePlayer at the sample rate
/// (sample k is V before step k), seeded noise, the emulated front end; blocks of samples and the pulses' events in the
/// order the rig sends them (an event goes out as soon as its pulse has ended, ahead of the samples still buffered).
/// </summary>
internal sealed class EmulatedRecording
{
    public const double RateHz = 20_000;

    public required StimulusCommand Command { get; init; }

    public required List<object> Items { get; init; }   // (ulong First, ushort[] Codes) or StimulusEvent

    public required double[] TrueMv { get; init; }

    public required ushort[] Codes { get; init; }

    public ComparisonSetup Setup => new() { SampleRateHz = RateHz, Calibration = FrontEnd.Emulated.Calibration, Stimulus = Command, NanoampsPerCode = 1 };

    /// <summary>Two 1 ms, 300 nA pulses 25 ms apart from 50 ms (the rig paired pulse), then more at 150 ms.</summary>
    public static StimulusCommand PairedPulses(ulong startIndex = 1000) => new(1, 0, StimulusCommand.AtIndex, startIndex,
        [new StimulusTrain(0, 300, 20, 0, 0, 0, 500, 2), new StimulusTrain(1000, 300, 20, 0, 0, 0, 400, 3)]);

    public static EmulatedRecording Make(int samples, IReadOnlyDictionary<string, double>? parameters = null, double noiseMv = 0, int seed = 1,
        int blockSamples = 20, StimulusCommand? command = null, string model = "hh", Func<StimulusEvent, bool>? keepEvent = null,
        double noiseCorrelationMs = 0, Random? noiseRandom = null)
    {
        command ??= PairedPulses();
        var m = ModelCatalog.Get(model).Create(parameters);
        var player = new PulsePlayer(command, command.StartIndex);
        var random = noiseRandom ?? new Random(seed);
        var ended = new List<StimulusEvent>();
        var items = new List<object>();
        var truth = new double[samples];
        var codes = new ushort[samples];
        double dt = 1000 / RateHz, perCode = 1e5 / 1e6;
        int blockStart = 0;
        // Coloured noise when asked: first-order low-pass (AR(1)) noise of the same standard deviation, as an
        // amplifier's bandwidth makes it, correlated over noiseCorrelationMs.
        double rho = noiseCorrelationMs > 0 ? Math.Exp(-dt / noiseCorrelationMs) : 0, coloured = 0;
        bool first = true;
        for (int k = 0; k < samples; k++)
        {
            short code = player.CodeAt((ulong)k, ended);
            truth[k] = m.VoltageMv;
            double noise = noiseMv == 0 ? 0 : noiseMv * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            if (rho > 0)
            {
                coloured = first ? noise : (rho * coloured) + (Math.Sqrt(1 - (rho * rho)) * noise);
                first = false;
                noise = coloured;
            }

            codes[k] = FrontEnd.Emulated.ToCode(truth[k] + noise);
            m.Step(code * perCode, dt);
            foreach (var e in ended)
            {
                if (keepEvent?.Invoke(e) ?? true) items.Add(e);
            }

            ended.Clear();
            if (k + 1 - blockStart == blockSamples || k + 1 == samples)
            {
                items.Add(((ulong)blockStart, codes[blockStart..(k + 1)]));
                blockStart = k + 1;
            }
        }

        return new EmulatedRecording { Command = command, Items = items, TrueMv = truth, Codes = codes };
    }

    /// <summary>Feeds every item to <paramref name="comparison"/>, then completes it.</summary>
    public void Feed(LiveComparison comparison, bool complete = true)
    {
        foreach (var item in Items)
        {
            if (item is StimulusEvent e) comparison.OnStimulusEvent(e);
            else
            {
                var (first, codes) = ((ulong, ushort[]))item;
                comparison.OnSamples(first, codes);
            }
        }

        if (complete) comparison.Complete();
    }
}

/// <summary>
/// A seeded generator whose streams for neighbouring seeds are independent (SplitMix64). System.Random seeded with an
/// integer is Knuth's subtractive generator, and its streams for seeds 1, 2, 3… are not: fits to recordings made with
/// them spread about 1.45 times wider than their standard errors (with this generator, 0.9–1.0 times).
/// </summary>
internal sealed class SplitMixRandom(int seed) : Random
{
    // Each seed starts at a scrambled place in the sequence: started at seed × the increment, seed 2's stream would be
    // seed 1's one draw on.
    private ulong state = Mix(unchecked((ulong)seed + 0x632BE59BD9B4E019UL));

    protected override double Sample() => NextDouble();

    public override double NextDouble() => (Mix(unchecked(state += 0x9E3779B97F4A7C15UL)) >> 11) * (1.0 / (1UL << 53));

    private static ulong Mix(ulong z)
    {
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }
}

/// <summary>A model whose potential is a given sequence: metrics against hand-computed values.</summary>
internal sealed class ScriptedModel(double[] v) : INeuronModel
{
    public int Steps { get; private set; }

    public List<double> Stimuli { get; } = [];

    public string Name => "scripted";

    public string StimulusUnit => "uA/cm2";

    public double StimulusSlopeMvPerMsPerUnit => 1;

    public double VoltageMv => Steps < v.Length ? v[Steps] : v[^1];

    public IReadOnlyList<string> ObservableNames => [];

    public void Reset() => Steps = 0;

    public void Step(double stimulus, double dtMs)
    {
        Stimuli.Add(stimulus);
        Steps++;
    }

    public void ReadObservables(Span<double> destination)
    {
    }
}
