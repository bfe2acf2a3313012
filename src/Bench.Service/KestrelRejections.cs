using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Bench.Service;

/// <summary>
/// Kestrel refuses some requests before any of the service's code sees them: a request line longer than its limit
/// (414), headers too large (431), a NUL or another control character in the path, even percent-encoded, or a
/// malformed request (400). It answers those with an empty body and closes the connection, and offers no hook to change
/// that answer (aspnet/KestrelHttpServer#2947). This connection middleware gives them the service's JSON error like
/// every other refusal: while none of a connection's requests is in the service's hands, it looks at what Kestrel sends,
/// and rewrites an answer that is Kestrel's own refusal (an HTTP/1.1 status of 400 or more with <c>Content-Length: 0</c>
/// and <c>Connection: close</c>, nothing after it) into the same answer with <c>{"error": "…"}</c>. Every other byte
/// passes unchanged (copied once, which costs far less than the response it belongs to).
/// </summary>
internal static class KestrelRejections
{
    private static readonly object BusyKey = new();

    /// <summary>Adds the rewriting to a Kestrel endpoint.</summary>
    public static void Use(ListenOptions listen, KestrelServerLimits limits) => listen.Use(next => async connection =>
    {
        var transport = connection.Transport;
        // Set before any request runs and only read afterwards, so concurrent requests (HTTP/2) share it safely.
        var requests = new Requests();
        connection.Items[BusyKey] = requests;
        var writer = new RewritingWriter(transport.Output, requests, limits);
        connection.Transport = new Duplex(transport.Input, writer);
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            connection.Transport = transport;
        }
    });

    /// <summary>Marks the connection of <paramref name="context"/> as having a request in the service's hands until the result is disposed.</summary>
    public static IDisposable? Busy(HttpContext context)
    {
        if (context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(BusyKey, out var found) != true || found is not Requests requests) return null;
        Interlocked.Increment(ref requests.InService);
        return requests;
    }

    /// <summary>How many of a connection's requests are in the service's hands.</summary>
    private sealed class Requests : IDisposable
    {
        public int InService;

        public void Dispose() => Interlocked.Decrement(ref InService);
    }

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;

        public PipeWriter Output => output;
    }

    /// <summary>Collects what Kestrel writes until it flushes, then passes it on (rewritten if it is a refusal).</summary>
    private sealed class RewritingWriter(PipeWriter inner, Requests requests, KestrelServerLimits limits) : PipeWriter
    {
        private static readonly byte[] Status = "HTTP/1.1 "u8.ToArray();
        private readonly ArrayBufferWriter<byte> pending = new(1024);

        public override bool CanGetUnflushedBytes => true;

        public override long UnflushedBytes => pending.WrittenCount;

        public override void Advance(int bytes) => pending.Advance(bytes);

        public override Memory<byte> GetMemory(int sizeHint = 0) => pending.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => pending.GetSpan(sizeHint);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null)
        {
            PassOn();
            inner.Complete(exception);
        }

        public override async ValueTask CompleteAsync(Exception? exception = null)
        {
            PassOn();
            await inner.CompleteAsync(exception).ConfigureAwait(false);
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            PassOn();
            return inner.FlushAsync(cancellationToken);
        }

        private void PassOn()
        {
            if (pending.WrittenCount == 0) return;
            var written = pending.WrittenSpan;
            if (Volatile.Read(ref requests.InService) > 0 || !written.StartsWith(Status) || Rewrite(written, limits) is not { } rewritten) inner.Write(written);
            else inner.Write(rewritten);
            pending.ResetWrittenCount();
        }
    }

    /// <summary>Kestrel's refusal in <paramref name="head"/> with a JSON body, or null when it is not one.</summary>
    internal static byte[]? Rewrite(ReadOnlySpan<byte> head, KestrelServerLimits limits)
    {
        // Only a whole head with nothing after it: Kestrel's refusals have no body.
        if (head.Length > 4096 || !head.EndsWith("\r\n\r\n"u8)) return null;
        string text = Encoding.ASCII.GetString(head);
        if (!int.TryParse(text.AsSpan(9, Math.Min(3, text.Length - 9)), NumberStyles.None, CultureInfo.InvariantCulture, out int status) || status < 400) return null;
        if (!text.Contains("\r\nContent-Length: 0\r\n", StringComparison.Ordinal) || !text.Contains("\r\nConnection: close\r\n", StringComparison.Ordinal)) return null;
        byte[] body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["error"] = Describe(status, limits) });
        string rewritten = text.Replace("\r\nContent-Length: 0\r\n",
            string.Create(CultureInfo.InvariantCulture, $"\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {body.Length}\r\n"), StringComparison.Ordinal);
        return [.. Encoding.ASCII.GetBytes(rewritten), .. body];
    }

    private static string Describe(int status, KestrelServerLimits limits) => status switch
    {
        400 => "the request is not valid HTTP: a malformed request line or header, or a character a path may not hold (NUL or another control character, even percent-encoded)",
        408 => "the request took too long to arrive",
        411 => "the request has a body without a length: give Content-Length or send it chunked",
        413 => $"the request body is larger than the {HttpErrors.MaxRequestBodyBytes} bytes (1 MiB) this service accepts",
        414 => $"the path and query of the request are longer than the {limits.MaxRequestLineSize} bytes this service reads: shorten them",
        431 => $"the headers of the request are larger than the {limits.MaxRequestHeadersTotalSize} bytes (or {limits.MaxRequestHeaderCount} headers) this service reads",
        505 => "this service speaks HTTP/1.1",
        _ => string.Create(CultureInfo.InvariantCulture, $"the request was refused ({status} {Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status)})"),
    };
}
