using BenchmarkDotNet.Attributes;
using Bench.Core.Models;

namespace Bench.Benchmarks;

/// <summary>
/// Model-step throughput at dt = 0.01 ms. Each benchmark reports the time per compartment-step
/// (OperationsPerInvoke = steps × compartments), so 1 / Mean is compartment-steps per second.
/// </summary>
[MemoryDiagnoser]
public class SimulationBenchmarks
{
    private const double Dt = 0.01;
    private const int SingleSteps = 100_000;
    private const int PopulationCells = 1_000;
    private const int PopulationSteps = 200;
    private const int AxonSegments = 1_000;
    private const int AxonSteps = 200;

    private HodgkinHuxley single = null!;
    private HodgkinHuxley block = null!;
    private double[] trace = null!;
    private HodgkinHuxleyPopulation population = null!;
    private HodgkinHuxleyAxon axon = null!;

    /// <summary>NEURON's table (reproduces NEURON 8 to 1e-8 mV) or the per-dt coefficient table (fastest).</summary>
    [Params(RateEvaluation.NeuronTable, RateEvaluation.StepTable)]
    public RateEvaluation Rates { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var p = HodgkinHuxleyParameters.Classic with { Rates = Rates };
        single = new HodgkinHuxley(p);
        block = new HodgkinHuxley(p);
        trace = new double[SingleSteps];
        population = new HodgkinHuxleyPopulation(PopulationCells, p);
        axon = new HodgkinHuxleyAxon(new AxonGeometry(476, 10_000, AxonSegments, 35.4), p with { TemperatureCelsius = 18.5 });
    }

    /// <summary>One HH compartment (NEURON's scheme and rate table), stimulated so it fires repetitively.</summary>
    [Benchmark(OperationsPerInvoke = SingleSteps)]
    public double SingleCompartment()
    {
        for (int k = 0; k < SingleSteps; k++) single.Step(10, Dt);
        return single.VoltageMv;
    }

    /// <summary>The same compartment stepped in one block (<see cref="HodgkinHuxley.Run"/>), V written per step: what <c>bench simulate</c> runs.</summary>
    [Benchmark(OperationsPerInvoke = SingleSteps)]
    public double SingleCompartmentBlock()
    {
        block.Run(10, Dt, trace);
        return trace[^1];
    }

    /// <summary>1,000 independent HH cells stepped together (AVX2).</summary>
    [Benchmark(OperationsPerInvoke = PopulationCells * PopulationSteps)]
    public double Population1000()
    {
        for (int k = 0; k < PopulationSteps; k++) population.Step(10, Dt);
        return population.VoltageMv(0);
    }

    /// <summary>A 1,000-segment HH axon (implicit cable solve every step).</summary>
    [Benchmark(OperationsPerInvoke = AxonSegments * AxonSteps)]
    public double Axon1000()
    {
        for (int k = 0; k < AxonSteps; k++) axon.Step(k % 500 < 50 ? 5000 : 0, Dt);
        return axon.VoltageMv(AxonSegments / 2);
    }
}
