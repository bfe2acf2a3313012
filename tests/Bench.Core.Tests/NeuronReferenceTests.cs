using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using Bench.Core.Models;
using Bench.Core.Stimulus;
using static Bench.Core.Tests.Helpers;

namespace Bench.Core.Tests;

/// <summary>
/// Bench's hh-classic against NEURON 8.2.2's built-in hh, run by Reference/neuron_reference.py
/// (fixed-step backward Euler, same stimulus, same dt). See Reference/README.md.
/// </summary>
public class NeuronReferenceTests
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "Reference");
    private static readonly JsonElement Summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "neuron_summary.json"))).RootElement;

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var c in Summary.GetProperty("cases").EnumerateObject()) data.Add(c.Name);
        return data;
    }

    private static (HodgkinHuxley Model, StimulusProtocol Protocol, double Dt, double Tstop) Setup(JsonElement c)
    {
        var parameters = HodgkinHuxleyParameters.Classic with
        {
            TemperatureCelsius = c.GetProperty("celsius_degC").GetDouble(),
            Rates = c.GetProperty("usetable_hh").GetInt32() == 1 ? RateEvaluation.NeuronTable : RateEvaluation.Exact,
        };
        var trains = c.GetProperty("stimuli").EnumerateArray()
            .Select(s => new PulseTrain(s.GetProperty("del_ms").GetDouble(), s.GetProperty("dur_ms").GetDouble(), s.GetProperty("density_uA_per_cm2").GetDouble(), 0, 0, 0, 0, 1))
            .ToList();
        return (new HodgkinHuxley(parameters, Integrator.ExponentialEuler, "hh-classic"), new StimulusProtocol("neuron", StimulusUnit.MicroampsPerCm2, trains),
            c.GetProperty("dt_ms").GetDouble(), c.GetProperty("tstop_ms").GetDouble());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Spike_times_peaks_and_end_state_match_neuron(string name)
    {
        var c = Summary.GetProperty("cases").GetProperty(name);
        var (model, protocol, dt, tstop) = Setup(c);
        var v = Run(model, protocol, tstop, dt);
        var expected = c.GetProperty("spike_times_ms").EnumerateArray().Select(e => e.GetDouble()).ToList();
        var spikes = Spikes(v, dt);
        Assert.Equal(expected.Count, spikes.Count);
        // NEURON accumulates t by dt/2 twice per step, so its times carry ~1e-12 ms of rounding; the states agree to far better than 1e-6.
        for (int i = 0; i < spikes.Count; i++) Assert.Equal(expected[i], spikes[i], 1e-6);
        Assert.Equal(c.GetProperty("first_spike_peak_mV").GetDouble(), v.Max(), 1e-6);
        Assert.Equal(c.GetProperty("v_end_mV").GetDouble(), v[^1], 1e-6);
        var end = c.GetProperty("end_state");
        Assert.Equal(end.GetProperty("m").GetDouble(), model.M, 1e-9);
        Assert.Equal(end.GetProperty("h").GetDouble(), model.H, 1e-9);
        Assert.Equal(end.GetProperty("n").GetDouble(), model.N, 1e-9);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_step_of_the_trace_matches_neuron(string name)
    {
        var c = Summary.GetProperty("cases").GetProperty(name);
        if (!c.TryGetProperty("trace", out var trace) || trace.ValueKind == JsonValueKind.Null) return; // the table-off step run is kept as figures only (above)
        var (model, protocol, dt, tstop) = Setup(c);
        var rows = ReadTrace(trace.GetProperty("file").GetString()!);
        double worstV = 0, worstGate = 0;
        var values = new double[6];
        model.Reset();
        for (int k = 0; k < rows.Count; k++)
        {
            if (k > 0) model.Step(protocol.AmplitudeAt((k - 0.5) * dt), dt);
            model.ReadObservables(values);
            worstV = Math.Max(worstV, Math.Abs(model.VoltageMv - rows[k][1]));
            for (int g = 0; g < 3; g++) worstGate = Math.Max(worstGate, Math.Abs(values[g] - rows[k][2 + g]));
        }

        Assert.Equal(trace.GetProperty("rows").GetInt32(), rows.Count);
        Assert.True(worstV < 1e-8, $"largest V difference {worstV} mV");
        Assert.True(worstGate < 1e-10, $"largest gate difference {worstGate}");
    }

    private static List<double[]> ReadTrace(string file)
    {
        using var gz = new GZipStream(File.OpenRead(Path.Combine(Folder, file)), CompressionMode.Decompress);
        using var reader = new StreamReader(gz);
        reader.ReadLine();
        var rows = new List<double[]>();
        while (reader.ReadLine() is string line)
        {
            rows.Add(line.Split(',').Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray());
        }

        return rows;
    }

    private static JsonElement Derived => Summary.GetProperty("derived");

    [Fact]
    public void Rest_matches_neuron()
    {
        var v = Run(Classic(), StimulusProtocol.None, 500);
        Assert.Equal(Derived.GetProperty("rest_mV").GetDouble(), v[^1], 1e-9);
    }

    [Fact]
    public void Strength_duration_thresholds_match_neuron_on_its_grid()
    {
        foreach (var r in Derived.GetProperty("strength_duration").GetProperty("results").EnumerateArray())
        {
            double duration = r.GetProperty("dur_ms").GetDouble();
            double threshold = r.GetProperty("threshold_uA_per_cm2").GetDouble();
            double below = r.GetProperty("below_threshold_uA_per_cm2").GetDouble();
            Assert.NotEmpty(Spikes(Run(Classic(), Pulse(5, duration, threshold), 60)));
            Assert.Empty(Spikes(Run(Classic(), Pulse(5, duration, below), 60)));
        }
    }

    [Fact]
    public void Refractory_thresholds_match_neuron_on_its_grid()
    {
        foreach (var r in Derived.GetProperty("refractory").GetProperty("results").EnumerateArray())
        {
            double delay = r.GetProperty("delay_ms").GetDouble();
            var conditioning = new PulseTrain(5, 1, 20, 0, 0, 0, 0, 1);
            int Count(double amplitude) => Spikes(Run(Classic(), Pulses(conditioning, new PulseTrain(5 + delay, 1, amplitude, 0, 0, 0, 0, 1)), 5 + delay + 41)).Count;
            if (r.GetProperty("threshold_uA_per_cm2").ValueKind == JsonValueKind.Null)
            {
                Assert.Equal(1, Count(500));
                continue;
            }

            Assert.Equal(2, Count(r.GetProperty("threshold_uA_per_cm2").GetDouble()));
            Assert.Equal(1, Count(r.GetProperty("below_threshold_uA_per_cm2").GetDouble()));
        }
    }

    [Fact]
    public void Anode_break_and_repetitive_firing_onset_match_neuron()
    {
        var anode = Derived.GetProperty("anode_break");
        var spikes = Spikes(Run(Classic(), Pulse(5, 20, -10), 60));
        Assert.Equal(anode.GetProperty("spike_times_after_release_ms")[0].GetDouble(), Assert.Single(spikes), 1e-6);

        var firing = Derived.GetProperty("repetitive_firing");
        int Late(double amplitude) => Spikes(Run(Classic(), Pulse(50, 1000, amplitude), 1050)).Count(t => t >= 550);
        Assert.True(Late(firing.GetProperty("onset_uA_per_cm2").GetDouble()) >= 5);
        Assert.Equal(0, Late(firing.GetProperty("below_onset_uA_per_cm2").GetDouble()));
        var at10 = firing.GetProperty("at_10");
        var late10 = Spikes(Run(Classic(), Pulse(50, 1000, 10), 1050)).Where(t => t >= 550).ToList();
        double rate = 1000 * (late10.Count - 1) / (late10[^1] - late10[0]);
        Assert.Equal(at10.GetProperty("rate_isi_Hz").GetDouble(), rate, 1e-6);
    }

    [Theory]
    [InlineData(2000, 0.025)]
    [InlineData(2000, 0.01)]
    [InlineData(1000, 0.025)]
    public void Squid_axon_conduction_velocity_matches_neuron(int segments, double dt)
    {
        var run = Summary.GetProperty("axon").GetProperty("runs").EnumerateArray()
            .First(r => r.GetProperty("nseg").GetInt32() == segments && r.GetProperty("dt_ms").GetDouble() == dt);
        var (velocity, ta, _, a) = Squid(segments, dt, run.GetProperty("amp_nA").GetDouble());
        Assert.Equal(run.GetProperty("segment_index_0.25").GetInt32(), a);
        Assert.Equal(run.GetProperty("crossings_0.25_ms")[0].GetDouble(), ta[0], 1e-6);
        Assert.Equal(run.GetProperty("velocity_m_per_s").GetDouble(), velocity, 1e-5 * velocity);
    }
}
