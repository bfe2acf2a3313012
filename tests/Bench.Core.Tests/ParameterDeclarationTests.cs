using Bench.Core.Models;

namespace Bench.Core.Tests;

public class ParameterDeclarationTests
{
    private static void EveryBindingSetsItsField<T>(string model, IReadOnlyList<ParameterBinding<T>> bindings)
    {
        var descriptor = ModelCatalog.Get(model);
        Assert.Equal(bindings.Select(b => b.Declaration.Name), descriptor.Parameters.Select(p => p.Name));
        foreach (var b in bindings)
        {
            var p = descriptor.Parameters.Single(x => x.Name == b.Declaration.Name);
            // A value inside the range and away from the default: the catalog must put it into this binding's field.
            double value = p.WholeNumber ? (p.DefaultValue == 0 ? 1 : 0) : p.DefaultValue == 0 ? 0.5 : p.DefaultValue * 1.25;
            Assert.True(p.Accepts(value), $"{model} {p.Name} {value}");
            var record = descriptor.ParametersFor<T>(new Dictionary<string, double> { [p.Name] = value });
            Assert.Equal(value, b.Get(record));
            // …and into no other field.
            var defaults = descriptor.ParametersFor<T>();
            foreach (var other in bindings.Where(o => o != b)) Assert.Equal(other.Get(defaults), other.Get(record));
        }
    }

    [Fact]
    public void Every_models_parameters_reach_their_fields_through_their_one_declaration()
    {
        EveryBindingSetsItsField("hh", HodgkinHuxleyDeclarations.All);
        EveryBindingSetsItsField("hh-classic", HodgkinHuxleyDeclarations.All);
        EveryBindingSetsItsField("hh-ions", IonicHodgkinHuxleyDeclarations.All);
        EveryBindingSetsItsField("lif", LeakyIntegrateAndFireDeclarations.All);
        EveryBindingSetsItsField("fhn", FitzHughNagumoDeclarations.All);
        EveryBindingSetsItsField("morris-lecar", MorrisLecarDeclarations.All);
        EveryBindingSetsItsField("izhikevich-fs", IzhikevichDeclarations.All);
        EveryBindingSetsItsField("rc", PassiveMembraneDeclarations.All);
    }

    [Fact]
    public void Record_defaults_are_the_declared_defaults_and_presets_differ_only_where_they_say()
    {
        var classic = ModelCatalog.Get("hh-classic");
        foreach (var b in HodgkinHuxleyDeclarations.All)
        {
            Assert.Equal(b.DefaultValue, b.Get(HodgkinHuxleyParameters.Classic));
            Assert.Equal(b.DefaultValue, classic.Parameters.Single(p => p.Name == b.Declaration.Name).DefaultValue);
        }

        var teaching = ModelCatalog.Get("hh").Parameters;
        Assert.Equal(HodgkinHuxleyParameters.TeachingLeakReversalMv, teaching.Single(p => p.Name == "EL").DefaultValue);
        Assert.Equal(-70, teaching.Single(p => p.Name == "v_init").DefaultValue);
        Assert.Equal(0.7, new FitzHughNagumoParameters().A);
        Assert.Equal(2, ModelCatalog.Get("izhikevich-fs").Parameters.Single(p => p.Name == "d").DefaultValue);
    }

    [Theory]
    [InlineData("hh", "Cm", 0, "must be > 0")]
    [InlineData("hh", "gNa", -1, "must be >= 0")]
    [InlineData("hh", "use_table", 1.5, "must be 0 (exact rates), 1 (NEURON's table) or 2")]
    [InlineData("hh", "use_table", 3, "must be 0 (exact rates), 1 (NEURON's table) or 2")]
    [InlineData("lif", "Cm", double.PositiveInfinity, "must be > 0")]
    [InlineData("hh-ions", "Ko", 0, "must be > 0")]
    [InlineData("lif", "t_ref", -1, "must be >= 0")]
    public void A_value_out_of_its_declared_range_is_refused_naming_the_range(string model, string name, double value, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => ModelCatalog.Get(model).Create(new Dictionary<string, double> { [name] = value }));
        Assert.Contains($"parameter '{name}' of model {model}", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void The_lab_range_and_the_fit_transform_come_from_the_declaration()
    {
        var hh = ModelCatalog.Get("hh").Parameters;
        Assert.Equal(((double?)0, (double?)480), hh.Single(p => p.Name == "gNa").OfferedRange);
        Assert.Equal(((double?)0, (double?)45), hh.Single(p => p.Name == "celsius").OfferedRange);
        Assert.Equal(FitTransform.Log, hh.Single(p => p.Name == "gK").Transform);
        Assert.Equal(FitTransform.Linear, hh.Single(p => p.Name == "EL").Transform);
        // Without a lab range the page offers the valid range, open ends as null.
        Assert.Equal(((double?)0, (double?)null), ModelCatalog.Get("lif").Parameters.Single(p => p.Name == "t_ref").OfferedRange);
        Assert.Equal(((double?)null, (double?)null), ModelCatalog.Get("lif").Parameters.Single(p => p.Name == "EL").OfferedRange);
    }

    [Fact]
    public void The_declarations_are_written_as_json_for_a_recording()
    {
        var json = ModelCatalog.Get("hh").DeclarationsJson();
        Assert.Equal("mS/cm2", json["gNa"]!["unit"]!.GetValue<string>());
        Assert.Equal(0, json["gNa"]!["min"]!.GetValue<double>());
        Assert.Null(json["gNa"]!["max"]);
        Assert.True(json["Cm"]!["min_exclusive"]!.GetValue<bool>());
        Assert.Equal(-67.868, json["EL"]!["default"]!.GetValue<double>());
    }

    [Fact]
    public void Only_hodgkin_huxley_membranes_give_one()
    {
        Assert.Equal(120, ModelCatalog.Get("hh-ions").Membrane().GNaMilliSiemensPerCm2);
        var e = Assert.Throws<ArgumentException>(() => ModelCatalog.Get("lif").Membrane());
        Assert.Contains("not a Hodgkin-Huxley membrane", e.Message);
    }
}
