using System.Buffers;
using System.Text;
using System.Text.Json;
using Bench.Core.Protocol;
using Bench.Core.Stimulus;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Bench.Service;

/// <summary>
/// Reads a request body that carries a stimulus protocol (saved, validated or played), counting its trains as the bytes
/// arrive: a protocol of more trains than a rig plays (<see cref="ProtocolLimits.MaxTrains"/>) is refused as soon as
/// the first train too many is read, whatever follows, so a protocol of a million trains costs a few hundred bytes
/// of parsing (Kestrel discards the rest unread), not seconds of CPU and hundreds of megabytes. The body is bounded by
/// <see cref="HttpErrors.MaxRequestBodyBytes"/> like every other.
/// </summary>
internal static class ProtocolBodies
{
    /// <summary>The most Kestrel reads of a protocol's body, discarding what this reader left unread (64 MiB).</summary>
    private const long DiscardedBytes = 64L << 20;

    /// <summary>The body as text, once whole and within bounds.</summary>
    /// <exception cref="StimulusProtocolException">An array of trains holds more than a rig plays.</exception>
    /// <exception cref="RequestTooLargeException">The body is larger than the service reads.</exception>
    public static async Task<string> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        // Kestrel would refuse a body whose declared length is over the limit before a byte is read, as "too large";
        // this reader applies that limit itself, after the count of trains, so such a protocol is named for what is
        // wrong with it. Kestrel's own limit only bounds what it reads and discards after the answer (so the client,
        // which is still sending, reads the answer instead of a reset connection). It can be changed only before the
        // body is read.
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = DiscardedBytes;
        var body = new ArrayBufferWriter<byte>(4096);
        var trains = new TrainCounter(ProtocolLimits.MaxTrains);
        var state = new JsonReaderState(new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        int scanned = 0;
        bool counting = true;
        var reader = request.BodyReader;
        while (true)
        {
            // One read holds at most what Kestrel buffers for a request (1 MiB by default), so the body in hand stays
            // bounded even when it is counted before its size is checked.
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            foreach (var segment in result.Buffer) body.Write(segment.Span);
            reader.AdvanceTo(result.Buffer.End);
            if (counting)
            {
                // Only the new bytes are scanned: the reader's state carries over from the last read.
                var json = new Utf8JsonReader(body.WrittenSpan[scanned..], result.IsCompleted, state);
                try
                {
                    while (json.Read()) trains.Take(ref json);
                    scanned += (int)json.BytesConsumed;
                    state = json.CurrentState;
                }
                catch (JsonException)
                {
                    // Not JSON: the protocol's parser says where and why, once the body is whole.
                    counting = false;
                }
            }

            // The trains first: a protocol with too many is named for that, however large it is.
            if (body.WrittenCount > HttpErrors.MaxRequestBodyBytes)
            {
                throw new RequestTooLargeException($"the request body is larger than the {HttpErrors.MaxRequestBodyBytes} bytes (1 MiB) this service accepts");
            }

            if (result.IsCompleted) break;
        }

        return Encoding.UTF8.GetString(body.WrittenSpan);
    }

    /// <summary>Counts the elements of every array named <c>trains</c> (the protocol's, or a played request's protocol's).</summary>
    private sealed class TrainCounter(int max)
    {
        private bool named;
        private int depth = -1;
        private int count;

        public void Take(ref Utf8JsonReader json)
        {
            if (depth >= 0)
            {
                if (json.TokenType == JsonTokenType.EndArray && json.CurrentDepth == depth)
                {
                    depth = -1;
                }
                else if (json.CurrentDepth == depth + 1 && json.TokenType is not (JsonTokenType.EndObject or JsonTokenType.EndArray or JsonTokenType.Comment) && ++count > max)
                {
                    throw new StimulusProtocolException($"trains: more than the {max} trains a rig plays in one protocol");
                }

                return;
            }

            if (named && json.TokenType == JsonTokenType.StartArray)
            {
                depth = json.CurrentDepth;
                count = 0;
            }

            named = json.TokenType == JsonTokenType.PropertyName && json.ValueTextEquals("trains"u8);
        }
    }
}
