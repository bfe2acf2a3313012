using System.CommandLine;
using System.Diagnostics;
using System.Threading.Channels;
using System.Text.Json.Nodes;
using Bench.Core.Comparison;
using Bench.Core.Models;
using Bench.Core.Protocol;
using Bench.Core.Rig;
using Bench.Core.Stimulus;
using Bench.Rig.Recording;
using Bench.Storage.Catalog;
using Bench.Storage.Journal;
using Bench.Rig.Session;
using Bench.Rig.Transports;

namespace Bench.Cli;

/// <summary>
/// <c>bench record</c>: connects to a rig, configures it, plays a protocol, records for a duration into a raw capture
/// with a JSON sidecar, and prints a summary JSON line.
/// </summary>
internal static class RecordCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var port = new Option<string>("--port") { Description = "the rig: a serial path, tcp://host:port or usb:VID:PID[:serial]", Required = true };
        var stimulus = new Option<FileInfo?>("--stimulus") { Description = "stimulus protocol (JSON, in nA) played 200 ms after the start" };
        var rate = new Option<double>("--rate") { Description = "sample rate (Hz)", DefaultValueFactory = _ => 20_000 };
        var duration = new Option<double>("--duration") { Description = "how long to record (s)", Required = true };
        var outFile = new Option<FileInfo>("--out") { Description = "the raw capture to write; its sidecar is <out>.json", Required = true };
        var baud = new Option<int>("--baud") { Description = "serial baud rate", DefaultValueFactory = _ => SerialTransport.DefaultBaud };
        var compare = new Option<bool>("--compare") { Description = "compare with a model while recording: a JSON line of live metrics every 0.5 s of samples" };
        var model = new Option<string?>("--model") { Description = "with --compare: the model (default hh)" };
        var param = new Option<string[]>("--param") { Description = "with --compare: set a model parameter, name=value (repeatable)" };
        var dataDir = new Option<string?>("--data-dir") { Description = "where the rig's stored calibration is looked up (default: the usual data directory)" };
        var area = new Option<double?>("--area-um2") { Description = "with --compare: membrane area the stimulus current spreads over (µm²; the emulated rig's: 1000000)" };
        var command = new Command("record", "Record from a rig into a raw capture (replayable by bench decode / bench export)")
        {
            port, stimulus, rate, duration, outFile, baud, compare, model, param, area, dataDir,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            double seconds = parse.GetValue(duration);
            if (!(seconds > 0) || seconds > 86_400) throw new UserErrorException("record: --duration must be between 0 and 86400 s");
            double hz = parse.GetValue(rate);
            var file = parse.GetValue(outFile)!;
            if (file.Directory is { Exists: false } dir) throw new UserErrorException($"record: folder {dir.FullName} does not exist");
            if (Directory.Exists(file.FullName)) throw new UserErrorException($"record: {file.FullName} is a folder");
            StimulusProtocol? protocol = null;
            string? protocolJson = null;
            if (parse.GetValue(stimulus) is { } stimulusFile)
            {
                if (!stimulusFile.Exists) throw new UserErrorException($"record: stimulus file {stimulusFile.FullName} does not exist");
                protocolJson = File.ReadAllText(stimulusFile.FullName);
                try
                {
                    protocol = StimulusProtocol.Parse(protocolJson);
                }
                catch (StimulusProtocolException e)
                {
                    throw new UserErrorException($"record: stimulus file {stimulusFile.Name}: {e.Message}");
                }
            }

            LiveModel? live = null;
            if (parse.GetValue(compare))
            {
                var (descriptor, parameters) = ComparisonOutput.Model("record", null, parse.GetValue(model), parse.GetValue(param) ?? []);
                live = new LiveModel(descriptor, parameters, ComparisonOutput.Area("record", parse.GetValue(area), null));
            }
            else if (parse.GetValue(model) is not null || (parse.GetValue(param) ?? []).Length > 0 || parse.GetValue(area) is not null)
            {
                throw new UserErrorException("record: --model, --param and --area-um2 go with --compare");
            }

            string catalogDirectory = Path.GetFullPath(parse.GetValue(dataDir) ?? BenchDataDirectory.Default);
            // Only read a catalog that exists: recording does not create one.
            var catalog = File.Exists(Path.Combine(catalogDirectory, BenchCatalog.FileName)) ? new BenchCatalog(catalogDirectory) : null;
            await RecordAsync(parse.GetValue(port)!, hz, seconds, file.FullName, protocol, protocolJson, parse.GetValue(baud), live, catalog, output, error, cancellationToken);
            return 0;
        });
        return command;
    }

    /// <summary>The model <c>--compare</c> compares with.</summary>
    private sealed record LiveModel(ModelDescriptor Model, Dictionary<string, double> Parameters, double AreaUm2);

    private static async Task RecordAsync(string address, double rateHz, double seconds, string path, StimulusProtocol? protocol, string? protocolJson,
        int baud, LiveModel? live, BenchCatalog? catalog, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        // x.nwb: the decoded stream goes to a journal beside it (crash-proof), written out as NWB at the end;
        // anything else: the raw bytes as received, with a JSON sidecar.
        bool nwb = path.EndsWith(".nwb", StringComparison.OrdinalIgnoreCase);
        if (nwb && (File.Exists(path) || File.Exists(JournalConverter.JournalPathFor(path))))
        {
            throw new UserErrorException($"record: {path} (or its journal) exists: choose another name, or delete it (a journal left by a crash: bench recover {path})");
        }

        IRigTransport opened;
        try
        {
            opened = await RigAddress.OpenAsync(address, baud, cancellationToken);
        }
        catch (RigConnectionException e)
        {
            throw new UserErrorException($"record: {e.Message}");
        }

        // A stale sidecar from an earlier recording must never describe this capture.
        if (!nwb) File.Delete(RecordingSidecar.PathFor(path));
        IRigTransport capture = nwb ? opened : new CaptureTransport(opened, path);
        bool resets = address.StartsWith("/dev/tty", StringComparison.Ordinal);   // an Uno resets when its port opens
        RigSession session;
        try
        {
            session = await RigSession.ConnectAsync(capture, new RigSessionOptions { ResetDelay = resets ? TimeSpan.FromSeconds(1.5) : TimeSpan.Zero }, cancellationToken);
        }
        catch (Exception e) when (e is RigConnectionException or TimeoutException or RigCommandRefusedException or IOException)
        {
            await capture.DisposeAsync();
            throw new UserErrorException($"record: {e.Message}");
        }

        await using (session)
        {
            try
            {
                await session.ConfigureAsync(rateHz, cancellationToken);
            }
            catch (Exception e) when (e is TimeoutException or RigCommandRefusedException or ArgumentException or IOException)
            {
                throw new UserErrorException($"record: {e.Message}");
            }

            // The output's stored calibration, if any: amplitudes then take the nearest code of its measured step.
            var (calibration, source, outputCalibration) = RigCalibrations.For(catalog, session.Device);
            if (outputCalibration is { } nanoampsPerCode && session.Device.Outputs.Count > 0) session.UseOutputCalibration(0, nanoampsPerCode);
            if (protocol is not null)
            {
                try
                {
                    // Checked against this rig before anything starts: a protocol it cannot play costs no recording.
                    RigStimulus.ToCommand(protocol, session.Device, 0, session.PeriodTicks, 0, 0, outputCalibration);
                }
                catch (StimulusProtocolException e)
                {
                    await session.DisposeAsync();
                    File.Delete(path);
                    throw new UserErrorException($"record: the stimulus cannot be played on this rig: {e.Message}");
                }
            }

            double? perCode = session.Device.Outputs.Count > 0 ? session.NanoampsPerCode(0) : null;
            StimulusCommand? played = null;
            var sidecar = RecordingSidecar.Create(session.PortName, session.Device, session.SampleRateHz, session.PeriodTicks, calibration, source, protocolJson, null, perCode);
            using var journal = nwb ? NwbJournal.Start(path, session, calibration, source, live?.Model.Name, live?.Parameters) : null;
            if (!nwb) RecordingSidecar.Write(path, sidecar);
            await session.StartAsync(cancellationToken);
            if (protocol is not null)
            {
                try
                {
                    // 200 ms after the start, in the rig's own sample index (it restarted at 0 with Start).
                    played = await session.PlayAsync(protocol, atDeviceSampleIndex: (ulong)Math.Round(0.2 * session.SampleRateHz), cancellationToken: cancellationToken);
                }
                catch (StimulusProtocolException e)
                {
                    throw new UserErrorException($"record: the stimulus cannot be played on this rig: {e.Message}");
                }
                catch (RigCommandRefusedException e)
                {
                    throw new UserErrorException($"record: {e.Message}; what was recorded so far is kept in {path}");
                }

                sidecar = RecordingSidecar.Create(session.PortName, session.Device, session.SampleRateHz, session.PeriodTicks, calibration, source, protocolJson, played, perCode);
                if (!nwb) RecordingSidecar.Write(path, sidecar);
                journal?.Writer.WriteProtocol(new JsonObject { ["stim_id"] = played.StimId, ["name"] = protocol.Name, ["protocol"] = JsonNode.Parse(protocol.ToJson()) });
            }

            LiveComparison? comparison = null;
            PredictionFeed? predictions = null;
            var liveOptions = new ComparisonOptions { PublishIntervalMs = 500 };
            if (live is not null)
            {
                var setup = new ComparisonSetup
                {
                    SampleRateHz = session.SampleRateHz, Calibration = calibration, Stimulus = played,
                    NanoampsPerCode = session.Device.Outputs.Count > 0 ? session.NanoampsPerCode(0) : 1, PreparationAreaUm2 = live.AreaUm2,
                };
                comparison = new LiveComparison(live.Model.Create(live.Parameters), setup, liveOptions);
                predictions = new PredictionFeed(comparison);
                sidecar["model"] = new JsonObject
                {
                    ["name"] = live.Model.Name,
                    ["parameters"] = new JsonObject(live.Parameters.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
                    ["preparation_area_um2"] = live.AreaUm2,
                };
                if (!nwb) RecordingSidecar.Write(path, sidecar);
            }

            void Feed(RigEvent e)
            {
                switch (e)
                {
                    case PulsePlayedEvent p:
                        comparison?.OnStimulusEvent(p.Pulse with { OnsetIndex = p.SessionOnsetIndex });
                        if (played is not null && p.Pulse.StimId == played.StimId) journal?.WritePulse(p, played, session);
                        break;
                    case GapEvent g:
                        comparison?.OnGap(g.StartIndex, g.Length);
                        journal?.Writer.WriteGap(g.StartIndex, g.Length);
                        break;
                }
            }

            void PrintLive()
            {
                while (comparison is not null && comparison.Updates.TryRead(out var u))
                {
                    var line = new JsonObject { ["t_s"] = u.TimeMs / 1000 };
                    line["window_rmse_mV"] = ComparisonOutput.Number(u.Window.RmseMv);
                    line["window_r"] = ComparisonOutput.Number(u.Window.PearsonR);
                    line["window_gamma"] = ComparisonOutput.Number(u.WindowSpikes.Gamma);
                    foreach (var (k, v) in ComparisonOutput.Summary(u, liveOptions)) line[k] = v?.DeepClone();
                    output.WriteLine(line.ToJsonString());
                }
            }

            ulong target = (ulong)Math.Round(seconds * session.SampleRateHz);
            ulong received = 0, lastIndex = 0;
            int pulses = 0;
            var gaps = new JsonArray();
            string? disconnected = null;
            var wall = Stopwatch.StartNew();
            var process = Process.GetCurrentProcess();
            var cpuStart = process.TotalProcessorTime;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds((seconds * 2) + 10));
            try
            {
                while (lastIndex < target)
                {
                    var batch = await session.Samples.ReadAsync(timeout.Token);
                    received += (ulong)batch.Codes.Length;
                    lastIndex = batch.FirstSampleIndex + (ulong)batch.Codes.Length;
                    journal?.Writer.WriteSamples(batch.FirstSampleIndex, batch.Codes, []);
                    comparison?.OnSamples(batch.FirstSampleIndex, batch.Codes);
                    if (predictions is not null) journal?.WriteModel(predictions);
                    while (session.Events.TryRead(out var e))
                    {
                        switch (e)
                        {
                            case PulsePlayedEvent: pulses++; break;
                            case GapEvent g: gaps.Add(new JsonObject { ["start_index"] = g.StartIndex, ["length"] = g.Length, ["cause"] = g.Cause }); break;
                            case DisconnectedEvent d: disconnected = d.Reason; break;
                        }

                        Feed(e);
                    }

                    PrintLive();
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                error.WriteLine($"bench: record: the rig stopped delivering samples after {received} of {target}; what arrived is kept");
            }
            catch (ChannelClosedException e)
            {
                disconnected ??= e.InnerException?.Message ?? "the link closed";
                error.WriteLine($"bench: record: the recording stopped after {received} samples ({disconnected}); everything received is kept in {path}");
            }

            double elapsed = wall.Elapsed.TotalSeconds;
            double cpu = (process.TotalProcessorTime - cpuStart).TotalSeconds;
            await Task.Delay(100, CancellationToken.None);   // the last pulse events
            while (session.Events.TryRead(out var late))
            {
                if (late is PulsePlayedEvent) pulses++;
                Feed(late);
            }

            if (comparison is not null)
            {
                comparison.Complete();
                if (predictions is not null) journal?.WriteModel(predictions);
                while (comparison.Updates.TryRead(out _))
                {
                    // The final state is in the summary.
                }
            }

            var health = session.Health;
            var trips = session.RoundTripsMs.Order().ToArray();
            var summary = new JsonObject
            {
                ["samples"] = received,
                ["gaps"] = gaps.Count,
                ["lost_samples"] = health.LostSamples,
                ["stimulus_events"] = pulses,
                ["crc_errors"] = health.CrcErrors,
                ["rate_hz"] = session.SampleRateHz,
                ["drift_ppm"] = session.Clock is { IsFitted: true } clock ? clock.DriftPpm : null,
                ["frames_lost"] = health.FramesLost,
                ["device_overruns"] = health.DeviceOverruns,
                ["duration_s"] = elapsed,
                ["samples_per_s"] = received / Math.Max(elapsed, 1e-9),
                ["cpu_s"] = cpu,
                ["ack_round_trip_ms"] = trips.Length == 0 ? null : new JsonObject
                {
                    ["p50"] = trips[trips.Length / 2], ["p99"] = trips[(int)(trips.Length * 0.99)], ["max"] = trips[^1], ["n"] = trips.Length,
                },
                ["disconnected"] = disconnected,
                ["out"] = path,
            };
            if (session.Clock is { IsFitted: true } fitted && Math.Abs(fitted.DriftPpm) > 10_000)
            {
                error.WriteLine($"bench: record: the rig's clock differs from this computer's by {fitted.DriftPpm:0} ppm: a wrong clock setting or a bad fit (PROTOCOL.md §8)");
            }

            if (comparison is not null)
            {
                var result = ComparisonOutput.Summary(comparison.GetUpdate(), liveOptions);
                result["model"] = live!.Model.Name;
                summary["comparison"] = result;
                sidecar["comparison"] = result.DeepClone();
            }

            if (journal is not null)
            {
                var written = journal.Finish(summary);
                summary["nwb_bytes"] = written.Nwb.FileBytes;
            }
            else
            {
                sidecar["summary"] = summary.DeepClone();
                sidecar["gaps"] = gaps;
                RecordingSidecar.Write(path, sidecar);
            }

            output.WriteLine(summary.ToJsonString());
        }
    }

    /// <summary>The journal of a <c>bench record --out x.nwb</c>, written out as NWB at the end.</summary>
    private sealed class NwbJournal : IDisposable
    {
        private readonly string nwbPath;
        private bool finished;

        private NwbJournal(string nwbPath, RecordingJournalWriter writer)
        {
            this.nwbPath = nwbPath;
            Writer = writer;
        }

        public RecordingJournalWriter Writer { get; }

        public static NwbJournal Start(string nwbPath, RigSession session, Calibration calibration, string source, string? model, IReadOnlyDictionary<string, double>? parameters)
        {
            var d = session.Device;
            var header = JournalHeader.Create(Path.GetFileNameWithoutExtension(nwbPath), DateTime.UtcNow, session.PortName, d, calibration, source, session.SampleRateHz, 0,
                d.Outputs.Count > 0 ? session.NanoampsPerCode(0) : null, model, parameters);
            return new NwbJournal(nwbPath, new RecordingJournalWriter(JournalConverter.JournalPathFor(nwbPath), header));
        }

        public void WritePulse(PulsePlayedEvent p, StimulusCommand command, RigSession session)
        {
            Writer.WritePulse(JournalPulse.From(p.Pulse, p.SessionOnsetIndex, command.Trains[p.Pulse.Train], session.NanoampsPerCode(command.Output)));
        }

        /// <summary>The model's prediction as far as the comparison has caught up.</summary>
        public void WriteModel(PredictionFeed predictions)
        {
            if (predictions.TryTake(out ulong first, out var mv)) Writer.WriteModel(first, mv);
        }

        public JournalConversion Finish(JsonObject summary)
        {
            Writer.WriteEnd(summary);
            Writer.Dispose();
            finished = true;
            var result = JournalConverter.Convert(Writer.Path, nwbPath);
            File.Delete(Writer.Path);
            return result;
        }

        public void Dispose()
        {
            if (!finished) Writer.Dispose();   // an error: the journal stays for bench recover
        }
    }
}
