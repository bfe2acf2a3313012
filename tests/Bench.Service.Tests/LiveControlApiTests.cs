using System.Text.Json.Nodes;

namespace Bench.Service.Tests;

/// <summary>
/// What the page's controls and sweep view ask of the service: the model's and the emulated preparation's parameters
/// changed live, the rig's stimulus limits, the sweep window and the full-resolution sweep on the stream, and saved
/// protocols checked against the rig as they are saved. Bad input is a 400 naming the problem.
/// </summary>
public sealed class LiveControlApiTests
{
    /// <summary>Reads the live stream until a <paramref name="wanted"/> event satisfies <paramref name="ok"/>; <paramref name="started"/> runs once the stream is open.</summary>
    private static async Task<JsonNode> NextEventAsync(RunningService service, string wanted, Func<JsonNode, bool> ok, Func<Task> started)
    {
        using var stream = await service.Client.GetStreamAsync("/api/stream");
        using var reader = new StreamReader(stream);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        string? eventName = null;
        bool begun = false;
        while (true)
        {
            string line = await reader.ReadLineAsync(timeout.Token) ?? throw new Xunit.Sdk.XunitException("the stream ended");
            if (!begun)
            {
                begun = true;
                await started();
            }

            if (line.StartsWith("event: ", StringComparison.Ordinal)) eventName = line[7..];
            if (eventName == wanted && line.StartsWith("data: ", StringComparison.Ordinal) && JsonNode.Parse(line[6..]) is { } data && ok(data)) return data;
        }
    }

    private static double Max(JsonArray values) => values.Where(v => v is not null).Max(v => (double)v!);

    [Fact]
    public async Task The_models_parameters_change_live_and_bad_ones_are_refused_with_the_parameter_and_its_range()
    {
        await using var service = await RunningService.StartAsync();
        var view = await service.GetJsonAsync("/api/model/parameters");
        Assert.Equal("hh", (string?)view["model"]);
        var gNa = view["parameters"]!.AsArray().Single(p => (string?)p!["name"] == "gNa")!;
        Assert.Equal(120, (double)gNa["value"]!);
        Assert.Equal(0, (double)gNa["min"]!);
        Assert.Equal(480, (double)gNa["max"]!);

        foreach (var (body, expected) in new[]
        {
            ("""{"gNa": 1000}""", "parameter 'gNa' of model hh must be between 0 and 480 mS/cm2"),
            ("""{"gNa": -1}""", "'gNa'"),
            ("""{"celsius": 60}""", "parameter 'celsius' of model hh must be between 0 and 45 degC"),
            ("""{"gFoo": 1}""", "unknown parameter 'gFoo' for model hh; valid parameters: gNa, gK"),
            ("""{"gNa": "lots"}""", "parameter 'gNa': give a number"),
            ("""[1, 2]""", "a JSON object"),
            ("""{"gNa": 1""", ""),
        })
        {
            var (status, answer) = await service.SendAsync(HttpMethod.Put, "/api/model/parameters", body);
            Assert.True(status == 400, $"{body}: {status} {answer?.ToJsonString()}");
            Assert.Contains(expected, (string?)answer!["error"]);
        }

        // Nothing refused was applied.
        Assert.Empty((await service.GetJsonAsync("/api/model/parameters"))["overrides"]!.AsObject());

        // TTX on the model: a pulse that fires the rig no longer fires the model.
        var (ok, applied) = await service.SendAsync(HttpMethod.Put, "/api/model/parameters", """{"gNa": 0}""");
        Assert.True(ok == 200, applied?.ToJsonString());
        Assert.StartsWith("applied", (string?)applied!["note"]);
        Assert.Equal(0, (double)(await service.GetJsonAsync("/api/config"))["model_parameters"]!["gNa"]!);
        var sweep = await NextEventAsync(service, "sweep", _ => true,
            async () => Assert.Equal(200, (await service.SendAsync(HttpMethod.Post, "/api/stimulus/play", new { name = "single-pulse" })).Status));
        Assert.True(Max(sweep["recorded_mv"]!.AsArray()) > 0, "the rig fires");
        Assert.True(Max(sweep["model_mv"]!.AsArray()) < -40, "the model without Na⁺ channels does not");
        await Eventually.TrueAsync(async () => (await service.GetJsonAsync("/api/comparison"))["model_parameters"]?["gNa"] is { } v && (double)v == 0,
            what: "the comparison reports the parameters in use");

        // A recording names one model: changing it meanwhile is refused.
        Assert.Equal(200, (await service.SendAsync(HttpMethod.Post, "/api/recordings", new { name = "fixed-model" })).Status);
        var (busy, refusal) = await service.SendAsync(HttpMethod.Put, "/api/model/parameters", "{}");
        Assert.Equal(409, busy);
        Assert.Contains("stop it before changing the model's parameters", (string?)refusal!["error"]);
        Assert.Equal(200, (await service.SendAsync(HttpMethod.Post, "/api/recordings/stop")).Status);
    }

    [Fact]
    public async Task The_emulated_preparation_takes_a_blocker_live_and_refuses_an_impossible_temperature()
    {
        await using var service = await RunningService.StartAsync();
        var (status, body) = await service.SendAsync(HttpMethod.Put, "/api/emulator/parameters", """{"celsius": 99}""");
        Assert.Equal(400, status);
        Assert.Contains("parameter 'celsius' of model hh must be between 0 and 45 degC here (got 99)", (string?)body!["error"]);

        // TTX in the bath: the emulated rig comes back with it; the model (unchanged) still fires, the rig does not.
        (status, body) = await service.SendAsync(HttpMethod.Put, "/api/emulator/parameters", """{"gNa": 0}""");
        Assert.True(status == 200, body?.ToJsonString());
        Assert.Contains("connected again", (string?)body!["note"]);
        Assert.Equal(0, (double)(await service.GetJsonAsync("/api/emulator/parameters"))["overrides"]!["gNa"]!);
        Assert.Equal("connected", (string?)(await service.GetJsonAsync("/api/health"))["rig"]!["state"]);
        var sweep = await NextEventAsync(service, "sweep", _ => true,
            async () => Assert.Equal(200, (await service.SendAsync(HttpMethod.Post, "/api/stimulus/play", new { name = "single-pulse" })).Status));
        Assert.True(Max(sweep["recorded_mv"]!.AsArray()) < -40, "the blocked preparation does not fire");
        Assert.True(Max(sweep["model_mv"]!.AsArray()) > 0, "the model does");
    }

    [Fact]
    public async Task The_stimulus_limits_are_the_rigs_and_a_sweep_holds_every_sample_of_its_window()
    {
        await using var service = await RunningService.StartAsync();
        var limits = await service.GetJsonAsync("/api/stimulus/limits");
        Assert.Equal("nA", (string?)limits["unit"]);
        Assert.Equal(2047, (double)limits["max_amplitude_nA"]!);
        Assert.Equal(1, (double)limits["amplitude_step_nA"]!);
        Assert.Equal(1000, (double)limits["max_phase_ms"]!);
        Assert.Equal(500_000, (double)limits["max_charge_nA_ms"]!);
        Assert.Equal(0.05, (double)limits["sample_period_ms"]!, 12);
        Assert.Equal(11, (int)limits["max_trains"]!);

        var window = await service.GetJsonAsync("/api/sweep");
        Assert.Equal(5, (double)window["pre_ms"]!);
        Assert.Equal(45, (double)window["post_ms"]!);
        foreach (var (body, expected) in new[] { ("""{"pre_ms": -1, "post_ms": 45}""", "pre_ms: -1 is outside 0 … 100 ms"), ("""{"pre_ms": 5, "post_ms": 5000}""", "post_ms: 5000 is outside 1 … 1000 ms"), ("""{"pre_ms": 5}""", "post_ms are required") })
        {
            var (status, answer) = await service.SendAsync(HttpMethod.Put, "/api/sweep", body);
            Assert.True(status == 400, $"{body}: {status}");
            Assert.Contains(expected, (string?)answer!["error"]);
        }

        Assert.Equal(200, (await service.SendAsync(HttpMethod.Put, "/api/sweep", new { pre_ms = 10, post_ms = 100 })).Status);
        // A paired pulse 25 ms apart: one sweep (the second pulse falls inside the first's window), every sample of it.
        var sweep = await NextEventAsync(service, "sweep", _ => true,
            async () => Assert.Equal(200, (await service.SendAsync(HttpMethod.Post, "/api/stimulus/play", new { name = "paired-pulse" })).Status));
        Assert.Equal(0.05, (double)sweep["dt_ms"]!, 12);
        Assert.Equal(200UL, (ulong)sweep["onset_index"]! - (ulong)sweep["first_index"]!);
        var recorded = sweep["recorded_mv"]!.AsArray();
        Assert.Equal(2200, recorded.Count);
        Assert.Equal(2200, sweep["model_mv"]!.AsArray().Count);
        Assert.All(recorded, v => Assert.NotNull(v));
        Assert.Equal("paired-pulse", (string?)sweep["protocol"]);
        var pulses = sweep["pulses"]!.AsArray();
        Assert.Equal([0.0, 25.0], pulses.Select(p => (double)p!["t_ms"]!));
        Assert.All(pulses, p => Assert.Equal(300, (double)p!["phase1_nA"]!));
        // Both APs at full resolution: the rest before the onset, two overshoots.
        Assert.InRange(recorded.Take(200).Average(v => (double)v!), -71, -69);
        Assert.True(recorded.Skip(200).Take(500).Max(v => (double)v!) > 0 && recorded.Skip(700).Take(500).Max(v => (double)v!) > 0, "both APs in the sweep");
    }

    [Fact]
    public async Task A_protocol_is_checked_against_the_connected_rig_when_it_is_saved_and_keeps_its_description()
    {
        await using var service = await RunningService.StartAsync();
        var (status, body) = await service.SendAsync(HttpMethod.Put, "/api/protocols/too-strong", """{"unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":5000}]}""");
        Assert.Equal(400, status);
        Assert.Contains("5000 nA exceeds the rig's limit of 2047 nA", (string?)body!["error"]);
        (status, body) = await service.SendAsync(HttpMethod.Put, "/api/protocols/off-grid", """{"unit":"nA","trains":[{"phase1_ms":0.03,"phase1_amplitude":100}]}""");
        Assert.Equal(400, status);
        Assert.Contains("not a whole number of sample periods", (string?)body!["error"]);
        (status, body) = await service.SendAsync(HttpMethod.Put, "/api/protocols/too-much-charge", """{"unit":"nA","trains":[{"phase1_ms":300,"phase1_amplitude":2000}]}""");
        Assert.Equal(400, status);
        Assert.Contains("charge", (string?)body!["error"]);
        (status, body) = await service.SendAsync(HttpMethod.Put, "/api/protocols/bad-description", """{"unit":"nA","description":5,"trains":[{"phase1_ms":1,"phase1_amplitude":100}]}""");
        Assert.Equal(400, status);
        Assert.Contains("description", (string?)body!["error"]);
        Assert.DoesNotContain((await service.GetJsonAsync("/api/protocols")).AsArray(), p => ((string)p!["name"]!).Contains('-', StringComparison.Ordinal) && !(bool)p["built_in"]!);

        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/protocols/validate", """{"unit":"nA","description":"checked first","trains":[{"phase1_ms":50,"phase1_amplitude":80}]}""");
        Assert.True((bool)body!["valid"]!, body.ToJsonString());
        Assert.Contains("playable on EMU", (string?)body["summary"]);
        (status, body) = await service.SendAsync(HttpMethod.Put, "/api/protocols/step", """{"unit":"nA","description":"a 50 ms step: one AP, then the membrane held up","trains":[{"phase1_ms":50,"phase1_amplitude":80}]}""");
        Assert.True(status == 200, body?.ToJsonString());
        var step = (await service.GetJsonAsync("/api/protocols")).AsArray().Single(p => (string?)p!["name"] == "step")!;
        Assert.Equal("a 50 ms step: one AP, then the membrane held up", (string?)step["description"]);
        Assert.DoesNotContain("description", (string?)step["json"]);
        // Saved, it plays by name; the rig stays connected.
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/stimulus/play", new { name = "step" });
        Assert.True(status == 200, body?.ToJsonString());
        Assert.Equal(50, (double)body!["duration_ms"]!);
        Assert.Equal("connected", (string?)(await service.GetJsonAsync("/api/health"))["rig"]!["state"]);
    }
}
