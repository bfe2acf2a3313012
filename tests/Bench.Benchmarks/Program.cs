using BenchmarkDotNet.Running;

// `latency [seconds]`: the live comparison's latency against the emulated rig in real time (not a BenchmarkDotNet run).
if (args.Length > 0 && args[0] == "latency")
{
    return await Bench.Benchmarks.LatencyHarness.RunAsync(args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 20);
}

// `cpu [scenario ...] [options]`: what the bench processes cost in CPU, read from /proc (not a BenchmarkDotNet run; --help).
if (args.Length > 0 && args[0] == "cpu")
{
    return await Bench.Benchmarks.Cpu.CpuHarness.RunAsync(args[1..]);
}

// `nwb [minutes] [--gaps] [--keep PATH]`: a long recording written as NWB: time, size, peak memory (not a BenchmarkDotNet run).
if (args.Length > 0 && args[0] == "nwb")
{
    return Bench.Benchmarks.NwbLongWrite.Run(args[1..]);
}

// `fit-coverage [recordings]`, `fit-time [runs]`: the fitter's coverage and speed (not BenchmarkDotNet runs).
if (args.Length > 0 && args[0] == "fit-coverage")
{
    return Bench.Benchmarks.FitHarness.Coverage(args[1..]);
}

if (args.Length > 0 && args[0] == "fit-time")
{
    return Bench.Benchmarks.FitHarness.Time(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(Bench.Benchmarks.SimulationBenchmarks).Assembly).Run(args);
return 0;
