using System.Net;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Bench.Core.Protocol;
using Bench.Core.Instrument;
using Bench.Core.Stimulus;
using Bench.Rig.Transports;
using Bench.Storage.Catalog;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Logging;

namespace Bench.Service;

/// <summary>
/// The Bench service: the HTTP API (REST and a server-sent-event stream), the OpenAPI document and the page, over one
/// <see cref="RigHost"/>. Loopback by default; any other address needs a token, generated and printed at start.
/// </summary>
public static class BenchServer
{
    /// <summary>How long a delete waits for the stop of the same recording to finish writing its NWB file.</summary>
    private static readonly TimeSpan DeleteWaitsForStop = TimeSpan.FromSeconds(15);

    /// <summary>Builds the web application for <paramref name="urls"/> (e.g. <c>http://127.0.0.1:5080</c>).</summary>
    /// <exception cref="ArgumentException">A URL is not valid, or binds beyond loopback without a token.</exception>
    public static WebApplication Build(ServiceOptions options, string urls)
    {
        bool loopbackOnly = urls.Split(';', StringSplitOptions.RemoveEmptyEntries).All(IsLoopback);
        if (options.Token is { Length: < 8 }) throw new ArgumentException("the token must be at least 8 characters (--token auto makes a random one)");
        if (!loopbackOnly && options.Token is null) throw new ArgumentException("binding beyond loopback needs a token (the service makes one with --token auto)");
        Directory.CreateDirectory(options.DataDirectory);
        // One service per data directory: a second would take the first one's live journals for interrupted ones.
        var dataLock = LockDataDirectory(options.DataDirectory);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, WebRootPath = Path.Combine(AppContext.BaseDirectory, "wwwroot") });
        builder.WebHost.UseUrls(urls);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.Services.Configure<JsonOptions>(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            o.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals;
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, BenchJson.Default);
        });
        builder.Services.AddOpenApi();
        // A malformed body is a clear 400 with the reason, not an empty answer.
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        // The service's bodies are small JSON objects: a larger one is refused (413, JSON) before it costs memory.
        builder.WebHost.ConfigureKestrel(o =>
        {
            o.Limits.MaxRequestBodySize = HttpErrors.MaxRequestBodyBytes;
            // Requests Kestrel refuses before the service sees them (too long, a NUL in the path) get a JSON error too.
            o.ConfigureEndpointDefaults(listen => KestrelRejections.Use(listen, o.Limits));
        });

        var hub = new LiveHub();
        var catalog = new BenchCatalog(options.DataDirectory);
        foreach (var line in ActiveRecording.RecoverInterrupted(catalog)) Console.Error.WriteLine($"bench: {line}");
        var host = new RigHost(options, hub, catalog);
        var protocols = new ProtocolLibrary(options.DataDirectory);
        var practicals = new Practicals.PracticalSession(host, hub);
        builder.Services.AddSingleton(options).AddSingleton(hub).AddSingleton(catalog).AddSingleton(host).AddSingleton(protocols).AddSingleton(practicals);
        var app = builder.Build();
        // What the rig's session recovers from (a failed reconnect attempt, an unconfirmed stop) goes to the service's log.
        host.Logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Bench.Rig");
        app.Lifetime.ApplicationStopped.Register(dataLock.Dispose);
        // Outermost: every refusal below, and every failure, answers one JSON line.
        app.Use(HttpErrors.AnswerAsync);
        // On loopback without a token, only requests addressed to loopback names (DNS rebinding is refused).
        if (loopbackOnly) app.Use(HttpErrors.RequireLoopbackHostAsync);
        app.Use(HttpErrors.RefuseOtherSitesAsync);
        if (options.Token is { } token) app.Use(async (context, next) => await RequireTokenAsync(context, next, token));
        app.UseDefaultFiles();
        app.UseStaticFiles(new StaticFileOptions { FileProvider = new PhysicalFileProvider(Path.Combine(AppContext.BaseDirectory, "wwwroot")) });
        app.MapOpenApi("/api/openapi.json");
        MapApi(app, options, host, hub, catalog, protocols);
        MapPracticals(app.MapGroup("/api"), practicals);
        app.Lifetime.ApplicationStopping.Register(() =>
        {
            // A step running is cancelled first: it gives the rig back as it was.
            practicals.DisposeAsync().AsTask().GetAwaiter().GetResult();
            host.DisposeAsync().AsTask().GetAwaiter().GetResult();
        });
        return app;
    }

    /// <summary>A fresh random token for binding beyond loopback.</summary>
    public static string NewToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    private static bool IsLoopback(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")) throw new ArgumentException($"--urls: '{url}' is not an http:// or https:// URL");
        return uri.Host == "localhost" || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
    }

    private static FileStream LockDataDirectory(string directory)
    {
        string path = Path.Combine(directory, ".lock");
        try
        {
            // FileShare.None is an exclusive lock on Linux too (flock); the kernel releases it when the process dies.
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            throw new InvalidOperationException($"another bench serve uses the data directory {directory}: stop it, or give this one its own --data-dir");
        }
    }

    /// <summary>Marks a health request made without the token: it is told only whether the service is up.</summary>
    private const string HealthWithoutToken = "bench.health-without-token";

    private static async Task RequireTokenAsync(HttpContext context, RequestDelegate next, string token)
    {
        // Routing ignores case, so the check must too (/API/... is the same endpoint as /api/...).
        if (!context.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase))
        {
            await next(context);
            return;
        }

        string? given = context.Request.Headers.Authorization.FirstOrDefault() is { } auth && auth.StartsWith("Bearer ", StringComparison.Ordinal)
            ? auth["Bearer ".Length..]
            : context.Request.Query["token"].FirstOrDefault();
        bool authorised = given is not null && CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(given), System.Text.Encoding.UTF8.GetBytes(token));
        if (!authorised && context.Request.Path.Equals("/api/health", StringComparison.OrdinalIgnoreCase))
        {
            // A monitor may ask whether the service is up without the token; the rig and its details need it.
            context.Items[HealthWithoutToken] = true;
            await next(context);
            return;
        }

        if (!authorised)
        {
            context.Response.StatusCode = 401;
            await context.Response.WriteAsJsonAsync(new ErrorView("this service needs its token: Authorization: Bearer <token>, or ?token=<token> (printed when the service started)"));
            return;
        }

        await next(context);
    }

    private static void MapApi(WebApplication app, ServiceOptions options, RigHost host, LiveHub hub, BenchCatalog catalog, ProtocolLibrary protocols)
    {
        var api = app.MapGroup("/api");
        api.MapGet("/health", (HttpContext context) =>
        {
            var status = host.Status;
            string state = status.State == "connected" ? "ok" : "degraded";
            return context.Items.ContainsKey(HealthWithoutToken)
                ? Results.Ok(new { status = state })
                : Results.Ok(new HealthResponse(state, status, hub.ViewerCount, options.Model));
        }).Produces<HealthResponse>().WithSummary("Service and rig health (without the token, beyond loopback: only ok or degraded)");

        api.MapGet("/devices", async (CancellationToken ct) =>
        {
            string? current = host.Status.Address;
            var (candidates, usb) = await RigDiscovery.ListAsync([], TimeSpan.FromSeconds(1.5), ct, current is null ? null : [current]);
            var list = new JsonArray { new JsonObject { ["port"] = RigHost.EmulatedAddress, ["status"] = "rig", ["board"] = "EMU", ["description"] = "the embedded emulated rig" } };
            foreach (var c in candidates) list.Add(c);
            return Results.Json(new JsonObject { ["devices"] = list, ["usb_unavailable"] = usb, ["connected"] = host.Status.Address });
        }).WithSummary("Serial ports and USB rigs, each probed with Hello");
        api.MapPost("/devices/connect", async (ConnectRequest? request, CancellationToken ct) =>
        {
            string address = string.IsNullOrWhiteSpace(request?.Address) ? RigHost.EmulatedAddress : request.Address.Trim();
            double rate = request?.SampleRateHz ?? options.SampleRateHz;
            if (!(rate > 0) || rate > 1_000_000) throw new ArgumentException("sample_rate_hz must be above 0 and at most 1000000");
            return await host.ConnectAsync(address, rate, ct);
        }).WithSummary("Connect a rig (\"emulated\", a serial path, tcp://host:port or usb:VID:PID[:serial])");
        api.MapPost("/devices/disconnect", async () =>
        {
            await host.DisconnectAsync();
            return host.Status;
        }).WithSummary("Stop stimulation and let the rig go");

        api.MapGet("/config", () => new ConfigView(host.Status.SampleRateHz, options.Model, host.ModelParameters)).WithSummary("Acquisition and comparison settings");
        api.MapPut("/config", async (ConfigRequest request, CancellationToken ct) =>
        {
            if (request.SampleRateHz is not { } rate || !(rate > 0) || rate > 1_000_000) throw new ArgumentException("sample_rate_hz is required: above 0 and at most 1000000");
            await host.ConfigureAsync(rate, ct);
            return new ConfigView(host.Status.SampleRateHz, options.Model, host.ModelParameters);
        }).WithSummary("Change the sample rate (acquisition restarts)");

        api.MapGet("/model/parameters", () => options.Model is { } model
                ? Results.Json(LiveParameters.View(model, host.ModelParameters), LiveHub.Json)
                : Results.NotFound(new ErrorView("the service runs without a model (--model none)")))
            .WithSummary("The comparison model's parameters: value, default, unit and range of each");
        api.MapPut("/model/parameters", async (HttpRequest request, CancellationToken ct) =>
            Results.Json(await host.SetModelParametersAsync(LiveParameters.ParseBody(await ReadTextAsync(request, ct)), ct), LiveHub.Json))
            .Accepts<Dictionary<string, double>>("application/json").Produces<ParameterSetView>()
            .WithSummary("Run the model with these parameters (the rest at their defaults) from now on; refused while recording");
        api.MapGet("/emulator/parameters", () => Results.Json(LiveParameters.View(host.Emulator.Model, host.Emulator.Parameters), LiveHub.Json))
            .WithSummary("The emulated preparation's parameters");
        api.MapPut("/emulator/parameters", async (HttpRequest request, CancellationToken ct) =>
            Results.Json(await host.SetEmulatorParametersAsync(LiveParameters.ParseBody(await ReadTextAsync(request, ct)), ct), LiveHub.Json))
            .Accepts<Dictionary<string, double>>("application/json").Produces<ParameterSetView>()
            .WithSummary("Give the emulated preparation these parameters (a blocker, cooling): the emulated rig is connected again with them");
        api.MapGet("/stimulus/limits", () => Results.Json(host.StimulusLimits, LiveHub.Json)).Produces<StimulusLimitsView>()
            .WithSummary("What the connected rig's stimulus output plays (amplitude, phase, charge, timing grid)");
        api.MapGet("/sweep", () => host.SweepWindow).WithSummary("The triggered sweep's window around each stimulus onset");
        api.MapPut("/sweep", (SweepWindowRequest request) =>
        {
            if (request.PreMs is not { } pre || request.PostMs is not { } post) throw new ArgumentException("pre_ms and post_ms are required numbers (ms before and after the onset)");
            host.SweepWindow = new SweepWindow(pre, post);
            return host.SweepWindow;
        }).WithSummary("Set the sweep window (pre_ms 0 … 100, post_ms 1 … 1000); from the next pulse on");

        api.MapGet("/protocols", () => protocols.List()).WithSummary("Built-in and saved stimulus protocols");
        api.MapPut("/protocols/{name}", async (string name, HttpRequest request, CancellationToken ct) =>
        {
            var (json, description) = ProtocolLibrary.TakeDescription(await ProtocolBodies.ReadAsync(request, ct));
            // Checked against the connected rig as it is saved, not first when it is played.
            if (host.Session is { } session)
            {
                Names.Validate(name, "protocol");
                var protocol = StimulusProtocol.Parse(json, ProtocolLimits.MaxTrains);
                session.CheckStimulus(protocol);
            }

            return protocols.Save(name, json, description);
        }).WithSummary("Validate (against the connected rig) and save a protocol (JSON body, in nA; an optional \"description\" is kept with it)");
        api.MapDelete("/protocols/{name}", (string name) => protocols.Delete(name) ? Results.NoContent() : Results.NotFound(new ErrorView($"no saved protocol '{name}'")));
        api.MapPost("/protocols/validate", async (HttpRequest request, CancellationToken ct) =>
        {
            string json;
            try
            {
                // A protocol about to be saved may carry its description.
                json = ProtocolLibrary.TakeDescription(await ProtocolBodies.ReadAsync(request, ct)).Json;
            }
            catch (StimulusProtocolException e)
            {
                return new ValidationResponse(false, e.Message, null);
            }

            return Validate(json, host);
        }).WithSummary("Check a protocol against the connected rig without playing it");
        var jsonOptions = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<JsonOptions>>().Value.SerializerOptions;
        api.MapPost("/stimulus/play", async (HttpRequest body, CancellationToken ct) =>
        {
            // Read by hand rather than bound, so the protocol's trains are counted as the body arrives.
            string text = await ProtocolBodies.ReadAsync(body, ct);
            var request = string.IsNullOrWhiteSpace(text) ? null : JsonSerializer.Deserialize<PlayRequest>(text, jsonOptions);
            string json = request?.Protocol?.ToJsonString()
                ?? protocols.Find(request?.Name ?? throw new ArgumentException("give name (a listed protocol) or protocol (JSON)"))?.Json
                ?? throw new ArgumentException($"no protocol '{request.Name}': GET /api/protocols lists them");
            var protocol = StimulusProtocol.Parse(json, ProtocolLimits.MaxTrains);
            var command = await host.PlayAsync(protocol, request.Name ?? protocol.Name, ct);
            return new PlayResponse(command.StimId, command.Trains.Sum(t => (int)t.PulseCount), protocol.EndMs);
        }).Accepts<PlayRequest>("application/json").Produces<PlayResponse>().WithSummary("Play a protocol now");
        api.MapPost("/stimulus/stop-all", async (CancellationToken ct) =>
        {
            await host.StopAllAsync(ct);
            return Results.NoContent();
        }).WithSummary("Stop every stimulus at once");

        RecordingRecord Find(string name) => catalog.GetRecording(RecordingNames.Validate(name)) ?? throw new RecordingNotFoundException($"no recording '{name}': GET /api/recordings lists them");
        api.MapGet("/recordings", () => catalog.ListRecordings().Select(RecordingInfo.From).ToList()).WithSummary("Recordings in the catalog");
        api.MapPost("/recordings", async (StartRecordingRequest? request, CancellationToken ct) =>
        {
            string name = string.IsNullOrWhiteSpace(request?.Name) ? $"rec-{DateTime.UtcNow:yyyyMMdd-HHmmss}" : request.Name.Trim();
            return await host.StartRecordingAsync(name, ct);
        }).WithSummary("Start recording (name: letters, digits, '.', '_', '-')");
        api.MapPost("/recordings/stop", async () => await host.StopRecordingAsync()).WithSummary("Stop recording and write the NWB file");
        api.MapGet("/recordings/{name}", (string name) => RecordingInfo.From(Find(name))).WithSummary("One recording");
        api.MapGet("/recordings/{name}/download", (string name, string? format) =>
        {
            var r = Find(name);
            string path = catalog.FullPathOf(r);
            if (!File.Exists(path)) throw new RecordingNotFoundException($"recording '{name}' has no NWB file yet ({r.Status.ToString().ToLowerInvariant()})");
            switch (format ?? "nwb")
            {
                case "nwb":
                    return Results.File(path, "application/x-hdf5", Path.GetFileName(path));
                case "csv" or "xlsx":
                    // Written to a temporary file (an export streams; a spreadsheet cannot be written to the response as it
                    // goes) that is deleted once sent: in the data directory, beside the recording's size in free space.
                    string exports = Directory.CreateDirectory(Path.Combine(catalog.DataDirectory, "exports")).FullName;
                    string temporary = Path.Combine(exports, $"bench-export-{Guid.NewGuid():N}.{format}");
                    var reader = Bench.Storage.Recordings.RecordingReader.Open(path);
                    if (format == "csv") Bench.Storage.Recordings.RecordingExport.Csv(reader, temporary);
                    else Bench.Storage.Recordings.RecordingExport.Spreadsheet(reader, temporary);
                    var stream = new FileStream(temporary, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, FileOptions.DeleteOnClose);
                    return Results.File(stream, format == "csv" ? "text/csv" : "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        Path.GetFileNameWithoutExtension(path) + "." + format);
                default:
                    throw new ArgumentException($"format '{format}': nwb (the file), csv or xlsx");
            }
        }).WithSummary("The recording: its NWB file, or its samples as CSV or a spreadsheet (?format=nwb|csv|xlsx)");
        api.MapDelete("/recordings/{name}", async (string name, CancellationToken ct) =>
        {
            string nwb = catalog.FullPathOf(Find(name));
            // A recording being stopped is still being written from its journal: the delete waits for the stop to
            // finish (and is refused while the recording runs), so the stop never loses its journal half-way.
            using var use = await RecordingFiles.ClaimForDeleteAsync(nwb, name, () => host.Status.Recording?.Name == name, DeleteWaitsForStop, ct);
            string path = catalog.DeleteRecording(name) ?? throw new RecordingNotFoundException($"no recording '{name}': GET /api/recordings lists them");
            File.Delete(path);
            File.Delete(Bench.Storage.Journal.JournalConverter.JournalPathFor(path));
            File.Delete(path + ".partial");
            return Results.NoContent();
        }).WithSummary("Delete a recording and its files (waits for a stop in progress)");

        api.MapGet("/calibration", () => host.Status.Device is { } d ? Results.Json(catalog.ListCalibrations(d.UniqueId), LiveHub.Json) : throw new InvalidOperationException("no rig is connected"))
            .WithSummary("The connected rig's calibrations, newest first");
        api.MapPost("/calibration", (CalibrationRequest request) =>
        {
            var d = host.Status.Device ?? throw new InvalidOperationException("no rig is connected");
            if (request.MvPerCount is not { } gain || request.OffsetMv is not { } offset) throw new ArgumentException("mv_per_count and offset_mv are required numbers");
            // Checked against this rig's ADC before it is stored: every later recording is converted with it.
            if (CalibrationLimits.Check(gain, offset, d.AdcBits) is { } implausible) throw new ArgumentException($"not a calibration this rig's front end can have: {implausible}");
            catalog.SaveCalibration(d.UniqueId, gain, offset, request.NanoampsPerCode, string.IsNullOrWhiteSpace(request.Source) ? "manual" : request.Source, request.Notes,
                adcBits: d.AdcBits);
            return Results.Json(catalog.ListCalibrations(d.UniqueId), LiveHub.Json);
        }).WithSummary("Store a calibration for the connected rig (applied at its next connect)");

        api.MapGet("/comparison", () => host.Comparison is { } c ? Results.Json(c, LiveHub.Json) : Results.NotFound(new ErrorView("no model comparison (no rig, or the service runs without a model)")))
            .WithSummary("The live comparison's latest figures");

        api.MapGet("/stream", (HttpContext context) =>
        {
            context.Response.Headers["X-Accel-Buffering"] = "no";
            return TypedResults.ServerSentEvents(Events(context.RequestAborted));

            // The stream ends with the request or with the service (so Ctrl+C does not wait for viewers to leave).
            async IAsyncEnumerable<SseItem<string>> Events([EnumeratorCancellation] CancellationToken requestAborted)
            {
                using var both = CancellationTokenSource.CreateLinkedTokenSource(requestAborted, app.Lifetime.ApplicationStopping);
                var reader = hub.Subscribe(out var unsubscribe);
                try
                {
                    hub.Publish("status", host.Status, remember: true);
                    while (true)
                    {
                        bool more;
                        try
                        {
                            more = await reader.WaitToReadAsync(both.Token);
                        }
                        catch (OperationCanceledException)
                        {
                            more = false;   // the viewer went away, or the service stops
                        }

                        if (!more) yield break;
                        // The hub's messages are JSON already: written as they are (a string is not serialised again).
                        while (reader.TryRead(out var message)) yield return new SseItem<string>(message.Json, message.Event);
                    }
                }
                finally
                {
                    unsubscribe();
                }
            }
        }).WithSummary("Server-sent events: trace, model, stimulus, gap, metrics, health, status, practical");
    }

    private static void MapPracticals(Microsoft.AspNetCore.Routing.RouteGroupBuilder api, Practicals.PracticalSession practicals)
    {
        api.MapGet("/practicals", () => Practicals.PracticalSession.List()).WithSummary("The built-in practicals");
        api.MapGet("/practicals/schema", () => Results.Text(Practicals.PracticalFile.SchemaText, "application/schema+json"))
            .WithSummary("The JSON Schema practical files follow (format bench-practical-1)");
        api.MapGet("/practicals/{name}/file", (string name) => Results.Text(Practicals.PracticalFile.BuiltInText(name), "application/yaml"))
            .WithSummary("A built-in practical's file (YAML), to copy and change");
        api.MapGet("/practical", () => Results.Json(practicals.View(), LiveHub.Json)).Produces<Practicals.PracticalView>()
            .WithSummary("The practical open on the page: its steps, their tables as measured, the answers");
        api.MapPost("/practical", (Practicals.OpenPracticalRequest request) => Results.Json(practicals.Open(request.Name, request.Text, request.Student), LiveHub.Json))
            .Produces<Practicals.PracticalView>().WithSummary("Open a built-in practical (name) or a teacher's file (text: its YAML or JSON)");
        api.MapPut("/practical/answers", (Practicals.AnswersRequest request) => Results.Json(practicals.Answer(request.Student, request.Answers), LiveHub.Json))
            .Produces<Practicals.PracticalView>().WithSummary("Keep the student's name and answers (keys step/question, from 0)");
        api.MapPost("/practical/steps/{id}/run", (string id) => Results.Json(practicals.Run(id), LiveHub.Json)).Produces<Practicals.PracticalView>()
            .WithSummary("Run a step on the rig and the model (in the background; its rows arrive as practical events)");
        api.MapPost("/practical/cancel", async () => Results.Json(await practicals.CancelAsync(), LiveHub.Json)).Produces<Practicals.PracticalView>()
            .WithSummary("Cancel the step running (the rig is set back as it was)");
        api.MapPost("/practical/worksheet", () => Results.Json(practicals.Export(), LiveHub.Json)).Produces<Practicals.PracticalView>()
            .WithSummary("Write the worksheet (HTML and CSV) beside the steps' recordings");
        api.MapGet("/practical/files", () => practicals.Files()).WithSummary("The open practical's files: worksheet, tables, recordings");
        api.MapGet("/practical/files/{name}", (string name) =>
        {
            string path = practicals.File(name) ?? throw new RecordingNotFoundException($"the open practical has no file '{name}': GET /api/practical/files lists them");
            string type = Path.GetExtension(path) switch { ".html" => "text/html; charset=utf-8", ".csv" => "text/csv", ".nwb" => "application/x-hdf5", _ => "application/octet-stream" };
            // The worksheet opens in the browser; the rest download.
            return Results.File(path, type, type.StartsWith("text/html", StringComparison.Ordinal) ? null : name);
        }).WithSummary("One of the open practical's files");
    }

    /// <summary>A small JSON body as text (bounded like every body).</summary>
    private static async Task<string> ReadTextAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(request.Body, System.Text.Encoding.UTF8);
        return await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
    }

    private static ValidationResponse Validate(string json, RigHost host)
    {
        StimulusProtocol protocol;
        try
        {
            protocol = StimulusProtocol.Parse(json, ProtocolLimits.MaxTrains);
            RigStimulus.CheckBounds(protocol);
        }
        catch (StimulusProtocolException e)
        {
            return new ValidationResponse(false, e.Message, null);
        }

        if (host.Session is not { } session) return new ValidationResponse(true, null, "valid JSON; not checked against a rig (none connected)");
        try
        {
            var command = session.CheckStimulus(protocol);
            return new ValidationResponse(true, null, $"{command.Trains.Sum(t => (int)t.PulseCount)} pulses, {protocol.EndMs} ms, playable on {session.Device.Board}");
        }
        catch (StimulusProtocolException e)
        {
            return new ValidationResponse(false, e.Message, null);
        }
    }
}

/// <summary>An error, as every failing request answers.</summary>
public sealed record ErrorView(string Error);

/// <summary>GET /api/health.</summary>
public sealed record HealthResponse(string Status, RigStatus Rig, int Viewers, string? Model);

/// <summary>POST /api/devices/connect.</summary>
public sealed record ConnectRequest(string? Address, double? SampleRateHz);

/// <summary>GET and PUT /api/config.</summary>
public sealed record ConfigView(double SampleRateHz, string? Model, IReadOnlyDictionary<string, double> ModelParameters);

/// <summary>PUT /api/config.</summary>
public sealed record ConfigRequest(double? SampleRateHz);

/// <summary>POST /api/stimulus/play: a listed protocol by name, or a protocol given inline.</summary>
public sealed record PlayRequest(string? Name, JsonObject? Protocol);

/// <summary>What was sent to the rig.</summary>
public sealed record PlayResponse(int StimId, int Pulses, double DurationMs);

/// <summary>POST /api/protocols/validate.</summary>
public sealed record ValidationResponse(bool Valid, string? Error, string? Summary);

/// <summary>PUT /api/sweep.</summary>
public sealed record SweepWindowRequest(double? PreMs, double? PostMs);

/// <summary>POST /api/recordings.</summary>
public sealed record StartRecordingRequest(string? Name);

/// <summary>POST /api/calibration.</summary>
public sealed record CalibrationRequest(double? MvPerCount, double? OffsetMv, double? NanoampsPerCode, string? Source, string? Notes);

/// <summary>No such recording.</summary>
public sealed class RecordingNotFoundException(string message) : Exception(message);
