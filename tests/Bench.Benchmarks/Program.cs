using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Bench.Benchmarks.SimulationBenchmarks).Assembly).Run(args);
