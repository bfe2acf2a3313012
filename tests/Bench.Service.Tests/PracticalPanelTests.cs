using System.Text.Json.Nodes;
using Bench.Storage.Tests;
using Microsoft.Playwright;

namespace Bench.Service.Tests;

/// <summary>
/// The page's practicals: a practical opened on the service, its steps run on the connected (emulated) rig's own
/// pipeline and on the model, the table filled as rows are measured, the student's answers kept, and the worksheet
/// written beside each step's NWB recording; what would disturb a step's trials is refused while it runs. Then the same
/// from the page, in a real browser.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class PracticalPanelTests
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(150);

    private static Task<JsonNode> DoneAsync(RunningService service, string step) =>
        Eventually.Value(() => service.GetJsonAsync("/api/practical"), p => p["running"] is null && State(p, step) is "done" or "failed",
            $"step {step} done", StepTimeout);

    private static string? State(JsonNode practical, string step) =>
        (string?)practical["steps"]!.AsArray().Single(s => (string?)s!["id"] == step)!["state"];

    private static JsonNode Step(JsonNode practical, string step) => practical["steps"]!.AsArray().Single(s => (string?)s!["id"] == step)!;

    [Fact]
    public async Task A_threshold_step_runs_on_the_rigs_pipeline_and_the_model_refuses_what_would_disturb_it_and_writes_a_worksheet_with_the_answers()
    {
        await using var service = await RunningService.StartAsync();
        var list = (await service.GetJsonAsync("/api/practicals")).AsArray();
        Assert.Contains(list, p => (string?)p!["name"] == "threshold");

        // Bad input first: neither name nor text, an unknown name, a path (never read from the service's disk), a broken file.
        foreach (var (body, expected) in new (object, string)[]
        {
            (new { student = "x" }, "give name"),
            (new { name = "nope" }, "no built-in practical 'nope'"),
            (new { name = "/etc/passwd" }, "no built-in practical"),
            (new { text = "format: bench-practical-1\nname: x\ntitle: t\nintro: i\nsteps:\n  - id: a\n    text: t\n    run: { kind: threshold-search, pulse_ms: -1 }\n" }, "the practical file:8:"),
        })
        {
            var (status, answer) = await service.SendAsync(HttpMethod.Post, "/api/practical", body);
            Assert.True(status == 400, $"{body}: {status} {answer?.ToJsonString()}");
            Assert.Contains(expected, (string?)answer!["error"], StringComparison.Ordinal);
        }

        var (runStatus, runAnswer) = await service.SendAsync(HttpMethod.Post, "/api/practical/steps/threshold/run");
        Assert.Equal(409, runStatus);
        Assert.Contains("no practical is open", (string?)runAnswer!["error"], StringComparison.Ordinal);

        var (openStatus, opened) = await service.SendAsync(HttpMethod.Post, "/api/practical", new { name = "threshold", student = "Ada" });
        Assert.True(openStatus == 200, opened?.ToJsonString());
        Assert.Equal("pending", State(opened!, "threshold"));
        Assert.Equal("Ada", (string?)opened!["student"]);

        var (started, view) = await service.SendAsync(HttpMethod.Post, "/api/practical/steps/threshold/run");
        Assert.True(started == 200, view?.ToJsonString());
        Assert.Equal("threshold", (string?)view!["running"]);
        // While it runs, the page's own stimuli, recordings and rig changes are refused, naming the step.
        foreach (var (method, path, body) in new (HttpMethod, string, object?)[]
        {
            (HttpMethod.Post, "/api/stimulus/play", new { name = "single-pulse" }),
            (HttpMethod.Post, "/api/recordings", new { name = "mine" }),
            (HttpMethod.Put, "/api/emulator/parameters", new Dictionary<string, double> { ["gNa"] = 60 }),
            (HttpMethod.Post, "/api/practical/steps/threshold/run", null),
        })
        {
            var (status, answer) = await service.SendAsync(method, path, body);
            if (status == 200 && (await service.GetJsonAsync("/api/practical"))["running"] is null) break;   // the step already finished: nothing left to disturb
            Assert.True(status == 409, $"{path} during the step: {status} {answer?.ToJsonString()}");
            Assert.Contains("threshold", (string?)answer!["error"], StringComparison.Ordinal);
        }

        var done = await DoneAsync(service, "threshold");
        var step = Step(done, "threshold");
        Assert.True(State(done, "threshold") == "done", step.ToJsonString());
        var row = step["rows"]!.AsArray().Single()!;
        double rig = (double)row["rig"]!, model = (double)row["model"]!;
        // The emulated preparation is the model: the same threshold current, within the rig's stated uncertainty
        // (three bisections on the rig) and the 2 nA tolerance of the search.
        Assert.InRange(model, 50, 500);
        Assert.True(Math.Abs(rig - model) <= Math.Max(2.5, 3 * (double)(row["rig_uncertainty"] ?? 0)), row.ToJsonString());
        var thresholdMv = step["results"]!.AsArray().Single(r => (string?)r!["name"] == "threshold_mV")!;
        Assert.InRange((double)thresholdMv["model"]!, -62, -45);
        Assert.Contains("10 mV/ms", (string?)step["method"], StringComparison.Ordinal);
        Assert.Equal(rig, (double)done["results"]!["threshold_nA"]!["rig"]!);
        // The page may play again once the step is over.
        var (play, played) = await service.SendAsync(HttpMethod.Post, "/api/stimulus/play", new { name = "single-pulse" });
        Assert.True(play == 200, played?.ToJsonString());

        // Answers: kept by step/question; a key naming no question, or too long an answer, is refused.
        var (badKey, badAnswer) = await service.SendAsync(HttpMethod.Put, "/api/practical/answers", new { answers = new Dictionary<string, string> { ["threshold/7"] = "x" } });
        Assert.Equal(400, badKey);
        Assert.Contains("threshold/0", (string?)badAnswer!["error"], StringComparison.Ordinal);
        var (tooLong, _) = await service.SendAsync(HttpMethod.Put, "/api/practical/answers", new { answers = new Dictionary<string, string> { ["threshold/0"] = new string('a', 5000) } });
        Assert.Equal(400, tooLong);
        var (answered, afterAnswer) = await service.SendAsync(HttpMethod.Put, "/api/practical/answers",
            new { student = "Ada Lovelace", answers = new Dictionary<string, string> { ["threshold/1"] = "No: <all or none> means the AP is the same." } });
        Assert.True(answered == 200, afterAnswer?.ToJsonString());

        var (written, exported) = await service.SendAsync(HttpMethod.Post, "/api/practical/worksheet");
        Assert.True(written == 200, exported?.ToJsonString());
        Assert.Equal("threshold.html", (string?)exported!["worksheet"]);
        var files = (await service.GetJsonAsync("/api/practical/files")).AsArray().Select(f => (string)f!).ToList();
        Assert.Contains("threshold.html", files);
        Assert.Contains("threshold-threshold.csv", files);
        Assert.Contains("threshold-threshold.nwb", files);
        string html = await service.Client.GetStringAsync("/api/practical/files/threshold.html");
        Assert.Contains("Ada Lovelace", html, StringComparison.Ordinal);
        // The answer is in it, escaped; the unanswered question keeps its blank lines.
        Assert.Contains("No: &lt;all or none&gt; means the AP is the same.", html, StringComparison.Ordinal);
        Assert.Contains("class=\"answer\"", html, StringComparison.Ordinal);
        Assert.Contains("emulated rig", html, StringComparison.Ordinal);
        // The step's trials on the rig are a valid NWB file, an independent reader's view of it holds its pulses.
        string nwb = Directory.EnumerateFiles(Path.Combine(service.DataDirectory, "practicals"), "threshold-threshold.nwb", SearchOption.AllDirectories).Single();
        NwbSchema.AssertValid(nwb);
        // Only the practical's own files are served.
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await service.Client.GetAsync("/api/practical/files/..%2F..%2F.lock")).StatusCode);
    }

    [Fact]
    public async Task A_conditions_step_changes_the_emulated_preparation_and_the_model_for_each_condition_and_sets_both_back()
    {
        await using var service = await RunningService.StartAsync();
        var (_, before) = await service.SendAsync(HttpMethod.Put, "/api/emulator/parameters", new Dictionary<string, double> { ["gK"] = 30 });
        Assert.NotNull(before);
        var (openStatus, opened) = await service.SendAsync(HttpMethod.Post, "/api/practical", new { name = "ionic-basis" });
        Assert.True(openStatus == 200, opened?.ToJsonString());
        var (started, view) = await service.SendAsync(HttpMethod.Post, "/api/practical/steps/blockers/run");
        Assert.True(started == 200, view?.ToJsonString());
        var done = await DoneAsync(service, "blockers");
        var step = Step(done, "blockers");
        Assert.True(State(done, "blockers") == "done", step.ToJsonString());
        var rows = step["rows"]!.AsArray();
        Assert.Equal(16, rows.Count);   // four conditions × threshold, peak, half-width, AHP
        double Peak(string condition, string column) =>
            (double?)rows.Single(r => ((string)r!["label"]!).StartsWith(condition, StringComparison.Ordinal) && ((string)r!["label"]!).Contains("peak", StringComparison.Ordinal))![column]
            ?? throw new Xunit.Sdk.XunitException($"no {column} peak under {condition}: {step.ToJsonString()}");
        // Half the Na⁺ channels blocked lowers the peak, on the emulated preparation (changed for the condition) as on the model.
        Assert.True(Peak("TTX", "rig") < Peak("control", "rig") - 3, rows.ToJsonString());
        Assert.True(Peak("TTX", "model") < Peak("control", "model") - 3, rows.ToJsonString());
        // Both set back as they were before the step: the preparation's gK = 30 the user had set, the model's defaults.
        var emulator = await service.GetJsonAsync("/api/emulator/parameters");
        Assert.Equal(30, (double)emulator["parameters"]!.AsArray().Single(p => (string?)p!["name"] == "gK")!["value"]!);
        Assert.Equal(120, (double)emulator["parameters"]!.AsArray().Single(p => (string?)p!["name"] == "gNa")!["value"]!);
        var modelParameters = await service.GetJsonAsync("/api/model/parameters");
        Assert.Equal(120, (double)modelParameters["parameters"]!.AsArray().Single(p => (string?)p!["name"] == "gNa")!["value"]!);
        Assert.Equal("connected", (string?)(await service.GetJsonAsync("/api/health"))["rig"]!["state"]);
        // Each condition's trials on the rig have their own file.
        var files = (await service.GetJsonAsync("/api/practical/files")).AsArray().Select(f => (string)f!).ToList();
        Assert.Contains("ionic-basis-blockers-ttx.nwb", files);
        Assert.Contains("ionic-basis-blockers-control.nwb", files);
    }

    [Fact]
    public async Task A_step_no_rig_can_run_and_a_practical_needing_another_model_run_on_the_model_alone_and_say_so()
    {
        await using var service = await RunningService.StartAsync();
        var (_, opened) = await service.SendAsync(HttpMethod.Post, "/api/practical", new { name = "propagation" });
        Assert.Equal("conduction", (string?)Step(opened!, "myelinated")["kind"]);
        var (started, view) = await service.SendAsync(HttpMethod.Post, "/api/practical/steps/myelinated/run");
        Assert.True(started == 200, view?.ToJsonString());
        var step = Step(await DoneAsync(service, "myelinated"), "myelinated");
        Assert.Equal("done", (string?)step["state"]);
        Assert.All(step["rows"]!.AsArray(), r => Assert.Null(r!["rig"]));
        Assert.Contains("records at one site", (string?)step["method"], StringComparison.Ordinal);

        // The service compares with hh; resting-potential needs hh-ions: it runs on that model alone, and says how to run it on the rig.
        await service.SendAsync(HttpMethod.Post, "/api/practical", new { name = "resting-potential" });
        await service.SendAsync(HttpMethod.Post, "/api/practical/steps/sodium/run");
        step = Step(await DoneAsync(service, "sodium"), "sodium");
        Assert.True((string?)step["state"] == "done", step.ToJsonString());
        Assert.Contains("--model hh-ions", (string?)step["method"], StringComparison.Ordinal);
        Assert.All(step["rows"]!.AsArray(), r => Assert.Null(r!["rig"]));
        Assert.InRange((double)step["rows"]!.AsArray().Last()!["model"]!, -70.5, -69.5);
        // The emulated preparation was left alone.
        Assert.Equal("connected", (string?)(await service.GetJsonAsync("/api/health"))["rig"]!["state"]);
    }

    [Fact]
    public async Task A_student_opens_a_practical_on_the_page_runs_its_step_answers_and_opens_the_worksheet()
    {
        await using var service = await RunningService.StartAsync();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Browser.LaunchAsync(playwright);
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1100 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        await page.GotoAsync(service.BaseAddress.ToString());
        var wait = new PageWaitForFunctionOptions { Timeout = (float)StepTimeout.TotalMilliseconds };
        await page.WaitForFunctionAsync("() => document.querySelectorAll('#practical-select option').length >= 6", null, wait);

        await page.SelectOptionAsync("#practical-select", "threshold");
        await page.FillAsync("#practical-student", "Grace");
        await page.ClickAsync("#practical-open");
        await page.WaitForFunctionAsync("() => window.benchView.practical && window.benchView.practical.name === 'threshold'", null, wait);
        Assert.Equal("Threshold and all-or-none", await page.InnerTextAsync("#practical-title"));
        Assert.Equal("Grace", (string?)(await service.GetJsonAsync("/api/practical"))["student"]);

        await page.ClickAsync("#practical-steps button[data-run='threshold']");
        // The page's own Play waits while the step's trials run.
        await page.WaitForFunctionAsync("() => window.benchView.practical.running === 'threshold' || window.benchView.practical.steps[0].state === 'done'", null, wait);
        try
        {
            await page.WaitForFunctionAsync("() => window.benchView.practical.steps[0].state === 'done'", null, wait);
        }
        catch (TimeoutException e)
        {
            throw new Xunit.Sdk.XunitException($"the step did not finish: the page shows {await page.EvaluateAsync<string>("() => JSON.stringify(window.benchView.practical)")}, " +
                $"the service {(await service.GetJsonAsync("/api/practical")).ToJsonString()}; {e.Message}");
        }

        string table = await page.InnerTextAsync("#practical-steps li[data-step='threshold'] .step-table");
        Assert.Contains("rig", table, StringComparison.Ordinal);
        Assert.Contains("±", table, StringComparison.Ordinal);
        Assert.Contains("threshold_mV", await page.InnerTextAsync("#practical-steps li[data-step='threshold'] .step-results"), StringComparison.Ordinal);
        Assert.False(await page.IsDisabledAsync("#play"));

        // An answer typed is kept on the service (when the box is left), and survives a reload of the page.
        await page.FillAsync("textarea[data-answer='threshold/0']", "The pulse's own charging is only part of it.");
        await page.ClickAsync("#practical-title");
        await Eventually.TrueAsync(async () => (string?)(await service.GetJsonAsync("/api/practical"))["answers"]!["threshold/0"] == "The pulse's own charging is only part of it.",
            what: "the answer kept on the service");
        await page.ReloadAsync();
        await page.WaitForFunctionAsync("() => document.querySelector(\"textarea[data-answer='threshold/0']\")?.value.includes('charging')", null, wait);
        await page.WaitForFunctionAsync("() => document.querySelector('#practical-select').value === 'threshold'", null, wait);

        await page.ClickAsync("#practical-worksheet");
        await page.WaitForFunctionAsync("() => document.querySelector('#practical-files').innerText.includes('threshold.html')", null, wait);
        var popup = await page.RunAndWaitForPopupAsync(() => page.ClickAsync("#practical-files a[href*='threshold.html']"));
        await popup.WaitForLoadStateAsync();
        string worksheet = await popup.ContentAsync();
        Assert.Contains("Grace", worksheet, StringComparison.Ordinal);
        Assert.Contains("only part of it", worksheet, StringComparison.Ordinal);
        string artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(artifacts);
        await page.Locator("#practical-section").ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(artifacts, "practical-panel.png") });
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }
}
