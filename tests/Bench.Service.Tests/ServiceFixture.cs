using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Bench.Rig.Emulation;
using Bench.Storage.Journal;
using Microsoft.AspNetCore.Builder;

namespace Bench.Service.Tests;

/// <summary>The service in this process on a free loopback port, over a fresh data directory, with the emulated rig connected.</summary>
public sealed class RunningService : IAsyncDisposable
{
    private readonly WebApplication app;

    private RunningService(WebApplication app, string dataDirectory, HttpClient client)
    {
        this.app = app;
        DataDirectory = dataDirectory;
        Client = client;
    }

    public string DataDirectory { get; }

    public HttpClient Client { get; }

    public Uri BaseAddress => Client.BaseAddress!;

    public RigHost Host => (RigHost)app.Services.GetService(typeof(RigHost))!;

    public static async Task<RunningService> StartAsync(string? token = null, bool connect = true, string? model = "hh", int seed = 1, FaultOptions? faults = null,
        TimeSpan? reconnectTimeout = null, string? dataDirectory = null)
    {
        string data = dataDirectory ?? Directory.CreateTempSubdirectory("bench-service-").FullName;
        var options = new ServiceOptions
        {
            DataDirectory = data,
            Token = token,
            Model = model,
            Emulator = new EmulatorOptions { Seed = seed, Faults = faults ?? FaultOptions.None },
            ReconnectTimeout = reconnectTimeout ?? TimeSpan.FromSeconds(30),
        };
        var app = BenchServer.Build(options, "http://127.0.0.1:0");
        await app.StartAsync();
        var client = new HttpClient { BaseAddress = new Uri(app.Urls.First()), Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var service = new RunningService(app, data, client);
        if (connect) await service.Host.ConnectAsync(RigHost.EmulatedAddress, 20_000, CancellationToken.None);
        return service;
    }

    public async Task<JsonNode> GetJsonAsync(string path)
    {
        using var response = await Client.GetAsync(path);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!;
    }

    public async Task<(int Status, JsonNode? Body)> SendAsync(HttpMethod method, string path, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is string text) request.Content = new StringContent(text, System.Text.Encoding.UTF8, "application/json");
        else if (body is not null) request.Content = JsonContent.Create(body, options: new JsonSerializerOptions(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower });
        using var response = await Client.SendAsync(request);
        string content = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, content.Length == 0 ? null : JsonNode.Parse(content));
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
        Client.Dispose();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by a dying process: the temporary folder is left behind.
        }
    }
}

/// <summary>What a recording's journal holds on file: what a crash of the service would leave.</summary>
internal static class Journals
{
    /// <summary>
    /// Waits until the journal of the recording <paramref name="nwbPath"/> holds, on file, what <paramref name="ok"/>
    /// wants (the service hands it to the operating system every 200 ms while samples come), and returns it.
    /// </summary>
    public static Task<RecordingJournal> WaitAsync(string nwbPath, Func<RecordingJournal, bool> ok, string what) =>
        Eventually.Value(() => Task.FromResult(RecordingJournal.Scan(JournalConverter.JournalPathFor(nwbPath))), ok, what);
}
