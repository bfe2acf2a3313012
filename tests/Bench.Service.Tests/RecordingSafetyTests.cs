namespace Bench.Service.Tests;

/// <summary>
/// Issue 12 §4.4 and §4.5: a recording is never lost to a delete during its stop, to an absurd calibration, or to a
/// failed conversion (its journal stays until the NWB file is complete).
/// </summary>
public sealed class RecordingSafetyTests
{
    private static async Task WaitForSamplesAsync(RunningService service)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            var health = await service.GetJsonAsync("/api/health");
            if ((long?)health["rig"]?["recording"]?["samples"] > 0) return;
            await Task.Delay(20, deadline.Token);
        }
    }

    [Fact]
    public async Task A_delete_during_a_stop_waits_for_it_and_the_stop_completes()
    {
        await using var service = await RunningService.StartAsync();
        string nwb = Path.Combine(service.DataDirectory, "recordings", "stopping.nwb");
        var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings", new { name = "stopping" });
        Assert.True(status == 200, body?.ToJsonString());
        await WaitForSamplesAsync(service);

        // While it runs, a delete is refused: waiting would not end.
        (status, body) = await service.SendAsync(HttpMethod.Delete, "/api/recordings/stopping");
        Assert.Equal(409, status);
        Assert.Contains("stop it first", (string?)body!["error"]);

        // Hold the stop just as it starts finishing, and send the delete then.
        var finishing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var proceed = new ManualResetEventSlim();
        ActiveRecording.Finishing = path =>
        {
            if (path != Path.GetFullPath(nwb)) return;
            finishing.TrySetResult();
            proceed.Wait(TimeSpan.FromSeconds(30));
        };
        try
        {
            var stop = service.SendAsync(HttpMethod.Post, "/api/recordings/stop");
            await finishing.Task.WaitAsync(TimeSpan.FromSeconds(20));
            var delete = service.SendAsync(HttpMethod.Delete, "/api/recordings/stopping");
            using (var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
            {
                while (RecordingFiles.WaitingFor(Path.GetFullPath(nwb)) == 0 && !delete.IsCompleted) await Task.Delay(10, deadline.Token);
            }

            if (delete.IsCompleted) Assert.Fail($"the delete did not wait for the stop: {(await delete).Status} {(await delete).Body?.ToJsonString()}");
            proceed.Set();
            (status, body) = await stop;
            Assert.True(status == 200, body?.ToJsonString());
            Assert.Equal("complete", (string?)body!["status"]);
            Assert.True((long)body["samples"]! > 0);
            (status, body) = await delete;
            Assert.True(status == 204, body?.ToJsonString());
        }
        finally
        {
            ActiveRecording.Finishing = null;
            proceed.Set();
        }

        Assert.Equal(404, (await service.SendAsync(HttpMethod.Get, "/api/recordings/stopping")).Status);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(nwb)!, "stopping.*"));
    }

    [Fact]
    public async Task An_absurd_calibration_is_refused_with_the_rule_and_the_next_recording_stops_complete()
    {
        await using var service = await RunningService.StartAsync();
        var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/calibration", """{"mv_per_count":1e308,"offset_mv":1e308}""");
        Assert.Equal(400, status);
        string error = (string)body!["error"]!;
        Assert.Contains("mv_per_count", error);
        Assert.Contains("1 mV to 100000 mV", error);
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/calibration", new { mv_per_count = 0.0390625, offset_mv = 1e308 });
        Assert.Equal(400, status);
        Assert.Contains("±100000 mV", (string?)body!["error"]);
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/calibration", new { mv_per_count = -0.0390625, offset_mv = 60 });
        Assert.Equal(400, status);
        Assert.Empty((await service.GetJsonAsync("/api/calibration")).AsArray());

        // A stored calibration applies at the next connect: connect, record, stop.
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/devices/connect", new { address = "emulated" });
        Assert.True(status == 200, body?.ToJsonString());
        Assert.Equal("emulated rig front end", (string?)body!["calibration"]!["source"]);
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings", new { name = "after-absurd" });
        Assert.True(status == 200, body?.ToJsonString());
        await WaitForSamplesAsync(service);
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings/stop");
        Assert.True(status == 200, body?.ToJsonString());
        Assert.Equal("complete", (string?)body!["status"]);
        string nwb = Path.Combine(service.DataDirectory, "recordings", "after-absurd.nwb");
        Assert.True(File.Exists(nwb));
        Assert.False(File.Exists(nwb + ".journal"));
    }

    [Fact]
    public async Task A_conversion_that_fails_at_the_stop_keeps_the_journal_and_names_bench_recover()
    {
        await using var service = await RunningService.StartAsync();
        var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings", new { name = "blocked" });
        Assert.True(status == 200, body?.ToJsonString());
        await WaitForSamplesAsync(service);
        string nwb = Path.Combine(service.DataDirectory, "recordings", "blocked.nwb");
        Directory.CreateDirectory(nwb);   // something in the file's way
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings/stop");
        Assert.Equal(500, status);
        string error = (string)body!["error"]!;
        Assert.Contains("bench recover", error);
        Assert.Contains("blocked.nwb.journal", error);
        Assert.True(File.Exists(nwb + ".journal"));
        Assert.False(File.Exists(nwb + ".partial"));
        // The catalog still says it was not finished (so the next start of the service recovers it), and it can be deleted.
        Assert.Equal("recording", (string?)(await service.GetJsonAsync("/api/recordings/blocked"))["status"]);
        Directory.Delete(nwb);
        Assert.Equal(204, (await service.SendAsync(HttpMethod.Delete, "/api/recordings/blocked")).Status);
        Assert.False(File.Exists(nwb + ".journal"));
    }
}
