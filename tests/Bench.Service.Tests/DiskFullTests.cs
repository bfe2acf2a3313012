using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Bench.Service.Tests;

/// <summary>
/// A recording onto a disk that fills up, for real: the data directory is a small tmpfs. The recording stops with
/// what was written and says "disk full"; the rig, the comparison and the live view go on; nothing half-written is
/// left (the journal stays for bench recover).
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class DiskFullTests
{
    [Fact]
    public async Task A_full_disk_stops_the_recording_cleanly_and_acquisition_goes_on()
    {
        string mount = Directory.CreateTempSubdirectory("bench-full-").FullName;
        // CI and the developers' machines run as root; mounting a tmpfs is how a full disk is made without a full disk.
        Run("mount", "-t", "tmpfs", "-o", "size=640k", "tmpfs", mount);
        try
        {
            await using (var service = await RunningService.StartAsync(dataDirectory: mount))
            {
                var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings", new { name = "fills-the-disk" });
                Assert.True(status == 200, body?.ToJsonString());
                JsonNode rig = null!;
                await Eventually.TrueAsync(async () => (rig = (await service.GetJsonAsync("/api/health"))["rig"]!)["last_recording"] is not null,
                    TimeSpan.FromSeconds(60), "the recording stopped");
                Assert.Contains("disk full", (string?)rig["error"]);
                Assert.Null(rig["recording"]);
                Assert.Equal("connected", (string?)rig["state"]);
                var last = rig["last_recording"]!;
                Assert.Equal("fills-the-disk", (string?)last["name"]);
                Assert.True((long)last["samples"]! > 1_000, last.ToJsonString());

                // Acquisition and the live view go on.
                long received = (long)rig["health"]!["samples_received"]!;
                await Eventually.TrueAsync(async () => (long)(await service.GetJsonAsync("/api/health"))["rig"]!["health"]!["samples_received"]! > received + 20_000,
                    TimeSpan.FromSeconds(20), "samples keep arriving");

                // Stopping now says what happened instead of failing.
                (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings/stop");
                Assert.Equal(409, status);
                Assert.Contains("already stopped", (string?)body!["error"]);
            }

            string recordings = Path.Combine(mount, "recordings");
            Assert.Empty(Directory.GetFiles(recordings, "*.partial"));
            // Nothing half-written: no NWB file, or a complete one; the journal is kept for bench recover.
            Assert.False(File.Exists(Path.Combine(recordings, "fills-the-disk.nwb")) && new FileInfo(Path.Combine(recordings, "fills-the-disk.nwb")).Length == 0);
            Assert.True(File.Exists(Path.Combine(recordings, "fills-the-disk.nwb")) || File.Exists(Path.Combine(recordings, "fills-the-disk.nwb.journal")));
        }
        finally
        {
            Run("umount", "-l", mount);
            Directory.Delete(mount);
        }
    }

    private static void Run(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true })!;
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)}: {error} (this test mounts a small tmpfs and needs root, as CI has)");
    }
}
