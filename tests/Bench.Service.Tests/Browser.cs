using Microsoft.Playwright;

namespace Bench.Service.Tests;

/// <summary>
/// Debian's Chromium, headless, driven by Playwright (its own browser download is not used: the executable path is
/// set). scripts/test.sh installs chromium.
/// </summary>
internal static class Browser
{
    private const string Chromium = "/usr/bin/chromium";

    /// <summary>How long a page test waits for something the page should show (ms): long, because it only ends a test
    /// that would otherwise hang, and a busy machine runs the service, the rig and Chromium on two cores.</summary>
    public const float WaitMs = 60_000;

    /// <summary>Launches Chromium through <paramref name="playwright"/>, failing (not skipping) when it is missing.</summary>
    public static Task<IBrowser> LaunchAsync(IPlaywright playwright)
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: install Debian's chromium (scripts/test.sh does)");
        return playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            // This machine's network is closed (and a worksheet must need none): Chromium's background connections would only fail.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }
}
