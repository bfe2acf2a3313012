using System.Threading.Channels;
using BenchmarkDotNet.Attributes;
using Bench.Core.Comparison;
using Bench.Core.Models;
using Bench.Core.Protocol;
using Bench.Core.Instrument;

namespace Bench.Benchmarks;

/// <summary>
/// The live comparison's cost per sample block at 20 kHz: 10 s of an emulated recording (hh preparation with gNa 100,
/// 0.2 mV noise, a 1 ms pulse every 50 ms, so 200 action potentials and their events) fed block by block into a fresh
/// comparison with the default model, publishing every 50 ms of samples. Reported per block (OperationsPerInvoke).
/// </summary>
[MemoryDiagnoser]
public class ComparisonBenchmarks
{
    private const double RateHz = 20_000;
    private const int Samples = 200_000;
    private readonly List<object> items = [];
    private ComparisonSetup setup = null!;
    private readonly double[] predicted = new double[256];

    /// <summary>Samples per block (the rig's SampleBlock size).</summary>
    [Params(20, 50)]
    public int BlockSamples { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var command = new StimulusCommand(1, 0, StimulusCommand.AtIndex, 2000, [new StimulusTrain(0, 300, 20, 0, 0, 0, 1000, 195)]);
        setup = new ComparisonSetup { SampleRateHz = RateHz, Calibration = FrontEnd.Emulated.Calibration, Stimulus = command, NanoampsPerCode = 1 };
        var model = ModelCatalog.Get("hh").Create(new Dictionary<string, double> { ["gNa"] = 100 });
        var player = new PulsePlayer(command, command.StartIndex);
        var random = new Random(1);
        var ended = new List<StimulusEvent>();
        var codes = new ushort[Samples];
        int blockStart = 0;
        for (int k = 0; k < Samples; k++)
        {
            short code = player.CodeAt((ulong)k, ended);
            double noise = 0.2 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            codes[k] = FrontEnd.Emulated.ToCode(model.VoltageMv + noise);
            model.Step(code * 0.1, 1000 / RateHz);
            items.AddRange(ended.Cast<object>());
            ended.Clear();
            if (k + 1 - blockStart == BlockSamples)
            {
                items.Add(((ulong)blockStart, codes[blockStart..(k + 1)]));
                blockStart = k + 1;
            }
        }
    }

    private LiveComparison comparison = null!;

    /// <summary>A fresh comparison for each invocation, made outside the measurement (its buffers are allocated once).</summary>
    [IterationSetup]
    public void NewComparison()
    {
        comparison = LiveComparison.Create("hh", null, setup, new ComparisonOptions { PublishIntervalMs = 50 });
        // The updates go where the service sends them: a bounded channel that drops the oldest.
        updates = Channel.CreateBounded<ComparisonUpdate>(new BoundedChannelOptions(64) { FullMode = BoundedChannelFullMode.DropOldest, SingleWriter = true });
        comparison.Published += u => updates.Writer.TryWrite(u);
    }

    private Channel<ComparisonUpdate> updates = null!;

    /// <summary>
    /// 4000 blocks (4 s of samples in 20-sample blocks, 10 s in 50-sample ones) and the pulse events among them through
    /// the comparison; the time is per block.
    /// </summary>
    [Benchmark(OperationsPerInvoke = 4000)]
    public ulong FeedBlocks()
    {
        int fed = 0;
        foreach (var item in items)
        {
            if (item is StimulusEvent e)
            {
                comparison.OnStimulusEvent(e);
                continue;
            }

            var (first, codes) = ((ulong, ushort[]))item;
            comparison.OnSamples(first, codes, predicted);
            while (updates.Reader.TryRead(out _))
            {
                // A consumer takes every update.
            }

            if (++fed == 4000) break;
        }

        return comparison.ComparedThrough;
    }
}
