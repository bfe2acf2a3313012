using System.Text.Json;
using Microsoft.Playwright;

namespace Bench.Service.Tests;

/// <summary>
/// The page as a student's instrument, in a real browser (Debian's Chromium through Playwright, as
/// <see cref="PageTests"/>) on the emulated rig: the triggered sweep at full resolution with the threshold the
/// comparison measured, the stimulus controls (below and above threshold, the rig's limits as typed), the model's
/// parameters changed live, a long step, and the continuous view's fixes. Every wait is for a condition.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class InstrumentPageTests
{
    private static readonly PageWaitForFunctionOptions Wait = new() { Timeout = Browser.WaitMs };

    private static async Task<(IPlaywright, IBrowser, IPage, List<string>)> OpenAsync(RunningService service)
    {
        var playwright = await Playwright.CreateAsync();
        var browser = await Browser.LaunchAsync(playwright);
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1100 } });
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        await page.GotoAsync(service.BaseAddress.ToString());
        // Connected, and the rig's limits are on the page.
        await page.WaitForFunctionAsync("() => document.querySelector('#stim-limits').innerText.includes('2047')", null, Wait);
        return (playwright, browser, page, errors);
    }

    private static async Task<JsonElement> SweepAsync(IPage page) =>
        JsonDocument.Parse(await page.EvaluateAsync<string>("() => JSON.stringify(window.benchView.sweep)")).RootElement;

    /// <summary>Waits for a sweep newer than <paramref name="afterId"/> that satisfies <paramref name="condition"/> (JS, on <c>s</c>).</summary>
    private static async Task<JsonElement> NextSweepAsync(IPage page, int afterId, string condition = "true")
    {
        try
        {
            await page.WaitForFunctionAsync($"id => {{ const s = window.benchView.sweep; return !!s && s.id > id && ({condition}); }}", afterId, Wait);
        }
        catch (TimeoutException e)
        {
            // What the page showed instead: the play's answer and the newest sweep.
            throw new Xunit.Sdk.XunitException($"no sweep after #{afterId} with {condition} in {Wait.Timeout} ms: play: '{await page.InnerTextAsync("#play-result")}', " +
                $"newest sweep: {await page.EvaluateAsync<string>("() => JSON.stringify(window.benchView.sweep)")}; " +
                $"played {await page.EvaluateAsync<int>("() => window.benchView.played")}, sweeps received {await page.EvaluateAsync<int>("() => window.benchView.sweepsReceived")}; {e.Message}");
        }

        return await SweepAsync(page);
    }

    private static async Task SetAsync(IPage page, string selector, string value)
    {
        await page.FillAsync(selector, value);
        await page.PressAsync(selector, "Enter");
    }

    private static string Artifacts()
    {
        string artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(artifacts);
        return artifacts;
    }

    [Fact]
    public async Task A_pulse_gives_a_full_resolution_sweep_with_the_threshold_the_comparison_measured_and_the_amplitude_control_crosses_threshold()
    {
        await using var service = await RunningService.StartAsync();
        var (playwright, browser, page, errors) = await OpenAsync(service);
        using var _ = playwright;
        await using var __ = browser;

        // Before any stimulus: the continuous view is a rolling window in seconds (0 = now), and freezing with no AP in
        // view says so instead of freezing a flat line.
        await page.WaitForFunctionAsync("() => window.benchView.traceX && window.benchView.tracePoints > 200", null, Wait);
        var traceX = JsonDocument.Parse(await page.EvaluateAsync<string>("() => JSON.stringify(window.benchView.traceX)")).RootElement;
        Assert.Equal(-1.0, traceX[0].GetDouble(), 3);
        Assert.Equal(0.0, traceX[1].GetDouble(), 3);
        await page.ClickAsync("#freeze");
        await page.WaitForFunctionAsync("() => document.querySelector('#freeze-note').innerText.includes('no action potential')", null, Wait);
        Assert.False(await page.IsCheckedAsync("#freeze"));
        // Its y range is fixed (−100 … 60 mV) or automatic: at rest, a few mV around −70.
        await page.WaitForFunctionAsync("() => window.benchView.traceY && window.benchView.traceY[0] === -100 && window.benchView.traceY[1] === 60", null, Wait);
        await page.CheckAsync(".yrange[data-plot=trace] .y-auto");
        await page.WaitForFunctionAsync("() => window.benchView.traceY[1] - window.benchView.traceY[0] < 10 && window.benchView.traceY[0] > -80", null, Wait);
        await page.UncheckAsync(".yrange[data-plot=trace] .y-auto");
        // At rest the correlation of rig and model is undefined (flat traces), shown as "—", not 0.000.
        await page.WaitForFunctionAsync("() => document.querySelector('#metrics').innerText.includes('correlation')", null, Wait);
        Assert.Equal("—", (await page.InnerTextAsync("#metrics tr:nth-child(2) td:nth-child(2)")).Trim());

        // One 1 ms pulse of 200 nA from the controls (played at once when the value is taken): its sweep holds every
        // sample (20 kHz: 20 points per ms), with the AP on rig and model.
        await SetAsync(page, "#stim-amplitude", "200");
        var ap = await NextSweepAsync(page, 0, "s.maxRecorded > 0");
        Assert.True(ap.GetProperty("pointsPerMs").GetDouble() >= 20, $"{ap.GetProperty("pointsPerMs")} points per ms");
        Assert.Equal(0.05, ap.GetProperty("dtMs").GetDouble(), 9);
        Assert.Equal(1000, ap.GetProperty("points").GetInt32());
        Assert.True(ap.GetProperty("maxModel").GetDouble() > 0, "the model's AP is in the sweep");
        Assert.Equal(200, ap.GetProperty("pulses")[0].GetProperty("phase1_nA").GetDouble());

        // The threshold line is the comparison's threshold for that AP, the very number the API gives.
        await page.WaitForFunctionAsync("() => window.benchView.sweep.thresholdDrawn != null", null, Wait);
        await Eventually.TrueAsync(async () =>
        {
            var drawn = (await SweepAsync(page)).GetProperty("thresholdDrawn").GetDouble();
            var comparison = await service.GetJsonAsync("/api/comparison");
            double api = (double)comparison["features"]!.AsArray().Single(f => ((string)f!["name"]!).StartsWith("threshold", StringComparison.Ordinal))!["recorded"]!;
            double spike = (double)comparison["features_spike_ms"]!;
            return drawn == api && spike > ap.GetProperty("onsetMs").GetDouble() && spike < ap.GetProperty("onsetMs").GetDouble() + 45;
        }, what: "the threshold line at the API's threshold_mV of the sweep's AP");
        // And the one threshold: bench simulate --model hh gives the same for that pulse (200 nA over the emulated
        // preparation's 10⁶ µm² is 20 µA/cm²; sampled as the rig samples, every 0.05 ms), within 1 mV of the rig's.
        string pulse = Path.Combine(service.DataDirectory, "pulse.json");
        File.WriteAllText(pulse, """{"unit":"uA/cm2","trains":[{"start_ms":5,"phase1_ms":1,"phase1_amplitude":20}]}""");
        var (code, stdout, stderr) = await BenchProcess.RunAsync("simulate", "--model", "hh", "--stimulus", pulse, "--duration", "40", "--dt", "0.05");
        Assert.True(code == 0, stderr);
        double simulated = (double)System.Text.Json.Nodes.JsonNode.Parse(stdout)!["action_potentials"]![0]!["threshold_mV"]!;
        double shown = (await SweepAsync(page)).GetProperty("thresholdDrawn").GetDouble();
        // The live model is noiseless and measured as bench simulate measures: the same number. The rig's carries the
        // rig's noise (0.2 mV, which moves the 10 mV/ms crossing): within 1 mV of the model's, or within three times the
        // uncertainty the comparison states for that difference.
        var row = (await service.GetJsonAsync("/api/comparison"))["features"]!.AsArray()
            .Single(f => ((string)f!["name"]!).StartsWith("threshold", StringComparison.Ordinal))!;
        double model = (double)row["model"]!;
        Assert.True(Math.Abs(model - simulated) < 0.3, $"the live model's threshold {model} mV, bench simulate's {simulated} mV");
        double stated = row["uncertainty"] is { } u ? (double)u : 0;
        Assert.True(Math.Abs(shown - model) < Math.Max(1, 3 * stated),
            $"the sweep's threshold {shown} mV, the live model's {model} mV (bench simulate's {simulated} mV), the stated uncertainty {stated} mV");
        var definition = await page.InnerTextAsync("#threshold-definition");
        Assert.Contains("10 mV/ms", definition);
        Assert.Contains("Threshold", await page.InnerTextAsync("#features-definition"));
        Assert.Contains("The AP at", await page.InnerTextAsync("#features-stamp"));

        // Two cursors read the time and voltage differences.
        var over = page.Locator("#sweep .u-over");
        var box = (await over.BoundingBoxAsync())!;
        await over.ClickAsync(new LocatorClickOptions { Position = new Position { X = box.Width * 0.1f, Y = box.Height / 2 } });
        await over.ClickAsync(new LocatorClickOptions { Position = new Position { X = box.Width * 0.3f, Y = box.Height / 2 } });
        var cursors = JsonDocument.Parse(await page.EvaluateAsync<string>("() => JSON.stringify(window.benchView.cursors)")).RootElement;
        Assert.True(cursors.GetProperty("dtMs").GetDouble() > 5, cursors.ToString());
        Assert.Equal(JsonValueKind.Number, cursors.GetProperty("dvMv").ValueKind);
        Assert.Contains("Δt", await page.InnerTextAsync("#sweep-readout"));
        await page.Locator("#sweep-section").ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(Artifacts(), "sweep-view.png") });

        // Below threshold: a small passive response, drawn on an automatic y range that shows it.
        await SetAsync(page, "#stim-amplitude", "30");
        var sub = await NextSweepAsync(page, ap.GetProperty("id").GetInt32());
        Assert.True(sub.GetProperty("maxRecorded").GetDouble() < 0, $"no AP below threshold: max {sub.GetProperty("maxRecorded")} mV");
        Assert.True(sub.GetProperty("maxRecorded").GetDouble() > -69, $"a depolarisation: max {sub.GetProperty("maxRecorded")} mV");
        var y = sub.GetProperty("yRange");
        Assert.True(y[1].GetDouble() - y[0].GetDouble() < 20, $"auto y range {y}");
        // The feature table still shows the earlier AP, marked as not the latest response.
        await page.WaitForFunctionAsync("() => document.querySelector('#features-stamp').innerText.includes('evoked no AP')", null, Wait);

        // A fixed y range instead, as typed.
        await page.UncheckAsync(".yrange[data-plot=sweep] .y-auto");
        await page.WaitForFunctionAsync("() => window.benchView.sweep.yRange[0] === -100 && window.benchView.sweep.yRange[1] === 60", null, Wait);
        await page.CheckAsync(".yrange[data-plot=sweep] .y-auto");

        // Above threshold again, with the slider this time (played when it is let go): an AP.
        await page.FillAsync("#stim-amplitude-range", "200");
        Assert.Equal("200", await page.InputValueAsync("#stim-amplitude"));
        var again = await NextSweepAsync(page, sub.GetProperty("id").GetInt32());
        Assert.True(again.GetProperty("maxRecorded").GetDouble() > 0, $"an AP above threshold: max {again.GetProperty("maxRecorded")} mV");
        await page.WaitForFunctionAsync("() => !document.querySelector('#features-stamp').innerText.includes('evoked no AP')", null, Wait);
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public async Task The_controls_refuse_what_the_rig_cannot_play_change_the_model_live_and_play_a_long_step_without_losing_the_rig()
    {
        await using var service = await RunningService.StartAsync();
        var (playwright, browser, page, errors) = await OpenAsync(service);
        using var _ = playwright;
        await using var __ = browser;

        // An amplitude beyond the rig's limit is refused as it is typed, with the limit shown, and not played.
        int played = await page.EvaluateAsync<int>("() => window.benchView.played");
        await SetAsync(page, "#stim-amplitude", "5000");
        string error = await page.InnerTextAsync("#stim-error");
        Assert.Contains("5000 nA is beyond this rig's limit of ±2047 nA", error);
        Assert.Equal("true", await page.GetAttributeAsync("#stim-amplitude", "aria-invalid"));
        Assert.True(await page.IsDisabledAsync("#stim-play"));
        Assert.Equal(played, await page.EvaluateAsync<int>("() => window.benchView.played"));
        // So is a charge beyond it (2000 nA for 300 ms) and a duration off the rig's sample clock.
        await SetAsync(page, "#stim-duration", "300");
        await SetAsync(page, "#stim-amplitude", "2000");
        Assert.Contains("500000 nA·ms", await page.InnerTextAsync("#stim-error"));
        await SetAsync(page, "#stim-duration", "0.03");
        Assert.Contains("0.05 ms sample periods", await page.InnerTextAsync("#stim-error"));
        Assert.Equal(played, await page.EvaluateAsync<int>("() => window.benchView.played"));

        // A single 1 ms pulse of 200 nA (played at once when the duration is taken): rig and model fire.
        await page.FillAsync("#stim-amplitude", "200");
        await SetAsync(page, "#stim-duration", "1");
        Assert.Equal("", await page.InnerTextAsync("#stim-error"));
        var before = await NextSweepAsync(page, 0, "s.maxRecorded > 0");
        Assert.Equal(played + 1, await page.EvaluateAsync<int>("() => window.benchView.played"));
        Assert.True(before.GetProperty("maxModel").GetDouble() > 0);

        // The model's Na⁺ conductance to 0 (TTX on the model only): the same pulse now fires the rig, not the model.
        var gNa = page.Locator("#param-model-gNa");
        Assert.Equal("120", await gNa.InputValueAsync());
        await gNa.FillAsync("0");
        await page.ClickAsync("#apply-model");
        await page.WaitForFunctionAsync("() => document.querySelector('#param-result').innerText.includes('applied')", null, Wait);
        Assert.Equal(0.0, (double)(await service.GetJsonAsync("/api/model/parameters"))["overrides"]!["gNa"]!);
        await page.ClickAsync("#stim-play");
        var blocked = await NextSweepAsync(page, before.GetProperty("id").GetInt32());
        Assert.True(blocked.GetProperty("maxRecorded").GetDouble() > 0, "the rig still fires");
        Assert.True(blocked.GetProperty("maxModel").GetDouble() < -40, $"the model without Na⁺ channels does not: max {blocked.GetProperty("maxModel")} mV");
        // An out-of-range value is refused on the page with the range.
        await gNa.FillAsync("1000");
        await page.ClickAsync("#apply-model");
        Assert.Contains("gNa: 0 … 480 mS/cm2", await page.InnerTextAsync("#param-result"));
        await page.Locator("#parameter-controls").ScrollIntoViewIfNeededAsync();
        await page.Locator("aside").ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(Artifacts(), "controls.png") });

        // The rig's AP is still measured with the model's Na⁺ channels blocked (the model's column is empty).
        await Eventually.TrueAsync(async () => (await service.GetJsonAsync("/api/comparison"))["features"]!.AsArray() is { Count: 5 } f
            && f[0]!["recorded"] is not null && f[0]!["model"] is null, what: "the rig's AP features without the model's");
        // The preset "reset" gives the model its defaults again.
        await page.SelectOptionAsync("#preset-target", "model");
        await page.ClickAsync("button[data-preset=reset]");
        await page.WaitForFunctionAsync("() => document.querySelector('#param-result').innerText.includes('every default')", null, Wait);
        Assert.Equal("120", await gNa.InputValueAsync());

        // A 50 ms step of 80 nA, saved from the controls as a protocol with a description (PUT /api/protocols/step) and
        // played from the picker: it plays, its AP's features are measured, and the rig stays connected.
        // (Played from the picker only: values typed are not played at once now.)
        await page.UncheckAsync("#stim-autoplay");
        await page.FillAsync("#stim-amplitude", "80");
        await page.FillAsync("#stim-duration", "50");
        await page.ClickAsync("#stimulus-controls details summary");
        await page.FillAsync("#stim-save-name", "step");
        await page.FillAsync("#stim-save-description", "a long depolarising step");
        await page.ClickAsync("#stim-save");
        await page.WaitForFunctionAsync("() => [...document.querySelectorAll('#protocol-select option')].some(o => o.value === 'step')", null, Wait);
        Assert.Equal("a long depolarising step", await page.InnerTextAsync("#protocol-description"));
        var saved = (await service.GetJsonAsync("/api/protocols")).AsArray().Single(p => (string?)p!["name"] == "step")!;
        Assert.Equal("""{"name":"step","unit":"nA","trains":[{"phase1_ms":50,"phase1_amplitude":80,"count":1}]}""", (string?)saved["json"]);
        int last = (await SweepAsync(page)).GetProperty("id").GetInt32();
        await page.ClickAsync("#play");
        var step = await NextSweepAsync(page, last);
        Assert.Equal(50, step.GetProperty("pulses")[0].GetProperty("phase1_ms").GetDouble());
        Assert.True(step.GetProperty("maxRecorded").GetDouble() > 0, "the step fires an AP");
        double onset = step.GetProperty("onsetMs").GetDouble();
        await Eventually.TrueAsync(async () =>
        {
            var c = await service.GetJsonAsync("/api/comparison");
            return c["features_spike_ms"] is { } spike && (double)spike > onset && (double)spike < onset + 50 && c["features"]!.AsArray().Count == 5
                && c["features"]!.AsArray().All(f => f!["recorded"] is not null);
        }, what: "the step's AP measured");
        long samples = (long)(await service.GetJsonAsync("/api/health"))["rig"]!["health"]!["samples_received"]!;
        await Eventually.TrueAsync(async () => (long)(await service.GetJsonAsync("/api/health"))["rig"]!["health"]!["samples_received"]! > samples + 10_000, what: "acquisition goes on");
        var health = await service.GetJsonAsync("/api/health");
        Assert.Equal("connected", (string?)health["rig"]!["state"]);
        Assert.Null(health["rig"]!["error"]);
        Assert.Equal("connected", await page.GetAttributeAsync("#status", "data-state"));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Artifacts(), "instrument-page.png"), FullPage = true });
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }
}
