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
        int blockSamples = 20, StimulusCommand? command = null, string model = "hh", Func<StimulusEvent, bool>? keepEvent = null)
    {
        command ??= PairedPulses();
        var m = ModelCatalog.Get(model).Create(parameters);
        var player = new PulsePlayer(command, command.StartIndex);
        var random = new Random(seed);
        var ended = new List<StimulusEvent>();
        var items = new List<object>();
        var truth = new double[samples];
        var codes = new ushort[samples];
        double dt = 1000 / RateHz, perCode = 1e5 / 1e6;
        int blockStart = 0;
        for (int k = 0; k < samples; k++)
        {
            short code = player.CodeAt((ulong)k, ended);
            truth[k] = m.VoltageMv;
            double noise = noiseMv == 0 ? 0 : noiseMv * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
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
