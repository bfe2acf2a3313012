using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Bench.Core.Comparison;
using Bench.Core.Models;
using Bench.Core.Protocol;
using Bench.Core.Stimulus;
using Bench.Rig.Recording;
using Bench.Storage.Recordings;
using Bench.Service;
using Bench.Service.Pipeline;
using Bench.Storage.Catalog;
using Bench.Storage.Journal;
using Bench.Rig.Session;
using Bench.Rig.Transports;

namespace Bench.Cli;

/// <summary>
/// <c>bench record</c>: connects to a rig, configures it, plays a protocol, records for a duration into an NWB file
/// (through a crash-proof journal beside it; optionally also a raw frame capture with a JSON sidecar, for protocol
/// debugging), and prints a summary JSON line.
/// </summary>
internal static class RecordCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var port = new Option<string>("--port") { Description = "the rig: a serial path, tcp://host:port or usb:VID:PID[:serial]", Required = true };
        var stimulus = new Option<FileInfo?>("--stimulus") { Description = "stimulus protocol (JSON, in nA) played 200 ms after the start" };
        var rate = new Option<double>("--rate") { Description = "sample rate (Hz)", DefaultValueFactory = _ => 20_000 };
        var duration = new Option<double>("--duration") { Description = "how long to record (s)", Required = true };
        var outFile = new Option<FileInfo>("--out") { Description = "the NWB file to write (x.nwb)", Required = true };
        var rawFile = new Option<FileInfo?>("--raw") { Description = "also keep the bytes as received, for protocol debugging (bench decode reads it); its sidecar is <raw>.json" };
        var baud = new Option<int>("--baud") { Description = "serial baud rate", DefaultValueFactory = _ => SerialTransport.DefaultBaud };
        var compare = new Option<bool>("--compare") { Description = "compare with a model while recording: a JSON line of live metrics every 0.5 s of samples" };
        var model = new Option<string?>("--model") { Description = "with --compare: the model (default hh)" };
        var param = new Option<string[]>("--param") { Description = "with --compare: set a model parameter, name=value (repeatable)" };
        var dataDir = new Option<string?>("--data-dir") { Description = "where the rig's stored calibration is looked up (default: the usual data directory)" };
        var stallTimeout = new Option<double>("--stall-timeout")
        {
            Description = "a connected rig that sends no samples for this long (s) has stalled: the recording ends, with the samples that never came counted as lost",
            DefaultValueFactory = _ => 10,
        };
        var area = new Option<double?>("--area-um2") { Description = "with --compare: membrane area the stimulus current spreads over (µm²; the emulated rig's: 1000000)" };
        var command = new Command("record", "Record from a rig into an NWB file (read by bench export, compare, fit; valid NWB 2.7.0)")
        {
            port, stimulus, rate, duration, outFile, rawFile, baud, compare, model, param, area, dataDir, stallTimeout,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            double seconds = parse.GetValue(duration);
            if (!(seconds > 0) || seconds > 86_400) throw new UserErrorException("record: --duration must be between 0 and 86400 s");
            double hz = parse.GetValue(rate);
            double stallSeconds = parse.GetValue(stallTimeout);
            if (!(stallSeconds > 0) || stallSeconds > 3600) throw new UserErrorException("record: --stall-timeout must be between 0 and 3600 s");
            var file = parse.GetValue(outFile)!;
            CheckOutput(file, "--out");
            if (!file.Name.EndsWith(".nwb", StringComparison.OrdinalIgnoreCase))
            {
                throw new UserErrorException($"record: --out names the NWB file to write, ending in .nwb (not {file.Name}); a raw frame capture for protocol debugging is --raw capture.bin");
            }

            var raw = parse.GetValue(rawFile);
            if (raw is not null)
            {
                CheckOutput(raw, "--raw");
                if (raw.FullName == file.FullName) throw new UserErrorException("record: --raw and --out must be different files");
            }

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
            return await RecordAsync(parse.GetValue(port)!, hz, seconds, file.FullName, raw?.FullName, protocol, protocolJson, parse.GetValue(baud), live, catalog, TimeSpan.FromSeconds(stallSeconds), output, error, cancellationToken);
        });
        return command;
    }

    private static void CheckOutput(FileInfo file, string option)
    {
        if (file.Directory is { Exists: false } dir) throw new UserErrorException($"record: {option}: folder {dir.FullName} does not exist");
        if (Directory.Exists(file.FullName)) throw new UserErrorException($"record: {option}: {file.FullName} is a folder");
    }

    /// <summary>The model <c>--compare</c> compares with.</summary>
    private sealed record LiveModel(ModelDescriptor Model, Dictionary<string, double> Parameters, double AreaUm2);

    /// <summary>
    /// Plays <paramref name="protocol"/> 200 ms after the start (in the rig's own sample index, which restarted at 0), or,
    /// when the machine was too slow to ask in time, a lead ahead of the last sample received. A rig that answers "too late"
    /// is asked again further ahead: on a loaded machine the start can take longer than 200 ms, and the user asked for a
    /// recording with its stimulus, not an error. Returns the command, the rig's sample index it starts at, and how many
    /// samples later than planned that is.
    /// </summary>
    private static async Task<(StimulusCommand Played, ulong StartIndex, ulong LateSamples)> PlayOnTimeAsync(AcquisitionPipeline pipeline, IRigSession session, StimulusProtocol protocol,
        TextWriter error, CancellationToken cancellationToken)
    {
        ulong planned = (ulong)Math.Round(0.2 * session.SampleRateHz);
        var (played, start) = await pipeline.PlayAheadAsync(protocol, protocol.Name ?? "stimulus", planned, 4, null, cancellationToken);
        if (start <= planned) return (played, start, 0);
        error.WriteLine($"bench: record: the stimulus started {(start - planned) * 1000.0 / session.SampleRateHz:0} ms later than planned (at {start / session.SampleRateHz:0.000} s) because this computer was slow to ask: the recording is as much longer, so it holds the protocol and what follows it as planned");
        return (played, start, start - planned);
    }

    private static async Task<int> RecordAsync(string address, double rateHz, double seconds, string path, string? rawPath, StimulusProtocol? protocol, string? protocolJson,
        int baud, LiveModel? live, BenchCatalog? catalog, TimeSpan stallLimit, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        // The decoded stream goes to a journal beside x.nwb (crash-proof), written out as NWB at the end. The raw capture,
        // if asked for, is written under a temporary name and moved into place at the end: a run that fails before any
        // data never touches a file of the same name from an earlier run.
        if (File.Exists(path) || File.Exists(JournalConverter.JournalPathFor(path)))
        {
            throw new UserErrorException($"record: {path} (or its journal) exists: choose another name, or delete it (a journal left by a crash: bench recover {path})");
        }

        string? rawTemporary = rawPath is null ? null : rawPath + ".partial";
        if (rawTemporary is not null)
        {
            File.Delete(rawTemporary);
            File.Delete(RecordingSidecar.PathFor(rawTemporary));
        }

        bool captureStarted = false;
        RigConnection rig;
        try
        {
            rig = await RigConnection.OpenAsync(address, new RigConnectOptions
            {
                SampleRateHz = rateHz,
                Baud = baud,
                Catalog = catalog,
                Logger = new TextWriterLogger(error, "record"),
                // A raw capture goes on in the same file after a reconnect.
                Wrap = rawTemporary is null ? null : t =>
                {
                    var capture = new CaptureTransport(t, rawTemporary, append: captureStarted);
                    captureStarted = true;
                    return capture;
                },
            }, cancellationToken);
        }
        catch (Exception e) when (e is RigConnectionException or TimeoutException or RigCommandRefusedException or IOException or ArgumentException)
        {
            DeleteRaw(rawTemporary);
            throw new UserErrorException($"record: {e.Message}");
        }

        await using (rig)
        {
            var session = rig.Session;
            double? outputCalibration = session.Device.Outputs.Count > 0 ? session.NanoampsPerCode(0) : null;
            if (protocol is not null)
            {
                try
                {
                    // Checked against this rig before anything starts: a protocol it cannot play costs no recording.
                    session.CheckStimulus(protocol);
                }
                catch (StimulusProtocolException e)
                {
                    await rig.DisposeAsync();
                    DeleteRaw(rawTemporary);
                    throw new UserErrorException($"record: the stimulus cannot be played on this rig: {e.Message}");
                }
            }

            var liveOptions = new ComparisonOptions { PublishIntervalMs = 500 };
            var model = live is null ? null : new ModelTrack(live.Model.Name, live.Parameters, session.SampleRateHz, outputCalibration ?? 1, live.AreaUm2, rig.Calibration,
                liveOptions, collectObservables: false);
            ulong target = (ulong)Math.Round(seconds * session.SampleRateHz);
            // With a stimulus the end is set once it is known when the stimulus starts (a slow computer can make it start
            // late, and the recording then runs as much longer); until then nothing is cut.
            ulong firstIndex = session.NextSampleIndex;
            var watch = new RecordWatch(protocol is null ? target : ulong.MaxValue, model, liveOptions, output);
            var pipeline = new AcquisitionPipeline(rig, model, watch) { EndIndex = protocol is null ? firstIndex + target : ulong.MaxValue };
            var sidecar = RecordingSidecar.Create(session.PortName, session.Device, session.SampleRateHz, session.PeriodTicks, rig.Calibration, rig.CalibrationSource, protocolJson, null, outputCalibration);
            using var journal = new FileRecording(path, rig, live?.Model.Name, live?.Parameters, live?.AreaUm2);
            await pipeline.AttachAsync(journal, cancellationToken);
            if (rawTemporary is not null) RecordingSidecar.Write(rawTemporary, sidecar);
            await session.StartAsync(cancellationToken);
            pipeline.Start();
            var wall = Stopwatch.StartNew();
            var process = Process.GetCurrentProcess();
            var cpuStart = process.TotalProcessorTime;
            StimulusCommand? played = null;
            ulong? stimulusStart = null;
            if (protocol is not null)
            {
                try
                {
                    (played, ulong start, ulong late) = await PlayOnTimeAsync(pipeline, session, protocol, error, cancellationToken);
                    stimulusStart = start;
                    target += late;
                    pipeline.EndIndex = firstIndex + target;
                    watch.Target = target;
                }
                catch (StimulusProtocolException e)
                {
                    throw new UserErrorException($"record: the stimulus cannot be played on this rig: {e.Message}");
                }
                catch (RigCommandRefusedException e)
                {
                    throw new UserErrorException($"record: {e.Message}; what was recorded so far is kept in {path}");
                }

                sidecar = RecordingSidecar.Create(session.PortName, session.Device, session.SampleRateHz, session.PeriodTicks, rig.Calibration, rig.CalibrationSource, protocolJson, played, outputCalibration);
                if (rawTemporary is not null) RecordingSidecar.Write(rawTemporary, sidecar);
            }

            if (live is not null)
            {
                sidecar["model"] = new JsonObject
                {
                    ["name"] = live.Model.Name,
                    ["parameters"] = new JsonObject(live.Parameters.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
                    ["preparation_area_um2"] = live.AreaUm2,
                    ["parameter_declarations"] = live.Model.DeclarationsJson(),
                };
                if (rawTemporary is not null) RecordingSidecar.Write(rawTemporary, sidecar);
            }

            // Done when every sample up to the duration arrived; else when the rig is lost for good, or when a connected
            // rig sends nothing for the stall limit (its samples are then counted as lost, not waited for without end).
            string? stopped = await watch.WaitAsync(pipeline, session, stallLimit, cancellationToken);
            double elapsed = wall.Elapsed.TotalSeconds;
            double cpu = (process.TotalProcessorTime - cpuStart).TotalSeconds;
            await pipeline.DisposeAsync();   // stop, then the pump takes what was still queued (late pulse reports too)
            await pipeline.DetachAsync();
            if (journal.Failed is { } failure)
            {
                error.WriteLine($"bench: record: the recording could not be written ({failure.Message}); everything before is in {journal.JournalPath}: free space, then bench recover {path}");
                return 1;
            }

            if (model is not null)
            {
                model.Comparison.Complete();
                while (model.Updates.TryRead(out _))
                {
                    // The final state is in the summary.
                }
            }

            var health = session.Health;
            var trips = session.RoundTripsMs.Order().ToArray();
            ulong missingAtEnd = watch.LastIndex >= target ? 0 : target - watch.LastIndex;
            // Gaps within the recording (the pipeline ends it at the target), and whatever never came at its end.
            ulong lost = (ulong)watch.Gaps.Sum(g => (decimal)(Math.Min(g.StartIndex + g.Length, target) - Math.Min(g.StartIndex, target))) + missingAtEnd;
            var summary = new JsonObject
            {
                ["samples"] = pipeline.SamplesReceived,
                ["expected_samples"] = target,
                ["complete"] = stopped is null,
                ["gaps"] = watch.Gaps.Count,
                ["lost_samples"] = lost,
                ["stimulus_events"] = watch.Pulses,
                // Where the stimulus began in the recording's time (200 ms, or later when this computer was slow to ask).
                ["stimulus_start_ms"] = stimulusStart is { } s && s >= firstIndex ? (s - firstIndex) * 1000.0 / session.SampleRateHz : null,
                ["crc_errors"] = health.CrcErrors,
                ["rate_hz"] = session.SampleRateHz,
                ["drift_ppm"] = session.Clock is { IsFitted: true } clock ? clock.DriftPpm : null,
                ["frames_lost"] = health.FramesLost,
                ["device_overruns"] = health.DeviceOverruns,
                ["reconnects"] = watch.Reconnects,
                ["duration_s"] = elapsed,
                ["samples_per_s"] = pipeline.SamplesReceived / Math.Max(elapsed, 1e-9),
                ["cpu_s"] = cpu,
                ["ack_round_trip_ms"] = trips.Length == 0 ? null : new JsonObject
                {
                    ["p50"] = trips[trips.Length / 2], ["p99"] = trips[(int)(trips.Length * 0.99)], ["max"] = trips[^1], ["n"] = trips.Length,
                },
                ["disconnected"] = watch.Disconnected,
                ["stopped"] = stopped,
                ["out"] = path,
            };
            if (session.Clock is { IsFitted: true } fitted && Math.Abs(fitted.DriftPpm) > 10_000)
            {
                error.WriteLine($"bench: record: the rig's clock differs from this computer's by {fitted.DriftPpm:0} ppm: a wrong clock setting or a bad fit (PROTOCOL.md §8)");
            }

            if (model is not null)
            {
                var result = ComparisonOutput.Summary(model.Comparison.GetUpdate(), liveOptions);
                result["model"] = live!.Model.Name;
                summary["comparison"] = result;
                sidecar["comparison"] = result.DeepClone();
            }

            if (session.Clock is { IsFitted: true } clockFit)
            {
                summary["clock"] = new JsonObject { ["drift_ppm"] = clockFit.DriftPpm, ["seconds_per_sample"] = clockFit.SecondsPerSample, ["nominal_rate_hz"] = session.SampleRateHz };
            }

            if (rawPath is not null && rawTemporary is not null)
            {
                sidecar["summary"] = summary.DeepClone();
                sidecar["gaps"] = new JsonArray([.. watch.Gaps.Select(g => (JsonNode)new JsonObject { ["start_index"] = g.StartIndex, ["length"] = g.Length, ["cause"] = g.Cause })]);
                RecordingSidecar.Write(rawPath, sidecar);
                File.Move(rawTemporary, rawPath, overwrite: true);
                File.Delete(RecordingSidecar.PathFor(rawTemporary));
                summary["raw"] = rawPath;
            }

            var conversion = journal.Finish(summary);
            summary["nwb_bytes"] = conversion.Nwb.FileBytes;

            output.WriteLine(summary.ToJsonString());
            if (stopped is not null)
            {
                error.WriteLine($"bench: record: incomplete: {stopped}; {pipeline.SamplesReceived} of {target} samples arrived, {lost} lost; everything received is in {path}");
                return 3;
            }

            return 0;
        }
    }

    private static void DeleteRaw(string? rawTemporary)
    {
        if (rawTemporary is null) return;
        File.Delete(rawTemporary);
        File.Delete(RecordingSidecar.PathFor(rawTemporary));
    }

    /// <summary>What <c>bench record</c> watches in the pipeline: progress, gaps, pulses, the live comparison's lines.</summary>
    private sealed class RecordWatch(ulong initialTarget, ModelTrack? model, ComparisonOptions liveOptions, TextWriter output) : IPipelineObserver
    {
        private readonly TaskCompletionSource reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private ulong target = initialTarget;

        /// <summary>The sample count that completes the recording (set once a stimulus's start is known).</summary>
        public ulong Target
        {
            get => Interlocked.Read(ref target);
            set
            {
                Interlocked.Exchange(ref target, value);
                if (LastIndex >= value) reached.TrySetResult();
            }
        }
        private long lastBatchTimestamp = Stopwatch.GetTimestamp();

        public ulong LastIndex { get; private set; }

        public int Pulses { get; private set; }

        public int Reconnects { get; private set; }

        public string? Disconnected { get; private set; }

        public List<GapEvent> Gaps { get; } = [];

        public void OnBatch(SampleBatch batch)
        {
            LastIndex = batch.FirstSampleIndex + (ulong)batch.Codes.Length;
            Interlocked.Exchange(ref lastBatchTimestamp, Stopwatch.GetTimestamp());
            if (LastIndex >= Target) reached.TrySetResult();
        }

        public void OnPredicted(ulong first, ReadOnlySpan<double> modelMv)
        {
        }

        public void OnEvent(RigEvent e, PlayedProtocol? played)
        {
            switch (e)
            {
                case PulsePlayedEvent when played is not null: Pulses++; break;
                case GapEvent g: Gaps.Add(g); break;
                case DisconnectedEvent d: Disconnected = d.Reason; break;
                case ReconnectedEvent: Reconnects++; break;
            }
        }

        public void OnRecordingFailed(IRecordingTarget recording, Exception error)
        {
            if (recording is FileRecording journal) journal.Failed = error;
            reached.TrySetResult();
        }

        public void OnTurnEnd()
        {
            while (model is not null && model.Updates.TryRead(out var u))
            {
                var line = new JsonObject { ["t_s"] = u.TimeMs / 1000 };
                line["window_rmse_mV"] = ComparisonOutput.Number(u.Window.RmseMv);
                line["window_r"] = ComparisonOutput.Number(u.Window.PearsonR);
                line["window_gamma"] = ComparisonOutput.Number(u.WindowSpikes.Gamma);
                foreach (var (k, v) in ComparisonOutput.Summary(u, liveOptions)) line[k] = v?.DeepClone();
                output.WriteLine(line.ToJsonString());
            }
        }

        /// <summary>Null when every sample arrived; else why the recording stopped early.</summary>
        public async Task<string?> WaitAsync(AcquisitionPipeline pipeline, IRigSession session, TimeSpan stallLimit, CancellationToken cancellationToken)
        {
            while (true)
            {
                var done = await Task.WhenAny(reached.Task, pipeline.Completion, Task.Delay(TimeSpan.FromSeconds(1), cancellationToken));
                cancellationToken.ThrowIfCancellationRequested();
                if (reached.Task.IsCompleted) return LastIndex >= Target ? null : "the recording could not be written";
                if (done == pipeline.Completion) return pipeline.LostReason ?? "the rig's session ended";
                // While the link is down the session is looking for the rig (and gives up on its own); a connected rig
                // that sends nothing has stalled.
                var quiet = Stopwatch.GetElapsedTime(Interlocked.Read(ref lastBatchTimestamp));
                if (session.IsConnected && quiet > stallLimit) return $"the rig sent no samples for {quiet.TotalSeconds:0} s";
            }
        }
    }
}
