using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Bench.Core.Comparison;

namespace Bench.Cli;

/// <summary>
/// <c>bench fit &lt;recording&gt; --params gNa,gK,gL,EL</c>: fits model parameters to a recording (Nelder–Mead on trace
/// error and spike terms, then least squares on the trace), printing progress, the before/after comparison, and as the last line one JSON object with
/// <c>params</c> (name → fitted value), <c>uncertainty</c>, <c>interval95</c>, <c>correlations</c>, <c>trade_offs</c>,
/// <c>suggested_protocol</c>, <c>rmse_mV</c> before and after. A trade-off is also one line on stderr.
/// </summary>
internal static class FitCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var recording = new Argument<FileInfo>("recording") { Description = "an NWB file Bench wrote (the page's recordings, bench record), or a raw capture with its sidecar" };
        var names = new Option<string>("--params") { Description = "parameters to fit, comma-separated (e.g. gNa,gK,gL,EL; also Cm, celsius or temperature, v_offset)", Required = true };
        var model = new Option<string?>("--model") { Description = "the model (default: the one the recording was compared with, else hh)" };
        var param = new Option<string[]>("--param") { Description = "fix a model parameter, or set a fitted one's start, name=value (repeatable)" };
        var iterations = new Option<int>("--max-iterations") { Description = "Nelder-Mead iterations per simplex run before giving up", DefaultValueFactory = _ => 800 };
        var suggest = new Option<FileInfo?>("--suggest-protocol")
        {
            Description = "also write a protocol (Bench protocol JSON, nA) that separates the parameters asked to this file; the JSON line carries it as suggested_protocol either way",
        };
        var options = ComparisonOptionsArguments.Create();
        var command = new Command("fit", "Fit model parameters to a recording (Nelder-Mead, then least squares on the trace), with 95 % intervals, trade-off warnings and the before/after comparison")
        {
            recording, names, model, param, iterations, suggest,
        };
        options.AddTo(command);
        command.SetAction((parse, cancellationToken) =>
        {
            var reader = ComparisonOutput.Open("fit", parse.GetValue(recording)!);
            var (descriptor, parameters) = ComparisonOutput.Model("fit", reader.Info.Model, parse.GetValue(model), parse.GetValue(param) ?? []);
            double area = ComparisonOutput.Area("fit", parse.GetValue(options.Area), reader.Info.Model);
            var fitNames = ModelFitter.ParseNames(parse.GetValue(names) ?? "");
            if (fitNames.Count == 0) throw new UserErrorException("fit: --params names no parameter: give e.g. --params gNa,gK,gL,EL");
            if (parse.GetValue(iterations) is < 10 or > 1_000_000) throw new UserErrorException("fit: --max-iterations must be 10 to 1000000");
            var comparisonOptions = options.Read(parse, "fit", retainTrace: true);
            var watch = Stopwatch.StartNew();
            var before = ComparisonOutput.Run(reader, descriptor, parameters, area, comparisonOptions);
            var trace = before.GetTrace();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"fit: {fitNames.Count} parameter(s) of {descriptor.Name} to {Path.GetFileName(reader.Info.CapturePath)} ({trace.RecordedMv.Length} samples, {trace.RecordedMv.Length * trace.DtMs:0.#} ms)"));
            long lastPrint = 0;
            FitResult fit;
            try
            {
                fit = ModelFitter.Fit(descriptor, parameters, fitNames, trace, new FitOptions { MaxIterations = parse.GetValue(iterations) }, p =>
                {
                    // At most a line every 0.25 s: progress, not a log.
                    if (watch.ElapsedMilliseconds - lastPrint < 250 && p.Evaluation > 1) return;
                    lastPrint = watch.ElapsedMilliseconds;
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fit: evaluation {p.Evaluation}: best cost {p.BestCost:0.0000} mV  {ModelFitter.Describe(p.Best)}"));
                    output.Flush();
                }, cancellationToken);
            }
            catch (ArgumentException e)
            {
                throw new UserErrorException($"fit: {e.Message}");
            }

            double seconds = watch.Elapsed.TotalSeconds;
            var fittedModel = new Dictionary<string, double>(fit.ModelParameters, StringComparer.Ordinal);
            var after = ComparisonOutput.Run(reader, descriptor, fittedModel, area, comparisonOptions with { ModelOffsetMv = fit.OffsetMv, RetainTrace = false });
            var b = before.GetReport();
            var a = after.GetReport();
            output.WriteLine("fit: parameter       start          fitted     std. error");
            foreach (var p in fit.Parameters)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {p.Name,-12} {p.Initial,12:G6}  {p.Value,14:G8}  {(double.IsFinite(p.StandardError) ? p.StandardError.ToString("G3", CultureInfo.InvariantCulture) : "-"),13} {p.Unit}"));
            }

            if (fit.Warning is not null) output.WriteLine($"fit: warning: {fit.Warning}");
            foreach (var t in fit.TradeOffs)
            {
                error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"bench: fit: warning: {t.First} and {t.Second} trade off (correlation {t.Correlation:0.00}): this recording does not tell them apart; {t.Advice} (or run with --suggest-protocol FILE)"));
            }

            string suggested = FitAdvice.SuggestProtocolJson([.. fit.Parameters.Select(p => p.Name)]);
            if (parse.GetValue(suggest) is { } suggestFile)
            {
                try
                {
                    File.WriteAllText(suggestFile.FullName, suggested + "\n");
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new UserErrorException($"fit: --suggest-protocol: cannot write {suggestFile.FullName}: {e.Message}; give a writable path");
                }
            }
            ComparisonOutput.PrintTable(output, "before:", b, comparisonOptions);
            ComparisonOutput.PrintTable(output, "after:", a, comparisonOptions);
            var json = new JsonObject
            {
                ["params"] = new JsonObject(fit.Parameters.Select(p => KeyValuePair.Create(p.Name, (JsonNode?)p.Value))),
                ["uncertainty"] = new JsonObject(fit.Parameters.Select(p => KeyValuePair.Create(p.Name, ComparisonOutput.Number(p.StandardError)))),
                ["interval95"] = new JsonObject(fit.Parameters.Select(p => KeyValuePair.Create(p.Name,
                    (JsonNode?)new JsonArray(ComparisonOutput.Number(p.Lower95), ComparisonOutput.Number(p.Upper95))))),
                ["correlations"] = fit.Correlations is { } r
                    ? new JsonObject(fit.Parameters.Select((p, i) => KeyValuePair.Create(p.Name,
                        (JsonNode?)new JsonObject(fit.Parameters.Select((q, j) => KeyValuePair.Create(q.Name, ComparisonOutput.Number(Math.Round(r[i, j], 4))))))))
                    : null,
                ["trade_offs"] = new JsonArray([.. fit.TradeOffs.Select(t => (JsonNode?)new JsonObject
                {
                    ["params"] = new JsonArray(t.First, t.Second), ["correlation"] = Math.Round(t.Correlation, 4), ["advice"] = t.Advice,
                })]),
                ["effective_samples"] = ComparisonOutput.Number(Math.Round(fit.EffectiveSamples)),
                ["suggested_protocol"] = JsonNode.Parse(suggested),
                ["initial"] = new JsonObject(fit.Parameters.Select(p => KeyValuePair.Create(p.Name, (JsonNode?)p.Initial))),
                ["rmse_mV"] = new JsonObject { ["before"] = ComparisonOutput.Number(fit.RmseBeforeMv), ["after"] = ComparisonOutput.Number(fit.RmseAfterMv) },
                ["rmse_before_mV"] = ComparisonOutput.Number(fit.RmseBeforeMv),
                ["rmse_after_mV"] = ComparisonOutput.Number(fit.RmseAfterMv),
                ["gamma"] = new JsonObject { ["before"] = ComparisonOutput.Number(b.Update.WholeSpikes.Gamma), ["after"] = ComparisonOutput.Number(a.Update.WholeSpikes.Gamma) },
                ["mean_spike_time_error_ms"] = new JsonObject
                {
                    ["before"] = ComparisonOutput.Number(b.Update.WholeSpikes.MeanSpikeTimeErrorMs), ["after"] = ComparisonOutput.Number(a.Update.WholeSpikes.MeanSpikeTimeErrorMs),
                },
                ["cost"] = new JsonObject { ["before"] = ComparisonOutput.Number(fit.CostBefore), ["after"] = ComparisonOutput.Number(fit.CostAfter) },
                ["model"] = descriptor.Name,
                ["fixed"] = new JsonObject(parameters.Where(kv => !fit.Parameters.Any(p => p.Name == kv.Key)).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
                ["evaluations"] = fit.Evaluations,
                ["converged"] = fit.Converged,
                ["warning"] = fit.Warning,
                ["seconds"] = seconds,
            };
            output.WriteLine(json.ToJsonString());
            return Task.FromResult(0);
        });
        return command;
    }
}
