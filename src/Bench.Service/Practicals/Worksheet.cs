using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Bench.Service.Practicals;

/// <summary>Who ran a practical, on what.</summary>
/// <param name="Student">The student's name (may be empty).</param>
/// <param name="Rig">The rig: board and unique id, or the emulated rig.</param>
/// <param name="Calibration">Its calibration and where it came from.</param>
/// <param name="Model">The model and its parameters.</param>
/// <param name="DateUtc">When.</param>
public sealed record WorksheetHeader(string Student, string Rig, string Calibration, string Model, DateTimeOffset DateUtc);

/// <summary>
/// A practical's worksheet: one self-contained HTML file (figures inline as SVG, no scripts or fonts fetched, A4 print
/// styles) and each step's table as CSV beside it. Rig and model side by side, with the difference and its uncertainty.
/// </summary>
public static class Worksheet
{
    /// <summary>
    /// Writes <c>&lt;name&gt;.html</c> and <c>&lt;name&gt;-&lt;step&gt;.csv</c> into <paramref name="directory"/>; returns the
    /// HTML's path. A step of the practical without a result is listed as not run.
    /// </summary>
    /// <param name="directory">Where the files go.</param>
    /// <param name="practical">The practical.</param>
    /// <param name="header">Who ran it, on what.</param>
    /// <param name="steps">The steps' results.</param>
    /// <param name="answers">The student's answers, keyed <see cref="AnswerKey"/>; null: blank lines to write on.</param>
    public static string Write(string directory, Practical practical, WorksheetHeader header, IReadOnlyList<StepResult> steps,
        IReadOnlyDictionary<string, string>? answers = null)
    {
        Directory.CreateDirectory(directory);
        foreach (var step in steps)
        {
            var csv = new StringBuilder();
            csv.Append(Csv(step.XTitle)).Append(",rig,rig_uncertainty,model,model_uncertainty,difference\n");
            foreach (var row in step.Rows)
            {
                csv.Append(row.Label is null ? N(row.X) : Csv(row.Label)).Append(',').Append(N(row.Rig.Value)).Append(',').Append(N(row.Rig.Uncertainty)).Append(',')
                    .Append(N(row.Model.Value)).Append(',').Append(N(row.Model.Uncertainty)).Append(',').Append(N(row.Model.Value - row.Rig.Value)).Append('\n');
            }

            Atomic(Path.Combine(directory, $"{practical.Name}-{step.Step.Id}.csv"), csv.ToString());
        }

        string path = Path.Combine(directory, practical.Name + ".html");
        Atomic(path, Html(practical, header, steps, answers));
        return path;
    }

    /// <summary>The key of the answer to question <paramref name="index"/> (from 0) of step <paramref name="stepId"/>: <c>step/index</c>.</summary>
    public static string AnswerKey(string stepId, int index) => string.Create(CultureInfo.InvariantCulture, $"{stepId}/{index}");

    /// <summary>The results as JSON: name → {rig, model, rig_uncertainty, model_uncertainty}.</summary>
    public static JsonObject Results(IReadOnlyList<StepResult> steps)
    {
        var o = new JsonObject();
        foreach (var step in steps)
        {
            foreach (var (name, (rig, model)) in step.Results)
            {
                // A second step with the same result keeps its own, under its step's id.
                o[o.ContainsKey(name) ? $"{step.Step.Id}.{name}" : name] = new JsonObject
                {
                    ["rig"] = rig.ValueJson, ["model"] = model.ValueJson,
                    ["rig_uncertainty"] = double.IsFinite(rig.Uncertainty) ? rig.Uncertainty : null,
                    ["model_uncertainty"] = double.IsFinite(model.Uncertainty) ? model.Uncertainty : null,
                };
            }
        }

        return o;
    }

    private static string Html(Practical practical, WorksheetHeader header, IReadOnlyList<StepResult> steps, IReadOnlyDictionary<string, string>? answers)
    {
        var h = new StringBuilder();
        string E(string s) => WebUtility.HtmlEncode(s);
        h.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(E(practical.Title)).Append("</title><style>")
            .Append("body{font:11pt/1.4 system-ui,sans-serif;max-width:180mm;margin:10mm auto;color:#111}h1{font-size:16pt}h2{font-size:13pt;margin-top:8mm}")
            .Append("table{border-collapse:collapse;margin:3mm 0}td,th{border:1px solid #999;padding:1mm 2mm;text-align:right}th{background:#eee}")
            .Append(".meta td{text-align:left;border:none;padding:0 4mm 0 0}.answer{border-bottom:1px solid #999;height:8mm;margin-bottom:2mm}.answered{border-left:2px solid #999;padding-left:3mm;white-space:pre-wrap}")
            .Append("svg{border:1px solid #ccc}.rig{stroke:#c0392b}.model{stroke:#2471a3}circle.rig,text.rig{fill:#c0392b}circle.model,text.model{fill:#2471a3}")
            .Append("polyline{fill:none;stroke-width:1.5}polyline.model{stroke-dasharray:5 3}text.rig,text.model{stroke:none}")
            .Append("@page{size:A4;margin:12mm}@media print{h2{break-after:avoid}section{break-inside:avoid}}</style></head><body>");
        h.Append("<h1>").Append(E(practical.Title)).Append("</h1><table class=\"meta\">");
        foreach (var (k, v) in new[] { ("Student", header.Student), ("Rig", header.Rig), ("Calibration", header.Calibration), ("Model", header.Model),
            ("Date", header.DateUtc.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture)) })
        {
            h.Append("<tr><td><b>").Append(k).Append("</b></td><td>").Append(E(v.Length == 0 ? "—" : v)).Append("</td></tr>");
        }

        h.Append("</table><p>").Append(E(practical.Intro)).Append("</p>");
        foreach (var planned in practical.Steps)
        {
            var step = steps.LastOrDefault(s => s.Step.Id == planned.Id);
            if (step is null)
            {
                h.Append("<section><h2>").Append(E(planned.Id)).Append("</h2><p>").Append(E(planned.Text)).Append("</p><p><i>Not run.</i></p>");
                Questions(planned);
                h.Append("</section>");
                continue;
            }

            h.Append("<section><h2>").Append(E(step.Step.Id)).Append("</h2><p>").Append(E(step.Step.Text)).Append("</p>");
            h.Append("<table><tr><th>").Append(E(step.XTitle)).Append("</th><th>rig</th><th>model</th><th>model − rig</th></tr>");
            foreach (var row in step.Rows)
            {
                h.Append("<tr><td>").Append(row.Label is null ? N(row.X) : E(row.Label)).Append("</td><td>").Append(WithU(row.Rig)).Append("</td><td>").Append(WithU(row.Model))
                    .Append("</td><td>").Append(DifferenceText(row.Rig, row.Model)).Append("</td></tr>");
            }

            h.Append("</table><p><i>").Append(E(step.YTitle)).Append(" ± standard uncertainty.</i></p>");
            if (step.Rows.Count > 1 && step.Rows.All(r => r.Label is null)) h.Append(Plot(step));
            h.Append("<table><tr><th>result</th><th>rig</th><th>model</th><th>model − rig</th></tr>");
            foreach (var (name, (rig, model)) in step.Results)
            {
                h.Append("<tr><td>").Append(E(name)).Append("</td><td>").Append(WithU(rig)).Append("</td><td>").Append(WithU(model))
                    .Append("</td><td>").Append(DifferenceText(rig, model)).Append("</td></tr>");
            }

            h.Append("</table><p><small>").Append(E(step.Method)).Append("</small></p>");
            Questions(step.Step);
            h.Append("</section>");
        }

        return h.Append("</body></html>").ToString();

        void Questions(PracticalStep step)
        {
            for (int i = 0; i < step.Questions.Count; i++)
            {
                h.Append("<p>").Append(E(step.Questions[i])).Append("</p>");
                if (answers is not null && answers.TryGetValue(AnswerKey(step.Id, i), out string? answer) && !string.IsNullOrWhiteSpace(answer))
                {
                    h.Append("<p class=\"answered\">").Append(E(answer.Trim())).Append("</p>");
                }
                else
                {
                    h.Append("<div class=\"answer\"></div><div class=\"answer\"></div>");
                }
            }
        }
    }

    /// <summary>The table as a plot: rig and model against the setting, with error bars.</summary>
    private static string Plot(StepResult step)
    {
        const double W = 480, H = 260, L = 50, B = 30;
        var points = step.Rows.SelectMany(r => new[] { r.Rig.Value, r.Model.Value }).Where(double.IsFinite).ToList();
        if (points.Count == 0) return "";
        double xMin = step.Rows.Min(r => r.X), xMax = step.Rows.Max(r => r.X), yMin = Math.Min(0, points.Min()), yMax = points.Max() * 1.1;
        double X(double x) => L + ((x - xMin) / Math.Max(xMax - xMin, 1e-9) * (W - L - 10));
        double Y(double y) => H - B - ((y - yMin) / Math.Max(yMax - yMin, 1e-9) * (H - B - 10));
        var s = new StringBuilder();
        s.Append(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\">"));
        s.Append(Inv($"<line x1=\"{L}\" y1=\"{H - B}\" x2=\"{W - 10}\" y2=\"{H - B}\" stroke=\"#333\"/><line x1=\"{L}\" y1=\"10\" x2=\"{L}\" y2=\"{H - B}\" stroke=\"#333\"/>"));
        s.Append(Inv($"<text x=\"{W / 2}\" y=\"{H - 5}\" text-anchor=\"middle\" font-size=\"11\">{WebUtility.HtmlEncode(step.XTitle)}</text>"));
        s.Append(Inv($"<text x=\"12\" y=\"{(H - B) / 2}\" font-size=\"11\" transform=\"rotate(-90 12 {(H - B) / 2})\" text-anchor=\"middle\">{WebUtility.HtmlEncode(step.YTitle)}</text>"));
        foreach (double tick in new[] { xMin, xMax }) s.Append(Inv($"<text x=\"{X(tick)}\" y=\"{H - B + 12}\" font-size=\"9\" text-anchor=\"middle\">{N(tick)}</text>"));
        foreach (double tick in new[] { yMin, (yMin + yMax) / 2, yMax }) s.Append(Inv($"<text x=\"{L - 4}\" y=\"{Y(tick) + 3}\" font-size=\"9\" text-anchor=\"end\">{tick:0.##}</text>"));
        foreach (var (cls, pick) in new (string, Func<TableRow, Measured>)[] { ("rig", r => r.Rig), ("model", r => r.Model) })
        {
            var line = string.Join(" ", step.Rows.Where(r => double.IsFinite(pick(r).Value)).Select(r => Inv($"{X(r.X):0.#},{Y(pick(r).Value):0.#}")));
            s.Append(Inv($"<polyline class=\"{cls}\" fill=\"none\" points=\"{line}\"/>"));
            foreach (var r in step.Rows.Where(r => double.IsFinite(pick(r).Value)))
            {
                var m = pick(r);
                s.Append(Inv($"<circle class=\"{cls}\" cx=\"{X(r.X):0.#}\" cy=\"{Y(m.Value):0.#}\" r=\"3\"/>"));
                if (double.IsFinite(m.Uncertainty)) s.Append(Inv($"<line class=\"{cls}\" x1=\"{X(r.X):0.#}\" x2=\"{X(r.X):0.#}\" y1=\"{Y(m.Value - m.Uncertainty):0.#}\" y2=\"{Y(m.Value + m.Uncertainty):0.#}\"/>"));
            }
        }

        s.Append(Inv($"<text x=\"{W - 120}\" y=\"20\" class=\"rig\" font-size=\"11\">● rig (solid)</text><text x=\"{W - 120}\" y=\"34\" class=\"model\" font-size=\"11\">● model (dashed)</text></svg>"));
        return s.ToString();
    }

    private static string WithU(Measured m) => double.IsPositiveInfinity(m.Value) ? "never"
        : !double.IsFinite(m.Value) ? "—"
        : double.IsFinite(m.Uncertainty) ? $"{N(m.Value)} ± {N(m.Uncertainty)}" : N(m.Value);

    /// <summary>
    /// Model − rig, its combined standard uncertainty (NaN when neither side states one: no verdict), and whether the
    /// difference is beyond twice that uncertainty. NaN difference when either side was not measured.
    /// </summary>
    public static (double Value, double Uncertainty, bool Beyond) Difference(Measured rig, Measured model)
    {
        if (!double.IsFinite(rig.Value) || !double.IsFinite(model.Value)) return (double.NaN, double.NaN, false);
        double d = model.Value - rig.Value;
        if (!double.IsFinite(rig.Uncertainty) && !double.IsFinite(model.Uncertainty)) return (d, double.NaN, true);
        double u = Math.Sqrt(Sq(rig.Uncertainty) + Sq(model.Uncertainty));
        return (d, u, Math.Abs(d) > 2 * u);
        static double Sq(double x) => double.IsFinite(x) ? x * x : 0;
    }

    /// <summary>Model − rig as the worksheet writes it: with its uncertainty, and "(within uncertainty)" when it is not beyond twice that.</summary>
    private static string DifferenceText(Measured rig, Measured model)
    {
        var (d, u, beyond) = Difference(rig, model);
        if (double.IsNaN(d)) return "—";
        if (double.IsNaN(u)) return N(d);
        return $"{N(d)} ± {N(u)}" + (beyond ? "" : " (within uncertainty)");
    }

    private static string N(double x) => double.IsFinite(x) ? x.ToString("0.###", CultureInfo.InvariantCulture) : double.IsPositiveInfinity(x) ? "inf" : "";

    private static string Csv(string s) => s.Contains(',', StringComparison.Ordinal) || s.Contains('"', StringComparison.Ordinal) ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static void Atomic(string path, string text)
    {
        File.WriteAllText(path + ".partial", text);
        File.Move(path + ".partial", path, overwrite: true);
    }
}
