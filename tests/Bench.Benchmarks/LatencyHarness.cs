using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Bench.Core.Comparison;
using Bench.Core.Instrument;
using Bench.Core.Stimulus;
using Bench.Rig.Emulation;
using Bench.Rig.Session;
using Bench.Rig.Transports;

namespace Bench.Benchmarks;

/// <summary>
/// Latency from a sample's arrival to its comparison being published, at 20 kHz in real time: the emulated rig (hh with
/// gNa 100, 0.2 mV noise, its 1 Mbaud link budget) over an in-memory link, a RigSession, a LiveComparison publishing after
/// every block, and a consumer on another thread. A sample arrives when the session decodes its block (SampleBatch.HostSeconds);
/// it is published when OnSamples returns having written the update that covers it (or, for a pulse's samples, when the
/// pulse's StimulusEvent releases them), and read when the consumer thread takes the first update whose ThroughIndex
/// covers it. Samples of a pulse are reported apart.
/// </summary>
internal static class LatencyHarness
{
    public static async Task<int> RunAsync(double seconds)
    {
        using var stop = new CancellationTokenSource();
        var rig = new EmulatedRig(new EmulatorOptions { Parameters = new Dictionary<string, double> { ["gNa"] = 100 } });
        var (host, device) = InMemoryTransport.CreatePair();
        var running = Task.Run(() => rig.RunAsync(device, stop.Token));
        await using var session = await RigSession.ConnectAsync(host);
        await session.ConfigureAsync(20_000);
        await session.StartAsync();
        // A 1 ms, 300 nA pulse every 20 ms from 200 ms: 50 action potentials a second.
        int count = (int)Math.Min(65_535, (seconds * 50) - 20);
        var protocol = StimulusProtocol.Parse($$"""{"unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":300,"interval_ms":20,"count":{{count}}}]}""");
        var command = await session.PlayAsync(protocol, atDeviceSampleIndex: 4000);
        var setup = new ComparisonSetup { SampleRateHz = session.SampleRateHz, Calibration = FrontEnd.Emulated.Calibration, Stimulus = command, NanoampsPerCode = session.Device.Outputs[0].Scale };
        var comparison = LiveComparison.Create("hh", null, setup, new ComparisonOptions { PublishIntervalMs = 0 });
        // Updates cross to the consumer's thread as the service hands them on: a bounded channel that drops the oldest.
        var updates = Channel.CreateBounded<ComparisonUpdate>(new BoundedChannelOptions(64) { FullMode = BoundedChannelFullMode.DropOldest, SingleWriter = true });
        comparison.Published += u => updates.Writer.TryWrite(u);
        comparison.Completed += () => updates.Writer.TryComplete();

        var arrivals = new ConcurrentQueue<(ulong First, int Count, double ArrivedS)>();
        var inPulse = new List<double>();
        var latencies = new List<double>();
        ulong target = (ulong)(seconds * session.SampleRateHz);
        var consumer = Task.Factory.StartNew(() =>
        {
            var reader = updates.Reader;
            while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
            {
                while (reader.TryRead(out var u))
                {
                    double now = session.HostSeconds;
                    while (arrivals.TryPeek(out var a) && a.First + (ulong)a.Count <= u.ThroughIndex)
                    {
                        arrivals.TryDequeue(out _);
                        double ms = (now - a.ArrivedS) * 1000;
                        // Weighted per sample; samples from a pulse onset to 2 ms later wait for the pulse's event.
                        for (int k = 0; k < a.Count; k++)
                        {
                            ulong i = a.First + (ulong)k;
                            bool pulse = i >= 4000 && (i - 4000) % 400 < 40;
                            (pulse ? inPulse : latencies).Add(ms);
                        }
                    }
                }
            }
        }, TaskCreationOptions.LongRunning);

        var toCompared = new List<double>();
        var compute = new List<double>();
        var cpu = Stopwatch.StartNew();
        double busy = 0;
        ulong received = 0;
        while (received < target)
        {
            var batch = await session.Samples.ReadAsync();
            arrivals.Enqueue((batch.FirstSampleIndex, batch.Codes.Length, batch.HostSeconds));
            long t0 = Stopwatch.GetTimestamp();
            comparison.OnSamples(batch.FirstSampleIndex, batch.Codes);
            while (session.Events.TryRead(out var e))
            {
                if (e is PulsePlayedEvent p) comparison.OnStimulusEvent(p.Pulse with { OnsetIndex = p.SessionOnsetIndex });
                else if (e is GapEvent g) comparison.OnGap(g.StartIndex, g.Length);
            }

            double spent = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            busy += spent;
            compute.Add(spent * 1000);
            // Published: this block's update is on the stream once the model has reached its end.
            if (comparison.ComparedThrough >= batch.FirstSampleIndex + (ulong)batch.Codes.Length) toCompared.Add((session.HostSeconds - batch.HostSeconds) * 1000);
            received = batch.FirstSampleIndex + (ulong)batch.Codes.Length;
        }

        comparison.Complete();
        await consumer;
        await stop.CancelAsync();
        await Task.WhenAny(running, Task.Delay(2000));
        var u = comparison.GetUpdate();
        static double P(List<double> sorted, double q) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)(q * sorted.Count))];
        latencies.Sort();
        inPulse.Sort();
        var all = latencies.Concat(inPulse).Order().ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{received} samples at {session.SampleRateHz} Hz in {cpu.Elapsed.TotalSeconds:0.0} s; {u.WholeSpikes.SpikesRecorded} spikes recorded, {u.WholeSpikes.SpikesModel} model, rmse {u.Whole.RmseMv:0.000} mV, gamma {u.WholeSpikes.Gamma:0.000}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"arrival -> read by the consumer thread, samples outside pulses ({latencies.Count}): p50 {P(latencies, 0.5):0.000} ms, p99 {P(latencies, 0.99):0.000} ms, p99.9 {P(latencies, 0.999):0.000} ms, max {P(latencies, 1):0.000} ms"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"arrival -> read by the consumer thread, samples of a pulse (they wait for its event) ({inPulse.Count}): p50 {P(inPulse, 0.5):0.000} ms, p99 {P(inPulse, 0.99):0.000} ms, max {P(inPulse, 1):0.000} ms"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"arrival -> read by the consumer thread, every sample ({all.Count}): p50 {P(all, 0.5):0.000} ms, p99 {P(all, 0.99):0.000} ms, max {P(all, 1):0.000} ms"));
        toCompared.Sort();
        compute.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"the comparison's own time per block (OnSamples + events, {compute.Count}): p50 {P(compute, 0.5) * 1000:0.0} us, p99 {P(compute, 0.99) * 1000:0.0} us, max {P(compute, 1) * 1000:0.0} us"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"arrival -> compared and published (update written to the stream), per block ({toCompared.Count}): p50 {P(toCompared, 0.5):0.000} ms, p99 {P(toCompared, 0.99):0.000} ms, max {P(toCompared, 1):0.000} ms"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"gen0/1/2 collections: {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"comparison CPU on the reading thread: {busy:0.000} s for {received / session.SampleRateHz:0.0} s of samples ({100 * busy / (received / session.SampleRateHz):0.00} % of one core)"));
        return 0;
    }
}
