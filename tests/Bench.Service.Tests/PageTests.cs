using System.Text.Json;
using Microsoft.Playwright;

namespace Bench.Service.Tests;

/// <summary>
/// The page in a real browser: Debian's Chromium, headless, driven by Playwright (its own browser download is not
/// used: the executable path is set). scripts/test.sh installs chromium.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class PageTests
{
    [Fact]
    public async Task The_page_draws_the_live_trace_and_the_model_plays_a_protocol_and_shows_its_markers()
    {
        await using var service = await RunningService.StartAsync();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await Browser.LaunchAsync(playwright);
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        await page.GotoAsync(service.BaseAddress.ToString());

        // The live trace and the model's prediction are drawn.
        await page.WaitForFunctionAsync("() => window.benchView && window.benchView.tracePoints > 200 && window.benchView.modelPoints > 200", null, new PageWaitForFunctionOptions { Timeout = Browser.WaitMs });
        Assert.Contains("EMU", await page.InnerTextAsync("#status"));

        // Play a protocol from the picker: its markers appear on the trace, and the action potential's phases are labelled.
        await page.SelectOptionAsync("#protocol-select", "paired-pulse");
        await page.ClickAsync("#play");
        await page.WaitForFunctionAsync("() => window.benchView.markersDrawn >= 2", null, new PageWaitForFunctionOptions { Timeout = Browser.WaitMs });
        await page.WaitForFunctionAsync("() => window.benchView.phases.length >= 6", null, new PageWaitForFunctionOptions { Timeout = Browser.WaitMs });
        // The phases and the list's marks are read in one go: a later render may scroll the AP out of the window.
        var snapshot = JsonDocument.Parse(await page.EvaluateAsync<string>(
            "() => JSON.stringify({ phases: window.benchView.phases, overshootSeen: document.querySelector('#phase-list li[data-phase=overshoot]').classList.contains('seen') })")).RootElement;
        var phases = snapshot.GetProperty("phases");
        var byName = phases.EnumerateArray().ToDictionary(p => p.GetProperty("phase").GetString()!, p => p.GetProperty("v").GetDouble());
        Assert.InRange(byName["rest"], -75, -65);
        Assert.True(byName["overshoot"] > 0, $"overshoot {byName["overshoot"]} mV");
        Assert.True(byName["ahp"] < byName["rest"], $"AHP {byName["ahp"]} below rest {byName["rest"]}");
        Assert.True(snapshot.GetProperty("overshootSeen").GetBoolean(), "the overshoot is marked seen in the phase list");
        // The phases' labels are drawn apart, none over another.
        Assert.Equal(0, await page.EvaluateAsync<int>("() => window.benchView.labelsOverlap"));
        Assert.Contains("negative", await page.InnerTextAsync(".phases"));
        // Freeze the view on the action potentials for the screenshot a teacher would show.
        await page.CheckAsync("#freeze");
        await page.WaitForFunctionAsync("() => document.querySelector('#metrics tbody').innerText.includes('RMSE')", null, new PageWaitForFunctionOptions { Timeout = Browser.WaitMs });
        string artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(artifacts);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(artifacts, "live-page.png"), FullPage = true });
        await page.UncheckAsync("#freeze");

        // The comparison and the rig's health are shown.
        Assert.Contains("samples received", await page.InnerTextAsync("#health"));

        // Record from the page, stop, and the recording is listed for download.
        await page.FillAsync("#record-name", "from-the-page");
        await page.ClickAsync("#record");
        await page.WaitForFunctionAsync("() => document.querySelector('#record-state').innerText.includes('recording')", null, new PageWaitForFunctionOptions { Timeout = Browser.WaitMs });
        // 0.7 s recorded, as the service counts it (not a guessed wait).
        await Eventually.TrueAsync(async () => (long?)(await service.GetJsonAsync("/api/health"))["rig"]!["recording"]?["samples"] >= 14_000, what: "0.7 s recorded");
        await page.ClickAsync("#stop-record");
        await page.WaitForSelectorAsync("#recordings a[download]", new PageWaitForSelectorOptions { Timeout = Browser.WaitMs });
        Assert.Contains("from-the-page", await page.InnerTextAsync("#recordings"));
        Assert.True(File.Exists(Path.Combine(service.DataDirectory, "recordings", "from-the-page.nwb")));
        // One click gives the samples as CSV, as a spreadsheet or a script takes them.
        var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("#recordings a:has-text('CSV')"));
        string csv = Path.Combine(artifacts, "from-the-page.csv");
        await download.SaveAsAsync(csv);
        Assert.Equal("from-the-page.csv", download.SuggestedFilename);
        var lines = File.ReadAllLines(csv);
        Assert.Equal("time_ms,v_mV,stimulus_nA,model_mV", lines[0]);
        Assert.True(lines.Length > 1_000, $"{lines.Length} lines");

        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }
}
