using Bench.Rig.Emulation;

namespace Bench.Service.Tests;

/// <summary>The service on the reference firmware under simavr: the same page pipeline as on the emulated rig.</summary>
[Trait("Category", "EndToEnd")]
public sealed class FirmwareServiceTests
{
    [Fact]
    public async Task The_service_compares_the_real_firmwares_recording_with_the_model()
    {
        await using var firmware = await FirmwareEmulator.StartAsync(new FirmwareEmulatorOptions { Seed = 12 });
        await using var service = await RunningService.StartAsync(connect: false);
        var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/devices/connect", new { address = firmware.Port });
        Assert.True(status == 200, body?.ToJsonString());
        Assert.Equal("UNO-R3", (string?)body!["device"]!["board"]);
        Assert.Equal(10, (int)body["device"]!["adc_bits"]!);
        (status, body) = await service.SendAsync(HttpMethod.Post, "/api/stimulus/play", new { name = "paired-pulse" });
        Assert.True(status == 200, body?.ToJsonString());
        // The simulator keeps to real time when it can; on a loaded machine it falls behind, so only a generous deadline.
        var comparison = await Eventually.Value(() => service.GetJsonAsync("/api/comparison"), c => (int)c["spikes_model"]! >= 2 && (double)c["through_ms"]! >= 600,
            "the comparison through 600 ms with both model spikes", TimeSpan.FromSeconds(60));

        // The firmware's samples (10-bit, nominal calibration) against the model driven by the pulses it reported.
        Assert.Equal(2, (int)comparison["spikes_recorded"]!);
        Assert.Equal(2, (int)comparison["spikes_model"]!);
        Assert.Equal(1.0, (double)comparison["gamma"]!);
        // Over the APs the error is dominated by their steep edges (a 10-bit step is 0.16 mV; noise 0.2 mV).
        Assert.True((double)comparison["rmse_mv"]! < 1.0, comparison.ToJsonString());
        Assert.True((double)comparison["correlation"]! > 0.99, comparison.ToJsonString());
        Assert.Equal(0, (long)(await service.GetJsonAsync("/api/health"))["rig"]!["health"]!["lost_samples"]!);
    }
}
