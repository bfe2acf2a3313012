using System.Globalization;
using System.Text.Json.Nodes;
using Bench.Core.Analysis;
using Bench.Core.Models;
using Bench.Core.Stimulus;
using MathNet.Numerics.Distributions;

namespace Bench.Service.Practicals;

/// <summary>A measured value and its standard uncertainty (NaN when there is none: not measured, or no bracket).</summary>
/// <param name="Value">The value (+∞ for "never, up to the largest stimulus tried").</param>
/// <param name="Uncertainty">Its standard uncertainty.</param>
public readonly record struct Measured(double Value, double Uncertainty)
{
    /// <summary>Nothing measured.</summary>
    public static Measured None => new(double.NaN, double.NaN);

    /// <summary>As JSON: a number, null when not finite.</summary>
    public JsonNode? ValueJson => double.IsFinite(Value) ? JsonValue.Create(Value) : null;
}

/// <summary>One row of a step's table: a stimulus setting, and what the rig and the model did at it.</summary>
/// <param name="X">The setting (a duration, an interval).</param>
/// <param name="Rig">On the rig.</param>
/// <param name="Model">On the model.</param>
public sealed record TableRow(double X, Measured Rig, Measured Model)
{
    /// <summary>What the row is, where a number does not say (a condition and a feature).</summary>
    public string? Label { get; init; }
}

/// <summary>What a step measured: its table and its results.</summary>
/// <param name="Step">The step.</param>
/// <param name="XTitle">The table's first column, with its unit.</param>
/// <param name="YTitle">What each row measures, with its unit.</param>
/// <param name="Rows">The table.</param>
/// <param name="Results">Named results (e.g. <c>rheobase_nA</c>), each on the rig and on the model.</param>
/// <param name="Method">How the results were derived, in a line (e.g. which law was fitted).</param>
public sealed record StepResult(PracticalStep Step, string XTitle, string YTitle, IReadOnlyList<TableRow> Rows,
    IReadOnlyDictionary<string, (Measured Rig, Measured Model)> Results, string Method);

/// <summary>
/// Runs a practical's steps on two benches, the rig and the model, each search the same on both. Thresholds are found
/// by bisection on the pulse amplitude (on the output's DAC grid): a bracket between an amplitude that does not fire
/// and one that does, halved until it is within the tolerance; on the rig it is repeated, since its noise moves it.
/// </summary>
public sealed class PracticalRunner
{
    private ITrialBench rig;
    private ITrialBench model;
    private readonly double nanoampsPerCode;
    private readonly double slopePerNanoamp;
    private readonly Action<string>? progress;

    /// <summary>A runner over <paramref name="rig"/> and <paramref name="model"/>; amplitudes are rounded to <paramref name="nanoampsPerCode"/>.</summary>
    /// <param name="rig">The rig's bench.</param>
    /// <param name="model">The model's bench.</param>
    /// <param name="nanoampsPerCode">The stimulus output's resolution.</param>
    /// <param name="slopePerNanoampMvPerMs">The slope 1 nA gives the membrane by itself (I/C over the preparation's area), taken out of both traces for the threshold potential.</param>
    /// <param name="progress">Where to say what runs.</param>
    public PracticalRunner(ITrialBench rig, ITrialBench model, double nanoampsPerCode, double slopePerNanoampMvPerMs, Action<string>? progress = null)
    {
        this.rig = rig;
        this.model = model;
        this.nanoampsPerCode = nanoampsPerCode;
        slopePerNanoamp = slopePerNanoampMvPerMs;
        this.progress = progress;
    }

    /// <summary>Called before each step (e.g. to start recording it on the rig).</summary>
    public Func<PracticalStep, Task>? BeforeStep { get; init; }

    /// <summary>Called after each step.</summary>
    public Func<PracticalStep, Task>? AfterStep { get; init; }

    /// <summary>
    /// Changes the preparation (the rig's, where it can: null for a rig that cannot change unattended) and the model to a
    /// condition (a step, the condition's id, and its parameters; an empty id and no parameters restore them).
    /// </summary>
    public Func<PracticalStep, string, IReadOnlyDictionary<string, double>, CancellationToken, Task<(ITrialBench? Rig, ITrialBench Model)>>? ApplyCondition { get; init; }

    /// <summary>Why the rig cannot play the current step, or null.</summary>
    private string? rigRefusal;

    /// <summary>True while the current step runs on the model alone (the rig cannot play it).</summary>
    public bool StepOnModelAlone => rigRefusal is not null;

    /// <summary>The model on an ideal rig (a Bench rig's resolution and sample grid), for a step the rig cannot play: the
    /// model bench that copies the rig could not play it either. Null: the rig's model bench.</summary>
    public ITrialBench? ModelAlone { get; init; }

    /// <summary>Trials run so far, on both benches.</summary>
    public int Trials { get; private set; }

    /// <summary>Called with each row of a step's table as it is measured (to fill a live table).</summary>
    public Action<PracticalStep, TableRow>? RowMeasured { get; init; }

    /// <summary>Runs every step in order.</summary>
    public async Task<IReadOnlyList<StepResult>> RunAsync(Practical practical, CancellationToken cancellationToken)
    {
        var results = new List<StepResult>();
        foreach (var step in practical.Steps) results.Add(await RunStepAsync(practical, step, cancellationToken).ConfigureAwait(false));
        return results;
    }

    /// <summary>Runs one step of <paramref name="practical"/> (on the model alone when the rig cannot play it).</summary>
    public async Task<StepResult> RunStepAsync(Practical practical, PracticalStep step, CancellationToken cancellationToken)
    {
        progress?.Invoke($"{practical.Name}: step {step.Id}");
        // A step the rig cannot play (its shortest or strongest stimulus beyond its limits) runs on the model alone.
        rigRefusal = null;   // Demanding rounds on the rig's own grid
        rigRefusal = RigUnavailable ?? RigCannot(step.Run) ?? (Demanding(step.Run) is { } hardest ? rig.Refuses(hardest) : null);
        if (rigRefusal is not null) progress?.Invoke($"{practical.Name}: step {step.Id} on the model alone: the rig cannot play it ({rigRefusal})");
        var asRig = model;
        if (rigRefusal is not null && ModelAlone is not null) model = ModelAlone;
        try
        {
            if (BeforeStep is not null) await BeforeStep(step).ConfigureAwait(false);
            var result = step.Run switch
            {
                ThresholdSearch t => await ThresholdAsync(step, t, cancellationToken).ConfigureAwait(false),
                StrengthDuration s => await StrengthDurationAsync(step, s, cancellationToken).ConfigureAwait(false),
                RefractorySeries r => await RefractoryAsync(step, r, cancellationToken).ConfigureAwait(false),
                CurrentSteps c => await CurrentStepsAsync(step, c, cancellationToken).ConfigureAwait(false),
                ConditionSeries c => await ConditionsAsync(step, c, cancellationToken).ConfigureAwait(false),
                StepResponse r => await StepResponseAsync(step, r, cancellationToken).ConfigureAwait(false),
                RestingSeries r => await RestingAsync(step, r, cancellationToken).ConfigureAwait(false),
                ConductionSeries c => Conduction(step, c, cancellationToken),
                SynapticWeights w => SynapticWeightSeries(step, w, cancellationToken),
                TemporalSummation t => TemporalSeries(step, t, cancellationToken),
                SpatialSummation sp => SpatialSeries(step, sp, cancellationToken),
                _ => throw new InvalidOperationException($"step {step.Id}: nothing to run"),
            };
            return rigRefusal is null ? result : result with { Method = $"The rig cannot play this step ({rigRefusal}): it ran on the model alone. " + result.Method };
        }
        finally
        {
            model = asRig;
            if (AfterStep is not null) await AfterStep(step).ConfigureAwait(false);
        }
    }

    /// <summary>Why the rig cannot run a kind of step at all (it needs what a one-channel rig has not), or null.</summary>
    private static string? RigCannot(StepRun run) => run switch
    {
        ConductionSeries => "it records at one site, and conduction velocity needs two along an axon",
        SynapticWeights or TemporalSummation or SpatialSummation => "it records one cell, and synaptic transmission needs a presynaptic and a postsynaptic one",
        _ => null,
    };

    /// <summary>Why no step can run on the rig here (every step then runs on the model alone, saying so), or null.</summary>
    public string? RigUnavailable { get; init; }

    /// <summary>The model and its parameters (for what a step derives from them, e.g. Nernst potentials), when known.</summary>
    public (ModelDescriptor Descriptor, IReadOnlyDictionary<string, double> Parameters)? ModelInfo { get; init; }

    private async Task<StepResult> RestingAsync(PracticalStep step, RestingSeries r, CancellationToken ct)
    {
        if (ApplyCondition is null) throw new InvalidOperationException($"step {step.Id}: conditions need a way to change the preparation");
        // No current at all: the trial only records (its window is the protocol's length).
        var protocol = Protocol(r.RecordMs, null, 0);
        var rows = new List<TableRow>();
        var results = new Dictionary<string, (Measured, Measured)>(StringComparer.Ordinal);
        var values = new Dictionary<string, double>(ModelInfo?.Parameters ?? new Dictionary<string, double>(), StringComparer.Ordinal);
        bool rigRan = true;
        for (int i = 0; i < r.Conditions.Count; i++)
        {
            var condition = r.Conditions[i];
            var (rigBench, modelBench) = await EnterConditionAsync(step, condition, ct).ConfigureAwait(false);
            rigRan &= rigBench is not null;
            var onRig = rigBench is null ? Measured.None : await RestAsync(rigBench, protocol, r.Repeats, ct).ConfigureAwait(false);
            var onModel = await RestAsync(modelBench, protocol, 1, ct).ConfigureAwait(false);
            var resolved = Resolved(condition.Parameters);
            double x = r.XParameter is { } name && resolved is not null && resolved.TryGetValue(name, out double v) ? v : i;
            rows.Add(Measure(step, new TableRow(x, onRig, onModel) { Label = r.XParameter is null ? condition.Name : null }));
            results[$"rest_mV_{condition.Id}"] = (onRig, onModel);
            // What Nernst gives for the model's concentrations under the condition (a number of the model, not measured).
            if (resolved is not null && resolved.TryGetValue("celsius", out double celsius))
            {
                if (resolved.TryGetValue("Ko", out double ko) && resolved.TryGetValue("Ki", out double ki))
                {
                    results[$"nernst_ek_mV_{condition.Id}"] = (Measured.None, new Measured(Nernst.PotentialMv(1, ko, ki, celsius), double.NaN));
                }

                if (resolved.TryGetValue("Nao", out double nao) && resolved.TryGetValue("Nai", out double nai))
                {
                    results[$"nernst_ena_mV_{condition.Id}"] = (Measured.None, new Measured(Nernst.PotentialMv(1, nao, nai, celsius), double.NaN));
                }
            }
        }

        await LeaveConditionsAsync(step, ct).ConfigureAwait(false);
        string slopeNote = "";
        if (r.XParameter is { } parameter && rows.All(row => row.X > 0))
        {
            // Rest against log10 of the concentration: Nernst's slope for a membrane permeable to that ion alone.
            results[$"rest_slope_mV_per_decade_{parameter}"] = (LogSlope(rows, row => row.Rig), LogSlope(rows, row => row.Model));
            if (Resolved(new Dictionary<string, double>()) is { } baseline && baseline.TryGetValue("celsius", out double celsius))
            {
                double nernstSlope = Math.Log(10) * Nernst.GasConstant * (celsius + Nernst.ZeroCelsiusKelvin) / Nernst.Faraday * 1000;
                results["nernst_slope_mV_per_decade"] = (Measured.None, new Measured(nernstSlope, double.NaN));
                slopeNote = string.Create(CultureInfo.InvariantCulture, $" Nernst's slope at {celsius} °C is {nernstSlope:0.0} mV per tenfold change (a membrane permeable to that ion alone).");
            }
        }

        return new StepResult(step, r.XParameter is { } p ? $"{p} (mM)" : "condition", Axes(step.Run).Y, rows, results,
            (rigRan || rigRefusal is not null ? "" : "The rig's preparation cannot be changed unattended (on a real rig, change the bath by hand and run the step again): the rig column is empty. ")
            + string.Create(CultureInfo.InvariantCulture, $"the mean potential over {r.RecordMs} ms with no current, {r.Repeats} trials on the rig (their mean ± its standard error); ")
            + "E_K and E_Na by the Nernst equation, E = (RT/zF) ln([out]/[in]), from the model's concentrations." + slopeNote);
    }

    /// <summary>The model's parameters with <paramref name="changes"/> applied, all of them (defaults filled in); null when the model is not known.</summary>
    private IReadOnlyDictionary<string, double>? Resolved(IReadOnlyDictionary<string, double> changes)
    {
        if (ModelInfo is not { } info) return null;
        return info.Descriptor.Resolve(ParameterSet.With(info.Parameters, changes));
    }

    /// <summary>The mean potential of <paramref name="repeats"/> trials with no current: their mean ± its standard error.</summary>
    private async Task<Measured> RestAsync(ITrialBench bench, StimulusProtocol protocol, int repeats, CancellationToken ct)
    {
        var means = new List<double>(repeats);
        for (int i = 0; i < repeats; i++)
        {
            var trial = await bench.RunAsync(protocol, ct).ConfigureAwait(false);
            Trials++;
            means.Add(trial.Mv.Average());
        }

        double mean = means.Average();
        return new Measured(mean, means.Count < 2 ? double.NaN : Math.Sqrt(means.Sum(m => (m - mean) * (m - mean)) / (means.Count - 1) / means.Count));
    }

    /// <summary>Least-squares slope of the values against log10 of X, with its standard error (none from fewer than three points).</summary>
    private static Measured LogSlope(List<TableRow> rows, Func<TableRow, Measured> pick)
    {
        var points = rows.Where(row => double.IsFinite(pick(row).Value)).Select(row => (X: Math.Log10(row.X), Y: pick(row).Value)).ToList();
        return FitSlope(points);
    }

    /// <summary>Least-squares slope of y on x and its standard error (NaN from fewer than three points).</summary>
    private static Measured FitSlope(List<(double X, double Y)> points)
    {
        if (points.Count < 2) return Measured.None;
        double mx = points.Average(p => p.X), my = points.Average(p => p.Y);
        double sxx = points.Sum(p => (p.X - mx) * (p.X - mx));
        if (!(sxx > 0)) return Measured.None;
        double slope = points.Sum(p => (p.X - mx) * (p.Y - my)) / sxx;
        if (points.Count < 3) return new Measured(slope, double.NaN);
        double residual = points.Sum(p => Math.Pow(p.Y - my - (slope * (p.X - mx)), 2));
        return new Measured(slope, Math.Sqrt(residual / (points.Count - 2) / sxx));
    }

    private StepResult Conduction(PracticalStep step, ConductionSeries c, CancellationToken ct)
    {
        var rows = new List<TableRow>();
        foreach (double d in c.DiametersUm)
        {
            ct.ThrowIfCancellationRequested();
            // Two sites at 20 % and 80 % of the axon (a quarter and three quarters for the uniform one), far from its ends;
            // the stimulus scales with the diameter so that it fires the axon without overwhelming the first site.
            var m = c.Myelinated
                ? ConductionVelocity.Measure(new MyelinatedAxon(new MyelinatedAxonGeometry(d, 31)), 0.2, 0.8, 5 * d / 10, 0.1, 5, 0.002)
                : ConductionVelocity.Measure(new HodgkinHuxleyAxon(AxonGeometry.SquidGiantAxon with { DiameterUm = d }, HodgkinHuxleyParameters.Classic with { TemperatureCelsius = c.Celsius }),
                    0.25, 0.75, 5000 * d / 476, 0.5, 10, 0.01);
            rows.Add(Measure(step, new TableRow(d, Measured.None, new Measured(m.VelocityMPerS, double.NaN))));
        }

        // Velocity ∝ diameter^k: k from the log–log slope (≈ 0.5 bare, ≈ 1 myelinated).
        var exponent = FitSlope([.. rows.Where(r => r.Model.Value > 0).Select(r => (Math.Log(r.X), Math.Log(r.Model.Value)))]);
        string kind = c.Myelinated ? "myelinated" : "unmyelinated";
        return new StepResult(step, c.Myelinated ? "fibre diameter (µm)" : "axon diameter (µm)", Axes(step.Run).Y, rows,
            new Dictionary<string, (Measured, Measured)>(StringComparer.Ordinal) { [$"{kind}_velocity_exponent"] = (Measured.None, exponent) },
            c.Myelinated
                ? "A myelinated axon of 31 Hodgkin–Huxley nodes of Ranvier (1 µm; hh-node: the squid's channels ten times as dense, 20 °C, as Moore et al. 1978) and passive internodes 100 fibre diameters long with myelin after McIntyre et al. (2002), g-ratio 0.7; the time of the 0 mV crossing at the nodes nearest 20 % and 80 % of its length; velocity ∝ diameterᵏ, k from the log–log least-squares slope ± its standard error."
                : string.Create(CultureInfo.InvariantCulture, $"A uniform Hodgkin–Huxley cable 20 mm long (2,000 segments, axial resistivity 35.4 Ω·cm, hh.mod's membrane at {c.Celsius} °C, as Hodgkin & Huxley 1952 computed propagation); the time of the 0 mV crossing at 25 % and 75 % of its length; velocity ∝ diameterᵏ, k from the log–log least-squares slope ± its standard error."));
    }

    /// <summary>The synaptic steps' cells: the teaching membrane after the synapse, and a warmer one before it (18.5 °C: it fires again 4 ms on, not 8).</summary>
    private static (HodgkinHuxleyParameters Post, HodgkinHuxleyParameters Pre) SynapticCells() =>
        (HodgkinHuxleyParameters.Teaching, HodgkinHuxleyParameters.Teaching with { TemperatureCelsius = 18.5 });

    private const string SynapticMethod = "Presynaptic Hodgkin–Huxley cells (18.5 °C) fire on 0.5 ms pulses; each spike releases transmitter 1 ms later onto a teaching Hodgkin–Huxley cell (rest −70 mV) through a dual-exponential conductance (NEURON's Exp2Syn: excitatory E = 0 mV, τ 0.5/2 ms; inhibitory E = −80 mV, τ 0.5/5 ms) whose peak is the weight; the response is the largest change of the postsynaptic potential from rest.";

    private static readonly StimulusProtocol NoSpikes = new("none", StimulusUnit.MicroampsPerCm2, []);

    private StepResult SynapticWeightSeries(PracticalStep step, SynapticWeights s, CancellationToken ct)
    {
        var (post, pre) = SynapticCells();
        var rows = new List<TableRow>();
        var fired = new HashSet<double>();
        foreach (double w in s.WeightsMilliSiemensPerCm2)
        {
            ct.ThrowIfCancellationRequested();
            var response = new SynapticPreparation(post, [SynapseParameters.Of(s.Inhibitory ? SynapseKind.Inhibitory : SynapseKind.Excitatory, w)], pre)
                .Run([SynapticPreparation.PresynapticSpikes(5)], 60);
            if (response.Fired) fired.Add(w);
            rows.Add(Measure(step, new TableRow(w, Measured.None, new Measured(s.Inhibitory ? -response.PeakHyperpolarisationMv : response.PeakDepolarisationMv, double.NaN))));
        }

        var results = new Dictionary<string, (Measured, Measured)>(StringComparer.Ordinal);
        // mV per unit weight while the cell stays below threshold (through the origin: no weight, no potential).
        var below = rows.Where(r => !fired.Contains(r.X)).ToList();
        double perWeight = below.Sum(r => r.X * r.Model.Value) / below.Sum(r => r.X * r.X);
        results[s.Inhibitory ? "ipsp_mV_per_mS_per_cm2" : "epsp_mV_per_mS_per_cm2"] = (Measured.None, below.Count > 0 ? new Measured(perWeight, double.NaN) : Measured.None);
        if (!s.Inhibitory) results["firing_weight_mS_per_cm2"] = (Measured.None, Between(rows, r => fired.Contains(r.X), r => r.Model));
        return new StepResult(step, "synaptic weight (peak mS/cm²)", Axes(step.Run).Y, rows, results,
            SynapticMethod + " One presynaptic spike per weight; a weight that fires the postsynaptic cell shows its action potential's height, and the firing weight is the midpoint between the last that did not and the first that did.");
    }

    private StepResult TemporalSeries(PracticalStep step, TemporalSummation t, CancellationToken ct)
    {
        var (post, pre) = SynapticCells();
        var synapse = new SynapticPreparation(post, [SynapseParameters.Of(SynapseKind.Excitatory, t.WeightMilliSiemensPerCm2)], pre);
        var single = synapse.Run([SynapticPreparation.PresynapticSpikes(5)], 60);
        var rows = new List<TableRow>();
        foreach (double interval in t.IntervalsMs)
        {
            ct.ThrowIfCancellationRequested();
            var pair = synapse.Run([SynapticPreparation.PresynapticSpikes(5, 5 + interval)], 60 + interval);
            rows.Add(Measure(step, new TableRow(interval, Measured.None, new Measured(pair.PeakDepolarisationMv, double.NaN))));
        }

        var shortest = rows[0].Model.Value;
        return new StepResult(step, "interval between the two spikes (ms)", Axes(step.Run).Y, rows,
            new Dictionary<string, (Measured, Measured)>(StringComparer.Ordinal)
            {
                ["single_epsp_mV"] = (Measured.None, new Measured(single.PeakDepolarisationMv, double.NaN)),
                ["summation_ratio_at_shortest_interval"] = (Measured.None, new Measured(shortest / single.PeakDepolarisationMv, double.NaN)),
            },
            SynapticMethod + string.Create(CultureInfo.InvariantCulture, $" Two spikes of one presynaptic cell through one synapse of weight {t.WeightMilliSiemensPerCm2} mS/cm², at each interval; the single EPSP for comparison."));
    }

    private StepResult SpatialSeries(PracticalStep step, SpatialSummation s, CancellationToken ct)
    {
        var (post, pre) = SynapticCells();
        var preparation = new SynapticPreparation(post,
            [SynapseParameters.Of(SynapseKind.Excitatory, s.WeightMilliSiemensPerCm2), SynapseParameters.Of(SynapseKind.Excitatory, s.WeightMilliSiemensPerCm2),
             SynapseParameters.Of(SynapseKind.Inhibitory, s.InhibitoryWeightMilliSiemensPerCm2)], pre);
        var spike = SynapticPreparation.PresynapticSpikes(5);
        // The inhibitory input arrives a little before the excitatory ones, as it must to shunt them.
        var early = SynapticPreparation.PresynapticSpikes(4);
        var rows = new List<TableRow>();
        var results = new Dictionary<string, (Measured, Measured)>(StringComparer.Ordinal);
        foreach (var (label, key, a, b, inhibition) in new[]
        {
            ("synapse A alone", "a_alone_mV", true, false, false), ("synapse B alone", "b_alone_mV", false, true, false),
            ("A and B together", "a_and_b_mV", true, true, false), ("A and B with the inhibitory synapse", "a_and_b_with_inhibition_mV", true, true, true),
        })
        {
            ct.ThrowIfCancellationRequested();
            var response = preparation.Run([a ? spike : NoSpikes, b ? spike : NoSpikes, inhibition ? early : NoSpikes], 60);
            var value = new Measured(response.PeakDepolarisationMv, double.NaN);
            rows.Add(Measure(step, new TableRow(rows.Count, Measured.None, value) { Label = label + (response.Fired ? " (fired)" : "") }));
            results[key] = (Measured.None, value);
        }

        return new StepResult(step, "inputs", Axes(step.Run).Y, rows, results,
            SynapticMethod + string.Create(CultureInfo.InvariantCulture, $" Two excitatory synapses of {s.WeightMilliSiemensPerCm2} mS/cm² from two presynaptic cells, alone and at once, then with an inhibitory synapse of {s.InhibitoryWeightMilliSiemensPerCm2} mS/cm² whose spike comes 1 ms earlier."));
    }

    /// <summary>What a step's table holds: its first column and what each row measures, with their units.</summary>
    public static (string X, string Y) Axes(StepRun run) => run switch
    {
        ThresholdSearch or StrengthDuration => ("pulse (ms)", "threshold current (nA)"),
        RefractorySeries => ("interval (ms)", "test threshold / single-pulse threshold"),
        ConditionSeries => ("condition", "action potential features"),
        StepResponse => ("step (nA)", "membrane time constant (ms)"),
        CurrentSteps => ("step (nA)", "firing rate (Hz)"),
        RestingSeries => ("condition", "resting potential (mV)"),
        ConductionSeries => ("diameter (µm)", "conduction velocity (m/s)"),
        SynapticWeights => ("synaptic weight (peak mS/cm²)", "postsynaptic response from rest (mV)"),
        TemporalSummation => ("interval between the two spikes (ms)", "peak depolarisation from rest (mV)"),
        SpatialSummation => ("inputs", "peak depolarisation from rest (mV)"),
        _ => ("", ""),
    };

    /// <summary>A row of <paramref name="step"/>'s table, told to <see cref="RowMeasured"/> as it is measured.</summary>
    private TableRow Measure(PracticalStep step, TableRow row)
    {
        RowMeasured?.Invoke(step, row);
        return row;
    }

    private async Task<StepResult> ThresholdAsync(PracticalStep step, ThresholdSearch t, CancellationToken ct)
    {
        var onRig = rigRefusal is not null ? Measured.None
            : await RepeatedAsync(rig, t.Repeats, b => SearchAsync(b, t.PulseMs, null, t.LowNanoamps, t.HighNanoamps, t.ToleranceNanoamps, ct)).ConfigureAwait(false);
        var onModel = await SearchAsync(model, t.PulseMs, null, t.LowNanoamps, t.HighNanoamps, t.ToleranceNanoamps, ct).ConfigureAwait(false);
        // The threshold potential, by the one definition, at the smallest amplitude that fired.
        var rigMv = rigRefusal is not null ? Measured.None : await ThresholdPotentialAsync(rig, t.PulseMs, onRig, t.Repeats, ct).ConfigureAwait(false);
        var modelMv = await ThresholdPotentialAsync(model, t.PulseMs, onModel, 1, ct).ConfigureAwait(false);
        return new StepResult(step, Axes(step.Run).X, Axes(step.Run).Y, [Measure(step, new TableRow(t.PulseMs, onRig, onModel))],
            new Dictionary<string, (Measured, Measured)>(StringComparer.Ordinal) { ["threshold_nA"] = (onRig, onModel), ["threshold_mV"] = (rigMv, modelMv) },
            $"bisection to {t.ToleranceNanoamps} nA, {t.Repeats} searches on the rig; {ActionPotentialAnalysis.ThresholdDefinition}");
    }

    private async Task<StepResult> StrengthDurationAsync(PracticalStep step, StrengthDuration s, CancellationToken ct)
    {
        var rows = new List<TableRow>();
        foreach (double d in s.DurationsMs)
        {
            var onRig = rigRefusal is not null ? Measured.None
                : await RepeatedAsync(rig, s.Repeats, b => SearchAsync(b, d, null, s.LowNanoamps, s.HighNanoamps, s.ToleranceNanoamps, ct)).ConfigureAwait(false);
            var onModel = await SearchAsync(model, d, null, s.LowNanoamps, s.HighNanoamps, s.ToleranceNanoamps, ct).ConfigureAwait(false);
            rows.Add(Measure(step, new TableRow(d, onRig, onModel)));
        }

        var (rigRheobase, rigChronaxie) = Lapicque(rows.Select(r => (r.X, r.Rig)).ToList());
        var (modelRheobase, modelChronaxie) = Lapicque(rows.Select(r => (r.X, r.Model)).ToList());
        return new StepResult(step, Axes(step.Run).X, Axes(step.Run).Y, rows,
            new Dictionary<string, (Measured, Measured)>(StringComparer.Ordinal)
            {
                ["rheobase_nA"] = (rigRheobase, modelRheobase), ["chronaxie_ms"] = (rigChronaxie, modelChronaxie),
            },
            "Lapicque's law, I = rheobase / (1 − exp(−d/τ)), fitted to the thresholds by relative least squares; chronaxie = τ · ln 2 (the duration at twice the rheobase); uncertainties from 40 refits with each threshold moved by its uncertainty. (Weiss's linear charge law fits the Hodgkin–Huxley membrane worse: its threshold charge is nearly constant below 0.5 ms and the membrane leaks at 5 ms.)");
    }

    private async Task<StepResult> RefractoryAsync(PracticalStep step, RefractorySeries r, CancellationToken ct)
    {
        var singleRig = rigRefusal is not null ? Measured.None : await SearchAsync(rig, r.PulseMs, null, 0, r.HighNanoamps, r.ToleranceNanoamps, ct).ConfigureAwait(false);
        var singleModel = await SearchAsync(model, r.PulseMs, null, 0, r.HighNanoamps, r.ToleranceNanoamps, ct).ConfigureAwait(false);
        var rows = new List<TableRow>();
        foreach (double interval in r.IntervalsMs)
        {
            var rigTest = rigRefusal is not null ? Measured.None
                : await SearchAsync(rig, r.PulseMs, (interval, r.ConditioningNanoamps), 0, r.HighNanoamps, r.ToleranceNanoamps, ct).ConfigureAwait(false);
            var modelTest = await SearchAsync(model, r.PulseMs, (interval, r.ConditioningNanoamps), 0, r.HighNanoamps, r.ToleranceNanoamps, ct).ConfigureAwait(false);
            rows.Add(Measure(step, new TableRow(interval, Ratio(rigTest, singleRig), Ratio(modelTest, singleModel))));
        }

        return new StepResult(step, Axes(step.Run).X, Axes(step.Run).Y, rows,
            new Dictionary<string, (Measured, Measured)>(StringComparer.Ordinal)
            {
                ["absolute_refractory_ms"] = (Between(rows, x => double.IsFinite(x.Rig.Value), x => x.Rig), Between(rows, x => double.IsFinite(x.Model.Value), x => x.Model)),
                ["relative_refractory_ms"] = (Between(rows, x => x.Rig.Value <= r.RecoveredRatio, x => x.Rig), Between(rows, x => x.Model.Value <= r.RecoveredRatio, x => x.Model)),
            },
            $"absolute: the interval by which a second action potential can be evoked at all (up to {r.HighNanoamps} nA); relative: by which its threshold is back within {r.RecoveredRatio}× the single pulse's; each between the last interval that did not and the first that did");
    }

    /// <summary>
    /// The preparation and the model under <paramref name="condition"/>: the benches to run it on (the rig's null when
    /// it cannot take the condition, or cannot run this step at all). The rig's bench becomes the runner's.
    /// </summary>
    private async Task<(ITrialBench? Rig, ITrialBench Model)> EnterConditionAsync(PracticalStep step, Condition condition, CancellationToken ct)
    {
        var (rigBench, modelBench) = await ApplyCondition!(step, condition.Id, condition.Parameters, ct).ConfigureAwait(false);
        if (rigBench is not null) rig = rigBench;
        return (rigRefusal is null ? rigBench : null, modelBench);
    }

    /// <summary>Back to the preparation and the model as they were, for the steps that follow.</summary>
    private async Task LeaveConditionsAsync(PracticalStep step, CancellationToken ct)
    {
        var (restoredRig, restoredModel) = await ApplyCondition!(step, "", new Dictionary<string, double>(), ct).ConfigureAwait(false);
        if (restoredRig is not null) rig = restoredRig;
        model = restoredModel;
    }

    private async Task<StepResult> ConditionsAsync(PracticalStep step, ConditionSeries c, CancellationToken ct)
    {
        if (ApplyCondition is null) throw new InvalidOperationException($"step {step.Id}: this run cannot change the preparation's conditions");
        var protocol = Protocol(c.PulseMs, null, OnGrid(c.AmplitudeNanoamps));
        var rows = new List<TableRow>();
        var results = new Dictionary<string, (Measured, Measured)>(StringComparer.Ordinal);
        bool rigRan = true;
        int index = 0;
        foreach (var condition in c.Conditions)
        {
            var (rigBench, modelBench) = await EnterConditionAsync(step, condition, ct).ConfigureAwait(false);
            rigRan &= rigBench is not null;
            var onRig = rigBench is null ? null : await FeaturesAsync(rigBench, protocol, c.Repeats, ct).ConfigureAwait(false);
            var onModel = await FeaturesAsync(modelBench, protocol, 1, ct).ConfigureAwait(false);
            foreach (var (feature, unit, i) in new[] { ("threshold", "mV", 0), ("peak", "mV", 1), ("half_width", "ms", 2), ("ahp", "mV", 3) })
            {
                var r = onRig?[i] ?? Measured.None;
                var m = onModel[i];
                rows.Add(Measure(step, new TableRow(index, r, m) { Label = $"{condition.Name}: {feature.Replace('_', '-')} ({unit})" }));
                results[$"{feature}_{unit}_{condition.Id}"] = (r, m);
            }

            index++;
        }

        await LeaveConditionsAsync(step, ct).ConfigureAwait(false);
        return new StepResult(step, Axes(step.Run).X, Axes(step.Run).Y, rows, results,
            (rigRan ? "" : "The rig's preparation cannot be changed unattended (on a real rig, apply each condition by hand and run the step again): the rig column is empty. ")
            + string.Create(CultureInfo.InvariantCulture, $"a {c.PulseMs} ms pulse of {c.AmplitudeNanoamps} nA under each condition, {c.Repeats} trials on the rig (their mean ± its standard error); ")
            + ActionPotentialAnalysis.ThresholdDefinition);
    }

    /// <summary>Threshold, peak, half-width and AHP of the first AP on <paramref name="bench"/>, over <paramref name="repeats"/> trials.</summary>
    private async Task<Measured[]> FeaturesAsync(ITrialBench bench, StimulusProtocol protocol, int repeats, CancellationToken ct)
    {
        var draws = new List<double[]>();
        for (int k = 0; k < repeats; k++)
        {
            var trial = await bench.RunAsync(protocol, ct).ConfigureAwait(false);
            Trials++;
            var report = Analyze(trial, protocol);
            if (report.Spikes.Count == 0) return [Measured.None, Measured.None, Measured.None, Measured.None];
            var f = report.Spikes[0];
            draws.Add([f.ThresholdMv, f.PeakMv, f.HalfWidthMs, f.AhpMinMv]);
        }

        var result = new Measured[4];
        for (int i = 0; i < 4; i++)
        {
            double mean = draws.Average(d => d[i]);
            double se = draws.Count > 1 ? Math.Sqrt(draws.Sum(d => Math.Pow(d[i] - mean, 2)) / (draws.Count - 1) / draws.Count) : double.NaN;
            result[i] = new Measured(mean, se);
        }

        return result;
    }

    private async Task<StepResult> StepResponseAsync(PracticalStep step, StepResponse s, CancellationToken ct)
    {
        var protocol = Protocol(s.StepMs, null, OnGrid(s.AmplitudeNanoamps));
        async Task<(Measured Tau, Measured Change)> OnAsync(ITrialBench bench, int repeats)
        {
            var taus = new List<double>();
            var changes = new List<double>();
            for (int k = 0; k < repeats; k++)
            {
                var trial = await bench.RunAsync(protocol, ct).ConfigureAwait(false);
                Trials++;
                var (tau, change) = FitCharging(trial, s.StepMs);
                taus.Add(tau);
                changes.Add(change);
            }

            return (Mean(taus), Mean(changes));
        }

        var (rigTau, rigChange) = rigRefusal is not null ? (Measured.None, Measured.None) : await OnAsync(rig, s.Repeats).ConfigureAwait(false);
        var (modelTau, modelChange) = await OnAsync(model, 1).ConfigureAwait(false);
        double amplitude = OnGrid(s.AmplitudeNanoamps);
        Measured Resistance(Measured change) => new(change.Value / amplitude, change.Uncertainty / amplitude);   // mV / nA = MΩ
        return new StepResult(step, Axes(step.Run).X, Axes(step.Run).Y, [Measure(step, new TableRow(amplitude, rigTau, modelTau))],
            new Dictionary<string, (Measured, Measured)>(StringComparer.Ordinal)
            {
                ["tau_ms"] = (rigTau, modelTau), ["steady_change_mV"] = (rigChange, modelChange), ["input_resistance_mohm"] = (Resistance(rigChange), Resistance(modelChange)),
            },
            string.Create(CultureInfo.InvariantCulture, $"V(t) = V∞ − ΔV·e^(−t/τ) fitted by least squares to the charging curve during the {s.StepMs} ms step (τ by golden-section search, V∞ and ΔV by linear least squares at each τ); {s.Repeats} steps on the rig, their mean ± its standard error; input resistance = ΔV / I"));
    }

    /// <summary>τ and the total change of an exponential fitted to the potential during the step.</summary>
    private static (double TauMs, double ChangeMv) FitCharging(Trial trial, double stepMs)
    {
        int from = trial.OnsetSample, to = Math.Min(trial.Mv.Length, trial.OnsetSample + (int)Math.Round(stepMs / trial.DtMs));
        double rest = trial.Mv[..trial.OnsetSample].Average();
        (double A, double B, double Cost) At(double tau)
        {
            // V = A + B·e^(−t/τ): linear in A and B for a given τ.
            double n = 0, se = 0, see = 0, sv = 0, sev = 0;
            for (int i = from; i < to; i++)
            {
                double e = Math.Exp(-(i - from) * trial.DtMs / tau), v = trial.Mv[i];
                n++;
                se += e;
                see += e * e;
                sv += v;
                sev += e * v;
            }

            double det = (n * see) - (se * se);
            double b = ((n * sev) - (se * sv)) / det, a = (sv - (b * se)) / n, cost = 0;
            for (int i = from; i < to; i++) cost += Math.Pow(trial.Mv[i] - a - (b * Math.Exp(-(i - from) * trial.DtMs / tau)), 2);
            return (a, b, cost);
        }

        double lo = Math.Log(0.1), hi = Math.Log(10 * stepMs), golden = (Math.Sqrt(5) - 1) / 2;
        double c = hi - (golden * (hi - lo)), d = lo + (golden * (hi - lo));
        for (int k = 0; k < 80; k++)
        {
            if (At(Math.Exp(c)).Cost < At(Math.Exp(d)).Cost) hi = d;
            else lo = c;
            c = hi - (golden * (hi - lo));
            d = lo + (golden * (hi - lo));
        }

        double tauMs = Math.Exp((lo + hi) / 2);
        return (tauMs, At(tauMs).A - rest);
    }

    private static Measured Mean(List<double> values)
    {
        double mean = values.Average();
        double se = values.Count > 1 ? Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1) / values.Count) : double.NaN;
        return new Measured(mean, se);
    }

    private async Task<StepResult> CurrentStepsAsync(PracticalStep step, CurrentSteps c, CancellationToken ct)
    {
        var rows = new List<TableRow>();
        foreach (double amplitude in c.AmplitudesNanoamps)
        {
            var protocol = Protocol(c.StepMs, null, OnGrid(amplitude));
            var rate = new double[] { double.NaN, double.NaN };
            int b = rigRefusal is null ? 0 : 1;
            foreach (var bench in rigRefusal is null ? new[] { rig, model } : [model])
            {
                var trial = await bench.RunAsync(protocol, ct).ConfigureAwait(false);
                Trials++;
                // Spikes during the step (and the 5 ms after its end that its last AP may need to cross 0 mV), per second of step.
                int spikes = trial.SpikesFrom(0) - trial.SpikesFrom(c.StepMs + 5);
                rate[b++] = spikes / (c.StepMs / 1000);
            }

            // A count in the step is uncertain by a spike at its ends: ±1/√12 spikes, as a rate.
            double u = 1 / Math.Sqrt(12) / (c.StepMs / 1000);
            rows.Add(Measure(step, new TableRow(OnGrid(amplitude), new Measured(rate[0], u), new Measured(rate[1], u))));
        }

        double sustainedRate = c.SustainedSpikes / (c.StepMs / 1000);
        return new StepResult(step, Axes(step.Run).X, Axes(step.Run).Y, rows,
            new Dictionary<string, (Measured, Measured)>(StringComparer.Ordinal)
            {
                ["repetitive_rheobase_nA"] = (Between(rows, x => x.Rig.Value >= sustainedRate, x => x.Rig), Between(rows, x => x.Model.Value >= sustainedRate, x => x.Model)),
                ["fi_slope_hz_per_nA"] = (Slope(rows, x => x.Rig, sustainedRate), Slope(rows, x => x.Model, sustainedRate)),
            },
            string.Create(CultureInfo.InvariantCulture, $"rate = action potentials in the {c.StepMs} ms step / its duration; repetitive firing from {c.SustainedSpikes} in a step; the f–I slope fitted by least squares over the steps that fire repetitively"));
    }

    /// <summary>Least-squares slope of the rows' values against X where they reach <paramref name="from"/>.</summary>
    private static Measured Slope(List<TableRow> rows, Func<TableRow, Measured> pick, double from)
    {
        var points = rows.Where(r => pick(r).Value >= from).Select(r => (r.X, Y: pick(r).Value)).ToList();
        if (points.Count < 3) return Measured.None;
        double n = points.Count, mx = points.Average(p => p.X), my = points.Average(p => p.Y);
        double sxx = points.Sum(p => (p.X - mx) * (p.X - mx)), sxy = points.Sum(p => (p.X - mx) * (p.Y - my));
        double slope = sxy / sxx;
        double s2 = points.Sum(p => Math.Pow(p.Y - my - (slope * (p.X - mx)), 2)) / (n - 2);
        return new Measured(slope, Math.Sqrt(s2 / sxx));
    }

    /// <summary>The most demanding stimulus a step asks for (its shortest pulse at its largest amplitude), for the rig to check.</summary>
    private StimulusProtocol? Demanding(StepRun run) => run switch
    {
        ThresholdSearch t => Protocol(t.PulseMs, null, OnGrid(t.HighNanoamps)),
        StrengthDuration s => Protocol(s.DurationsMs.Min(), null, OnGrid(s.HighNanoamps)),
        RefractorySeries r => Protocol(r.PulseMs, (r.IntervalsMs.Min(), OnGrid(r.ConditioningNanoamps)), OnGrid(r.HighNanoamps)),
        CurrentSteps c => Protocol(c.StepMs, null, OnGrid(c.AmplitudesNanoamps.Max())),
        StepResponse r => Protocol(r.StepMs, null, OnGrid(r.AmplitudeNanoamps)),
        _ => null,   // conditions: the rig's part depends on changing its preparation (ApplyCondition says whether it can)
    };

    /// <summary>The first interval of the table where <paramref name="reached"/> holds (and holds from then on), as the midpoint with the one before;
    /// nothing when the column was not measured at all (a step the rig could not play).</summary>
    private static Measured Between(List<TableRow> rows, Func<TableRow, bool> reached, Func<TableRow, Measured> column)
    {
        if (rows.All(r => double.IsNaN(column(r).Value))) return Measured.None;
        int first = rows.Count;
        for (int i = rows.Count - 1; i >= 0 && reached(rows[i]); i--) first = i;
        if (first == rows.Count) return new Measured(double.PositiveInfinity, double.NaN);
        if (first == 0) return new Measured(rows[0].X, double.NaN);   // reached at the shortest interval tried: at most that
        double lo = rows[first - 1].X, hi = rows[first].X;
        return new Measured((lo + hi) / 2, (hi - lo) / Math.Sqrt(12));   // uniform within the bracket
    }

    private static Measured Ratio(Measured test, Measured single)
    {
        if (!double.IsFinite(test.Value)) return test;
        double ratio = test.Value / single.Value;
        return new Measured(ratio, Math.Abs(ratio) * Math.Sqrt(Math.Pow(test.Uncertainty / test.Value, 2) + Math.Pow(single.Uncertainty / single.Value, 2)));
    }

    /// <summary>
    /// Lapicque: I(d) = rheobase / (1 − e^(−d/τ)). For a given τ the rheobase that minimises the relative residuals is
    /// closed-form; τ is found by golden-section search on its logarithm (0.01–100 ms). The uncertainties come from refits
    /// with each threshold moved by a seeded normal draw of its own uncertainty.
    /// </summary>
    private static (Measured Rheobase, Measured Chronaxie) Lapicque(List<(double DurationMs, Measured Threshold)> points)
    {
        var usable = points.Where(p => double.IsFinite(p.Threshold.Value) && p.Threshold.Value > 0).ToList();
        if (usable.Count < 3) return (Measured.None, Measured.None);
        var (rheobase, tau) = FitLapicque(usable.Select(p => (p.DurationMs, p.Threshold.Value)).ToList());
        var random = new Random(17);
        var rheobases = new List<double>();
        var chronaxies = new List<double>();
        for (int draw = 0; draw < 40; draw++)
        {
            var moved = usable.Select(p => (p.DurationMs, p.Threshold.Value + Normal.Sample(random, 0, double.IsFinite(p.Threshold.Uncertainty) ? p.Threshold.Uncertainty : 0))).ToList();
            var (r, t) = FitLapicque(moved);
            rheobases.Add(r);
            chronaxies.Add(t * Math.Log(2));
        }

        return (new Measured(rheobase, Spread(rheobases)), new Measured(tau * Math.Log(2), Spread(chronaxies)));

        static double Spread(List<double> values)
        {
            double mean = values.Average();
            return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
        }
    }

    private static (double Rheobase, double TauMs) FitLapicque(List<(double DurationMs, double Nanoamps)> points)
    {
        (double Rheobase, double Cost) At(double tau)
        {
            // Relative residuals 1 − rheobase·g/I, g = 1 / (1 − e^(−d/τ)): least squares in rheobase is closed-form.
            double sum = 0, sumSquares = 0;
            foreach (var (d, i) in points)
            {
                double ratio = 1 / (1 - Math.Exp(-d / tau)) / i;
                sum += ratio;
                sumSquares += ratio * ratio;
            }

            double rheobase = sum / sumSquares, cost = 0;
            foreach (var (d, i) in points) cost += Math.Pow(1 - (rheobase / (1 - Math.Exp(-d / tau)) / i), 2);
            return (rheobase, cost);
        }

        double a = Math.Log(0.01), b = Math.Log(100), golden = (Math.Sqrt(5) - 1) / 2;
        double c = b - (golden * (b - a)), e = a + (golden * (b - a));
        for (int k = 0; k < 100; k++)
        {
            if (At(Math.Exp(c)).Cost < At(Math.Exp(e)).Cost) b = e;
            else a = c;
            c = b - (golden * (b - a));
            e = a + (golden * (b - a));
        }

        double tauMs = Math.Exp((a + b) / 2);
        return (At(tauMs).Rheobase, tauMs);
    }

    private static async Task<Measured> RepeatedAsync(ITrialBench bench, int repeats, Func<ITrialBench, Task<Measured>> search)
    {
        var values = new List<Measured>();
        for (int i = 0; i < repeats; i++) values.Add(await search(bench).ConfigureAwait(false));
        if (values.Any(v => !double.IsFinite(v.Value))) return values.First(v => !double.IsFinite(v.Value));
        double mean = values.Average(v => v.Value);
        double bracket = values.Average(v => v.Uncertainty);
        double spread = repeats > 1 ? Math.Sqrt(values.Sum(v => Math.Pow(v.Value - mean, 2)) / (repeats - 1)) / Math.Sqrt(repeats) : 0;
        return new Measured(mean, Math.Sqrt((bracket * bracket) + (spread * spread)));
    }

    /// <summary>
    /// Bisection for the smallest test-pulse amplitude that fires, the test pulse alone or <paramref name="conditioning"/>
    /// (interval, amplitude) after a first pulse. +∞ when even <paramref name="highNanoamps"/> does not fire.
    /// </summary>
    private async Task<Measured> SearchAsync(ITrialBench bench, double pulseMs, (double IntervalMs, double Nanoamps)? conditioning, double lowNanoamps, double highNanoamps,
        double toleranceNanoamps, CancellationToken ct)
    {
        double lo = OnGrid(lowNanoamps), hi = OnGrid(highNanoamps), tolerance = Math.Max(toleranceNanoamps, Grid);
        if (!await FiresAsync(bench, pulseMs, conditioning, hi, ct).ConfigureAwait(false)) return new Measured(double.PositiveInfinity, double.NaN);
        if (lo > 0 && await FiresAsync(bench, pulseMs, conditioning, lo, ct).ConfigureAwait(false))
        {
            throw new InvalidOperationException($"the {bench.Name} fires already at {lo} nA for a {pulseMs} ms pulse: lower low_nA in the practical");
        }

        while (hi - lo > tolerance)
        {
            double mid = OnGrid((lo + hi) / 2);
            if (mid <= lo || mid >= hi) break;
            if (await FiresAsync(bench, pulseMs, conditioning, mid, ct).ConfigureAwait(false)) hi = mid;
            else lo = mid;
        }

        return new Measured((lo + hi) / 2, (hi - lo) / Math.Sqrt(12));
    }

    private async Task<bool> FiresAsync(ITrialBench bench, double pulseMs, (double IntervalMs, double Nanoamps)? conditioning, double nanoamps, CancellationToken ct)
    {
        Trials++;
        var trial = await bench.RunAsync(Protocol(pulseMs, conditioning, nanoamps), ct).ConfigureAwait(false);
        if (conditioning is not { } c) return trial.SpikesFrom(0) > 0;
        // The conditioning pulse's own AP is one; the test pulse fired when there is a second (counting only after the
        // test's onset would take a conditioning AP that crosses 0 mV late for the test's).
        return trial.SpikesFrom(0) >= 2;
    }

    /// <summary>
    /// The threshold potential just above the threshold current, over <paramref name="repeats"/> trials (the rig's
    /// noise moves it): their mean ± its standard error (no uncertainty from one trial).
    /// </summary>
    private async Task<Measured> ThresholdPotentialAsync(ITrialBench bench, double pulseMs, Measured thresholdNanoamps, int repeats, CancellationToken ct)
    {
        if (!double.IsFinite(thresholdNanoamps.Value)) return Measured.None;
        // Just above the threshold current: the AP there shows the threshold potential closest to the search's.
        double amplitude = OnGrid(thresholdNanoamps.Value + (2 * Math.Max(thresholdNanoamps.Uncertainty, Grid)));
        var protocol = Protocol(pulseMs, null, amplitude);
        var thresholds = new List<double>(repeats);
        for (int i = 0; i < repeats; i++)
        {
            var trial = await bench.RunAsync(protocol, ct).ConfigureAwait(false);
            Trials++;
            var report = Analyze(trial, protocol);
            if (report.Spikes.Count > 0) thresholds.Add(report.Spikes[0].ThresholdMv);
        }

        if (thresholds.Count == 0) return Measured.None;
        double mean = thresholds.Average();
        return new Measured(mean, thresholds.Count < 2 ? double.NaN
            : Math.Sqrt(thresholds.Sum(x => (x - mean) * (x - mean)) / (thresholds.Count - 1) / thresholds.Count));
    }

    /// <summary>The amplitude grid of the step running: the rig's output, or the ideal rig's 1 nA for a step on the model alone.</summary>
    private double Grid => rigRefusal is not null && ModelAlone is not null ? 1 : nanoampsPerCode;

    /// <summary>The trial's action potentials, the slope the protocol's current gives by itself (I/C) taken out, as on every trace.</summary>
    private ActionPotentialReport Analyze(Trial trial, StimulusProtocol protocol)
    {
        var slope = new double[trial.Mv.Length - 1];
        for (int k = 0; k < slope.Length; k++) slope[k] = protocol.AmplitudeAt((k - trial.OnsetSample) * trial.DtMs) * slopePerNanoamp;
        return ActionPotentialAnalysis.Analyze(trial.Mv, trial.DtMs, stimulusSlopeMvPerMs: slope);
    }

    private double OnGrid(double nanoamps) => Math.Round(nanoamps / Grid) * Grid;

    private static StimulusProtocol Protocol(double pulseMs, (double IntervalMs, double Nanoamps)? conditioning, double nanoamps)
    {
        var inv = CultureInfo.InvariantCulture;
        string test = string.Create(inv, $$"""{"start_ms":{{conditioning?.IntervalMs ?? 0}},"phase1_ms":{{pulseMs}},"phase1_amplitude":{{nanoamps}}}""");
        string trains = conditioning is { } c ? string.Create(inv, $$"""{"phase1_ms":{{pulseMs}},"phase1_amplitude":{{c.Nanoamps}}},""") + test : test;
        return StimulusProtocol.Parse($$"""{"name":"practical","unit":"nA","trains":[{{trains}}]}""");
    }
}
