using System.Text;

namespace Bench.Benchmarks.Cpu;

/// <summary>
/// A viewer of the live page without the page: reads <c>GET /api/stream</c>, the server-sent events the page's
/// EventSource subscribes to (app.js), for as long as it runs, and counts what arrives by event name.
/// </summary>
internal sealed class StreamViewer : IAsyncDisposable
{
    private readonly HttpClient client = new() { Timeout = Timeout.InfiniteTimeSpan };
    private readonly CancellationTokenSource stop = new();
    private readonly Dictionary<string, long> events = [];
    private readonly Lock gate = new();
    private readonly Task reading;
    private long bytes;

    private StreamViewer(Uri service)
    {
        reading = Task.Run(() => ReadAsync(new Uri(service, "/api/stream")));
    }

    /// <summary>Why the stream failed or ended early, or null while it runs.</summary>
    public string? Error { get; private set; }

    public static StreamViewer Start(Uri service) => new(service);

    /// <summary>Bytes and events received so far (event name → count).</summary>
    public (long Bytes, Dictionary<string, long> Events) Snapshot()
    {
        lock (gate) return (bytes, new Dictionary<string, long>(events));
    }

    private async Task ReadAsync(Uri stream)
    {
        try
        {
            using var response = await client.GetAsync(stream, HttpCompletionOption.ResponseHeadersRead, stop.Token);
            if (!response.IsSuccessStatusCode)
            {
                Error = $"GET {stream.AbsolutePath} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(stop.Token)}";
                return;
            }

            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(stop.Token), Encoding.UTF8);
            string name = "message";
            bool data = false;
            while (await reader.ReadLineAsync(stop.Token) is { } line)
            {
                // The service ends lines with \n alone (BenchServer's stream endpoint), so this is the byte count on the wire.
                long size = Encoding.UTF8.GetByteCount(line) + 1;
                lock (gate)
                {
                    bytes += size;
                    if (line.Length == 0)
                    {
                        // A blank line dispatches the event, if it had data (a comment alone does not, as in EventSource).
                        if (data) events[name] = events.GetValueOrDefault(name) + 1;
                        name = "message";
                        data = false;
                    }
                    else if (line.StartsWith("event:", StringComparison.Ordinal))
                    {
                        name = line[6..].Trim();
                    }
                    else if (line.StartsWith("data:", StringComparison.Ordinal))
                    {
                        data = true;
                    }
                }
            }

            Error ??= "the service ended the stream";
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Disposed: the window is over.
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            Error = $"the stream failed: {e.Message}";
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        await reading;
        client.Dispose();
        stop.Dispose();
    }
}
