using System.Text.Json;
using System.Threading.Channels;

namespace Bench.Service;

/// <summary>One message of the live stream: its event name and its JSON body.</summary>
public sealed record LiveMessage(string Event, string Json);

/// <summary>
/// Fans the live stream out to every viewer. Each viewer has its own small bounded queue that drops its oldest
/// messages when full, so a slow browser loses frames of its own view and never holds up acquisition or other viewers.
/// </summary>
public sealed class LiveHub
{
    private readonly Lock gate = new();
    private readonly List<Channel<LiveMessage>> viewers = [];
    private readonly Dictionary<string, LiveMessage> latest = new(StringComparer.Ordinal);

    /// <summary>JSON options of every live message (snake_case, as the REST API).</summary>
    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        TypeInfoResolver = BenchJson.Resolver,
    };

    /// <summary>Viewers connected now.</summary>
    public int ViewerCount
    {
        get
        {
            lock (gate) return viewers.Count;
        }
    }

    /// <summary>Messages dropped for slow viewers, in all.</summary>
    public long Dropped { get; private set; }

    /// <summary>Publishes <paramref name="body"/> as event <paramref name="name"/> to every viewer; never blocks.</summary>
    public void Publish<T>(string name, T body, bool remember = false) => PublishJson(name, JsonSerializer.Serialize(body, Json), remember);

    /// <summary>Publishes a body already written as JSON (one line) as event <paramref name="name"/>; never blocks.</summary>
    public void PublishJson(string name, string json, bool remember = false)
    {
        var message = new LiveMessage(name, json);
        lock (gate)
        {
            if (remember) latest[name] = message;
            foreach (var v in viewers)
            {
                if (v.Reader.Count >= Capacity) Dropped++;
                v.Writer.TryWrite(message);
            }
        }
    }

    private const int Capacity = 64;

    /// <summary>A new viewer's queue, primed with the last state messages (health, device, metrics).</summary>
    public ChannelReader<LiveMessage> Subscribe(out Action unsubscribe)
    {
        var channel = Channel.CreateBounded<LiveMessage>(new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        lock (gate)
        {
            foreach (var m in latest.Values) channel.Writer.TryWrite(m);
            viewers.Add(channel);
        }

        unsubscribe = () =>
        {
            lock (gate) viewers.Remove(channel);
            channel.Writer.TryComplete();
        };
        return channel.Reader;
    }
}
