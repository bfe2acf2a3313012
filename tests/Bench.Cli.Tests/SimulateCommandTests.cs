using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Bench.Cli.Tests;

[Trait("Category", "EndToEnd")]
public sealed class SimulateCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("bench-cli-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string Protocol(string json)
    {
        string path = Path.Combine(dir, $"p{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    private const string PairedPulse = """
        { "name": "paired pulse", "unit": "uA/cm2",
          "trains": [ { "start_ms": 5, "phase1_ms": 1, "phase1_amplitude": 20, "interval_ms": 20, "count": 2 } ] }
        """;

    [Fact]
    public void Prints_one_json_line_with_spike_times_and_final_voltage()
    {
        var (code, output, error) = CliRun.Bench("simulate", "--model", "hh-classic", "--stimulus", Protocol(PairedPulse), "--duration", "50", "--dt", "0.01");
        Assert.Equal(0, code);
        Assert.Equal("", error);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var json = JsonDocument.Parse(Assert.Single(lines)).RootElement;
        var spikes = json.GetProperty("spike_times_ms").EnumerateArray().Select(e => e.GetDouble()).ToList();
        Assert.Equal(2, spikes.Count);
        // NEURON 8.2.2 puts the first spike of this pulse at 6.299686723277052 ms (Reference/neuron_summary.json).
        Assert.Equal(6.299686723277052, spikes[0], 1e-6);
        Assert.InRange(json.GetProperty("v_final_mV").GetDouble(), -66, -64);
        Assert.Equal(2, json.GetProperty("action_potentials").GetArrayLength());
        Assert.Equal(5000, json.GetProperty("steps").GetInt32());
    }

    [Fact]
    public void Stimulus_none_is_no_stimulus_as_help_says()
    {
        var (code, output, error) = CliRun.Bench("simulate", "--model", "hh", "--stimulus", "none", "--duration", "20");
        Assert.True(code == 0, error);
        Assert.Empty(JsonDocument.Parse(output).RootElement.GetProperty("spike_times_ms").EnumerateArray());
    }

    [Fact]
    public void Devices_with_no_port_says_how_to_work_without_hardware()
    {
        var (code, output, error) = CliRun.Bench("devices");
        Assert.True(code == 0, error);
        // This machine may have a serial port; where it has none, the hint must be there.
        if (output.StartsWith("no serial ports", StringComparison.Ordinal)) Assert.Contains("bench emulate --pty", output);
        else Assert.DoesNotContain("no serial ports", output);
    }

    [Fact]
    public void Writes_a_csv_with_one_row_per_step()
    {
        string csv = Path.Combine(dir, "trace.csv");
        var (code, _, _) = CliRun.Bench("simulate", "--model", "hh", "--stimulus", Protocol(PairedPulse), "--duration", "10", "--dt", "0.025", "--out", csv);
        Assert.Equal(0, code);
        var lines = File.ReadAllLines(csv);
        Assert.Equal("time_ms,v_mV,m,h,n,i_na_uA_per_cm2,i_k_uA_per_cm2,i_leak_uA_per_cm2", lines[0]);
        Assert.Equal(1 + 401, lines.Length);
        var last = lines[^1].Split(',');
        Assert.Equal(10, double.Parse(last[0], CultureInfo.InvariantCulture));
        Assert.Equal("-70", lines[1].Split(',')[1]);
    }

    [Fact]
    public void Simulates_the_squid_axon_and_reports_velocity_per_site()
    {
        string csv = Path.Combine(dir, "axon.csv");
        var protocol = Protocol("""{"unit":"nA","trains":[{"start_ms":1,"phase1_ms":0.5,"phase1_amplitude":5000}]}""");
        var (code, output, error) = CliRun.Bench("simulate", "--model", "hh-classic", "--temperature", "18.5", "--stimulus", protocol, "--duration", "10", "--dt", "0.025",
            "--axon", "diameter_um=476,length_um=20000,segments=2000,ra_ohm_cm=35.4", "--record-at", "0.25,0.75", "--out", csv);
        Assert.True(code == 0, error);
        var json = JsonDocument.Parse(output).RootElement;
        // NEURON 8.2.2: 18.43574 m/s for nseg 2000, dt 0.025, 5000 nA at x = 0.
        Assert.Equal(18.43574, json.GetProperty("conduction_velocity_m_per_s").GetDouble(), 1e-3);
        Assert.Equal(2, json.GetProperty("sites").GetArrayLength());
        Assert.Equal("time_ms,v_mV@0.25,v_mV@0.75", File.ReadLines(csv).First());
    }

    [Fact]
    public void Simulates_a_myelinated_axon_on_hh_node_and_reports_its_velocity()
    {
        var protocol = Protocol("""{"unit":"nA","trains":[{"start_ms":0.5,"phase1_ms":0.1,"phase1_amplitude":5}]}""");
        var (code, output, error) = CliRun.Bench("simulate", "--stimulus", protocol, "--duration", "3", "--dt", "0.005",
            "--axon", "myelinated,fibre_diameter_um=10,nodes=31", "--record-at", "0.2,0.8");
        Assert.True(code == 0, error);
        var json = JsonDocument.Parse(output).RootElement;
        Assert.Equal("hh-node", json.GetProperty("model").GetString());
        Assert.Equal("myelinated", json.GetProperty("axon").GetProperty("kind").GetString());
        Assert.Equal(30_030, json.GetProperty("axon").GetProperty("length_um").GetDouble(), 6);
        // Sites sit on nodes 6 and 24: 18 internodes of 1001 µm apart; about 5.4 m/s per µm of fibre.
        var sites = json.GetProperty("sites");
        Assert.Equal(18 * 1001, sites[1].GetProperty("position_um").GetDouble() - sites[0].GetProperty("position_um").GetDouble(), 6);
        Assert.InRange(json.GetProperty("conduction_velocity_m_per_s").GetDouble(), 45, 65);
    }

    [Fact]
    public void Synapse_onto_the_next_neuron()
    {
        var protocol = Protocol("""{"unit":"nA","trains":[{"start_ms":1,"phase1_ms":1,"phase1_amplitude":10}]}""");
        var (code, output, error) = CliRun.Bench("simulate", "--model", "hh", "--stimulus", protocol, "--duration", "40", "--dt", "0.01",
            "--axon", "diameter_um=20,length_um=5000,segments=200,ra_ohm_cm=100", "--record-at", "0,1", "--synapse", "excitatory");
        Assert.True(code == 0, error);
        var json = JsonDocument.Parse(output).RootElement;
        Assert.Equal(1, json.GetProperty("post_spike_times_ms").GetArrayLength());
    }

    [Theory]
    [InlineData(new[] { "simulate", "--model", "hh", "--duration", "10", "--param", "gNaa=1" }, "unknown parameter 'gNaa' for model hh; valid parameters: gNa, gK, gL, ENa, EK, EL, Cm")]
    [InlineData(new[] { "simulate", "--model", "hh", "--duration", "10", "--param", "gNa" }, "'gNa' is not name=value")]
    [InlineData(new[] { "simulate", "--model", "squid", "--duration", "10" }, "unknown model 'squid'; models: hh, hh-classic, lif, fhn, morris-lecar, izhikevich")]
    [InlineData(new[] { "simulate", "--model", "hh" }, "--duration <ms> is required")]
    [InlineData(new[] { "simulate", "--model", "hh", "--duration", "-5" }, "duration must be a positive number")]
    [InlineData(new[] { "simulate", "--model", "hh", "--duration", "5", "--dt", "0" }, "dt must be a positive number")]
    [InlineData(new[] { "simulate", "--model", "lif", "--duration", "5", "--temperature", "20" }, "--temperature applies to the Hodgkin-Huxley models")]
    [InlineData(new[] { "simulate", "--model", "hh", "--duration", "5", "--stimulus", "/no/such/file.json" }, "does not exist")]
    [InlineData(new[] { "simulate", "--model", "hh", "--duration", "5", "--axon", "width=3" }, "--axon: unknown key 'width'; valid keys: diameter_um, length_um, segments, ra_ohm_cm")]
    [InlineData(new[] { "simulate", "--model", "hh", "--duration", "5", "--axon", "segments=2.5" }, "segments must be a whole number")]
    [InlineData(new[] { "simulate", "--duration", "5", "--axon", "myelinated,width=3" }, "--axon myelinated: unknown key 'width'; valid keys: fibre_diameter_um, nodes, internode_segments, ra_ohm_cm, g_ratio")]
    [InlineData(new[] { "simulate", "--duration", "5", "--axon", "myelinated,g_ratio=1.5" }, "--axon myelinated: g_ratio (axon over fibre diameter) must be between 0 and 1 (got 1.5)")]
    [InlineData(new[] { "simulate", "--duration", "5", "--axon", "myelinated,nodes=1" }, "--axon myelinated: nodes must be a whole number from 2 to 10000 (got 1)")]
    [InlineData(new[] { "simulate", "--model", "lif", "--duration", "5", "--axon", "segments=10" }, "--axon has a Hodgkin-Huxley membrane")]
    [InlineData(new[] { "simulate", "--model", "hh", "--duration", "5", "--axon", "segments=10", "--record-at", "1.5" }, "--record-at: '1.5' is not a position between 0 and 1")]
    [InlineData(new[] { "simulate", "--model", "hh", "--duration", "5", "--record-at", "0.5" }, "--record-at and --synapse need --axon")]
    [InlineData(new[] { "simulate", "--model", "hh", "--duration", "10", "--dt", "0.3" }, "duration 10 ms is not a whole number of 0.3 ms steps")]
    [InlineData(new[] { "simulate", "--model", "hh", "--duration", "1", "--dt", "5" }, "dt (5 ms) is longer than the duration")]
    [InlineData(new[] { "simulate", "--model", "lif", "--duration", "5", "--param", "gL=0" }, "parameter 'gL' of model lif must be > 0 (got 0)")]
    [InlineData(new[] { "simulate", "--model", "hh", "--duration", "5", "--param", "use_table=3" }, "parameter 'use_table' of model hh must be 0 (exact rates), 1 (NEURON's table) or 2 (per-dt coefficient table) (got 3)")]
    [InlineData(new[] { "simulate", "--model", "hh", "--integrator", "rk4", "--duration", "50", "--dt", "1" }, "the simulation diverged at t = 7 ms")]
    public void User_errors_are_one_clear_line_and_exit_code_2(string[] args, string expected)
    {
        var (code, output, error) = CliRun.Bench(args);
        Assert.Equal(2, code);
        Assert.Contains(expected, error);
        Assert.DoesNotContain("   at ", error);
        Assert.Equal("", output);
    }

    [Fact]
    public void Bad_protocol_names_the_file_field_and_rule_and_writes_nothing()
    {
        string csv = Path.Combine(dir, "never.csv");
        var (code, _, error) = CliRun.Bench("simulate", "--duration", "5", "--stimulus", Protocol("""{"unit":"uA/cm2","trains":[{"count":0}]}"""), "--out", csv);
        Assert.Equal(2, code);
        Assert.Contains("trains[0].count: must be an integer ≥ 1 (got 0)", error);
        Assert.False(File.Exists(csv));
    }

    [Fact]
    public void A_failed_run_leaves_an_existing_output_file_as_it_was()
    {
        string csv = Path.Combine(dir, "keep.csv");
        File.WriteAllText(csv, "precious");
        var (code, _, _) = CliRun.Bench("simulate", "--model", "hh", "--duration", "10", "--param", "gNaa=1", "--out", csv);
        Assert.Equal(2, code);
        (code, _, _) = CliRun.Bench("simulate", "--model", "hh", "--integrator", "rk4", "--duration", "50", "--dt", "1", "--out", csv);
        Assert.Equal(2, code);
        Assert.Equal("precious", File.ReadAllText(csv));
        Assert.Empty(Directory.GetFiles(dir, "*.partial"));
    }

    [Fact]
    public void A_phase_shorter_than_dt_is_refused_rather_than_lost()
    {
        var protocol = Protocol("""{"unit":"uA/cm2","trains":[{"start_ms":5,"phase1_ms":0.01,"phase1_amplitude":500}]}""");
        var (code, _, error) = CliRun.Bench("simulate", "--duration", "10", "--dt", "0.025", "--stimulus", protocol);
        Assert.Equal(2, code);
        Assert.Contains("trains[0].phase1_ms: 0.01 ms is shorter than the time step (0.025 ms)", error);
        Assert.Equal(0, CliRun.Bench("simulate", "--duration", "10", "--dt", "0.01", "--stimulus", protocol).Code);
    }

    [Fact]
    public void Duplicate_keys_in_a_protocol_are_refused()
    {
        var (code, _, error) = CliRun.Bench("simulate", "--duration", "5", "--stimulus", Protocol("""{"unit":"uA/cm2","unit":"nA","trains":[]}"""));
        Assert.Equal(2, code);
        Assert.Contains("not valid JSON", error);
    }

    [Fact]
    public void Threshold_is_reported_after_the_stimulus_is_taken_out()
    {
        var (_, output, _) = CliRun.Bench("simulate", "--model", "hh", "--stimulus", Protocol(PairedPulse), "--duration", "20", "--dt", "0.01");
        var ap = JsonDocument.Parse(output).RootElement.GetProperty("action_potentials")[0];
        // Not the −70 mV at the pulse's onset, where 20 µA/cm² alone drives V at 20 mV/ms.
        Assert.InRange(ap.GetProperty("threshold_mV").GetDouble(), -56, -48);
        Assert.InRange(ap.GetProperty("peak_mV").GetDouble(), 38, 46);
    }

    [Fact]
    public void An_axon_takes_injected_current_and_the_postsynaptic_cell_shares_its_membrane()
    {
        var density = Protocol("""{"unit":"uA/cm2","trains":[{"start_ms":1,"phase1_ms":1,"phase1_amplitude":10}]}""");
        var (code, _, error) = CliRun.Bench("simulate", "--model", "hh", "--stimulus", density, "--duration", "5", "--axon", "segments=100");
        Assert.Equal(2, code);
        Assert.Contains("give the stimulus in nA", error);

        var protocol = Protocol("""{"unit":"nA","trains":[{"start_ms":1,"phase1_ms":1,"phase1_amplitude":10}]}""");
        var args = new[] { "simulate", "--stimulus", protocol, "--duration", "40", "--dt", "0.01",
            "--axon", "diameter_um=20,length_um=5000,segments=200,ra_ohm_cm=100", "--record-at", "1,0,1", "--synapse", "inhibitory" };
        var classic = JsonDocument.Parse(CliRun.Bench([.. args, "--model", "hh-classic"]).Out).RootElement;
        var teaching = JsonDocument.Parse(CliRun.Bench([.. args, "--model", "hh"]).Out).RootElement;
        // The postsynaptic cell returns to where its own model rests (−65 classic, −70 teaching) after the IPSP, which
        // takes it below; positions are taken once each.
        Assert.InRange(classic.GetProperty("post_v_min_mV").GetDouble(), -76, -66);
        Assert.InRange(teaching.GetProperty("post_v_min_mV").GetDouble(), -80, -71);
        Assert.InRange(teaching.GetProperty("post_v_max_mV").GetDouble(), -70.5, -69.5);
        Assert.True(classic.GetProperty("post_v_max_mV").GetDouble() > -66);
        Assert.Equal(2, classic.GetProperty("sites").GetArrayLength());
        Assert.True(classic.GetProperty("conduction_velocity_m_per_s").GetDouble() > 0);
    }

    [Fact]
    public void Injected_current_needs_an_axon()
    {
        var (code, _, error) = CliRun.Bench("simulate", "--duration", "5", "--stimulus", Protocol("""{"unit":"nA","trains":[]}"""));
        Assert.Equal(2, code);
        Assert.Contains("nA (injected current) needs --axon", error);
    }

    [Fact]
    public void Lists_every_model_with_its_parameters()
    {
        var (code, output, _) = CliRun.Bench("simulate", "--list-models");
        Assert.Equal(0, code);
        foreach (var name in new[] { "hh:", "hh-classic:", "lif:", "fhn:", "morris-lecar:", "izhikevich:" })
        {
            Assert.Contains("\n" + name, "\n" + output);
        }

        Assert.Contains("gNa", output);
    }

    [Theory]
    [InlineData("lif")]
    [InlineData("fhn")]
    [InlineData("morris-lecar")]
    [InlineData("izhikevich")]
    [InlineData("izhikevich-burst")]
    public void Every_model_runs_with_both_integrators(string model)
    {
        foreach (var integrator in new[] { "exp-euler", "rk4" })
        {
            var stimulus = Protocol("""{"unit":"uA/cm2","trains":[{"start_ms":5,"phase1_ms":200,"phase1_amplitude":100}]}""");
            var (code, output, error) = CliRun.Bench("simulate", "--model", model, "--integrator", integrator, "--stimulus", stimulus, "--duration", "300", "--dt", "0.01");
            Assert.True(code == 0, error);
            var json = JsonDocument.Parse(output).RootElement;
            Assert.True(double.IsFinite(json.GetProperty("v_final_mV").GetDouble()));
            Assert.True(json.GetProperty("spike_times_ms").GetArrayLength() > 0, $"{model} {integrator} fires under a strong step");
        }
    }

    [Fact]
    public void The_real_executable_exits_with_the_codes_and_streams_a_user_sees()
    {
        string bench = Path.Combine(AppContext.BaseDirectory, "bench.dll");
        var info = new ProcessStartInfo("dotnet", [bench, "simulate", "--model", "nope", "--duration", "1"]) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var process = Process.Start(info)!;
        string err = process.StandardError.ReadToEnd();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(2, process.ExitCode);
        Assert.StartsWith("bench: unknown model 'nope'", err);
        Assert.Equal("", output);
    }
}
