using System.Text.Json.Nodes;
using Bench.Storage.Tests;
using Microsoft.Playwright;

namespace Bench.Service.Tests;

/// <summary>A practical run as a teacher runs it (bench practical run, its own process), its worksheet opened offline in Chromium.</summary>
[Trait("Category", "EndToEnd")]
public sealed class WorksheetTests
{
    [Fact]
    public async Task A_practicals_worksheet_opens_offline_with_its_tables_and_figure_and_its_recording_is_valid_NWB()
    {
        string dir = Directory.CreateTempSubdirectory("bench-worksheet-").FullName;
        try
        {
            var (code, stdout, stderr) = await BenchProcess.RunAsync("practical", "run", "repetitive-firing", "--out", dir, "--student", "A. Student");
            Assert.True(code == 0, stderr);
            var result = JsonNode.Parse(stdout.Trim().Split('\n')[^1])!;
            string worksheet = (string)result["worksheet"]!;
            foreach (var recording in result["recordings"]!.AsArray()) NwbSchema.AssertValid((string)recording!);

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await Browser.LaunchAsync(playwright);
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 900, Height = 1200 } });
            var requests = new List<string>();
            page.Request += (_, r) => requests.Add(r.Url);
            await page.GotoAsync(new Uri(worksheet).AbsoluteUri);
            Assert.Contains("Repetitive firing", await page.TitleAsync());
            Assert.Contains("A. Student", await page.InnerTextAsync("table.meta"));
            Assert.Equal(1, await page.Locator("svg").CountAsync());
            Assert.Equal(2, await page.Locator("svg polyline").CountAsync());   // rig and model
            Assert.Contains("fi_slope_hz_per_nA", await page.InnerTextAsync("body"));
            Assert.All(requests, u => Assert.StartsWith("file:", u));
            string artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts");
            Directory.CreateDirectory(artifacts);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(artifacts, "worksheet.png"), FullPage = true });
            await page.PdfAsync(new PagePdfOptions { Path = Path.Combine(artifacts, "worksheet.pdf"), Format = "A4" });
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
