using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Bench.Service.Tests;

/// <summary>
/// Issue 12 §4.8: every refused request answers one JSON line <c>{"error": "…"}</c> (also those Kestrel refuses before
/// the service sees them), a hardware probe is Origin-checked, and bodies and protocols are bounded.
/// </summary>
public sealed class HttpErrorTests
{
    /// <summary>Sends <paramref name="request"/> as it is on a fresh connection and reads the answer to the end.</summary>
    private static async Task<(int Status, string Head, string Body)> RawAsync(Uri service, byte[] request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(service.Host, service.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(request);
        using var answer = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            await stream.CopyToAsync(answer, timeout.Token);
        }
        catch (IOException)
        {
            // The service closed the connection with the request still unread (it refused it early): what came is the answer.
        }

        byte[] bytes = answer.ToArray();
        int end = bytes.AsSpan().IndexOf("\r\n\r\n"u8);
        Assert.True(end > 0, $"no complete answer: {Encoding.UTF8.GetString(bytes)}");
        string head = Encoding.ASCII.GetString(bytes, 0, end);
        byte[] body = bytes[(end + 4)..];
        if (head.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase)) body = Unchunk(body);
        return (int.Parse(head.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture), head, Encoding.UTF8.GetString(body));
    }

    private static byte[] Unchunk(byte[] chunked)
    {
        var body = new MemoryStream();
        int at = 0;
        while (true)
        {
            int line = at + chunked.AsSpan(at).IndexOf("\r\n"u8);
            int size = Convert.ToInt32(Encoding.ASCII.GetString(chunked, at, line - at), 16);
            if (size == 0) return body.ToArray();
            body.Write(chunked, line + 2, size);
            at = line + 2 + size + 2;
        }
    }

    private static byte[] Request(string method, string target, string? body = null, string? contentType = "application/json", string host = "127.0.0.1", string extraHeaders = "")
    {
        var text = new StringBuilder($"{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extraHeaders}");
        if (body is not null) text.Append($"Content-Type: {contentType}\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\n");
        return Encoding.UTF8.GetBytes(text.Append("\r\n").Append(body).ToString());
    }

    private const string Train = """{"phase1_ms":1,"phase1_amplitude":100}""";

    /// <summary>Each bad request (built when its case runs: some are megabytes) and the status it is refused with.</summary>
    private static readonly Dictionary<string, (int Status, Func<byte[]> Request)> Cases = new()
    {
        ["unknown route"] = (404, () => Request("GET", "/api/nope")),
        ["unknown page"] = (404, () => Request("GET", "/nope.html")),
        ["method not allowed"] = (405, () => Request("PATCH", "/api/health")),
        ["delete of a read-only resource"] = (405, () => Request("DELETE", "/api/health")),
        ["not JSON"] = (415, () => Request("POST", "/api/recordings", "name=x", "application/x-www-form-urlencoded")),
        ["body over 1 MiB"] = (413, () => Request("POST", "/api/recordings", "{\"name\":\"" + new string('a', 2_000_000) + "\"}")),
        ["bad JSON"] = (400, () => Request("POST", "/api/recordings", "{\"name\":")),
        ["missing field"] = (400, () => Request("PUT", "/api/config", "{}")),
        ["escaping name"] = (400, () => Request("GET", "/api/recordings/..%2Fescape")),
        ["rebound host name"] = (400, () => Request("GET", "/api/health", host: "evil.example")),
        ["other site acts"] = (403, () => Request("POST", "/api/stimulus/stop-all", "", extraHeaders: "Origin: http://evil.example\r\n")),
        ["other site probes the ports"] = (403, () => Request("GET", "/api/devices", extraHeaders: "Origin: http://evil.example\r\n")),
        ["other site's image probes the ports"] = (403, () => Request("GET", "/api/devices", extraHeaders: "Sec-Fetch-Site: cross-site\r\n")),
        ["a million trains"] = (400, () => Request("POST", "/api/stimulus/play", "{\"protocol\":{\"unit\":\"nA\",\"trains\":[" + string.Join(",", Enumerable.Repeat(Train, 1_000_000)) + "]}}")),
        ["pulse count overflows"] = (400, () => Request("PUT", "/api/protocols/overflow", """{"unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":100,"count":2000000000,"interval_ms":1e300}]}""")),
        ["more pulses than a rig counts"] = (400, () => Request("PUT", "/api/protocols/many", """{"unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":100,"count":70000,"interval_ms":1}]}""")),
        ["absurd calibration"] = (400, () => Request("POST", "/api/calibration", """{"mv_per_count":1e308,"offset_mv":1e308}""")),
        // Refused by Kestrel before the service sees them.
        ["path over 8 KB"] = (414, () => Request("GET", "/api/recordings/" + new string('a', 10_000))),
        ["encoded NUL in the path"] = (400, () => Request("GET", "/api/recordings/a%00b")),
        ["NUL in the path"] = (400, () => Encoding.ASCII.GetBytes("GET /api/a\0b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")),
        ["headers over 32 KB"] = (431, () => Request("GET", "/api/health", extraHeaders: $"X-Big: {new string('a', 40_000)}\r\n")),
        ["no Host"] = (400, () => Encoding.ASCII.GetBytes("GET /api/health HTTP/1.1\r\n\r\n")),
        ["not HTTP"] = (400, () => Encoding.ASCII.GetBytes("HELLO\r\n\r\n")),
        ["bad Content-Length"] = (400, () => Encoding.ASCII.GetBytes("POST /api/recordings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n")),
    };

    public static TheoryData<string> BadRequests() => [.. Cases.Keys];

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Every_refusal_is_one_JSON_line_naming_the_problem(string what)
    {
        var (status, request) = Cases[what];
        await using var service = await RunningService.StartAsync();
        var answer = await RawAsync(service.BaseAddress, request());
        Assert.True(answer.Status == status, $"{what}: {answer.Status} {answer.Body}");
        Assert.Contains("Content-Type: application/json", answer.Head, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain('\n', answer.Body.TrimEnd());
        var error = JsonNode.Parse(answer.Body)!["error"];
        Assert.True(error?.GetValueKind() == System.Text.Json.JsonValueKind.String && ((string)error!).Length > 10, $"{what}: {answer.Body}");
        // The service keeps answering.
        Assert.Equal("ok", (string?)(await service.GetJsonAsync("/api/health"))["status"]);
    }

    [Fact]
    public async Task A_protocol_of_a_million_trains_is_refused_at_its_twelfth_train_with_the_limit_named()
    {
        await using var service = await RunningService.StartAsync();
        string trains = string.Join(",", Enumerable.Repeat(Train, 1_000_000));
        foreach (var (method, path, body) in new[]
        {
            (HttpMethod.Post, "/api/stimulus/play", "{\"protocol\":{\"unit\":\"nA\",\"trains\":[" + trains + "]}}"),
            (HttpMethod.Put, "/api/protocols/huge", "{\"unit\":\"nA\",\"trains\":[" + trains + "]}"),
        })
        {
            using var request = new HttpRequestMessage(method, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await service.Client.SendAsync(request);
            string text = await response.Content.ReadAsStringAsync();
            Assert.True((int)response.StatusCode == 400, text);
            Assert.Contains("more than the 11 trains a rig plays", (string?)JsonNode.Parse(text)!["error"]);
        }

        // Checked, not just refused: validation says why, and a protocol of 12 trains (under 1 KB) is refused as well.
        var (status, answer) = await service.SendAsync(HttpMethod.Post, "/api/protocols/validate", "{\"unit\":\"nA\",\"trains\":[" + string.Join(",", Enumerable.Repeat(Train, 12)) + "]}");
        Assert.Equal(200, status);
        Assert.False((bool)answer!["valid"]!);
        Assert.Contains("11 trains", (string?)answer["error"]);
        Assert.DoesNotContain((await service.GetJsonAsync("/api/protocols")).AsArray(), p => (string?)p!["name"] == "huge");
    }

    [Fact]
    public void Only_Kestrels_own_refusals_are_rewritten()
    {
        var limits = new Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerLimits();
        byte[] refusal = "HTTP/1.1 414 URI Too Long\r\nContent-Length: 0\r\nConnection: close\r\nDate: Sat, 05 Dec 2026 16:36:47 GMT\r\nServer: Kestrel\r\n\r\n"u8.ToArray();
        string rewritten = Encoding.ASCII.GetString(KestrelRejections.Rewrite(refusal, limits)!);
        Assert.StartsWith("HTTP/1.1 414 URI Too Long\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ", rewritten);
        string body = rewritten[(rewritten.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
        Assert.Contains("8192 bytes", (string?)JsonNode.Parse(body)!["error"]);
        Assert.Contains($"Content-Length: {Encoding.UTF8.GetByteCount(body)}\r\n", rewritten);
        // An answer that keeps the connection, has a body, is not an error, or is followed by more bytes is left alone.
        foreach (string other in new[]
        {
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\nHTTP/1.1 200 OK",
            "HTTP/1.1 4",
        })
        {
            Assert.Null(KestrelRejections.Rewrite(Encoding.ASCII.GetBytes(other), limits));
        }
    }

    [Fact]
    public async Task A_page_of_the_service_itself_may_list_the_devices()
    {
        await using var service = await RunningService.StartAsync(connect: false);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/devices");
        request.Headers.Add("Origin", service.BaseAddress.GetLeftPart(UriPartial.Authority));
        request.Headers.Add("Sec-Fetch-Site", "same-origin");
        using var response = await service.Client.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }
}
