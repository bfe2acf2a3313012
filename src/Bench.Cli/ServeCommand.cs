using System.CommandLine;
using System.Text.Json;
using Bench.Core.Models;
using Bench.Rig.Emulation;
using Bench.Service;
using Bench.Storage.Catalog;

namespace Bench.Cli;

/// <summary>
/// <c>bench serve</c>: the Bench service with its live page, on the embedded emulated rig unless a rig is named.
/// Its first stdout line is JSON naming where it listens (and the token, when one is needed); it runs until stopped.
/// </summary>
internal static class ServeCommand
{
    public static Command Create(TextWriter output)
    {
        var urls = new Option<string>("--urls") { Description = "where to listen; beyond loopback a token is required (made with --token auto)", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
        var port = new Option<string>("--port") { Description = "the rig: emulated (the default), a serial path, tcp://host:port, usb:VID:PID[:serial], or none", DefaultValueFactory = _ => RigHost.EmulatedAddress };
        var dataDir = new Option<string?>("--data-dir") { Description = $"where recordings and the catalog live (default: ${BenchDataDirectory.EnvironmentVariable}, else ~/.local/share/bench)" };
        var rate = new Option<double>("--rate") { Description = "sample rate (Hz)", DefaultValueFactory = _ => 20_000 };
        var model = new Option<string>("--model") { Description = "the model each recording is compared with (see bench simulate --list-models), or none", DefaultValueFactory = _ => "hh" };
        var param = new Option<string[]>("--param") { Description = "a parameter of the comparison's model, name=value (repeatable)" };
        var rigParam = new Option<string[]>("--rig-param") { Description = "mismatch the emulated rig's preparation (the --model), name=value (repeatable), for calibration and fitting to find" };
        var seed = new Option<int>("--seed") { Description = "the emulated rig's seed (noise and unique id)", DefaultValueFactory = _ => 1 };
        var token = new Option<string?>("--token") { Description = "require this API token (auto: make one and print it); needed beyond loopback" };
        var command = new Command("serve", "Run the Bench service: live page, REST API and recordings, on the emulated rig by default")
        {
            urls, port, dataDir, rate, model, param, rigParam, seed, token,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string? modelName = parse.GetValue(model) is "none" ? null : parse.GetValue(model);
            var overrides = ModelCatalog.ParseAssignments(parse.GetValue(param) ?? []);
            if (modelName is not null) ModelCatalog.Get(modelName).Resolve(overrides);
            var rigOverrides = ModelCatalog.ParseAssignments(parse.GetValue(rigParam) ?? []);
            // The emulated preparation is the model compared with (hh without one): like is compared with like, and
            // --rig-param makes them differ.
            string rigModel = modelName ?? "hh";
            ModelCatalog.Get(rigModel).Resolve(rigOverrides);
            double rateHz = parse.GetValue(rate);
            if (!(rateHz > 0) || rateHz > 1_000_000) throw new UserErrorException("serve: --rate must be above 0 and at most 1000000 Hz");
            string? tokenValue = parse.GetValue(token) is "auto" ? BenchServer.NewToken() : parse.GetValue(token);
            string rig = parse.GetValue(port)!;
            var options = new ServiceOptions
            {
                DataDirectory = Path.GetFullPath(parse.GetValue(dataDir) ?? BenchDataDirectory.Default),
                Rig = rig == "none" ? null : rig,
                SampleRateHz = rateHz,
                Emulator = new EmulatorOptions { Seed = parse.GetValue(seed), Model = rigModel, Parameters = rigOverrides },
                Model = modelName,
                ModelParameters = overrides,
                Token = tokenValue,
            };
            Microsoft.AspNetCore.Builder.WebApplication app;
            try
            {
                app = BenchServer.Build(options, parse.GetValue(urls)!);
            }
            catch (InvalidOperationException e)
            {
                throw new UserErrorException($"serve: {e.Message}");
            }

            try
            {
                await app.StartAsync(cancellationToken);
            }
            catch (IOException e)
            {
                throw new UserErrorException($"serve: cannot listen on {parse.GetValue(urls)}: {e.Message} (another program may hold the port: choose another with --urls)");
            }

            string listening = string.Join(";", app.Urls);
            output.WriteLine(JsonSerializer.Serialize(new Dictionary<string, string?>
            {
                ["url"] = app.Urls.First(), ["urls"] = listening, ["data_dir"] = options.DataDirectory, ["rig"] = options.Rig, ["token"] = tokenValue,
            }));
            output.Flush();
            Console.Error.WriteLine($"bench: serving the live page on {app.Urls.First()}{(tokenValue is null ? "" : "/?token=" + tokenValue)} (Ctrl+C to stop)");
            if (options.Rig is not null)
            {
                var host = app.Services.GetService(typeof(RigHost)) as RigHost;
                try
                {
                    await host!.ConnectAsync(options.Rig, options.SampleRateHz, cancellationToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // The service keeps running without a rig: the page says why and offers to connect one.
                    Console.Error.WriteLine($"bench: serve: no rig connected: {e.Message}");
                }
            }

            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C or SIGTERM: stop cleanly (stimulation off, open recording finished).
            }

            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
            return 0;
        });
        return command;
    }
}
