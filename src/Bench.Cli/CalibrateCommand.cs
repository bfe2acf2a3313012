using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Bench.Core.Comparison;
using Bench.Core.Models;
using Bench.Core.Protocol;
using Bench.Core.Instrument;
using Bench.Core.Stimulus;
using Bench.Rig.Emulation;
using Bench.Rig.Session;
using Bench.Rig.Transports;
using Bench.Service.Pipeline;
using Bench.Storage.Catalog;
using Bench.Storage.Journal;
using Bench.Storage.Recordings;

namespace Bench.Cli;

/// <summary>
/// <c>bench calibrate --port X [--reference model | --reference MV1,MV2] [--output CODE=NA,CODE=NA]</c>: calibrates a
/// connected rig's input (ADC counts → mV) against the model or two known reference potentials, and optionally its
/// output (nA per DAC code) from two measured currents, and stores the result in the catalog under the rig's unique
/// id, where the service and <c>bench record</c> find it at the rig's next connect.
/// </summary>
internal static class CalibrateCommand
{
    public static Command Create(TextWriter output, TextWriter error, TextReader input)
    {
        var port = new Option<string>("--port") { Description = "the rig: a serial path, tcp://host:port, usb:VID:PID[:serial], or emulated", Required = true };
        var reference = new Option<string>("--reference")
        {
            Description = "model: fit gain and offset so rest and AP peak match the model; MV1,MV2: two known potentials applied in turn (you are asked to apply each; the emulated rig switches its input to its reference source)",
            DefaultValueFactory = _ => "model",
        };
        var outputPoints = new Option<string?>("--output") { Description = "also calibrate the stimulus output: two DAC codes and the currents measured at them, CODE=NA,CODE=NA (e.g. 500=498.7,-500=-501.2)" };
        var model = new Option<string>("--model") { Description = "the model for --reference model", DefaultValueFactory = _ => "hh" };
        var param = new Option<string[]>("--param") { Description = "a parameter of that model, name=value (repeatable)" };
        var stimulus = new Option<FileInfo?>("--stimulus") { Description = "for --reference model: the protocol to evoke action potentials (default: two 1 ms pulses of 300 nA, 25 ms apart)" };
        var rate = new Option<double>("--rate") { Description = "sample rate (Hz)", DefaultValueFactory = _ => 20_000 };
        var seconds = new Option<double>("--seconds") { Description = "how long to read at each reference, or to record for the model (s)", DefaultValueFactory = _ => 1 };
        var dataDir = new Option<string?>("--data-dir") { Description = "the catalog to store the calibration in (default: the usual data directory)" };
        var dryRun = new Option<bool>("--dry-run") { Description = "measure and print, store nothing" };
        var rigParam = new Option<string[]>("--rig-param") { Description = "with --port emulated: its preparation's parameter, name=value (repeatable; e.g. gNa=100, a preparation unlike the model)" };
        var outFile = new Option<FileInfo?>("--out") { Description = "with --reference model: keep the recording the calibration was fitted on, as NWB (x.nwb), in mV by the new calibration" };
        var command = new Command("calibrate", "Calibrate a rig (input counts → mV, and optionally output codes → nA) and store the result for it")
        {
            port, reference, outputPoints, model, param, stimulus, rate, seconds, dataDir, dryRun, outFile, rigParam,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string how = parse.GetValue(reference)!;
            double rateHz = parse.GetValue(rate);
            double span = parse.GetValue(seconds);
            if (!(rateHz > 0) || rateHz > 1_000_000) throw new UserErrorException("calibrate: --rate must be above 0 and at most 1000000 Hz");
            if (!(span >= 0.1) || span > 60) throw new UserErrorException("calibrate: --seconds must be 0.1 to 60");
            (double Mv1, double Mv2)? points = how == "model" ? null : ParsePair(how);
            var outputs = parse.GetValue(outputPoints) is { } o ? ParseOutput(o) : ((short, double, short, double)?)null;
            var overrides = ModelCatalog.ParseAssignments(parse.GetValue(param) ?? []);

            string modelName = parse.GetValue(model)!;
            string? keep = parse.GetValue(outFile)?.FullName;
            if (keep is not null)
            {
                if (points is not null) throw new UserErrorException("calibrate: --out keeps the recording of a calibration against the model; --reference MV1,MV2 reads levels, not a recording to keep");
                if (!keep.EndsWith(".nwb", StringComparison.OrdinalIgnoreCase)) throw new UserErrorException("calibrate: --out names an NWB file, ending in .nwb");
                if (Path.GetDirectoryName(keep) is { } folder && !Directory.Exists(folder)) throw new UserErrorException($"calibrate: --out: folder {folder} does not exist");
                if (File.Exists(keep) || File.Exists(JournalConverter.JournalPathFor(keep))) throw new UserErrorException($"calibrate: --out: {keep} (or its journal) exists: choose another name");
            }

            if (points is null) ModelCatalog.Get(modelName).Resolve(overrides);
            var protocol = points is null ? LoadProtocol(parse.GetValue(stimulus)) : null;

            // Connected as the service and bench record connect (the board's reset on open, the address checked first);
            // the calibration is measured against the front end's nominal one, so no stored one is applied.
            RigConnection rig;
            try
            {
                var preparation = ModelCatalog.ParseAssignments(parse.GetValue(rigParam) ?? []);
                if (preparation.Count > 0 && parse.GetValue(port) != RigConnection.EmulatedAddress) throw new UserErrorException("calibrate: --rig-param sets the emulated rig's preparation: use it with --port emulated");
                rig = await RigConnection.OpenAsync(parse.GetValue(port)!, new RigConnectOptions { SampleRateHz = null, Emulator = new EmulatorOptions { Parameters = preparation } },
                    cancellationToken);
            }
            catch (Exception e) when (e is TimeoutException or RigConnectionException or RigDisconnectedException or InvalidDataException or ArgumentException or RigCommandRefusedException)
            {
                throw new UserErrorException($"calibrate: {e.Message}");
            }

            await using (rig)
            {
                try
                {
                    return await CalibrateAsync(rig.Session, rig.Emulated);
                }
                catch (Exception e) when (e is TimeoutException or RigCommandRefusedException or RigDisconnectedException or System.Threading.Channels.ChannelClosedException
                    || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
                {
                    throw new UserErrorException($"calibrate: the rig stopped answering or refused: {e.Message}");
                }
            }

            async Task<int> CalibrateAsync(IRigSession session, EmulatedRig? emulated)
            {
                await session.ConfigureAsync(rateHz, cancellationToken);
                var device = session.Device;
                var (nominal, _) = FrontEnd.NominalCalibration(device);
                var result = new JsonObject { ["unique_id"] = RigIds.Format(device.UniqueId), ["board"] = device.Board };
                Calibration calibration;
                string source, notes;
                bool preparationDiffers = false;
                if (points is { } p)
                {
                    // A real rig's input is switched by hand; the emulated rig has a reference source the procedure
                    // switches its input to (as a rig with a calibration switch), so the procedure runs unattended.
                    async Task<double> At(double mv)
                    {
                        string level = mv.ToString(CultureInfo.InvariantCulture);
                        if (emulated is null)
                        {
                            output.WriteLine($"apply {level} mV to the rig's input, then press Enter");
                            output.Flush();
                            input.ReadLine();
                        }
                        else
                        {
                            output.WriteLine($"the emulated rig's input is switched to its reference source at {level} mV");
                            emulated.ReferenceMv = mv;
                        }

                        return await MeanCountsAsync(session, span, cancellationToken);
                    }

                    double counts1, counts2;
                    try
                    {
                        counts1 = await At(p.Mv1);
                        counts2 = await At(p.Mv2);
                    }
                    finally
                    {
                        if (emulated is not null) emulated.ReferenceMv = null;
                    }

                    try
                    {
                        calibration = TwoPointCalibration.ForInput(p.Mv1, counts1, p.Mv2, counts2, (1 << device.AdcBits) - 1);
                    }
                    catch (ArgumentException e)
                    {
                        throw new UserErrorException($"calibrate: {e.Message} (read {counts1:0.#} and {counts2:0.#} counts)");
                    }

                    source = CalibrationSources.TwoPoint;
                    notes = string.Create(CultureInfo.InvariantCulture, $"{p.Mv1} mV → {counts1:0.##} counts, {p.Mv2} mV → {counts2:0.##} counts");
                    result["counts"] = new JsonArray(counts1, counts2);
                }
                else
                {
                    var (fit, run) = await AgainstModelAsync(session, nominal, modelName, overrides, protocol!, span, cancellationToken);
                    calibration = fit.Calibration;
                    if (keep is not null)
                    {
                        var written = run.Write(keep, session, calibration, protocol!, modelName, overrides);
                        result["out"] = keep;
                        result["nwb_bytes"] = written.Nwb.FileBytes;
                    }

                    source = CalibrationSources.ModelFit;
                    notes = string.Create(CultureInfo.InvariantCulture, $"model {modelName}: {fit.ActionPotentials} APs, residual {fit.ResidualRmseMv:0.###} mV RMS") + (fit.Warning is null ? "" : "; " + fit.Warning);
                    result["action_potentials"] = fit.ActionPotentials;
                    result["residual_rmse_mV"] = fit.ResidualRmseMv;
                    result["good"] = fit.IsGood;
                    result["warning"] = fit.Warning;
                    // What gain and offset cannot change: where these differ beyond the noise, the preparation differs.
                    result["half_width_difference_ms"] = ComparisonOutput.Number(fit.HalfWidthDifferenceMs);
                    result["half_width_uncertainty_ms"] = ComparisonOutput.Number(fit.HalfWidthUncertaintyMs);
                    result["timing_difference_ms"] = ComparisonOutput.Number(fit.TimingDifferenceMs);
                    result["timing_uncertainty_ms"] = ComparisonOutput.Number(fit.TimingUncertaintyMs);
                    result["preparation_differs"] = fit.PreparationDiffers;
                    preparationDiffers = fit.PreparationDiffers;
                    if (fit.Warning is not null) error.WriteLine($"bench: calibrate: warning: {fit.Warning}");
                }

                double? nanoampsPerCode = null;
                if (outputs is { } q)
                {
                    try
                    {
                        nanoampsPerCode = TwoPointCalibration.ForOutput(q.Item1, q.Item2, q.Item3, q.Item4).NanoampsPerCode;
                    }
                    catch (ArgumentException e)
                    {
                        throw new UserErrorException($"calibrate: --output: {e.Message}");
                    }
                }

                result["mv_per_count"] = calibration.MillivoltsPerCount;
                result["offset_mv"] = calibration.OffsetMv;
                result["nominal_mv_per_count"] = nominal.MillivoltsPerCount;
                result["nominal_offset_mv"] = nominal.OffsetMv;
                result["nanoamps_per_code"] = nanoampsPerCode;
                result["source"] = source;
                bool store = !parse.GetValue(dryRun) && (points is not null || result["good"]!.GetValue<bool>());
                if (store)
                {
                    // A calibration no front end can have would corrupt every recording converted with it: refuse it
                    // here, with what was measured, rather than store it (or fail deep in the catalog).
                    if (CalibrationLimits.Check(calibration, device.AdcBits) is { } implausible)
                    {
                        throw new UserErrorException($"calibrate: not stored: the result ({calibration.MillivoltsPerCount.ToString("G6", CultureInfo.InvariantCulture)} mV per count, offset {calibration.OffsetMv.ToString("G6", CultureInfo.InvariantCulture)} mV) is not a calibration a front end can have: {implausible}; check the references and the order they were applied in, or the connection to the rig");
                    }

                    var catalog = new BenchCatalog(Path.GetFullPath(parse.GetValue(dataDir) ?? BenchDataDirectory.Default));
                    catalog.UpsertRig(device, session.PortName);
                    var saved = catalog.SaveCalibration(RigIds.Format(device.UniqueId), calibration.MillivoltsPerCount, calibration.OffsetMv, nanoampsPerCode, source, notes,
                        adcBits: device.AdcBits);
                    result["stored"] = saved.Id;
                }
                else
                {
                    result["stored"] = null;
                    if (!parse.GetValue(dryRun))
                    {
                        error.WriteLine(preparationDiffers
                            ? "bench: calibrate: not stored: the preparation differs from the model, not the instrument (see the warning); calibrate with --reference MV1,MV2, or against a model fitted to this preparation (bench fit, then --param)"
                            : "bench: calibrate: not stored: the fit against the model is poor (see the warning); fix the cause and calibrate again, or use --reference MV1,MV2");
                    }
                }

                output.WriteLine(result.ToJsonString());
                return store || parse.GetValue(dryRun) ? 0 : BenchCli.UserError;
            }
        });
        return command;
    }

    private static (double, double) ParsePair(string text)
    {
        var parts = text.Split(',');
        if (parts.Length == 2 && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double a) && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double b)
            && double.IsFinite(a) && double.IsFinite(b))
        {
            return (a, b);
        }

        throw new UserErrorException($"calibrate: --reference takes 'model' or two potentials in mV, e.g. -60,40 (got '{text}')");
    }

    private static (short, double, short, double) ParseOutput(string text)
    {
        var parts = text.Split(',');
        var parsed = parts.Select(p => p.Split('=')).ToArray();
        if (parsed.Length == 2 && parsed.All(x => x.Length == 2)
            && short.TryParse(parsed[0][0], NumberStyles.Integer, CultureInfo.InvariantCulture, out short c1) && double.TryParse(parsed[0][1], NumberStyles.Float, CultureInfo.InvariantCulture, out double n1)
            && short.TryParse(parsed[1][0], NumberStyles.Integer, CultureInfo.InvariantCulture, out short c2) && double.TryParse(parsed[1][1], NumberStyles.Float, CultureInfo.InvariantCulture, out double n2))
        {
            return (c1, n1, c2, n2);
        }

        throw new UserErrorException($"calibrate: --output takes two DAC codes and the currents measured at them, CODE=NA,CODE=NA, e.g. 500=498.7,-500=-501.2 (got '{text}')");
    }

    private static StimulusProtocol LoadProtocol(FileInfo? file)
    {
        if (file is null) return StimulusProtocol.Parse("""{"name":"calibration","unit":"nA","trains":[{"phase1_ms":1,"phase1_amplitude":300,"interval_ms":25,"count":2}]}""");
        if (!file.Exists) throw new UserErrorException($"calibrate: stimulus file {file.FullName} does not exist");
        try
        {
            return StimulusProtocol.Parse(File.ReadAllText(file.FullName));
        }
        catch (StimulusProtocolException e)
        {
            throw new UserErrorException($"calibrate: stimulus file {file.Name}: {e.Message}");
        }
    }

    /// <summary>The mean ADC counts over <paramref name="seconds"/> of acquisition.</summary>
    private static async Task<double> MeanCountsAsync(IRigSession session, double seconds, CancellationToken cancellationToken)
    {
        await session.StartAsync(cancellationToken);
        ulong want = (ulong)Math.Max(1, seconds * session.SampleRateHz);
        double sum = 0;
        ulong n = 0;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds((seconds * 3) + 5));
        while (n < want)
        {
            var batch = await session.Samples.ReadAsync(timeout.Token);
            foreach (ushort c in batch.Codes) sum += c;
            n += (ulong)batch.Codes.Length;
        }

        await session.StopAsync(cancellationToken);
        await Task.Delay(50, cancellationToken);
        while (session.Samples.TryRead(out _))
        {
            // Samples of the stopped run: not part of the next reference.
        }

        return sum / n;
    }

    /// <summary>Records with a stimulus, drives the model with it, and fits gain and offset.</summary>
    private static async Task<(ModelCalibrationResult Fit, CalibrationRun Run)> AgainstModelAsync(IRigSession session, Calibration nominal, string modelName, IReadOnlyDictionary<string, double> parameters,
        StimulusProtocol protocol, double seconds, CancellationToken cancellationToken)
    {
        await session.StartAsync(cancellationToken);
        // Far enough ahead that a busy host still schedules it in time (the rig refuses a start sample already past);
        // when this computer was slower still to ask, asked again further ahead of the newest sample, and the recording
        // is as much longer.
        ulong onset = (ulong)Math.Round(0.5 * session.SampleRateHz);
        StimulusCommand command;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                command = await session.PlayAsync(protocol, atDeviceSampleIndex: onset, cancellationToken: cancellationToken);
                break;
            }
            catch (StimulusProtocolException e)
            {
                throw new UserErrorException($"calibrate: the stimulus cannot be played on this rig: {e.Message}");
            }
            catch (RigCommandRefusedException e) when (e.Nack.Code == (byte)NackCode.TooLate && attempt < 4)
            {
                onset = session.NextSampleIndex + (ulong)Math.Round(0.5 * attempt * session.SampleRateHz);
            }
        }

        // The model is stepped on the same clock with the same pulses; it does not depend on the calibration.
        var comparison = LiveComparison.Create(modelName, parameters, new ComparisonSetup
        {
            SampleRateHz = session.SampleRateHz,
            Calibration = nominal,
            Stimulus = command,
            NanoampsPerCode = session.Device.Outputs[command.Output].Scale,
        }, new ComparisonOptions { RetainTrace = true, PublishIntervalMs = double.PositiveInfinity });
        ulong want = onset + (ulong)Math.Round(seconds * session.SampleRateHz);
        var counts = new double[want];
        Array.Fill(counts, double.NaN);
        var pulses = new List<JournalPulse>();
        ulong end = 0;
        bool watchdogTripped = false;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds((seconds * 3) + 5));
        while (end < want)
        {
            var batch = await session.Samples.ReadAsync(timeout.Token);
            while (session.Events.TryRead(out var e))
            {
                if (e is PulsePlayedEvent pulse)
                {
                    comparison.OnStimulusEvent(pulse.Pulse);
                    if (pulse.Pulse.Train < command.Trains.Count)
                    {
                        pulses.Add(JournalPulse.From(pulse.Pulse, pulse.SessionOnsetIndex, command.Trains[pulse.Pulse.Train], session.NanoampsPerCode(command.Output)));
                    }
                }
                else if (e is GapEvent gap) comparison.OnGap(gap.StartIndex, gap.Length);
                else if (e is StatusEvent { Status.Flags: var flags } && (flags & Status.WatchdogTripped) != 0) watchdogTripped = true;
            }

            comparison.OnSamples(batch.FirstSampleIndex, batch.Codes);
            for (int i = 0; i < batch.Codes.Length && batch.FirstSampleIndex + (ulong)i < want; i++) counts[batch.FirstSampleIndex + (ulong)i] = batch.Codes[i];
            end = batch.FirstSampleIndex + (ulong)batch.Codes.Length;
        }

        await session.StopAsync(cancellationToken);
        comparison.Complete();
        // A gain fitted to a model that fired where the rig was never stimulated would be wrong, and look right.
        if (watchdogTripped || comparison.GetUpdate().PulsesAssumed > 0)
        {
            throw new UserErrorException("calibrate: the rig's watchdog stopped the stimulus before all of it had played (it heard no heartbeat from this "
                + "computer for 500 ms: too busy?); nothing was stored: run bench calibrate again");
        }

        var trace = comparison.GetTrace();
        int n = (int)Math.Min((ulong)trace.PredictedMv.Length, want);
        try
        {
            var fit = ModelCalibration.Fit(counts.AsSpan(0, n), trace.PredictedMv.AsSpan(0, n), 1000.0 / session.SampleRateHz);
            return (fit, new CalibrationRun(counts[..n], trace.PredictedMv[..n], command, pulses, DateTime.UtcNow.AddSeconds(-(double)want / session.SampleRateHz)));
        }
        catch (ArgumentException e)
        {
            throw new UserErrorException($"calibrate: {e.Message}");
        }
    }

    /// <summary>
    /// The run a model calibration was fitted on, kept as an NWB file (<c>--out</c>) the way every recording is: through a
    /// journal converted to NWB, written once the calibration is known so the file's mV are the new calibration's.
    /// </summary>
    private sealed record CalibrationRun(double[] Counts, double[] ModelMv, StimulusCommand Command, List<JournalPulse> Pulses, DateTime StartedUtc)
    {
        public JournalConversion Write(string nwbPath, IRigSession session, Calibration calibration, StimulusProtocol protocol, string model, IReadOnlyDictionary<string, double> parameters)
        {
            var header = JournalHeader.Create(Path.GetFileNameWithoutExtension(nwbPath), StartedUtc, session.PortName, session.Device, calibration, CalibrationSources.ModelFit,
                session.SampleRateHz, 0, session.NanoampsPerCode(Command.Output), model, parameters, ComparisonOutput.DefaultAreaUm2, session.Timing.Description);
            string journal = JournalConverter.JournalPathFor(nwbPath);
            using (var writer = new RecordingJournalWriter(journal, header))
            {
                writer.WriteProtocol(new JsonObject
                {
                    ["stim_id"] = Command.StimId, ["name"] = protocol.Name ?? "calibration", ["protocol"] = JsonNode.Parse(protocol.ToJson()),
                    ["command"] = StimulusCommandJson.ToJson(Command, session.NanoampsPerCode(Command.Output)),
                });
                // Runs of samples that arrived (a sample never received is NaN here, and a gap in the file).
                int i = 0;
                while (i < Counts.Length)
                {
                    if (double.IsNaN(Counts[i]))
                    {
                        i++;
                        continue;
                    }

                    int start = i;
                    while (i < Counts.Length && !double.IsNaN(Counts[i])) i++;
                    var codes = new ushort[i - start];
                    var mv = new float[i - start];
                    for (int k = 0; k < codes.Length; k++)
                    {
                        codes[k] = (ushort)Counts[start + k];
                        mv[k] = (float)ModelMv[start + k];
                    }

                    writer.WriteSamples((ulong)start, codes, mv);
                }

                foreach (var pulse in Pulses) writer.WritePulse(pulse);
                writer.WriteEnd(new JsonObject { ["purpose"] = "calibration against the model", ["calibration_source"] = CalibrationSources.ModelFit });
            }

            return JournalConverter.ConvertAndRemoveJournal(journal, nwbPath);
        }
    }
}
