using System.Text.Json.Nodes;
using Bench.Storage.Tests;

namespace Bench.Service.Tests;

/// <summary>The REST API and the live stream, against the service on the emulated rig.</summary>
[Trait("Category", "EndToEnd")]
public sealed class ApiTests
{
    [Fact]
    public async Task Health_names_the_connected_rig_and_the_openapi_document_lists_the_api()
    {
        await using var service = await RunningService.StartAsync();
        var health = await service.GetJsonAsync("/api/health");
        Assert.Equal("ok", (string?)health["status"]);
        Assert.Equal("connected", (string?)health["rig"]!["state"]);
        Assert.Equal("EMU", (string?)health["rig"]!["device"]!["board"]);
        Assert.Equal("b3c4000000000001", (string?)health["rig"]!["device"]!["unique_id"]);
        Assert.Equal(20_000, (double)health["rig"]!["sample_rate_hz"]!);
        var openapi = await service.GetJsonAsync("/api/openapi.json");
        var paths = openapi["paths"]!.AsObject().Select(p => p.Key).ToList();
        foreach (var p in new[] { "/api/health", "/api/devices/connect", "/api/protocols", "/api/stimulus/play", "/api/stimulus/stop-all", "/api/recordings", "/api/recordings/{name}/download", "/api/calibration", "/api/comparison", "/api/stream" })
        {
            Assert.Contains(p, paths);
        }
    }

    [Fact]
    public async Task Protocols_are_listed_validated_saved_and_bad_ones_refused_with_the_field_named()
    {
        await using var service = await RunningService.StartAsync();
        var list = (await service.GetJsonAsync("/api/protocols")).AsArray();
        Assert.Contains(list, p => (string?)p!["name"] == "paired-pulse");
        var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/protocols/validate", """{"unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":99999,"count":1}]}""");
        Assert.Equal(200, status);
        Assert.False((bool)body!["valid"]!);
        Assert.Contains("limit", (string?)body["error"], StringComparison.OrdinalIgnoreCase);
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/protocols/validate", """{"unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitde":100}]}""");
        Assert.False((bool)body!["valid"]!);
        Assert.Contains("phase1_amplitde", (string?)body["error"]);
        (status, body) = await service.SendAsync(HttpMethod.Put, "/api/protocols/my-test", """{"unit":"nA","trains":[{"phase1_ms":0.5,"phase1_amplitude":250,"count":1}]}""");
        Assert.Equal(200, status);
        Assert.Contains((await service.GetJsonAsync("/api/protocols")).AsArray(), p => (string?)p!["name"] == "my-test");
        (status, body) = await service.SendAsync(HttpMethod.Put, "/api/protocols/..hidden", """{"unit":"nA","trains":[]}""");
        Assert.Equal(400, status);
        Assert.Contains("not allowed", (string?)body!["error"]);
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/stimulus/play", new { name = "no-such-protocol" });
        Assert.Equal(400, status);
        Assert.Contains("no protocol 'no-such-protocol'", (string?)body!["error"]);
    }

    [Fact]
    public async Task The_live_stream_carries_both_traces_and_the_markers_of_a_protocol_played()
    {
        await using var service = await RunningService.StartAsync();
        using var stream = await service.Client.GetStreamAsync("/api/stream");
        using var reader = new StreamReader(stream);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        JsonNode? stimulus = null;
        bool played = false;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        string? eventName = null;
        while (!(seen.GetValueOrDefault("trace:recorded") > 3 && seen.GetValueOrDefault("trace:model") > 3 && stimulus is not null && seen.ContainsKey("health")))
        {
            string? line;
            try
            {
                line = await reader.ReadLineAsync(timeout.Token) ?? throw new Xunit.Sdk.XunitException("the stream ended");
            }
            catch (OperationCanceledException)
            {
                throw new Xunit.Sdk.XunitException("in 20 s the stream carried only " + string.Join(", ", seen.Select(kv => $"{kv.Key} ×{kv.Value}")));
            }

            if (line.StartsWith("event: ", StringComparison.Ordinal)) eventName = line[7..];
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            var data = JsonNode.Parse(line[6..])!;
            string key = eventName == "trace" ? $"trace:{data["series"]}" : eventName!;
            seen[key] = seen.GetValueOrDefault(key) + 1;
            if (eventName == "stimulus") stimulus = data;
            if (eventName == "trace" && !played)
            {
                played = true;
                var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/stimulus/play", new { name = "single-pulse" });
                Assert.True(status == 200, body?.ToJsonString());
            }
        }

        Assert.Equal("single-pulse", (string?)stimulus!["protocol"]);
        Assert.Equal(200, (double)stimulus["phase1_nA"]!);
        Assert.Equal(1, (double)stimulus["phase1_ms"]!);
    }

    [Fact]
    public async Task A_recording_is_written_as_NWB_that_h5py_reads_with_the_model_and_the_stimulus_as_played()
    {
        await using var service = await RunningService.StartAsync();
        var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings", new { name = "practical-1" });
        Assert.True(status == 200, body?.ToJsonString());
        string path = Path.Combine(service.DataDirectory, "recordings", "practical-1.nwb");
        // Rest before the stimulus (0.3 s), then both pulses and a second of samples in all, as the journal has them.
        await Journals.WaitAsync(path, j => j.SampleCount >= 6_000, "0.3 s recorded");
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/stimulus/play", new { name = "paired-pulse" });
        Assert.Equal(200, status);
        await Journals.WaitAsync(path, j => j.Pulses.Count == 2 && j.EndSampleIndex >= j.Pulses[^1].OnsetIndex + 4_000 && j.SampleCount >= 20_000, "both pulses, 0.2 s after them and 1 s in all recorded");
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings/stop");
        Assert.True(status == 200, body?.ToJsonString());
        Assert.Equal("complete", (string?)body!["status"]);
        long samples = (long)body["samples"]!;
        Assert.True(samples >= 20_000, $"{samples} samples");
        Assert.NotNull(body["rmse_mv"]);

        Assert.True(File.Exists(path));
        Assert.False(File.Exists(path + ".journal"));
        var nwb = H5py.Read(path);
        Assert.Equal(samples, (long)nwb["membrane"]!["length"]!);
        Assert.Equal(0.0, (double)nwb["membrane"]!["first_time"]!);
        Assert.Equal("CurrentClampSeries", (string?)nwb["types"]!["/acquisition/membrane_potential"]);
        Assert.Equal(samples, (long)nwb["model"]!["length"]!);
        // The comparison's model waits at a pulse for its report; by the stop it has caught up with every sample.
        Assert.True((long)nwb["model"]!["nan_count"]! < 2000, $"model values missing: {nwb["model"]!["nan_count"]}");
        var events = nwb["intervals"]!["stimulus_events"]!["rows"]!.AsArray();
        Assert.Equal(2, events.Count);
        // The file's time zero is when the recording started, not when the rig was connected.
        var startedUtc = DateTimeOffset.Parse((string)body["started_utc"]!, System.Globalization.CultureInfo.InvariantCulture);
        var sessionStart = DateTimeOffset.Parse((string)nwb["session_start_time"]!, System.Globalization.CultureInfo.InvariantCulture);
        // The catalog's start is the file's time zero: one instant, told twice.
        Assert.True(Math.Abs((sessionStart - startedUtc).TotalSeconds) < 0.002, $"session_start_time {sessionStart:O}, recording started {startedUtc:O}");
        Assert.All(events, e => Assert.Equal(300.0, (double)e!["phase1_nA"]!));
        Assert.Equal(0.025, (double)events[1]!["start_time"]! - (double)events[0]!["start_time"]!, 9);
        Assert.Contains("paired-pulse", (string?)nwb["protocol"]);
        Assert.Equal("emulated rig front end", (string?)nwb["data_collection_attrs"]!["calibration_source"]);
        // The stimulus as played, sample by sample: 2 pulses × 20 samples × 300 nA.
        Assert.Equal(2 * 20 * 300.0, (double)nwb["stimulus"]!["sum"]!, 3);
        NwbSchema.AssertValid(path);

        // The page's recording is the file every command reads: export, compare, fit.
        string csv = Path.Combine(service.DataDirectory, "practical-1.csv");
        var (code, stdout, stderr) = await BenchProcess.RunAsync("export", path, "--out", csv);
        Assert.True(code == 0, stderr);
        Assert.Equal(samples, (long)JsonNode.Parse(stdout)!["rows"]!);
        var rows = File.ReadLines(csv).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(2 * 20, rows.Count(r => r[2] == "300"));
        (code, stdout, stderr) = await BenchProcess.RunAsync("compare", path);
        Assert.True(code == 0, stderr);
        var compared = JsonNode.Parse(stdout.Trim().Split('\n')[^1])!;
        Assert.Equal(2, (int)compared["spikes_recorded"]!);
        Assert.Equal(2, (int)compared["spikes_model"]!);
        Assert.Equal(2, (int)compared["pulses_confirmed"]!);
        Assert.True((double)compared["rmse_mV"]! < 1, stdout);
        (code, stdout, stderr) = await BenchProcess.RunAsync("fit", path, "--params", "gNa", "--max-iterations", "60");
        Assert.True(code == 0, stderr);
        Assert.InRange((double)JsonNode.Parse(stdout.Trim().Split('\n')[^1])!["params"]!["gNa"]!, 100, 140);

        using var download = await service.Client.GetAsync("/api/recordings/practical-1/download");
        Assert.True(download.IsSuccessStatusCode);
        byte[] bytes = await download.Content.ReadAsByteArrayAsync();
        Assert.Equal(new FileInfo(path).Length, bytes.Length);
        Assert.Equal([0x89, (byte)'H', (byte)'D', (byte)'F'], bytes[..4]);

        // The same recording as CSV (with the model's prediction) and as a spreadsheet; an unknown format is refused.
        using (var asCsv = await service.Client.GetAsync("/api/recordings/practical-1/download?format=csv"))
        {
            Assert.True(asCsv.IsSuccessStatusCode);
            Assert.Equal("text/csv", asCsv.Content.Headers.ContentType?.MediaType);
            var text = (await asCsv.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("time_ms,v_mV,stimulus_nA,model_mV", text[0]);
            Assert.Equal(samples, text.Length - 1);
        }

        using (var asXlsx = await service.Client.GetAsync("/api/recordings/practical-1/download?format=xlsx"))
        {
            Assert.True(asXlsx.IsSuccessStatusCode);
            byte[] zip = await asXlsx.Content.ReadAsByteArrayAsync();
            Assert.Equal("PK"u8.ToArray(), zip[..2]);   // a zip: the .xlsx container
        }

        (status, body) = await service.SendAsync(HttpMethod.Get, "/api/recordings/practical-1/download?format=mat");
        Assert.Equal(400, status);
        Assert.Contains("csv or xlsx", (string?)body!["error"]);
        // The exports' temporary files go once sent.
        string exports = Path.Combine(service.DataDirectory, "exports");
        Assert.True(Directory.Exists(exports));
        await Eventually.True(() => Directory.GetFiles(exports).Length == 0, "the temporary exports were deleted", TimeSpan.FromSeconds(30));

        var listed = (await service.GetJsonAsync("/api/recordings")).AsArray();
        Assert.Single(listed);
        (status, _) = await service.SendAsync(HttpMethod.Delete, "/api/recordings/practical-1");
        Assert.Equal(204, status);
        Assert.False(File.Exists(path));
        Assert.Empty((await service.GetJsonAsync("/api/recordings")).AsArray());
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("/etc/passwd")]
    [InlineData(".hidden")]
    [InlineData("a/b")]
    public async Task A_recording_name_cannot_escape_the_data_directory(string name)
    {
        await using var service = await RunningService.StartAsync();
        var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings", new { name });
        Assert.Equal(400, status);
        Assert.NotNull((string?)body!["error"]);
        Assert.Null(service.Host.Status.Recording);
        Assert.False(Directory.Exists(Path.Combine(service.DataDirectory, "recordings")) && Directory.EnumerateFiles(Path.Combine(service.DataDirectory, "recordings")).Any());
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(service.DataDirectory)!, "escape.nwb.journal")));
    }

    [Fact]
    public async Task Mistakes_are_answered_with_one_clear_error_and_the_service_keeps_running()
    {
        await using var service = await RunningService.StartAsync();
        var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings/stop");
        Assert.Equal(409, status);
        Assert.Equal("nothing is being recorded", (string?)body!["error"]);
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/stimulus/play", "{not json");
        Assert.Equal(400, status);
        (status, body) = await service.SendAsync(HttpMethod.Get, "/api/recordings/none-such");
        Assert.Equal(404, status);
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/devices/connect", new { address = "/dev/ttyNOPE0" });
        Assert.Equal(502, status);
        Assert.Contains("/dev/ttyNOPE0", (string?)body!["error"]);
        // A connection that never succeeded does not drop the working rig.
        var health = await service.GetJsonAsync("/api/health");
        Assert.Equal("ok", (string?)health["status"]);
        Assert.Equal("connected", (string?)health["rig"]!["state"]);
        Assert.Equal("emulated", (string?)health["rig"]!["address"]);
        Assert.Contains("still connected to emulated", (string?)health["rig"]!["error"]);
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/devices/connect", new { address = "emulated" });
        Assert.Equal(200, status);
        Assert.Equal("connected", (string?)body!["state"]);
        // The rig just connected has the comparison's figures at once (nothing yet), not "no model comparison".
        var comparison = await service.GetJsonAsync("/api/comparison");
        Assert.True((double)comparison["through_ms"]! >= 0);
    }

    [Theory]
    [InlineData("tcp://127.0.0.1:1", 409)]
    [InlineData("usb:zzzz", 400)]
    [InlineData("/etc/passwd", 400)]
    [InlineData("tcp://nohost", 400)]
    public async Task A_bad_connect_request_during_a_recording_changes_nothing(string address, int expected)
    {
        await using var service = await RunningService.StartAsync();
        var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings", new { name = "kept" });
        Assert.True(status == 200, body?.ToJsonString());
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/devices/connect", new { address });
        Assert.True(status == expected, $"{address}: {status} {body?.ToJsonString()}");
        Assert.NotNull((string?)body!["error"]);
        // The rig and the recording go on: the recording's samples keep growing, and it stops complete.
        long before = (long)(await service.GetJsonAsync("/api/health"))["rig"]!["recording"]!["samples"]!;
        await Eventually.TrueAsync(async () => (long)(await service.GetJsonAsync("/api/health"))["rig"]!["recording"]!["samples"]! > before + 2_000);
        Assert.Equal("connected", (string?)(await service.GetJsonAsync("/api/health"))["rig"]!["state"]);
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings/stop");
        Assert.True(status == 200, body?.ToJsonString());
        Assert.Equal("complete", (string?)body!["status"]);
    }

    [Fact]
    public async Task A_rig_that_never_returns_ends_the_recording_with_the_loss_stated_and_the_service_keeps_running()
    {
        await using var service = await RunningService.StartAsync(faults: new Bench.Rig.Emulation.FaultOptions(DisconnectAtSeconds: 1.5, DisconnectSeconds: 600),
            reconnectTimeout: TimeSpan.FromSeconds(2));
        var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings", new { name = "unplugged" });
        Assert.True(status == 200, body?.ToJsonString());
        JsonNode health = await service.GetJsonAsync("/api/health");
        await Eventually.TrueAsync(async () => (string?)(health = await service.GetJsonAsync("/api/health"))["rig"]!["state"] == "lost", TimeSpan.FromSeconds(30));
        Assert.Equal("degraded", (string?)health["status"]);
        Assert.Contains("lost", (string?)health["rig"]!["error"]);
        // Stimulation cannot be asked of a lost rig; the recording was ended and written with what arrived.
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/stimulus/play", new { name = "single-pulse" });
        Assert.Equal(409, status);
        await Eventually.TrueAsync(async () => (await service.GetJsonAsync("/api/health"))["rig"]!["last_recording"] is not null, TimeSpan.FromSeconds(30));
        var last = (await service.GetJsonAsync("/api/health"))["rig"]!["last_recording"]!;
        Assert.Equal("complete", (string?)last["status"]);
        // What arrived: the rig sent nothing after its 1.5 s (30,000 samples at 20 kHz), and the recording began when
        // this test's first request was served (a cold start on a loaded machine can take most of a second).
        Assert.InRange((long)last["samples"]!, 1_000, 30_000);
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings/stop");
        Assert.Equal(409, status);
        Assert.Contains("already stopped", (string?)body!["error"]);
        string nwb = Path.Combine(service.DataDirectory, "recordings", "unplugged.nwb");
        Assert.True(File.Exists(nwb));
        // The file says why it ended, and holds every sample the catalog counts.
        var file = H5py.Read(nwb);
        Assert.Contains("ended early: the rig was lost", (string?)file["session_description"]);
        Assert.Equal((long)last["samples"]!, (long)file["membrane"]!["length"]!);
    }

    [Fact]
    public async Task A_rig_that_drops_off_and_returns_goes_on_recording_with_the_gap_recorded()
    {
        await using var service = await RunningService.StartAsync(faults: new Bench.Rig.Emulation.FaultOptions(DisconnectAtSeconds: 1.5, DisconnectSeconds: 2));
        var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings", new { name = "replugged" });
        Assert.True(status == 200, body?.ToJsonString());
        // Lost, then found again by its unique id, then acquiring into the same recording.
        await Eventually.TrueAsync(async () => (string?)(await service.GetJsonAsync("/api/health"))["rig"]!["state"] == "reconnecting", TimeSpan.FromSeconds(20));
        await Eventually.TrueAsync(async () => (string?)(await service.GetJsonAsync("/api/health"))["rig"]!["state"] == "connected", TimeSpan.FromSeconds(30));
        long after = (long)(await service.GetJsonAsync("/api/health"))["rig"]!["recording"]!["samples"]!;
        await Eventually.TrueAsync(async () => (long)(await service.GetJsonAsync("/api/health"))["rig"]!["recording"]!["samples"]! > after + 10_000, TimeSpan.FromSeconds(20));
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings/stop");
        Assert.True(status == 200, body?.ToJsonString());
        Assert.Equal("complete", (string?)body!["status"]);
        // The two seconds away are a gap in the file, not silence and not nothing.
        long lost = (long)body["lost_samples"]!;
        Assert.InRange(lost, 30_000, 60_000);
        Assert.True(File.Exists(Path.Combine(service.DataDirectory, "recordings", "replugged.nwb")));
    }

    [Fact]
    public async Task A_token_guards_the_api_and_binding_beyond_loopback_requires_one()
    {
        await using var service = await RunningService.StartAsync(token: "s3cret-token", connect: false);
        using var anonymous = new HttpClient { BaseAddress = service.BaseAddress };
        Assert.Equal(401, (int)(await anonymous.GetAsync("/api/recordings")).StatusCode);
        Assert.Equal(401, (int)(await anonymous.GetAsync("/api/recordings?token=wrong")).StatusCode);
        Assert.Equal(200, (int)(await anonymous.GetAsync("/api/recordings?token=s3cret-token")).StatusCode);
        Assert.Equal(200, (int)(await service.Client.GetAsync("/api/recordings")).StatusCode);
        // Health answers a monitor without the token, but says only whether the service is up: the rig's details need it.
        using (var health = await anonymous.GetAsync("/api/health"))
        {
            Assert.Equal(200, (int)health.StatusCode);
            var body = JsonNode.Parse(await health.Content.ReadAsStringAsync())!.AsObject();
            Assert.Equal(["status"], body.Select(p => p.Key));
            Assert.Equal("degraded", (string?)body["status"]);
        }

        var full = await service.GetJsonAsync("/api/health");
        Assert.NotNull(full["rig"]);
        Assert.Equal(200, (int)(await anonymous.GetAsync("/")).StatusCode);   // the page itself, which then asks for ?token=
        // Routing ignores case; so does the token check.
        Assert.Equal(401, (int)(await anonymous.GetAsync("/API/recordings")).StatusCode);
        Assert.Equal(401, (int)(await anonymous.PostAsync("/Api/stimulus/stop-all", null)).StatusCode);
        var e = Assert.Throws<ArgumentException>(() => BenchServer.Build(new ServiceOptions { DataDirectory = service.DataDirectory }, "http://0.0.0.0:0"));
        Assert.Contains("token", e.Message);
        Assert.Throws<ArgumentException>(() => BenchServer.Build(new ServiceOptions { DataDirectory = service.DataDirectory, Token = "" }, "http://127.0.0.1:0"));
    }

    [Fact]
    public async Task Other_sites_cannot_drive_the_service_and_bad_bodies_are_named()
    {
        await using var service = await RunningService.StartAsync();
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/api/stimulus/stop-all"))
        {
            request.Headers.Add("Origin", "http://evil.example");
            using var response = await service.Client.SendAsync(request);
            Assert.Equal(403, (int)response.StatusCode);
            Assert.Contains("evil.example", await response.Content.ReadAsStringAsync());
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/api/health"))
        {
            // DNS rebinding: a page whose own name now points at 127.0.0.1.
            request.Headers.Host = "evil.example";
            using var response = await service.Client.SendAsync(request);
            Assert.Equal(400, (int)response.StatusCode);
        }

        var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings", "{\"name\": 5}");
        Assert.Equal(400, status);
        Assert.NotNull((string?)body!["error"]);
        // Every field of these bodies is optional: no body at all is fine.
        using var bare = await service.Client.PostAsync("/api/recordings", null);
        Assert.True(bare.IsSuccessStatusCode, await bare.Content.ReadAsStringAsync());
        Assert.Equal(200, (await service.SendAsync(HttpMethod.Post, "/api/recordings/stop")).Status);
        // A second service on the same data directory is refused: it would take the first one's live journals for lost ones.
        var locked = Assert.Throws<InvalidOperationException>(() => BenchServer.Build(new ServiceOptions { DataDirectory = service.DataDirectory }, "http://127.0.0.1:0"));
        Assert.Contains("another bench serve", locked.Message);
    }


    [Fact]
    public async Task Calibrations_are_stored_per_rig_and_applied_at_the_next_connect()
    {
        await using var service = await RunningService.StartAsync();
        var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/calibration", new { mv_per_count = 0.04, offset_mv = -101.5, source = "two-point" });
        Assert.Equal(200, status);
        Assert.Equal(0.04, (double)body!.AsArray()[0]!["millivolts_per_count"]!);
        Assert.Equal(400, (await service.SendAsync(HttpMethod.Post, "/api/calibration", new { mv_per_count = 0, offset_mv = 1 })).Status);
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/devices/connect", new { address = "emulated" });
        Assert.Equal(200, status);
        Assert.Equal(0.04, (double)body!["calibration"]!["mv_per_count"]!);
        Assert.StartsWith("two-point", (string?)body["calibration"]!["source"]);
        Assert.Equal(1.0, (double)body["calibration"]!["nanoamps_per_code"]!);
    }

    [Fact]
    public async Task A_stored_output_calibration_converts_the_stimulus_and_is_what_the_recording_reports()
    {
        await using var service = await RunningService.StartAsync();
        // Measured at the output: 2 nA per DAC code (the emulated rig's true step is 1: the model, driven by the
        // calibrated current, now expects twice what the rig delivers, which is how a bad calibration shows).
        var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/calibration", new { mv_per_count = 0.0390625, offset_mv = -100, nanoamps_per_code = 2.0, source = "two-point" });
        Assert.Equal(200, status);
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/devices/connect", new { address = "emulated" });
        Assert.Equal(2.0, (double)body!["calibration"]!["nanoamps_per_code"]!);
        Assert.Equal(200, (await service.SendAsync(HttpMethod.Post, "/api/recordings", new { name = "calibrated-output" })).Status);
        Assert.Equal(200, (await service.SendAsync(HttpMethod.Post, "/api/stimulus/play", new { name = "single-pulse" })).Status);
        await Journals.WaitAsync(Path.Combine(service.DataDirectory, "recordings", "calibrated-output.nwb"), j => j.Pulses.Count == 1 && j.EndSampleIndex >= j.Pulses[0].OnsetIndex + 2_000, "the pulse and 0.1 s after it recorded");
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/recordings/stop");
        Assert.True(status == 200, body?.ToJsonString());
        var nwb = H5py.Read(Path.Combine(service.DataDirectory, "recordings", "calibrated-output.nwb"));
        var pulse = nwb["intervals"]!["stimulus_events"]!["rows"]!.AsArray().Single()!;
        Assert.Equal(200.0, (double)pulse["phase1_nA"]!);   // 100 codes × 2 nA
        Assert.Equal(20 * 200.0, (double)nwb["stimulus"]!["sum"]!, 3);
    }

}
