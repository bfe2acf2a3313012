using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Bench.Core.Analysis;
using Bench.Core.Models;
using Bench.Core.Simulation;
using Bench.Core.Stimulus;

namespace Bench.Cli;

/// <summary><c>bench simulate</c>: runs a model under a stimulus protocol; CSV trace and/or a JSON summary.</summary>
internal static class SimulateCommand
{
    private static readonly string[] AxonKeys = ["diameter_um", "length_um", "segments", "ra_ohm_cm"];
    private static readonly string[] MyelinatedKeys = ["fibre_diameter_um", "nodes", "internode_segments", "ra_ohm_cm", "g_ratio"];

    public static Command Create(TextWriter output)
    {
        var model = new Option<string>("--model") { Description = "model: hh, hh-classic, lif, fhn, morris-lecar, izhikevich (see --list-models)", DefaultValueFactory = _ => "hh" };
        var stimulus = new Option<FileInfo?>("--stimulus") { Description = "stimulus protocol (a JSON file), or none for no stimulus (the default)" };
        var duration = new Option<double?>("--duration") { Description = "simulated time (ms)" };
        var dt = new Option<double>("--dt") { Description = "time step (ms)", DefaultValueFactory = _ => 0.025 };
        var temperature = new Option<double?>("--temperature") { Description = "temperature (degC) for Hodgkin-Huxley models; hh-classic default 6.3" };
        var param = new Option<string[]>("--param") { Description = "override a model parameter, name=value (repeatable)", AllowMultipleArgumentsPerToken = false };
        var integrator = new Option<string>("--integrator") { Description = "exp-euler (default, NEURON's scheme) or rk4 (reference)", DefaultValueFactory = _ => "exp-euler" };
        integrator.AcceptOnlyFromAmong("exp-euler", "rk4");
        var axon = new Option<string?>("--axon") { Description = "simulate an axon: diameter_um=476,length_um=20000,segments=2000,ra_ohm_cm=35.4 (missing keys: squid giant axon), or a myelinated one: myelinated,fibre_diameter_um=10,nodes=21,internode_segments=9,ra_ohm_cm=70,g_ratio=0.7 (nodes: --model hh-node unless --model is given)" };
        var recordAt = new Option<string?>("--record-at") { Description = "positions along the axon (0..1) to record, comma-separated (default 0.25,0.75)" };
        var synapse = new Option<string?>("--synapse") { Description = "with --axon: a synapse at the terminal onto a postsynaptic hh cell: excitatory or inhibitory" };
        synapse.AcceptOnlyFromAmong("excitatory", "inhibitory");
        var outFile = new Option<FileInfo?>("--out") { Description = "write the trace as CSV (time_ms, v_mV or v_mV@x, further columns)" };
        var list = new Option<bool>("--list-models") { Description = "list the models and their parameters" };

        var command = new Command("simulate", "Simulate a neuron model (or an HH axon) under a stimulus protocol")
        {
            model, stimulus, duration, dt, temperature, param, integrator, axon, recordAt, synapse, outFile, list,
        };

        command.SetAction(parse =>
        {
            if (parse.GetValue(list))
            {
                ListModels(output);
                return 0;
            }

            // A myelinated axon's nodes are hh-node's unless a model is named.
            bool modelGiven = parse.GetResult(model) is { Implicit: false };
            string? axonText = parse.GetValue(axon);
            var request = new Request(
                !modelGiven && IsMyelinated(axonText) ? "hh-node" : parse.GetValue(model)!,
                // "none" (as --help says) is no stimulus, unless a file of that name is there.
                parse.GetValue(stimulus) is { Name: "none", Exists: false } ? null : parse.GetValue(stimulus),
                parse.GetValue(duration) ?? throw new UserErrorException("simulate: --duration <ms> is required"),
                parse.GetValue(dt),
                parse.GetValue(temperature),
                parse.GetValue(param) ?? [],
                parse.GetValue(integrator) == "rk4" ? Integrator.RungeKutta4 : Integrator.ExponentialEuler,
                parse.GetValue(axon),
                parse.GetValue(recordAt),
                parse.GetValue(synapse),
                parse.GetValue(outFile));
            Run(request, output);
            return 0;
        });
        return command;
    }

    private sealed record Request(
        string Model, FileInfo? Stimulus, double DurationMs, double DtMs, double? TemperatureCelsius, string[] Params,
        Integrator Integrator, string? Axon, string? RecordAt, string? Synapse, FileInfo? Out);

    private static void ListModels(TextWriter output)
    {
        foreach (var m in ModelCatalog.Models)
        {
            output.WriteLine($"{m.Name}: {m.Description}");
            foreach (var p in m.Parameters)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {p.Name,-10} = {p.DefaultValue,-10} {p.Unit,-7} {p.Description}"));
            }
        }
    }

    /// <summary>Most compartment-steps one axon run may take (a few minutes on one core).</summary>
    private const double MaxCompartmentSteps = 2e10;

    private static void Run(Request r, TextWriter output)
    {
        // Everything is checked before anything is written, so a mistake never costs an existing --out file.
        var descriptor = ModelCatalog.Get(r.Model);
        var overrides = ModelCatalog.ParseAssignments(r.Params);

        if (r.TemperatureCelsius is double celsius)
        {
            if (!descriptor.IsHodgkinHuxley)
            {
                throw new UserErrorException($"simulate: --temperature applies to the Hodgkin-Huxley models (hh, hh-classic), not {descriptor.Name}");
            }

            overrides["celsius"] = celsius;
        }

        var protocol = r.Stimulus is null ? StimulusProtocol.None : LoadProtocol(r.Stimulus);
        int steps = Simulator.StepCount(r.DurationMs, r.DtMs);
        try
        {
            protocol.CheckResolution(r.DtMs);
        }
        catch (StimulusProtocolException e)
        {
            throw new UserErrorException($"simulate: stimulus file {r.Stimulus!.Name}: {e.Message}");
        }

        if (r.Axon is not null)
        {
            RunAxon(r, descriptor, overrides, protocol, steps, output);
            return;
        }

        if (r.RecordAt is not null || r.Synapse is not null)
        {
            throw new UserErrorException("simulate: --record-at and --synapse need --axon");
        }

        if (protocol.Unit == StimulusUnit.Nanoamps)
        {
            throw new UserErrorException("simulate: stimulus unit nA (injected current) needs --axon; a single compartment takes uA/cm2");
        }

        var neuron = descriptor.Create(overrides, r.Integrator);
        var buffer = new double[neuron.ObservableNames.Count];
        using var csv = r.Out is null ? null : new CsvOutput(r.Out);
        csv?.WriteLine("time_ms,v_mV," + string.Join(',', neuron.ObservableNames));
        var line = new StringBuilder();
        var schedule = StimulusSchedule.Create(protocol, steps, r.DtMs);
        var v = Simulator.Run(neuron, schedule, r.DtMs, csv is null ? null : (k, m) =>
        {
            m.ReadObservables(buffer);
            line.Clear();
            line.Append(Format(Math.Round(k * r.DtMs, 9))).Append(',').Append(Format(m.VoltageMv));
            foreach (double x in buffer) line.Append(',').Append(Format(x));
            csv.WriteLine(line);
        });

        csv?.Commit();
        WriteSummary(output, descriptor.Name, r, steps, v, (schedule, neuron.StimulusSlopeMvPerMsPerUnit), null);
    }

    private static void RunAxon(Request r, ModelDescriptor descriptor, Dictionary<string, double> overrides, StimulusProtocol protocol,
        int steps, TextWriter output)
    {
        if (!descriptor.IsHodgkinHuxley)
        {
            throw new UserErrorException($"simulate: --axon has a Hodgkin-Huxley membrane: use --model hh, hh-classic, hh-ions or hh-node (not {descriptor.Name})");
        }

        if (r.Integrator != Integrator.ExponentialEuler)
        {
            throw new UserErrorException("simulate: the axon is solved with NEURON's implicit scheme; --integrator rk4 is for single compartments");
        }

        if (protocol.Unit != StimulusUnit.Nanoamps && protocol.Trains.Count > 0)
        {
            throw new UserErrorException("simulate: an axon takes injected current: give the stimulus in nA (a density would depend on the segment length)");
        }

        IAxon axon;
        AxonDescription description;
        var membrane = descriptor.Membrane(overrides);
        if (IsMyelinated(r.Axon))
        {
            var g = ParseMyelinated(r.Axon!);
            axon = new MyelinatedAxon(g, membrane);
            description = new AxonDescription(axon.LengthUm, w =>
            {
                w.WriteString("kind", "myelinated");
                w.WriteNumber("fibre_diameter_um", g.FibreDiameterUm);
                w.WriteNumber("axon_diameter_um", g.AxonDiameterUm);
                w.WriteNumber("nodes", g.Nodes);
                w.WriteNumber("internode_length_um", g.InternodeLengthUm);
                w.WriteNumber("internode_segments", g.SegmentsPerInternode);
                w.WriteNumber("ra_ohm_cm", g.AxialResistivityOhmCm);
                w.WriteNumber("g_ratio", g.GRatio);
                w.WriteNumber("length_um", axon.LengthUm);
            });
        }
        else
        {
            var geometry = ParseAxon(r.Axon!);
            axon = new HodgkinHuxleyAxon(geometry, membrane);
            description = new AxonDescription(geometry.LengthUm, w =>
            {
                w.WriteNumber("diameter_um", geometry.DiameterUm);
                w.WriteNumber("length_um", geometry.LengthUm);
                w.WriteNumber("segments", geometry.Segments);
                w.WriteNumber("ra_ohm_cm", geometry.AxialResistivityOhmCm);
            });
        }

        if ((double)steps * (axon.Compartments + 1) > MaxCompartmentSteps)
        {
            throw new UserErrorException($"simulate: {steps} steps x {axon.Compartments} compartments is more than {MaxCompartmentSteps:0e0} compartment-steps; use fewer segments, a larger --dt or a shorter --duration");
        }

        var positions = ParsePositions(r.RecordAt ?? "0.25,0.75");
        var segments = positions.Select(axon.SiteAt).ToArray();
        // The postsynaptic cell has the same membrane as the axon (model, parameters, temperature).
        TransmissionCircuit? circuit = r.Synapse is null ? null : new TransmissionCircuit(
            axon, new HodgkinHuxley(membrane, Integrator.ExponentialEuler, descriptor.Name),
            r.Synapse == "excitatory" ? SynapseParameters.Excitatory : SynapseParameters.Inhibitory);

        var traces = positions.Select(_ => new double[steps + 1]).ToArray();
        var post = circuit is null ? null : new double[steps + 1];
        using var csv = r.Out is null ? null : new CsvOutput(r.Out);
        csv?.WriteLine("time_ms," + string.Join(',', positions.Select(x => "v_mV@" + Format(x))) + (circuit is null ? "" : ",v_mV@post"));
        var line = new StringBuilder();
        // Step k − 1's stimulus, at its midpoint (k − ½)·dt, from the precomputed pieces.
        var schedule = StimulusSchedule.Create(protocol, steps, r.DtMs);
        int piece = 0;
        for (int k = 0; k <= steps; k++)
        {
            if (k > 0)
            {
                while (schedule.End(piece) < k) piece++;
                double injected = schedule.Amplitude(piece);
                if (circuit is null) axon.Step(injected, r.DtMs); else circuit.Step(injected, r.DtMs);
            }

            for (int s = 0; s < segments.Length; s++)
            {
                traces[s][k] = axon.VoltageMv(segments[s]);
                Simulator.CheckFinite(traces[s][k], k * r.DtMs, r.DtMs);
            }

            if (post is not null)
            {
                post[k] = circuit!.Postsynaptic.VoltageMv;
                Simulator.CheckFinite(post[k], k * r.DtMs, r.DtMs);
            }

            if (csv is not null)
            {
                line.Clear();
                line.Append(Format(Math.Round(k * r.DtMs, 9)));
                foreach (var t in traces) line.Append(',').Append(Format(t[k]));
                if (post is not null) line.Append(',').Append(Format(post[k]));
                csv.WriteLine(line);
            }
        }

        csv?.Commit();
        var sites = positions.Select((x, s) => new Site(x, axon.PositionUm(segments[s]), SpikeDetector.Detect(traces[s], r.DtMs))).ToArray();
        // The injected current only enters the first compartment: take it out of the threshold there.
        double perNanoamp = axon switch
        {
            HodgkinHuxleyAxon h => h.NanoampsToDensity(1),
            MyelinatedAxon m => m.NanoampsToDensity(1),
            _ => 0,
        };
        (StimulusSchedule, double)? slope = segments[0] == 0
            ? (schedule, perNanoamp / membrane.CmMicrofaradsPerCm2)
            : null;
        WriteSummary(output, descriptor.Name, r, steps, traces[0], slope, new AxonSummary(description, sites, post));
    }

    private static bool IsMyelinated(string? axon) =>
        axon is not null && axon.Split(',', StringSplitOptions.TrimEntries)[0] == "myelinated";

    private sealed record Site(double X, double PositionUm, List<double> SpikeTimesMs);

    /// <summary>An axon's length and how its geometry is written into the summary.</summary>
    private sealed record AxonDescription(double LengthUm, Action<Utf8JsonWriter> WriteGeometry);

    private sealed record AxonSummary(AxonDescription Axon, Site[] Sites, double[]? Post);

    // stimulusSlope: the stimulus's pieces and the slope (mV/ms) one unit gives V, for the threshold; null when it does not reach the trace.
    private static void WriteSummary(TextWriter output, string model, Request r, int steps, double[] v,
        (StimulusSchedule Schedule, double PerUnit)? stimulusSlope, AxonSummary? axon)
    {
        var report = stimulusSlope is var (schedule, perUnit)
            ? ActionPotentialAnalysis.Analyze(v, r.DtMs, schedule, perUnit)
            : ActionPotentialAnalysis.Analyze(v, r.DtMs);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("model", model);
            w.WriteString("integrator", r.Integrator == Integrator.RungeKutta4 ? "rk4" : "exp-euler");
            w.WriteNumber("dt_ms", r.DtMs);
            w.WriteNumber("duration_ms", Math.Round(steps * r.DtMs, 9));
            w.WriteNumber("steps", steps);
            WriteArray(w, "spike_times_ms", SpikeDetector.Detect(v, r.DtMs));
            w.WriteNumber("v_final_mV", v[^1]);
            w.WriteNumber("rest_mV", report.RestMv);
            w.WriteStartArray("action_potentials");
            foreach (var ap in report.Spikes)
            {
                w.WriteStartObject();
                w.WriteNumber("threshold_time_ms", ap.ThresholdTimeMs);
                w.WriteNumber("threshold_mV", ap.ThresholdMv);
                w.WriteNumber("peak_time_ms", ap.PeakTimeMs);
                w.WriteNumber("peak_mV", ap.PeakMv);
                w.WriteNumber("amplitude_mV", ap.AmplitudeMv);
                WriteNumberOrNull(w, "half_width_ms", ap.HalfWidthMs);
                w.WriteNumber("rise_time_ms", ap.RiseTimeMs);
                w.WriteNumber("ahp_min_mV", ap.AhpMinMv);
                w.WriteNumber("ahp_time_ms", ap.AhpTimeMs);
                WriteNumberOrNull(w, "isi_ms", ap.IsiMs);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            if (axon is not null)
            {
                w.WriteStartObject("axon");
                axon.Axon.WriteGeometry(w);
                w.WriteEndObject();
                w.WriteStartArray("sites");
                foreach (var s in axon.Sites)
                {
                    w.WriteStartObject();
                    w.WriteNumber("x", s.X);
                    w.WriteNumber("segment_centre", s.PositionUm / axon.Axon.LengthUm);
                    w.WriteNumber("position_um", s.PositionUm);
                    WriteArray(w, "spike_times_ms", s.SpikeTimesMs);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                var first = axon.Sites.MinBy(site => site.PositionUm)!;
                var last = axon.Sites.MaxBy(site => site.PositionUm)!;
                if (first != last && first.SpikeTimesMs.Count > 0 && last.SpikeTimesMs.Count > 0 && last.SpikeTimesMs[0] != first.SpikeTimesMs[0])
                {
                    // µm/ms = mm/s; / 1000 → m/s.
                    w.WriteNumber("conduction_velocity_m_per_s", (last.PositionUm - first.PositionUm) / (last.SpikeTimesMs[0] - first.SpikeTimesMs[0]) / 1000);
                }
                else
                {
                    w.WriteNull("conduction_velocity_m_per_s");
                }

                if (axon.Post is not null)
                {
                    WriteArray(w, "post_spike_times_ms", SpikeDetector.Detect(axon.Post, r.DtMs));
                    w.WriteNumber("post_v_max_mV", axon.Post.Max());
                    w.WriteNumber("post_v_min_mV", axon.Post.Min());
                }
            }

            w.WriteEndObject();
        }

        output.WriteLine(Encoding.UTF8.GetString(stream.ToArray()));
    }

    private static void WriteArray(Utf8JsonWriter w, string name, IEnumerable<double> values)
    {
        w.WriteStartArray(name);
        foreach (double x in values) w.WriteNumberValue(x);
        w.WriteEndArray();
    }

    private static void WriteNumberOrNull(Utf8JsonWriter w, string name, double x)
    {
        if (double.IsFinite(x)) w.WriteNumber(name, x); else w.WriteNull(name);
    }

    private static StimulusProtocol LoadProtocol(FileInfo file)
    {
        if (!file.Exists)
        {
            throw new UserErrorException($"simulate: stimulus file {file.FullName} does not exist");
        }

        try
        {
            return StimulusProtocol.Parse(File.ReadAllText(file.FullName));
        }
        catch (StimulusProtocolException e)
        {
            throw new UserErrorException($"simulate: stimulus file {file.Name}: {e.Message}");
        }
    }

    private static AxonGeometry ParseAxon(string text)
    {
        var g = AxonGeometry.SquidGiantAxon;
        var values = new Dictionary<string, double>
        {
            ["diameter_um"] = g.DiameterUm, ["length_um"] = g.LengthUm, ["segments"] = g.Segments, ["ra_ohm_cm"] = g.AxialResistivityOhmCm,
        };
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var (key, value) = ModelCatalog.ParseAssignment(part);
            if (!values.ContainsKey(key))
            {
                throw new UserErrorException($"simulate: --axon: unknown key '{key}'; valid keys: {string.Join(", ", AxonKeys)}");
            }

            values[key] = value;
        }

        double segments = values["segments"];
        if (segments != Math.Floor(segments) || segments < 1 || segments > 1_000_000)
        {
            throw new UserErrorException($"simulate: --axon: segments must be a whole number from 1 to 1000000 (got {Format(segments)})");
        }

        var geometry = new AxonGeometry(values["diameter_um"], values["length_um"], (int)segments, values["ra_ohm_cm"]);
        geometry.Validate();
        return geometry;
    }

    private static MyelinatedAxonGeometry ParseMyelinated(string text)
    {
        var g = new MyelinatedAxonGeometry(10, 21);
        var values = new Dictionary<string, double>
        {
            ["fibre_diameter_um"] = g.FibreDiameterUm, ["nodes"] = g.Nodes, ["internode_segments"] = g.SegmentsPerInternode,
            ["ra_ohm_cm"] = g.AxialResistivityOhmCm, ["g_ratio"] = g.GRatio,
        };
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Skip(1))
        {
            var (key, value) = ModelCatalog.ParseAssignment(part);
            if (!values.ContainsKey(key))
            {
                throw new UserErrorException($"simulate: --axon myelinated: unknown key '{key}'; valid keys: {string.Join(", ", MyelinatedKeys)}");
            }

            values[key] = value;
        }

        foreach (var key in new[] { "nodes", "internode_segments" })
        {
            if (values[key] != Math.Floor(values[key]) || values[key] < 1 || values[key] > 10_000)
            {
                throw new UserErrorException($"simulate: --axon myelinated: {key} must be a whole number from 1 to 10000 (got {Format(values[key])})");
            }
        }

        var geometry = new MyelinatedAxonGeometry(values["fibre_diameter_um"], (int)values["nodes"])
        {
            SegmentsPerInternode = (int)values["internode_segments"], AxialResistivityOhmCm = values["ra_ohm_cm"], GRatio = values["g_ratio"],
        };
        try
        {
            geometry.Validate();
        }
        catch (ArgumentException e)
        {
            throw new UserErrorException($"simulate: --axon myelinated: {e.Message}");
        }

        return geometry;
    }

    private static double[] ParsePositions(string text)
    {
        var positions = new List<double>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) || !(x >= 0 && x <= 1))
            {
                throw new UserErrorException($"simulate: --record-at: '{part}' is not a position between 0 and 1");
            }

            if (!positions.Contains(x)) positions.Add(x);
        }

        if (positions.Count > 100)
        {
            throw new UserErrorException("simulate: --record-at takes at most 100 positions");
        }

        return positions.Count == 0 ? throw new UserErrorException("simulate: --record-at needs at least one position") : [.. positions];
    }

    private static string Format(double x) => x.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>
/// A CSV written beside its destination and moved into place only when the run succeeded, so a failed run leaves
/// an existing file as it was.
/// </summary>
internal sealed class CsvOutput : IDisposable
{
    private readonly string destination;
    private readonly string temporary;
    private readonly StreamWriter writer;
    private bool committed;

    public CsvOutput(FileInfo file)
    {
        if (Directory.Exists(file.FullName))
        {
            throw new UserErrorException($"cannot write {file.FullName}: it is a folder");
        }

        if (file.Directory is { Exists: false } dir)
        {
            throw new UserErrorException($"cannot write {file.FullName}: folder {dir.FullName} does not exist");
        }

        destination = file.FullName;
        temporary = destination + ".partial";
        writer = new StreamWriter(temporary, append: false, new UTF8Encoding(false), bufferSize: 1 << 16);
    }

    public void WriteLine(string text) => writer.WriteLine(text);

    public void WriteLine(StringBuilder text) => writer.WriteLine(text);

    public void Commit()
    {
        writer.Dispose();
        File.Move(temporary, destination, overwrite: true);
        committed = true;
    }

    public void Dispose()
    {
        writer.Dispose();
        if (!committed && File.Exists(temporary)) File.Delete(temporary);
    }
}
