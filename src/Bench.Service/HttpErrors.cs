using System.Text.Json;
using Bench.Core.Stimulus;
using Bench.Rig.Session;
using Bench.Rig.Transports;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace Bench.Service;

/// <summary>
/// The service's answers to requests it refuses, as README promises: every failing request answers one JSON line,
/// <c>{"error": "…"}</c>, naming the problem; never an empty body, an HTML page or a stack trace. Also the guards that
/// refuse requests before any endpoint runs: the loopback host check (DNS rebinding) and the check of the page a
/// browser says a request comes from.
/// </summary>
internal static class HttpErrors
{
    /// <summary>
    /// The largest request body the service reads (1 MiB): its bodies are small JSON objects (a protocol a rig can play is
    /// well under 2 KB), so anything larger is refused before it costs memory.
    /// </summary>
    public const long MaxRequestBodyBytes = 1 << 20;

    /// <summary>The host names the service answers to on loopback.</summary>
    public static readonly string[] LoopbackHosts = ["localhost", "127.0.0.1", "[::1]"];

    /// <summary>
    /// The outermost middleware: turns an exception into its status and a JSON error, and gives a JSON error to every
    /// 4xx or 5xx answer that would otherwise go out without a body (404 of an unknown route, 405, 415, 413 …).
    /// </summary>
    public static async Task AnswerAsync(HttpContext context, RequestDelegate next)
    {
        // While the service has the request, what goes out is its own answer: Kestrel's refusals are rewritten only
        // between requests (KestrelRejections).
        using var busy = KestrelRejections.Busy(context);
        try
        {
            await next(context);
        }
        catch (Exception e) when (!context.Response.HasStarted && e is not OperationCanceledException)
        {
            int status = Status(e);
            string message = status == 413 ? TooLarge
                : e is BadHttpRequestException { InnerException: { } inner } ? $"{e.Message} {inner.Message}"
                : e.Message;
            await WriteAsync(context, status, status == 500 ? "the service failed: " + message : message);
            return;
        }

        if (context.Response.StatusCode >= 400 && !context.Response.HasStarted) await WriteAsync(context, context.Response.StatusCode, Describe(context));
    }

    /// <summary>
    /// On loopback, only requests addressed to a loopback name: a web page that rebinds its own name to 127.0.0.1 (DNS
    /// rebinding) is refused, with a JSON error like every other refusal.
    /// </summary>
    public static async Task RequireLoopbackHostAsync(HttpContext context, RequestDelegate next)
    {
        var host = context.Request.Host;
        if (host.HasValue && !LoopbackHosts.Contains(host.Host, StringComparer.OrdinalIgnoreCase))
        {
            await WriteAsync(context, 400, $"this service answers requests addressed to {string.Join(", ", LoopbackHosts)} only, not to '{Shown(host.Host)}': open it as http://127.0.0.1:{context.Connection.LocalPort}/");
            return;
        }

        await next(context);
    }

    /// <summary>
    /// A page on another site may not make this service act (play a stimulus, delete a recording) nor probe the serial
    /// ports (<c>GET /api/devices</c> opens each one, which resets an Arduino): browsers name the page's origin on such
    /// requests, or at least say that it is another site's (Sec-Fetch-Site).
    /// </summary>
    public static async Task RefuseOtherSitesAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        bool acts = !HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method);
        bool probes = request.Path.StartsWithSegments("/api/devices", StringComparison.OrdinalIgnoreCase);
        if ((acts || probes) && OtherSite(request) is { } site)
        {
            await WriteAsync(context, 403, $"a request from {site} may not {(acts ? "change this service" : "probe the rig's ports")}: use the page this service serves");
            return;
        }

        await next(context);
    }

    /// <summary>The site a browser says the request comes from, when it is not this service's own page; else null.</summary>
    private static string? OtherSite(HttpRequest request)
    {
        if (request.Headers.Origin.FirstOrDefault() is { } origin)
        {
            bool same = Uri.TryCreate(origin, UriKind.Absolute, out var from) && string.Equals(from.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase);
            return same ? null : Shown(origin);
        }

        // No Origin (a GET from an <img> or a link): the browser's Sec-Fetch-Site still says whether it is another site's.
        return request.Headers["Sec-Fetch-Site"].FirstOrDefault() is "cross-site" or "same-site" ? "another site's page" : null;
    }

    /// <summary>The status of a failure.</summary>
    public static int Status(Exception e) => e switch
    {
        BadHttpRequestException b => b.StatusCode,
        JsonException or StimulusProtocolException or ArgumentException or FormatException => 400,
        RecordingNotFoundException => 404,
        Bench.Storage.Recordings.ExportTooLargeException => 422,
        RecordingFailedException f when f.Message.Contains("disk full", StringComparison.Ordinal) => 507,
        RequestTooLargeException => 413,
        InvalidOperationException or RigCommandRefusedException => 409,
        RigConnectionException or RigDisconnectedException => 502,
        TimeoutException => 504,
        _ => 500,
    };

    /// <summary>Writes <c>{"error": message}</c> with <paramref name="status"/>.</summary>
    public static Task WriteAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new ErrorView(message));
    }

    private static string TooLarge => $"the request body is larger than the {MaxRequestBodyBytes} bytes (1 MiB) this service accepts";

    /// <summary>What an answer that has a status but no body means, for a person.</summary>
    private static string Describe(HttpContext context)
    {
        var request = context.Request;
        string target = $"{Shown(request.Method)} {Shown(request.Path.Value ?? "/")}";
        int status = context.Response.StatusCode;
        return status switch
        {
            400 => $"{target}: the request is not valid",
            404 => $"nothing answers {target}: the API is under /api (GET /api/openapi.json lists it)",
            405 => context.Response.Headers.Allow.ToString() is { Length: > 0 } allow
                ? $"{target}: the method is not allowed here; {Shown(request.Path.Value ?? "/")} answers {allow}"
                : $"{target}: the method is not allowed here",
            413 => TooLarge,
            415 => $"{target} takes a JSON body: send it with Content-Type: application/json",
            _ => $"{target}: {ReasonPhrases.GetReasonPhrase(status).ToLowerInvariant()} ({status})",
        };
    }

    /// <summary>Text from the request, as far as it belongs in a message: at most 200 characters, control characters escaped.</summary>
    private static string Shown(string text)
    {
        var shown = new System.Text.StringBuilder();
        foreach (char c in text.Length > 200 ? text[..200] : text)
        {
            if (char.IsControl(c)) shown.Append($"\\u{(int)c:x4}");
            else shown.Append(c);
        }

        return text.Length > 200 ? shown.Append('…').ToString() : shown.ToString();
    }
}

/// <summary>A request body was larger than the service reads.</summary>
public sealed class RequestTooLargeException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RequestTooLargeException()
    {
    }

    /// <summary>Creates the exception with its message.</summary>
    public RequestTooLargeException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with its message and cause.</summary>
    public RequestTooLargeException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
