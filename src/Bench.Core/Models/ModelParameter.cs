using System.Globalization;

namespace Bench.Core.Models;

/// <summary>How a fitter searches a parameter.</summary>
public enum FitTransform
{
    /// <summary>In its own units (reversal potentials, temperature, shifts).</summary>
    Linear,

    /// <summary>In log space: every step keeps a positive quantity positive and scales it relatively (conductances).</summary>
    Log,
}

/// <summary>
/// The one declaration of a model parameter, as NEURON declares <c>gnabar = .12 (S/cm2) &lt;0,1e9&gt;</c>: name, unit,
/// default, the range the model runs with, a one-line meaning, and what follows from them (the range a teaching lab's
/// controls offer, how a fit searches it). <c>--list-models</c>, <c>--param</c> checking, the page's controls, the
/// practicals' conditions, the fitter and the recordings' metadata all read it.
/// </summary>
/// <param name="Name">The name on the command line, as the literature writes it (gNa, EL, Cm, …).</param>
/// <param name="Unit">Its unit.</param>
/// <param name="DefaultValue">The model's default.</param>
/// <param name="Description">One line for <c>--list-models</c> and the page.</param>
public sealed record ModelParameter(string Name, string Unit, double DefaultValue, string Description)
{
    /// <summary>Smallest value the model runs with (−∞: none).</summary>
    public double Minimum { get; init; } = double.NegativeInfinity;

    /// <summary>True when <see cref="Minimum"/> itself is not allowed (a capacitance must be &gt; 0).</summary>
    public bool MinimumExclusive { get; init; }

    /// <summary>Largest value the model runs with (+∞: none).</summary>
    public double Maximum { get; init; } = double.PositiveInfinity;

    /// <summary>True when <see cref="Maximum"/> itself is not allowed.</summary>
    public bool MaximumExclusive { get; init; }

    /// <summary>True when only whole numbers are allowed (a mode switch).</summary>
    public bool WholeNumber { get; init; }

    /// <summary>
    /// The range a teaching lab explores, which the page's controls offer (a blocker takes a conductance to 0, cooling
    /// stays above 0 °C); beyond it the model still runs but no longer describes a membrane. Null: the valid range.
    /// </summary>
    public (double Min, double Max)? LabRange { get; init; }

    /// <summary>How a fit searches it: log space for the non-negative quantities (conductances), else linearly.</summary>
    public FitTransform Transform { get; init; }

    /// <summary>True when <paramref name="value"/> is in the valid range.</summary>
    public bool Accepts(double value) =>
        double.IsFinite(value)
        && (MinimumExclusive ? value > Minimum : value >= Minimum)
        && (MaximumExclusive ? value < Maximum : value <= Maximum)
        && (!WholeNumber || value == Math.Floor(value));

    /// <summary>For a mode switch, what each allowed value means (e.g. <c>0 (exact rates), 1 (…) or 2 (…)</c>): the range in words.</summary>
    public string? Choices { get; init; }

    /// <summary>The valid range in words, e.g. <c>&gt; 0</c>, <c>&gt;= 0 and &lt;= 2, a whole number</c>, <c>finite</c>.</summary>
    public string RangeText
    {
        get
        {
            if (Choices is not null) return Choices;
            var parts = new List<string>();
            if (!double.IsNegativeInfinity(Minimum)) parts.Add(string.Create(CultureInfo.InvariantCulture, $"{(MinimumExclusive ? ">" : ">=")} {Minimum}"));
            if (!double.IsPositiveInfinity(Maximum)) parts.Add(string.Create(CultureInfo.InvariantCulture, $"{(MaximumExclusive ? "<" : "<=")} {Maximum}"));
            string text = parts.Count == 0 ? "finite" : string.Join(" and ", parts);
            return WholeNumber ? text + ", a whole number" : text;
        }
    }

    /// <summary>The range the page offers: <see cref="LabRange"/>, else the valid range (null for an open end).</summary>
    public (double? Min, double? Max) OfferedRange => LabRange is { } lab
        ? (lab.Min, lab.Max)
        : (double.IsNegativeInfinity(Minimum) ? null : Minimum, double.IsPositiveInfinity(Maximum) ? null : Maximum);

    /// <summary>The declaration with another default (a preset of the same model, e.g. the teaching HH's EL).</summary>
    public ModelParameter WithDefault(double value) => this with { DefaultValue = value };

    /// <summary>A parameter that must be ≥ 0 (a conductance, a duration), searched in log space by a fit.</summary>
    public static ModelParameter NonNegative(string name, string unit, double defaultValue, string description) =>
        new(name, unit, defaultValue, description) { Minimum = 0, Transform = FitTransform.Log };

    /// <summary>A parameter that must be &gt; 0 (a capacitance, a time constant, a divisor).</summary>
    public static ModelParameter Positive(string name, string unit, double defaultValue, string description) =>
        new(name, unit, defaultValue, description) { Minimum = 0, MinimumExclusive = true };
}

/// <summary>
/// A parameter's declaration bound to the field of the model's parameter record <typeparamref name="T"/> it sets, so
/// the catalog builds the record from resolved values without naming the parameter again.
/// </summary>
/// <typeparam name="T">The model's parameter record.</typeparam>
public sealed class ParameterBinding<T>
{
    private readonly Func<T, double> get;
    private readonly Func<T, double, T> set;

    /// <summary>Binds <paramref name="declaration"/> to a field.</summary>
    /// <param name="declaration">The declaration (its default is the record's default).</param>
    /// <param name="get">Reads the field.</param>
    /// <param name="set">A copy of the record with the field set (a record's <c>with</c>).</param>
    public ParameterBinding(ModelParameter declaration, Func<T, double> get, Func<T, double, T> set)
    {
        Declaration = declaration;
        this.get = get;
        this.set = set;
    }

    /// <summary>The declaration.</summary>
    public ModelParameter Declaration { get; }

    /// <summary>The declared default (what the record's field initialiser uses).</summary>
    public double DefaultValue => Declaration.DefaultValue;

    /// <summary>The field's value in <paramref name="parameters"/>.</summary>
    public double Get(T parameters) => get(parameters);

    /// <summary><paramref name="parameters"/> with the field set to <paramref name="value"/>.</summary>
    public T Set(T parameters, double value) => set(parameters, value);
}
