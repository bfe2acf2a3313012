using System.Globalization;
using Bench.Core.Analysis;
using Bench.Core.Models;
using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.Optimization;

namespace Bench.Core.Comparison;

/// <summary>Settings of a model fit.</summary>
public sealed record FitOptions
{
    /// <summary>Cost per ms of mean |spike-time difference| over matched spikes (mV per ms, added to the trace RMSE).</summary>
    public double SpikeTimeWeightMvPerMs { get; init; } = 1;

    /// <summary>Cost of each unmatched spike, per recorded spike (mV): a model that fires too often or too rarely is penalised even where its trace error is small.</summary>
    public double SpikeCountWeightMv { get; init; } = 5;

    /// <summary>Cost per mV of mean |peak difference| over matched action potentials.</summary>
    public double PeakWeight { get; init; } = 0.05;

    /// <summary>The trace term uses every n-th compared sample (the model still steps every sample).</summary>
    public int CostStride { get; init; } = 1;

    /// <summary>Largest spike-time difference that pairs two spikes (ms).</summary>
    public double MatchWindowMs { get; init; } = 10;

    /// <summary>Spike detection level (mV).</summary>
    public double DetectionMv { get; init; }

    /// <summary>Nelder–Mead iterations allowed per simplex run before the fit stops with the best point found.</summary>
    public int MaxIterations { get; init; } = 800;

    /// <summary>Nelder–Mead stops when the simplex's cost values differ by less than this (relative).</summary>
    public double Tolerance { get; init; } = 1e-7;

    /// <summary>Fresh starts of the simplex from the best point (each with a smaller simplex) while they still improve the cost.</summary>
    public int MaxRestarts { get; init; } = 4;

    /// <summary>Estimate standard errors from the curvature of the squared error at the optimum (costs 1 + 2p² evaluations).</summary>
    public bool EstimateUncertainty { get; init; } = true;
}

/// <summary>Where a fit is.</summary>
/// <param name="Evaluation">Cost evaluations so far.</param>
/// <param name="Cost">This evaluation's cost.</param>
/// <param name="BestCost">The lowest cost so far.</param>
/// <param name="Best">The parameters of the lowest cost so far.</param>
public sealed record FitProgress(int Evaluation, double Cost, double BestCost, IReadOnlyDictionary<string, double> Best);

/// <summary>One fitted parameter.</summary>
/// <param name="Name">Its name (a model parameter, or <c>v_offset</c>).</param>
/// <param name="Unit">Its unit.</param>
/// <param name="Initial">Where the fit started.</param>
/// <param name="Value">The fitted value.</param>
/// <param name="StandardError">Standard error from the curvature at the optimum (NaN when not estimated or not positive definite).</param>
public sealed record FittedParameter(string Name, string Unit, double Initial, double Value, double StandardError);

/// <summary>What a fit found.</summary>
/// <param name="Parameters">The fitted parameters.</param>
/// <param name="ModelParameters">Every parameter override to build the fitted model with (fixed and fitted).</param>
/// <param name="OffsetMv">The fitted (or fixed 0) offset added to the model's potential.</param>
/// <param name="RmseBeforeMv">Trace RMSE at the start.</param>
/// <param name="RmseAfterMv">Trace RMSE at the optimum.</param>
/// <param name="CostBefore">Cost at the start.</param>
/// <param name="CostAfter">Cost at the optimum.</param>
/// <param name="Evaluations">Cost evaluations (the uncertainty's included).</param>
/// <param name="Converged">False when the evaluation budget ran out first.</param>
/// <param name="Warning">Why the result may be poor, or null.</param>
public sealed record FitResult(IReadOnlyList<FittedParameter> Parameters, IReadOnlyDictionary<string, double> ModelParameters, double OffsetMv,
    double RmseBeforeMv, double RmseAfterMv, double CostBefore, double CostAfter, int Evaluations, bool Converged, string? Warning);

/// <summary>
/// Fits model parameters to a recording with Math.NET Numerics' Nelder–Mead simplex: no gradients, robust to the
/// discontinuities spike counts bring. Parameters that must be positive (conductances, capacitance) are searched in
/// log space, so every step keeps them in range and scales them alike; others (reversal potentials, temperature,
/// the offset) in their own units. The cost is the trace RMSE on compared samples plus weighted spike terms (time
/// differences of matched spikes, unmatched spikes, peak differences). Standard errors come from the curvature of the
/// summed squared error at the optimum (finite-difference Hessian H, covariance 2σ²H⁻¹ with σ² = SSE/(n − p)); they
/// assume independent residuals, so they are a lower bound where the misfit is structured.
/// </summary>
public static class ModelFitter
{
    /// <summary>The extra fit parameter: an offset added to the model's potential (junction potential, electrode offset).</summary>
    public const string OffsetParameter = "v_offset";

    /// <summary>Fits <paramref name="names"/> of <paramref name="model"/> to <paramref name="trace"/>.</summary>
    /// <param name="model">The model.</param>
    /// <param name="fixedParameters">Overrides held fixed (and the starting values of fitted ones).</param>
    /// <param name="names">Parameters to fit (model parameters, <c>temperature</c> for <c>celsius</c>, or <see cref="OffsetParameter"/>).</param>
    /// <param name="trace">The recording and the stimulus the model received, sample by sample.</param>
    /// <param name="options">Weights and limits.</param>
    /// <param name="progress">Called after every evaluation.</param>
    /// <param name="cancellationToken">Stops the fit (OperationCanceledException).</param>
    /// <exception cref="ArgumentException">An unknown parameter, none to fit, or a trace with nothing to compare.</exception>
    public static FitResult Fit(ModelDescriptor model, IReadOnlyDictionary<string, double>? fixedParameters, IReadOnlyList<string> names, ComparisonTrace trace,
        FitOptions? options = null, Action<FitProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        options ??= new FitOptions();
        if (names.Count == 0) throw new ArgumentException("name at least one parameter to fit");
        var resolved = model.Resolve(fixedParameters);
        var baseOverrides = new Dictionary<string, double>(fixedParameters ?? new Dictionary<string, double>(), StringComparer.Ordinal);
        double initialOffset = baseOverrides.Remove(OffsetParameter, out double o) ? o : 0;
        var axes = new List<Axis>();
        foreach (string raw in names)
        {
            string name = raw == "temperature" && resolved.ContainsKey("celsius") ? "celsius" : raw;
            if (axes.Any(a => a.Name == name)) throw new ArgumentException($"parameter '{name}' is named twice");
            if (name == OffsetParameter)
            {
                axes.Add(new Axis(name, "mV", initialOffset, Log: false, Declaration: null, Step: 1));
                continue;
            }

            var info = model.Parameters.FirstOrDefault(p => p.Name == name)
                ?? throw new ArgumentException($"unknown parameter '{raw}' for model {model.Name}; valid: {string.Join(", ", model.Parameters.Select(p => p.Name).Append(OffsetParameter))}");
            double start = resolved[name];
            // The declaration says how to search it; log space needs a positive start.
            bool log = info.Transform == FitTransform.Log && start > 0;
            axes.Add(new Axis(name, info.Unit, start, log, info, log ? 0.1 : Math.Max(1, 0.05 * Math.Abs(start))));
        }

        var problem = new Problem(model, baseOverrides, axes, trace, options);
        if (problem.Compared == 0) throw new ArgumentException("the recording has no sample to compare");
        double[] x0 = [.. axes.Select(a => a.ToSearch(a.Initial))];
        int evaluations = 0;
        double bestCost = double.PositiveInfinity;
        double[] bestX = x0;
        double Objective(Vector<double> x)
        {
            cancellationToken.ThrowIfCancellationRequested();
            double[] point = x.ToArray();
            double cost = problem.Cost(point).Cost;
            evaluations++;
            if (cost < bestCost)
            {
                bestCost = cost;
                bestX = point;
            }

            progress?.Invoke(new FitProgress(evaluations, cost, bestCost, problem.Named(bestX)));
            return cost;
        }

        var before = problem.Cost(x0);
        bool converged = true;
        string? warning = null;
        try
        {
            // Nelder–Mead can stall in a narrow valley with a collapsed simplex: start it again from its result with a
            // fresh simplex until a restart no longer improves the cost (the usual remedy).
            double[] from = x0;
            double scale = 1;
            for (int restart = 0; restart < options.MaxRestarts + 1; restart++)
            {
                double previous = bestCost;
                var simplex = new NelderMeadSimplex(options.Tolerance, options.MaxIterations);
                var result = simplex.FindMinimum(ObjectiveFunction.Value(Objective), Vector<double>.Build.DenseOfArray(from),
                    Vector<double>.Build.DenseOfArray([.. axes.Select(a => a.Step * scale)]));
                if (result.FunctionInfoAtMinimum.Value <= bestCost) bestX = result.MinimizingPoint.ToArray();
                if (restart > 0 && previous - bestCost <= options.Tolerance * Math.Abs(bestCost)) break;
                from = bestX;
                scale *= 0.3;
            }
        }
        catch (MaximumIterationsException)
        {
            converged = false;
            warning = $"the fit stopped after {options.MaxIterations} iterations without converging; the best point found is reported";
        }

        var after = problem.Cost(bestX);
        double[] values = [.. axes.Select((a, i) => a.FromSearch(bestX[i]))];
        double[] errors = [.. values.Select(_ => double.NaN)];
        if (options.EstimateUncertainty)
        {
            var (se, extra, note) = problem.StandardErrors(values, cancellationToken);
            errors = se;
            evaluations += extra;
            if (note is not null) warning = warning is null ? note : $"{warning}; {note}";
        }

        if (after.SpikesRecorded == 0) warning = warning is null ? "the recording has no spike: spike terms did not constrain the fit" : warning;
        var fitted = axes.Select((a, i) => new FittedParameter(a.Name, a.Unit, a.Initial, values[i], errors[i])).ToList();
        var overrides = problem.Overrides(values, out double offset);
        return new FitResult(fitted, overrides, offset, before.RmseMv, after.RmseMv, before.Cost, after.Cost, evaluations, converged, warning);
    }

    /// <summary>One search axis.</summary>
    private sealed record Axis(string Name, string Unit, double Initial, bool Log, ModelParameter? Declaration, double Step)
    {
        /// <summary>How far <paramref name="value"/> lies outside the declared range (0 inside; log axes also exclude 0).</summary>
        public double Outside(double value)
        {
            if (Declaration is null) return 0;
            if (value < Declaration.Minimum || (Log && value <= 0)) return Math.Max(Declaration.Minimum, 0) - value + 1;
            if (value > Declaration.Maximum) return value - Declaration.Maximum + 1;
            return Declaration.Accepts(value) ? 0 : 1;
        }

        public double ToSearch(double value) => Log ? Math.Log(value) : value;

        public double FromSearch(double x) => Log ? Math.Exp(x) : x;
    }

    private readonly record struct Evaluation(double Cost, double RmseMv, double Sse, long Samples, int SpikesRecorded);

    /// <summary>The recording prepared once; every cost evaluation simulates the model over it.</summary>
    private sealed class Problem
    {
        private readonly ModelDescriptor model;
        private readonly Dictionary<string, double> fixedOverrides;
        private readonly List<Axis> axes;
        private readonly ComparisonTrace trace;
        private readonly FitOptions options;
        private readonly double[] recordedSpikes;
        private readonly double[] recordedPeaks;

        public Problem(ModelDescriptor model, Dictionary<string, double> fixedOverrides, List<Axis> axes, ComparisonTrace trace, FitOptions options)
        {
            this.model = model;
            this.fixedOverrides = fixedOverrides;
            this.axes = axes;
            this.trace = trace;
            this.options = options;
            (recordedSpikes, recordedPeaks) = SpikesAndPeaks(trace.RecordedMv, trace.RecordedMv);
            for (int i = 0; i < trace.RecordedMv.Length; i++)
            {
                if (!double.IsNaN(trace.RecordedMv[i])) Compared++;
            }
        }

        public long Compared { get; }

        public Dictionary<string, double> Overrides(double[] values, out double offset)
        {
            var d = new Dictionary<string, double>(fixedOverrides, StringComparer.Ordinal);
            offset = 0;
            for (int i = 0; i < axes.Count; i++)
            {
                if (axes[i].Name == OffsetParameter) offset = values[i];
                else d[axes[i].Name] = values[i];
            }

            return d;
        }

        public Dictionary<string, double> Named(double[] x) => axes.Select((a, i) => (a.Name, a.FromSearch(x[i]))).ToDictionary(p => p.Name, p => p.Item2, StringComparer.Ordinal);

        public Evaluation Cost(double[] x) => Evaluate([.. axes.Select((a, i) => a.FromSearch(x[i]))], options.CostStride);

        public Evaluation Evaluate(double[] values, int stride)
        {
            // Out of a parameter's range: a cost that rises with the distance, so the simplex turns back.
            double outside = 0;
            for (int i = 0; i < axes.Count; i++)
            {
                if (!double.IsFinite(values[i])) return new Evaluation(double.MaxValue, double.NaN, double.NaN, 0, 0);
                outside += axes[i].Outside(values[i]);
            }

            if (outside > 0) return new Evaluation(1e6 * (1 + outside), double.NaN, double.NaN, 0, 0);
            INeuronModel m;
            var overrides = Overrides(values, out double offset);
            try
            {
                m = model.Create(overrides);
            }
            catch (ArgumentException)
            {
                return new Evaluation(1e6, double.NaN, double.NaN, 0, 0);
            }

            var rec = trace.RecordedMv;
            var stim = trace.Stimulus;
            var predicted = new double[rec.Length];
            double dt = trace.DtMs, sse = 0;
            long n = 0;
            stride = Math.Max(1, stride);
            for (int k = 0; k < rec.Length; k++)
            {
                double v = m.VoltageMv + offset;
                predicted[k] = v;
                m.Step(stim[k], dt);
                if (k % stride == 0 && !double.IsNaN(rec[k]))
                {
                    double e = rec[k] - v;
                    sse += e * e;
                    n++;
                }
            }

            if (!double.IsFinite(sse)) return new Evaluation(1e6, double.NaN, double.NaN, 0, 0);
            double rmse = n > 0 ? Math.Sqrt(sse / n) : double.NaN;
            var (spikes, peaks) = SpikesAndPeaks(predicted, rec);
            double spikeCost = 0;
            if (recordedSpikes.Length + spikes.Length > 0)
            {
                int pairs = 0;
                double sumDt = 0, sumPeak = 0;
                int i = 0, j = 0;
                while (i < recordedSpikes.Length && j < spikes.Length)
                {
                    double d = spikes[j] - recordedSpikes[i];
                    if (d < -options.MatchWindowMs) j++;
                    else if (d > options.MatchWindowMs) i++;
                    else
                    {
                        pairs++;
                        sumDt += Math.Abs(d);
                        sumPeak += Math.Abs(peaks[j] - recordedPeaks[i]);
                        i++;
                        j++;
                    }
                }

                int unmatched = recordedSpikes.Length + spikes.Length - (2 * pairs);
                spikeCost = (options.SpikeCountWeightMv * unmatched / Math.Max(1, recordedSpikes.Length))
                    + (pairs > 0 ? (options.SpikeTimeWeightMvPerMs * sumDt / pairs) + (options.PeakWeight * sumPeak / pairs) : 0);
            }

            return new Evaluation(rmse + spikeCost, rmse, sse, n, recordedSpikes.Length);
        }

        /// <summary>Spike times (ms) and the peak after each, where both samples of the crossing were recorded.</summary>
        private (double[] Times, double[] Peaks) SpikesAndPeaks(double[] v, double[] recorded)
        {
            var times = new List<double>();
            var peaks = new List<double>();
            var detector = new OnlineSpikeDetector(options.DetectionMv, 1);
            double dt = trace.DtMs;
            for (int k = 0; k < v.Length; k++)
            {
                if (double.IsNaN(v[k]))
                {
                    detector = new OnlineSpikeDetector(options.DetectionMv, 1);
                    continue;
                }

                if (detector.Add(k * dt, v[k], dt) is not double t || k == 0 || double.IsNaN(recorded[k]) || double.IsNaN(recorded[k - 1])) continue;
                // The highest 5-sample mean above the detection level: noise does not inflate it, and both traces
                // are measured alike.
                double peak = double.NegativeInfinity;
                for (int j = Math.Max(k, 2); j + 2 < v.Length && v[j] >= options.DetectionMv; j++)
                {
                    peak = Math.Max(peak, (v[j - 2] + v[j - 1] + v[j] + v[j + 1] + v[j + 2]) / 5);
                }

                if (double.IsNaN(peak) || double.IsNegativeInfinity(peak)) peak = v[k];
                times.Add(t);
                peaks.Add(peak);
            }

            return ([.. times], [.. peaks]);
        }

        /// <summary>Standard errors from the finite-difference Hessian of the summed squared error.</summary>
        public (double[] Errors, int Evaluations, string? Note) StandardErrors(double[] values, CancellationToken cancellationToken)
        {
            int p = values.Length;
            var h = new double[p];
            for (int i = 0; i < p; i++) h[i] = 1e-3 * Math.Max(Math.Abs(values[i]), 1);
            int evaluations = 0;
            double Sse(double[] v)
            {
                cancellationToken.ThrowIfCancellationRequested();
                evaluations++;
                return Evaluate(v, 1).Sse;
            }

            double[] Shift(params (int Index, double By)[] moves)
            {
                double[] v = (double[])values.Clone();
                foreach (var (index, by) in moves) v[index] += by;
                return v;
            }

            var centre = Evaluate(values, 1);
            evaluations++;
            double s0 = centre.Sse;
            var hessian = new double[p, p];
            for (int i = 0; i < p; i++)
            {
                hessian[i, i] = (Sse(Shift((i, h[i]))) - (2 * s0) + Sse(Shift((i, -h[i])))) / (h[i] * h[i]);
                for (int j = 0; j < i; j++)
                {
                    double pp = Sse(Shift((i, h[i]), (j, h[j]))), pm = Sse(Shift((i, h[i]), (j, -h[j])));
                    double mp = Sse(Shift((i, -h[i]), (j, h[j]))), mm = Sse(Shift((i, -h[i]), (j, -h[j])));
                    hessian[i, j] = hessian[j, i] = (pp - pm - mp + mm) / (4 * h[i] * h[j]);
                }
            }

            var errors = Enumerable.Repeat(double.NaN, p).ToArray();
            if (centre.Samples <= p || !double.IsFinite(s0)) return (errors, evaluations, "too few samples for an uncertainty");
            var matrix = Matrix<double>.Build.DenseOfArray(hessian);
            if (!matrix.Enumerate().All(double.IsFinite)) return (errors, evaluations, "the cost is not smooth at the optimum: no uncertainty");
            try
            {
                var covariance = matrix.Cholesky().Solve(Matrix<double>.Build.DenseIdentity(p)) * (2 * s0 / (centre.Samples - p));
                for (int i = 0; i < p; i++) errors[i] = Math.Sqrt(covariance[i, i]);
                return (errors, evaluations, null);
            }
            catch (ArgumentException)
            {
                return (errors, evaluations, "the cost's curvature at the optimum is not positive definite (a parameter is not determined by this recording): no uncertainty");
            }
        }
    }

    /// <summary>The parameter list of a fit, as <c>--params</c> takes it (comma-separated).</summary>
    public static IReadOnlyList<string> ParseNames(string text) =>
        [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    /// <summary>One line for progress output: <c>gNa=104.2 gK=35.9</c>.</summary>
    public static string Describe(IReadOnlyDictionary<string, double> values) =>
        string.Join(' ', values.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key}={kv.Value:G6}")));
}
