using Bench.Core.Stimulus;

namespace Bench.Service.Tests;

/// <summary>Every built-in protocol shows what its description says, on the default emulated rig and on the model.</summary>
public sealed class BuiltInProtocolTests
{
    [Fact]
    public async Task Each_built_in_protocol_fires_the_action_potentials_it_promises_on_the_rig_and_the_model()
    {
        await using var service = await RunningService.StartAsync();
        var builtIns = (await service.GetJsonAsync("/api/protocols")).AsArray().Where(p => (bool)p!["built_in"]!).ToList();
        Assert.Equal(ProtocolLibrary.BuiltInSpikeCounts.Keys.Order(), builtIns.Select(p => (string)p!["name"]!).Order());
        var seen = new List<string>();
        foreach (var entry in builtIns)
        {
            string name = (string)entry!["name"]!;
            var protocol = StimulusProtocol.Parse((string)entry["json"]!);
            // Counted from before the play to a second past the protocol's end, which is measured from a pulse it played
            // (the comparison's figures are half a second old at most, and the play starts when the rig gets it).
            var before = await service.GetJsonAsync("/api/comparison");
            double? lastPulseBefore = (double?)before["last_pulse_ms"];
            var (status, body) = await service.SendAsync(HttpMethod.Post, "/api/stimulus/play", new { name });
            Assert.True(status == 200, body?.ToJsonString());
            var after = await Eventually.Value(() => service.GetJsonAsync("/api/comparison"),
                c => (double?)c["last_pulse_ms"] is { } pulse && pulse != lastPulseBefore && (double)c["through_ms"]! >= pulse + protocol.EndMs + 1000,
                $"the comparison a second past the end of '{name}'", TimeSpan.FromSeconds(60));
            int recorded = (int)after["spikes_recorded"]! - (int)before["spikes_recorded"]!;
            int model = (int)after["spikes_model"]! - (int)before["spikes_model"]!;
            seen.Add($"{name}: rig {recorded}, model {model}");
            Assert.True(ProtocolLibrary.BuiltInSpikeCounts[name] == recorded && recorded == model,
                $"'{name}' ({entry["description"]}) should fire {ProtocolLibrary.BuiltInSpikeCounts[name]}: {string.Join("; ", seen)}");
        }
    }
}
