using BenchmarkDotNet.Running;

// `latency [seconds]`: the live comparison's latency against the emulated rig in real time (not a BenchmarkDotNet run).
if (args.Length > 0 && args[0] == "latency")
{
    return await Bench.Benchmarks.LatencyHarness.RunAsync(args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 20);
}

BenchmarkSwitcher.FromAssembly(typeof(Bench.Benchmarks.SimulationBenchmarks).Assembly).Run(args);
return 0;
