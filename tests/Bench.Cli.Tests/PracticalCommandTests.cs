using System.Text.Json;
using Bench.Service.Practicals;

namespace Bench.Cli.Tests;

/// <summary>Practicals: their files, checked with the line of a broken rule, and their runs on the emulated rig and the model.</summary>
[Trait("Category", "EndToEnd")]
public sealed class PracticalCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("bench-practical-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void Every_built_in_practical_is_a_valid_file_that_can_be_copied_and_changed()
    {
        var (code, listed, error) = CliRun.Bench("practical", "list");
        Assert.True(code == 0, error);
        foreach (string name in PracticalFile.BuiltInNames)
        {
            Assert.Contains(name, listed);
            var (showCode, text, _) = CliRun.Bench("practical", "show", name);
            Assert.Equal(0, showCode);
            string copy = Path.Combine(dir, name + ".yaml");
            File.WriteAllText(copy, text.Replace("name: " + name, "name: my-" + name, StringComparison.Ordinal));
            var (validCode, said, validError) = CliRun.Bench("practical", "validate", copy);
            Assert.True(validCode == 0, validError);
            Assert.Contains("valid: my-" + name, said);
        }
    }

    [Theory]
    [InlineData("steps:\n  - id: one\n    text: t\n    run:\n      kind: threshold-search\n      pulse_ms: 1\n      low_nA: 0\n      high_nA: -5\n", 11, "minimum")]
    [InlineData("steps:\n  - id: one\n    text: t\n    run:\n      kind: bisect\n", 8, "bisect")]
    [InlineData("steps:\n  - id: one\n    text: t\n    run:\n      kind: threshold-search\n      pulse_ms: 1\n      low_nA: 0\n      high_nA: 100\n      colour: red\n", 12, "colour")]
    [InlineData("steps: [\n", 5, "not valid YAML")]
    public void A_broken_file_is_refused_with_its_line_and_the_rule(string steps, int line, string rule)
    {
        string file = Path.Combine(dir, "bad.yaml");
        File.WriteAllText(file, "format: bench-practical-1\nname: bad\ntitle: Bad\n" + steps);
        var (code, _, error) = CliRun.Bench("practical", "validate", file);
        Assert.Equal(2, code);
        Assert.Contains($"bad.yaml:{line}:", error);
        Assert.Contains(rule, error);
        Assert.Single(error.Trim().Split('\n'));
    }

    [Fact]
    public void Threshold_agrees_on_rig_and_model_and_a_different_preparation_shows()
    {
        var same = Run("threshold");
        var results = same.GetProperty("results");
        var t = results.GetProperty("threshold_nA");
        double rig = t.GetProperty("rig").GetDouble(), model = t.GetProperty("model").GetDouble();
        double u = Math.Sqrt(Math.Pow(t.GetProperty("rig_uncertainty").GetDouble(), 2) + Math.Pow(t.GetProperty("model_uncertainty").GetDouble(), 2));
        Assert.InRange(model, 80, 150);   // a 1 ms pulse over 10⁶ µm²: ~11 µA/cm²
        // Within three standard uncertainties, or the search's own 2 nA tolerance (a bisection can end a bracket off).
        Assert.True(Math.Abs(rig - model) <= Math.Max(2.5, 3 * u), $"rig {rig}, model {model} ± {u}");
        // The threshold potential by the one definition, on both.
        Assert.InRange(results.GetProperty("threshold_mV").GetProperty("rig").GetDouble(), -60, -45);
        string worksheet = same.GetProperty("worksheet").GetString()!;
        string html = File.ReadAllText(worksheet);
        Assert.Contains("Threshold and all-or-none", html);
        Assert.DoesNotContain("<script", html);
        Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(worksheet)!, "threshold-threshold.csv")));
        // The step's trials on the rig, as a recording like any other.
        string recording = Assert.Single(same.GetProperty("recordings").EnumerateArray()).GetString()!;
        Bench.Storage.Tests.NwbSchema.AssertValid(recording);
        var (compareCode, compared, compareError) = CliRun.Bench("compare", recording);
        Assert.True(compareCode == 0, compareError);
        Assert.Equal(CliRun.LastJson(compared).GetProperty("spikes_recorded").GetInt32(), CliRun.LastJson(compared).GetProperty("spikes_model").GetInt32());

        // A preparation with less sodium conductance needs more current: the difference is far beyond the uncertainty.
        var weaker = Run("threshold", "--rig-param", "gNa=80");
        var w = weaker.GetProperty("results").GetProperty("threshold_nA");
        Assert.True(w.GetProperty("rig").GetDouble() - w.GetProperty("model").GetDouble() > 10 * u, w.ToString());
    }

    [Fact]
    public void Strength_duration_fits_rheobase_and_chronaxie_on_both()
    {
        var results = Run("strength-duration").GetProperty("results");
        foreach (string key in new[] { "rheobase_nA", "chronaxie_ms" })
        {
            var r = results.GetProperty(key);
            double rig = r.GetProperty("rig").GetDouble(), model = r.GetProperty("model").GetDouble();
            double u = Math.Sqrt(Math.Pow(r.GetProperty("rig_uncertainty").GetDouble(), 2) + Math.Pow(r.GetProperty("model_uncertainty").GetDouble(), 2));
            Assert.True(Math.Abs(rig - model) <= 2 * u + 1e-9, $"{key}: rig {rig}, model {model} ± {u}");
        }

        Assert.InRange(results.GetProperty("rheobase_nA").GetProperty("model").GetDouble(), 15, 35);
        Assert.InRange(results.GetProperty("chronaxie_ms").GetProperty("model").GetDouble(), 1, 6);
    }

    [Fact]
    public void Refractory_and_repetitive_firing_give_their_periods_and_f_i_curve()
    {
        var refractory = Run("refractory").GetProperty("results");
        double absolute = refractory.GetProperty("absolute_refractory_ms").GetProperty("model").GetDouble();
        double relative = refractory.GetProperty("relative_refractory_ms").GetProperty("model").GetDouble();
        Assert.InRange(absolute, 2, 10);
        Assert.True(relative > absolute, $"relative {relative} ms, absolute {absolute} ms");
        Assert.Equal(absolute, refractory.GetProperty("absolute_refractory_ms").GetProperty("rig").GetDouble());

        var firing = Run("repetitive-firing").GetProperty("results");
        var slope = firing.GetProperty("fi_slope_hz_per_nA");
        Assert.True(slope.GetProperty("model").GetDouble() > 0);
        var rheobase = firing.GetProperty("repetitive_rheobase_nA");
        Assert.True(Math.Abs(rheobase.GetProperty("rig").GetDouble() - rheobase.GetProperty("model").GetDouble()) <= 2 * rheobase.GetProperty("model_uncertainty").GetDouble() * Math.Sqrt(2));
    }

    [Fact]
    public void The_ionic_basis_shows_what_each_blocker_and_cooling_do_on_rig_and_model()
    {
        var run = Run("ionic-basis");
        var r = run.GetProperty("results");
        double Get(string key, string where) => r.GetProperty(key).GetProperty(where).GetDouble();
        foreach (string where in new[] { "rig", "model" })
        {
            Assert.True(Get("peak_mV_ttx", where) < Get("peak_mV_control", where) - 4, $"{where}: TTX lowers the peak");
            Assert.True(Get("half_width_ms_tea", where) > Get("half_width_ms_control", where) * 1.1, $"{where}: TEA widens the AP");
            Assert.True(Get("half_width_ms_cooled", where) > Get("half_width_ms_control", where) * 1.3, $"{where}: cooling widens the AP");
        }

        // The emulated preparation is the model: each feature agrees within the rig's spread and its noise.
        foreach (var property in r.EnumerateObject().Where(p => p.Name.StartsWith("peak_", StringComparison.Ordinal) || p.Name.StartsWith("half_width_", StringComparison.Ordinal)))
        {
            double rig = property.Value.GetProperty("rig").GetDouble(), model = property.Value.GetProperty("model").GetDouble();
            double u = property.Value.GetProperty("rig_uncertainty").GetDouble();
            double slack = property.Name.StartsWith("peak_", StringComparison.Ordinal) ? 0.5 : 0.02;
            Assert.True(Math.Abs(rig - model) <= (4 * u) + slack, $"{property.Name}: rig {rig}, model {model} ± {u}");
        }

        // One recording per condition, each its own preparation.
        Assert.Equal(["ionic-basis-blockers-control.nwb", "ionic-basis-blockers-ttx.nwb", "ionic-basis-blockers-tea.nwb", "ionic-basis-blockers-cooled.nwb"],
            run.GetProperty("recordings").EnumerateArray().Select(e => Path.GetFileName(e.GetString()!)));
    }

    [Fact]
    public void The_passive_membrane_gives_tau_and_R_and_a_larger_capacitance_a_slower_membrane()
    {
        var same = Run("passive-membrane", "--model", "rc").GetProperty("results");
        Assert.Equal(20, same.GetProperty("tau_ms").GetProperty("model").GetDouble(), 6);
        AssertWithin(same.GetProperty("tau_ms"), 20, 0.5);
        Assert.InRange(same.GetProperty("input_resistance_mohm").GetProperty("rig").GetDouble(), 1.9, 2.1);
        // Twice the capacitance on the rig's side: twice tau, the same R.
        var doubled = Run("passive-membrane", "--model", "rc", "--rig-param", "Cm=2").GetProperty("results");
        AssertWithin(doubled.GetProperty("tau_ms"), 40, 1);
        Assert.InRange(doubled.GetProperty("input_resistance_mohm").GetProperty("rig").GetDouble(), 1.9, 2.1);
    }

    [Fact]
    public void Resting_potential_follows_the_baths_potassium_on_rig_and_model_and_a_preparation_with_less_inside_shows()
    {
        // The practical names its model (hh-ions): the emulated preparation and the model take its concentrations.
        var same = Run("resting-potential").GetProperty("results");
        double Rest(JsonElement r, string id, string column) => r.GetProperty($"rest_mV_{id}").GetProperty(column).GetDouble();
        foreach (string column in new[] { "rig", "model" })
        {
            Assert.InRange(Rest(same, "control", column), -70.5, -69.5);
            // More K⁺ outside: rest depolarises, step by step.
            Assert.True(Rest(same, "k2-5", column) < Rest(same, "k4", column) && Rest(same, "k4", column) < Rest(same, "control", column)
                && Rest(same, "control", column) < Rest(same, "k8", column) && Rest(same, "k8", column) < Rest(same, "k10", column), column);
            // Na⁺ outside barely moves it.
            Assert.InRange(Rest(same, "na50", column) - same.GetProperty("sodium.rest_mV_control").GetProperty(column).GetDouble(), -0.5, 0);
        }

        Assert.Equal(-77.0, same.GetProperty("nernst_ek_mV_control").GetProperty("model").GetDouble(), 1);
        Assert.Equal(50.0, same.GetProperty("nernst_ena_mV_control").GetProperty("model").GetDouble(), 1);
        // Rest lies between E_K and E_Na, nearer E_K, and follows it less steeply than Nernst's slope.
        double slope = same.GetProperty("rest_slope_mV_per_decade_Ko").GetProperty("model").GetDouble();
        double nernst = same.GetProperty("nernst_slope_mV_per_decade").GetProperty("model").GetDouble();
        Assert.InRange(nernst, 55, 56.5);   // 2.303 RT/F at 6.3 °C
        Assert.InRange(slope, 5, nernst);
        Assert.InRange(same.GetProperty("rest_slope_mV_per_decade_Ko").GetProperty("rig").GetDouble(), slope - 0.5, slope + 0.5);

        // A preparation with less K⁺ inside (E_K higher) rests higher than the model, far beyond the uncertainty.
        var unlike = Run("resting-potential", "--rig-param", "Ki=100").GetProperty("results").GetProperty("rest_mV_control");
        Assert.True(unlike.GetProperty("rig").GetDouble() - unlike.GetProperty("model").GetDouble() > 1, unlike.ToString());
    }

    [Fact]
    public void Propagation_runs_on_the_model_alone_and_velocity_scales_with_the_root_of_the_diameter_bare_and_with_the_diameter_myelinated()
    {
        var run = Run("propagation");
        var results = run.GetProperty("results");
        var bare = results.GetProperty("unmyelinated_velocity_exponent");
        var myelinated = results.GetProperty("myelinated_velocity_exponent");
        Assert.InRange(bare.GetProperty("model").GetDouble(), 0.45, 0.6);
        Assert.InRange(myelinated.GetProperty("model").GetDouble(), 0.9, 1.1);
        // A rig records at one site: its column is empty, and the worksheet says why.
        Assert.Equal(JsonValueKind.Null, bare.GetProperty("rig").ValueKind);
        string html = File.ReadAllText(run.GetProperty("worksheet").GetString()!);
        Assert.Contains("it ran on the model alone", html, StringComparison.Ordinal);
        string table = File.ReadAllText(Path.Combine(Path.GetDirectoryName(run.GetProperty("worksheet").GetString()!)!, "propagation-myelinated.csv"));
        var velocity10 = double.Parse(table.Split('\n').Single(l => l.StartsWith("10,", StringComparison.Ordinal)).Split(',')[3], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(velocity10, 40, 70);   // ≈ 5–6 m/s per µm of fibre diameter
        Assert.Empty(run.GetProperty("recordings").EnumerateArray());
    }

    [Fact]
    public void Synaptic_summation_grows_with_weight_sums_in_time_and_space_and_inhibition_opposes_it()
    {
        var results = Run("synaptic-summation").GetProperty("results");
        double M(string key) => results.GetProperty(key).GetProperty("model").GetDouble();
        Assert.InRange(M("firing_weight_mS_per_cm2"), 0.06, 0.16);
        Assert.InRange(M("epsp_mV_per_mS_per_cm2"), 50, 200);
        Assert.True(M("summation_ratio_at_shortest_interval") > 1.1, "two EPSPs 4 ms apart sum");
        // Each input alone stays below threshold; together they fire; with inhibition they do not.
        Assert.InRange(M("a_alone_mV"), 1, 15);
        Assert.True(M("a_and_b_mV") > 50, "the two inputs together fire the cell");
        Assert.True(M("a_and_b_with_inhibition_mV") < 20, "the inhibitory synapse stops it");
    }

    private JsonElement Run(string practical, params string[] more)
    {
        var (code, output, error) = CliRun.Bench(["practical", "run", practical, "--out", Path.Combine(dir, practical + more.Length), .. more]);
        Assert.True(code == 0, error);
        return CliRun.LastJson(output);
    }

    /// <summary>The rig's value of <paramref name="result"/> is <paramref name="truth"/> within three times the uncertainty
    /// it states, or <paramref name="floor"/> (the noise differs from run to run with where the trials fell).</summary>
    private static void AssertWithin(JsonElement result, double truth, double floor)
    {
        double rig = result.GetProperty("rig").GetDouble();
        double u = result.TryGetProperty("rig_uncertainty", out var ru) && ru.ValueKind == JsonValueKind.Number ? ru.GetDouble() : 0;
        Assert.True(Math.Abs(rig - truth) <= Math.Max(floor, 3 * u), $"rig {rig} ± {u}, truth {truth}");
    }
}
