using Bench.Rig.Emulation;
using Bench.Rig.Firmata;

namespace Bench.Service.Tests;

/// <summary>A test that needs the third-party Firmata sources: skipped, with how to provide them, where they are absent.</summary>
public sealed class FirmataServiceFactAttribute : FactAttribute
{
    /// <summary>Skips when <see cref="FirmataFirmware.MissingReason"/> says why.</summary>
    public FirmataServiceFactAttribute()
    {
        if (FirmataFirmware.MissingReason() is { } why) Skip = "Firmata tests skipped: " + why;
    }
}

/// <summary>The service on a stock Arduino's StandardFirmata under simavr: the same pipeline as on a Bench rig.</summary>
public sealed class FirmataServiceTests
{
    [FirmataServiceFact]
    public async Task The_service_streams_a_Firmata_boards_A0_plays_a_train_it_can_honour_and_refuses_one_it_cannot()
    {
        var (standard, _) = FirmataFirmware.Build();
        await using var firmware = await FirmwareEmulator.StartAsync(new FirmwareEmulatorOptions { FirmwareElf = standard, SeriesResistorMohm = FirmataWiring.SeriesResistorMohm, Seed = 3 });
        await using var service = await RunningService.StartAsync(connect: false);
        var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/devices/connect", new { address = "firmata:" + firmware.Port, sample_rate_hz = 1000 });
        Assert.True(status == 200, body?.ToJsonString());
        Assert.Equal(FirmataSession.BoardName, (string?)body!["device"]!["board"]);
        Assert.Contains("host", (string?)body["device"]!["timing"], StringComparison.Ordinal);

        // A 1 ms pulse is beyond a host-timed pin: refused with the reason, as a 400.
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/stimulus/play", new { protocol = new { unit = "nA", trains = new[] { new { phase1_ms = 1, phase1_amplitude = 50 } } } });
        Assert.Equal(400, status);
        Assert.Contains("20 ms", (string?)body!["error"], StringComparison.Ordinal);

        // Three 20 ms pulses of 50 nA (5 µA/cm² on the emulated membrane): each fires the teaching model once.
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/stimulus/play",
            new { protocol = new { unit = "nA", trains = new[] { new { phase1_ms = 20, phase1_amplitude = 50, interval_ms = 200, count = 3 } } } });
        Assert.True(status == 200, body?.ToJsonString());
        var comparison = await Eventually.Value(() => service.GetJsonAsync("/api/comparison"), c => (int)c["spikes_model"]! >= 3 && (double)c["through_ms"]! >= 800,
            "the comparison through 800 ms with the model's three spikes", TimeSpan.FromSeconds(60));
        Assert.Equal(3, (int)comparison["spikes_recorded"]!);
        var health = (await service.GetJsonAsync("/api/health"))["rig"]!["health"]!;
        Assert.Equal(0, (long)health["lost_samples"]!);
        Assert.True((long)health["samples_received"]! >= 800, health.ToJsonString());
    }
}
