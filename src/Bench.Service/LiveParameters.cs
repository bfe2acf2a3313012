using System.Globalization;
using System.Text.Json;
using Bench.Core.Models;
using Bench.Core.Protocol;
using Bench.Rig.Session;

namespace Bench.Service;

/// <summary>One parameter of a model as the page's controls show it: its value, default, unit and the range it may take.</summary>
public sealed record ParameterView(string Name, string Unit, double Value, double DefaultValue, string Description, double? Min, double? Max);

/// <summary>GET and PUT /api/model/parameters and /api/emulator/parameters: a model and its parameters now.</summary>
/// <param name="Model">The catalog model.</param>
/// <param name="Parameters">Every parameter, with its value in use.</param>
/// <param name="Overrides">The values set away from the defaults (what a PUT gives).</param>
/// <param name="Note">What the change did (e.g. the emulated rig was connected again).</param>
public sealed record ParameterSetView(string Model, IReadOnlyList<ParameterView> Parameters, IReadOnlyDictionary<string, double> Overrides, string? Note);

/// <summary>
/// The parameters a page may change while the service runs, checked by the model catalog
/// (<see cref="ModelDescriptor.Resolve"/>: the name, and the range the model runs with) and within the range a teaching
/// lab explores, both from the parameter's one declaration (<see cref="ModelParameter.OfferedRange"/>: a blocker takes a
/// conductance to 0, cooling or warming stays between 0 and 45 °C): beyond it the model still runs, but no longer
/// describes a membrane.
/// </summary>
public static class LiveParameters
{
    /// <summary>The range the page offers for <paramref name="parameter"/> (null bounds: open).</summary>
    public static (double? Min, double? Max) Range(ModelParameter parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        return parameter.OfferedRange;
    }

    /// <summary>Checks overrides for <paramref name="modelName"/> and returns every parameter's value.</summary>
    /// <exception cref="ArgumentException">An unknown parameter (the valid ones are listed) or a value out of its range (which is named).</exception>
    public static IReadOnlyDictionary<string, double> Check(string modelName, IReadOnlyDictionary<string, double> overrides)
    {
        var model = ModelCatalog.Get(modelName);
        var values = model.Resolve(overrides);
        foreach (var (name, value) in overrides)
        {
            var (min, max) = Range(model.Parameters.First(p => p.Name == name));
            if ((min is { } low && value < low) || (max is { } high && value > high))
            {
                string unit = model.Parameters.First(p => p.Name == name).Unit;
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                    $"parameter '{name}' of model {model.Name} must be between {Shown(min, "-∞")} and {Shown(max, "∞")} {unit} here (got {value})"));
            }
        }

        return values;

        static string Shown(double? v, string none) => v?.ToString(CultureInfo.InvariantCulture) ?? none;
    }

    /// <summary>The view of <paramref name="modelName"/> with <paramref name="overrides"/>.</summary>
    public static ParameterSetView View(string modelName, IReadOnlyDictionary<string, double> overrides, string? note = null)
    {
        var model = ModelCatalog.Get(modelName);
        var values = model.Resolve(overrides);
        return new ParameterSetView(model.Name, [.. model.Parameters.Select(p =>
        {
            var (min, max) = Range(p);
            return new ParameterView(p.Name, p.Unit, values[p.Name], p.DefaultValue, p.Description, min, max);
        })], new Dictionary<string, double>(overrides, StringComparer.Ordinal), note);
    }

    /// <summary>Reads a PUT body: one JSON object of parameter names and numbers (the overrides; an absent one is its default).</summary>
    /// <exception cref="ArgumentException">Not such an object; the message says what is wrong.</exception>
    public static Dictionary<string, double> ParseBody(string body)
    {
        if (string.IsNullOrWhiteSpace(body)) throw new ArgumentException("give the parameters as a JSON object, e.g. {\"gNa\": 60}; {} is every default");
        using var doc = JsonDocument.Parse(body);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new ArgumentException("give the parameters as a JSON object, e.g. {\"gNa\": 60}");
        var overrides = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetDouble(out double v)) throw new ArgumentException($"parameter '{p.Name}': give a number, not {p.Value.GetRawText()}");
            overrides[p.Name] = v;
        }

        return overrides;
    }
}

/// <summary>
/// GET /api/stimulus/limits: what the connected rig's stimulus output plays, from its DeviceInfo at the rate it runs
/// (the rig refuses anything beyond them; the page enforces them as they are typed).
/// </summary>
/// <param name="Unit">The output's unit (nA for a current output).</param>
/// <param name="MaxAmplitudeNanoamps">The largest amplitude either way.</param>
/// <param name="AmplitudeStepNanoamps">One DAC step (the calibrated one when the output is calibrated).</param>
/// <param name="MaxPhaseMs">The longest phase.</param>
/// <param name="MaxChargeNanoampMs">The most charge one phase may carry, amplitude × duration (nA·ms = pC); null: no limit.</param>
/// <param name="SamplePeriodMs">Every duration is a whole number of these (the rig times pulses on its sample clock).</param>
/// <param name="MaxPulses">The most pulses in one train.</param>
/// <param name="MaxTrains">The most trains in one protocol.</param>
public sealed record StimulusLimitsView(
    string Unit,
    [property: System.Text.Json.Serialization.JsonPropertyName("max_amplitude_nA")] double MaxAmplitudeNanoamps,
    [property: System.Text.Json.Serialization.JsonPropertyName("amplitude_step_nA")] double AmplitudeStepNanoamps,
    double MaxPhaseMs,
    [property: System.Text.Json.Serialization.JsonPropertyName("max_charge_nA_ms")] double? MaxChargeNanoampMs,
    double SamplePeriodMs, int MaxPulses, int MaxTrains)
{
    /// <summary>The shortest phase and gap between pulses the rig can honour (ms): the sample period for a rig that times
    /// pulses itself, more for a host-timed pin (a Firmata board).</summary>
    public double MinPhaseMs { get; init; }

    /// <summary>False for an on/off pin: no negative or biphasic pulses, and amplitudes are 0 or the maximum.</summary>
    public bool Bipolar { get; init; } = true;

    /// <summary>How the rig times its pulses, in a sentence.</summary>
    public string Timing { get; init; } = "";

    /// <summary>The limits of output 0 of <paramref name="device"/> at <paramref name="periodTicks"/> per sample, with <paramref name="timing"/>'s.</summary>
    public static StimulusLimitsView From(DeviceInfo device, uint periodTicks, double nanoampsPerCode, RigTiming timing)
    {
        ArgumentNullException.ThrowIfNull(timing);
        return From(device, periodTicks, nanoampsPerCode) with
        {
            MinPhaseMs = Math.Max(timing.MinimumPhaseMs, 1000.0 * periodTicks / device.ClockHz), Bipolar = timing.BipolarPulses, Timing = timing.Description,
        };
    }

    /// <summary>The limits of output 0 of <paramref name="device"/> at <paramref name="periodTicks"/> per sample.</summary>
    public static StimulusLimitsView From(DeviceInfo device, uint periodTicks, double nanoampsPerCode)
    {
        var o = device.Outputs[0];
        double periodMs = 1000.0 * periodTicks / device.ClockHz;
        // A phase is also at most 65535 sample periods (the command's field).
        double maxPhaseMs = Math.Min(o.MaxPhaseUs / 1000.0, ushort.MaxValue * periodMs);
        // The charge rule (PROTOCOL.md §6.4, rule Q) is in nominal steps: |code|·scale·ms ≤ max_charge.
        double? charge = o.MaxCharge == 0 ? null : o.MaxCharge * nanoampsPerCode / o.Scale;
        return new StimulusLimitsView(o.Unit == 1 ? "nA" : $"unit {o.Unit}", o.MaxAmplitudeCode * nanoampsPerCode, nanoampsPerCode,
            Math.Round(maxPhaseMs, 6), charge, periodMs, ushort.MaxValue, Math.Min((int)device.MaxTrains, ProtocolLimits.MaxTrains));
    }
}
