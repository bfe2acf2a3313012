using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Bench.Core.Protocol;
using Bench.Storage.Recordings;
using static System.FormattableString;

namespace Bench.Benchmarks.Cpu;

/// <summary>
/// <c>cpu</c>: what the acquisition path costs, measured as a user runs it. The real <c>bench</c> CLI runs as separate
/// processes on this machine only (pseudo-terminals, loopback); after a warm-up (JIT tiering settles), each process's
/// utime + stime is read from /proc/&lt;pid&gt;/stat at the start and end of a window, so the figure is the kernel's own
/// account of everything the process did, its short-lived threads and system time included.
/// </summary>
internal static class CpuHarness
{
    /// <summary>How long a bench process may take to print its first line (40 starting at once on 2 cores take a while).</summary>
    private static readonly TimeSpan AnnounceTimeout = TimeSpan.FromSeconds(120);

    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(10);

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine(CpuOptions.Usage);
            return 0;
        }

        if (!OperatingSystem.IsLinux())
        {
            Console.Error.WriteLine("cpu: reads /proc and opens pseudo-terminals: Linux only");
            return 2;
        }

        CpuOptions options;
        try
        {
            options = CpuOptions.Parse(args);
        }
        catch (HarnessException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }

        using var interrupted = new CancellationTokenSource();
        void Interrupt(PosixSignalContext context)
        {
            // Handled here so that the finally below kills what runs; a second signal finds it cancelled already.
            context.Cancel = true;
            if (!interrupted.IsCancellationRequested) Console.Error.WriteLine($"cpu: {context.Signal}: stopping {BenchProcess.LiveCount} bench processes");
            interrupted.Cancel();
        }

        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Interrupt);
        // The last resort, whatever ends this process (an exception escaping, Environment.Exit).
        AppDomain.CurrentDomain.ProcessExit += (_, _) => BenchProcess.KillAll();

        var table = options.Json ? Console.Error : Console.Out;
        var scratch = Directory.CreateTempSubdirectory("bench-cpu-");
        int exit = 0;
        try
        {
            string dll = await LocateBenchAsync(options.BenchDll, interrupted.Token);
            table.WriteLine(Invariant($"cpu: {dll} (built {File.GetLastWriteTime(dll):yyyy-MM-dd HH:mm:ss}); CLK_TCK {ProcFs.ClockTicks} ({ProcFs.ClockTicksSource}); {Environment.ProcessorCount} cores; load average {File.ReadAllText("/proc/loadavg").Trim()}"));
            table.WriteLine(Invariant($"cpu: % core = (utime + stime) / window, from /proc/<pid>/stat; switches/s = voluntary + involuntary over the threads' /proc/<pid>/task/<tid>/status, read every {options.SampleInterval.TotalMilliseconds:0} ms; threads = count at the window's start→end, seen = distinct threads seen, new = seen only after the start"));
            foreach (string scenario in options.Scenarios)
            {
                var context = new Context(options, dll, scratch.FullName, interrupted.Token);
                var result = scenario switch
                {
                    "record" => await RecordAsync(context),
                    "serve" => await ServeAsync(context, options.Viewers),
                    "serve-idle" => await ServeAsync(context, 0),
                    "class" => await ClassAsync(context),
                    "throughput" => await ThroughputAsync(context),
                    _ => throw new HarnessException($"cpu: unknown scenario {scenario}"),
                };
                result.Print(table);
                if (options.Json)
                {
                    Console.Out.WriteLine(result.ToJson().ToJsonString());
                    Console.Out.Flush();
                }

                if (!result.Ok) exit = 1;
            }
        }
        catch (OperationCanceledException) when (interrupted.IsCancellationRequested)
        {
            exit = 130;
        }
        catch (HarnessException e)
        {
            Console.Error.WriteLine(e.Message);
            exit = 2;
        }
        finally
        {
            BenchProcess.KillAll();
            if (options.Keep)
            {
                Console.Error.WriteLine($"cpu: kept {scratch.FullName}");
            }
            else
            {
                try
                {
                    scratch.Delete(recursive: true);
                }
                catch (IOException e)
                {
                    Console.Error.WriteLine($"cpu: could not remove {scratch.FullName}: {e.Message}");
                }
            }
        }

        return exit;
    }

    /// <summary>What every scenario needs.</summary>
    private sealed record Context(CpuOptions Options, string BenchDll, string Scratch, CancellationToken Cancellation)
    {
        public TimeSpan Warmup => TimeSpan.FromSeconds(Options.WarmupSeconds);

        public TimeSpan Window => TimeSpan.FromSeconds(Options.WindowSeconds);

        /// <summary>A recording that outlasts warm-up and window, with 5 s to spare for connecting and a late window.</summary>
        public double RecordSeconds => Options.WarmupSeconds + Options.WindowSeconds + 5;

        public BenchProcess Start(string role, params string[] args) => BenchProcess.Start(BenchDll, role, args, Scratch);

        public string Folder(string name) => Directory.CreateDirectory(Path.Combine(Scratch, name)).FullName;

        public static void Progress(string message) => Console.Error.WriteLine(Invariant($"cpu: {DateTime.Now:HH:mm:ss} {message}"));
    }

    // ---- the scenarios ---------------------------------------------------------------------------------------------

    private static async Task<ScenarioResult> RecordAsync(Context c)
    {
        var o = c.Options;
        var result = new ScenarioResult("record", Invariant($"bench emulate --pty + bench record at {o.RateHz:0} Hz to {o.RecordExtension}; warm-up {o.WarmupSeconds:0.#} s, window {o.WindowSeconds:0.#} s"));
        Settings(result, c, ("rate_hz", o.RateHz), ("record_duration_s", c.RecordSeconds));
        var processes = new List<BenchProcess>();
        try
        {
            Context.Progress("record: starting bench emulate --pty");
            var emulator = c.Start("emulate", "emulate", "--pty");
            processes.Add(emulator);
            string port = await PortAsync(emulator, c.Cancellation);
            string folder = c.Folder("record");
            Context.Progress(Invariant($"record: bench record --port {port} --rate {o.RateHz:0} --duration {c.RecordSeconds:0.#}; warm-up {o.WarmupSeconds:0.#} s"));
            string recording = Path.Combine(folder, "x" + o.RecordExtension);
            var recorder = c.Start("record", RecordArgs(port, o.RateHz, c.RecordSeconds, recording, folder));
            processes.Add(recorder);
            await WindowAsync(c, result, processes);

            Context.Progress("record: waiting for bench record to finish");
            var outcome = await FinishRecorderAsync(recorder, recording, o.RateHz, c.RecordSeconds, c.Cancellation);
            result.Results["record"] = outcome.Json;
            result.Lines.Add("record: " + outcome.Line);
            if (outcome.Problem is not null) result.Problems.Add("record: " + outcome.Problem);
            SelfReported(result, outcome, "record");
            await StopAllAsync(processes);
            CheckCrashes(result, processes);
        }
        finally
        {
            foreach (var p in processes) p.Dispose();
        }

        return result;
    }

    private static async Task<ScenarioResult> ServeAsync(Context c, int viewers)
    {
        var o = c.Options;
        string name = viewers == 0 ? "serve-idle" : "serve";
        var result = new ScenarioResult(name, Invariant($"bench serve, its embedded emulated rig at {o.RateHz:0} Hz, {(viewers == 0 ? "no viewer" : viewers == 1 ? "one viewer" : $"{viewers} viewers")} of /api/stream; warm-up {o.WarmupSeconds:0.#} s, window {o.WindowSeconds:0.#} s"));
        Settings(result, c, ("rate_hz", o.RateHz), ("viewers", viewers));
        var processes = new List<BenchProcess>();
        var streams = new List<StreamViewer>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            // A port free a moment ago: another program could take it meanwhile, which serve then says in one line.
            int port = FreeLoopbackPort();
            string folder = c.Folder(name);
            Context.Progress(Invariant($"{name}: bench serve --urls http://127.0.0.1:{port} --rate {o.RateHz:0}"));
            var serve = c.Start("serve", "serve", "--urls", Invariant($"http://127.0.0.1:{port}"), "--data-dir", folder, "--rate", o.RateHz.ToString(CultureInfo.InvariantCulture));
            processes.Add(serve);
            var announced = await serve.AnnouncementAsync("url", AnnounceTimeout, c.Cancellation);
            var url = new Uri(announced["url"]!.GetValue<string>());
            // The viewers open as a page opened right away would: the warm-up covers their start too.
            for (int i = 0; i < viewers; i++) streams.Add(StreamViewer.Start(url));
            Context.Progress(Invariant($"{name}: serving on {url}; warm-up {o.WarmupSeconds:0.#} s"));
            await Task.Delay(c.Warmup, c.Cancellation);
            var before = await HealthAsync(http, url, c.Cancellation);
            var seenBefore = new List<(long Bytes, Dictionary<string, long> Events)>();
            var seenAfter = new List<(long Bytes, Dictionary<string, long> Events)>();
            Context.Progress(Invariant($"{name}: window {o.WindowSeconds:0.#} s"));
            var window = new CpuWindow(Measured(processes));
            var figures = await window.MeasureAsync(c.Window, o.SampleInterval, c.Cancellation,
                onStart: () => seenBefore.AddRange(streams.Select(s => s.Snapshot())),
                onEnd: () => seenAfter.AddRange(streams.Select(s => s.Snapshot())));
            var after = await HealthAsync(http, url, c.Cancellation);
            Collect(result, window, figures);
            double seconds = figures[0].WindowSeconds > 0 ? figures[0].WindowSeconds : o.WindowSeconds;

            // The rig's own account, from GET /api/health at the window's two ends.
            var h0 = before?["rig"]?["health"];
            var h1 = after?["rig"]?["health"];
            if (h0 is null || h1 is null)
            {
                result.Problems.Add(Invariant($"serve: GET /api/health has no rig health (state {after?["rig"]?["state"]?.ToString() ?? "unknown"}): no rig streaming"));
            }
            else
            {
                double samples = h1["samples_received"]!.GetValue<double>() - h0["samples_received"]!.GetValue<double>();
                double lost = h1["lost_samples"]!.GetValue<double>() - h0["lost_samples"]!.GetValue<double>();
                double gaps = h1["gaps"]!.GetValue<double>() - h0["gaps"]!.GetValue<double>();
                result.Results["rig_state"] = after!["rig"]?["state"]?.DeepClone();
                result.Results["samples_per_s"] = Math.Round(samples / seconds, 1);
                result.Results["lost_samples_in_window"] = lost;
                result.Results["gaps_in_window"] = gaps;
                result.Results["lost_samples_total"] = h1["lost_samples"]!.DeepClone();
                result.Lines.Add(Invariant($"rig (GET /api/health): {samples / seconds:0} samples/s received in the window, {lost:0} lost, {gaps:0} gaps; state {after!["rig"]?["state"]}"));
                if (lost > 0 || gaps > 0) result.Problems.Add(Invariant($"serve: lost {lost:0} samples in {gaps:0} gaps during the window"));
                if (samples < 0.9 * o.RateHz * seconds) result.Problems.Add(Invariant($"serve: received {samples / seconds:0} samples/s, not the {o.RateHz:0} asked for"));
            }

            var viewerJson = new JsonArray();
            for (int i = 0; i < streams.Count; i++)
            {
                var (b0, e0) = seenBefore[i];
                var (b1, e1) = seenAfter[i];
                var rates = e1.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => (kv.Value - e0.GetValueOrDefault(kv.Key)) / seconds);
                double total = rates.Values.Sum();
                var byEvent = new JsonObject();
                foreach (var (k, v) in rates) byEvent[k] = Math.Round(v, 2);
                viewerJson.Add(new JsonObject { ["events_per_s"] = Math.Round(total, 2), ["bytes_per_s"] = Math.Round((b1 - b0) / seconds, 0), ["by_event"] = byEvent, ["error"] = streams[i].Error });
                result.Lines.Add(Invariant($"viewer {i + 1}: {total:0.0} events/s, {(b1 - b0) / seconds / 1000:0.0} KB/s ({string.Join(", ", rates.Select(kv => Invariant($"{kv.Key} {kv.Value:0.#}/s")))})"));
                if (streams[i].Error is { } error) result.Problems.Add($"viewer {i + 1}: {error}");
                else if (!(rates.GetValueOrDefault("trace") > 0)) result.Problems.Add($"viewer {i + 1}: no trace events in the window");
            }

            if (viewers > 0) result.Results["viewers"] = viewerJson;
            if (viewers > 0) result.Lines.Add("the viewers' HTTP clients run in the harness: their cost is the (harness) row, not serve's");
            foreach (var s in streams) await s.DisposeAsync();
            streams.Clear();
            await StopAllAsync(processes);
            CheckCrashes(result, processes);
        }
        finally
        {
            foreach (var s in streams) await s.DisposeAsync();
            foreach (var p in processes) p.Dispose();
        }

        return result;
    }

    private static async Task<ScenarioResult> ClassAsync(Context c)
    {
        var o = c.Options;
        int n = o.Pairs;
        var result = new ScenarioResult("class", Invariant($"{n} × (bench emulate --pty --seed i + bench record at {o.RateHz:0} Hz to {o.RecordExtension}) started at once; warm-up {o.WarmupSeconds:0.#} s, window {o.WindowSeconds:0.#} s"));
        Settings(result, c, ("rate_hz", o.RateHz), ("pairs", n), ("record_duration_s", c.RecordSeconds));
        var processes = new List<BenchProcess>();
        try
        {
            Context.Progress(Invariant($"class: starting {n} emulators at once"));
            var emulators = Enumerable.Range(1, n).Select(i => c.Start(Invariant($"emulate {i}"), "emulate", "--pty", "--seed", i.ToString(CultureInfo.InvariantCulture))).ToList();
            processes.AddRange(emulators);
            var ports = await Task.WhenAll(emulators.Select(e => PortAsync(e, c.Cancellation)));
            // All recorders at once too, as a class pressing Start together: the moment that overloads the machine most.
            Context.Progress(Invariant($"class: starting {n} recorders at once ({c.RecordSeconds:0.#} s each); warm-up {o.WarmupSeconds:0.#} s"));
            var recordings = Enumerable.Range(1, n).Select(i => Path.Combine(c.Folder(Invariant($"class-{i}")), "x" + o.RecordExtension)).ToList();
            var recorders = Enumerable.Range(1, n).Select(i =>
                c.Start(Invariant($"record {i}"), RecordArgs(ports[i - 1], o.RateHz, c.RecordSeconds, recordings[i - 1], Path.GetDirectoryName(recordings[i - 1])!))).ToList();
            processes.AddRange(recorders);
            await WindowAsync(c, result, processes);

            Context.Progress("class: waiting for the recorders to finish");
            var outcomes = await Task.WhenAll(recorders.Select((r, i) => FinishRecorderAsync(r, recordings[i], o.RateHz, c.RecordSeconds, c.Cancellation)));
            await StopAllAsync(processes);

            var recorded = new JsonArray();
            for (int i = 0; i < n; i++)
            {
                outcomes[i].Json["recorder"] = i + 1;
                recorded.Add(outcomes[i].Json);
                if (outcomes[i].Problem is { } problem) result.Problems.Add(Invariant($"record {i + 1}: {problem}"));
            }

            int complete = outcomes.Count(x => x.Problem is null);
            long lost = outcomes.Sum(x => x.Lost);
            result.Results["recorders"] = recorded;
            result.Results["recorders_complete"] = complete;
            result.Results["lost_samples"] = lost;
            foreach (string role in new[] { "emulate", "record" })
            {
                var valid = result.Processes.Where(p => p.Role.StartsWith(role + " ", StringComparison.Ordinal) && p.Invalid is null).ToList();
                if (valid.Count == 0) continue;
                double mean = valid.Average(p => p.CorePercent), max = valid.Max(p => p.CorePercent), sum = valid.Sum(p => p.CorePercent);
                result.Results[role] = new JsonObject { ["mean_core_pct"] = Math.Round(mean, 2), ["max_core_pct"] = Math.Round(max, 2), ["total_core_pct"] = Math.Round(sum, 1), ["measured"] = valid.Count };
                result.Lines.Add(Invariant($"{role}: mean {mean:0.0} %, max {max:0.0} % of one core per process; {sum:0.0} % together ({valid.Count} of {n} measured)"));
            }

            result.Results["total_core_pct"] = Math.Round(100 * result.MeasuredCores, 1);
            result.Lines.Add(Invariant($"total: {100 * result.MeasuredCores:0.0} % of one core, {100 * result.MeasuredCores / Environment.ProcessorCount:0.0} % of the machine's {Environment.ProcessorCount} cores"));
            result.Lines.Add(Invariant($"recorders: {complete} of {n} got every sample with none lost ({lost} lost in all){(complete == n ? "" : " — see PROBLEM lines")}"));
            CheckCrashes(result, processes);
        }
        finally
        {
            foreach (var p in processes) p.Dispose();
        }

        return result;
    }

    private static async Task<ScenarioResult> ThroughputAsync(Context c)
    {
        var o = c.Options;
        double seconds = o.ThroughputSeconds;
        // The window leaves 3 s for starting and connecting, and ends 1 s before the recording does.
        var warmup = TimeSpan.FromSeconds(3);
        var window = TimeSpan.FromSeconds(seconds - 4);
        var result = new ScenarioResult("throughput", Invariant($"bench emulate --pty --baud 0 --buffer-samples 262144 + bench record at {o.ThroughputRateHz:0} Hz for {seconds:0.#} s to a raw .bin; window {window.TotalSeconds:0.#} s from 3 s"));
        Settings(result, c, ("rate_hz", o.ThroughputRateHz), ("record_duration_s", seconds));
        result.Settings["warmup_s"] = warmup.TotalSeconds;
        result.Settings["window_s"] = window.TotalSeconds;
        var processes = new List<BenchProcess>();
        try
        {
            // As README's link figures: an unlimited link, and a buffer that rides out the host's scheduling at 1 MHz.
            string maxRate = Math.Max(1_000_000, Math.Ceiling(o.ThroughputRateHz)).ToString(CultureInfo.InvariantCulture);
            Context.Progress("throughput: starting bench emulate --pty --baud 0 --buffer-samples 262144");
            var emulator = c.Start("emulate", "emulate", "--pty", "--baud", "0", "--buffer-samples", "262144", "--rate", maxRate);
            processes.Add(emulator);
            string port = await PortAsync(emulator, c.Cancellation);
            string folder = c.Folder("throughput");
            Context.Progress(Invariant($"throughput: bench record --port {port} --rate {o.ThroughputRateHz:0} --duration {seconds:0.#}"));
            string recording = Path.Combine(folder, "fast.bin");
            var recorder = c.Start("record", RecordArgs(port, o.ThroughputRateHz, seconds, recording, folder));
            processes.Add(recorder);
            await WindowAsync(c, result, processes, warmup, window);

            var outcome = await FinishRecorderAsync(recorder, recording, o.ThroughputRateHz, seconds, c.Cancellation);
            await StopAllAsync(processes);
            result.Results["record"] = outcome.Json;
            result.Lines.Add("record: " + outcome.Line);
            if (outcome.Problem is not null) result.Problems.Add("record: " + outcome.Problem);
            if (outcome.SamplesPerSecond is { } rate && rate > 0)
            {
                var rec = result.Processes.First(p => p.Role == "record");
                double per100k = rec.Invalid is null ? rec.CorePercent / (rate / 100_000) : double.NaN;
                result.Results["samples_per_s"] = Math.Round(rate, 0);
                result.Results["core_pct_per_100k_samples_per_s"] = ProcessFigures.Round(per100k, 2);
                string self = "";
                if (outcome.SelfReportedCorePercent is { } selfPct)
                {
                    double selfPer100k = selfPct / (rate / 100_000);
                    result.Results["self_reported_core_pct_per_100k_samples_per_s"] = Math.Round(selfPer100k, 2);
                    self = Invariant($"; {selfPer100k:0.00} % by record's own cpu_s over its whole acquisition, JIT included (README's 3.5 % was over a whole 60 s run)");
                }

                result.Lines.Add(Invariant($"{rate / 1e6:0.0000} M samples/s received; record: {per100k:0.00} % of one core per 100 kS/s in the window{self}"));
            }

            CheckCrashes(result, processes);
        }
        finally
        {
            foreach (var p in processes) p.Dispose();
        }

        return result;
    }

    // ---- shared pieces ---------------------------------------------------------------------------------------------

    private static void Settings(ScenarioResult result, Context c, params (string Key, double Value)[] extra)
    {
        result.Settings["warmup_s"] = c.Options.WarmupSeconds;
        result.Settings["window_s"] = c.Options.WindowSeconds;
        result.Settings["sample_ms"] = c.Options.SampleInterval.TotalMilliseconds;
        result.Settings["bench_dll"] = c.BenchDll;
        foreach (var (key, value) in extra) result.Settings[key] = value;
    }

    /// <summary>bench record's arguments: an .nwb is the recording; a .bin is kept raw as well, beside an .nwb of the same name.</summary>
    private static string[] RecordArgs(string port, double rateHz, double seconds, string outFile, string dataDir) =>
        outFile.EndsWith(".bin", StringComparison.Ordinal)
            ? ["record", "--port", port, "--rate", rateHz.ToString(CultureInfo.InvariantCulture), "--duration", seconds.ToString(CultureInfo.InvariantCulture), "--out", Path.ChangeExtension(outFile, ".nwb"), "--raw", outFile, "--data-dir", dataDir]
            : ["record", "--port", port, "--rate", rateHz.ToString(CultureInfo.InvariantCulture), "--duration", seconds.ToString(CultureInfo.InvariantCulture), "--out", outFile, "--data-dir", dataDir];

    private static async Task<string> PortAsync(BenchProcess emulator, CancellationToken cancellationToken)
    {
        var announced = await emulator.AnnouncementAsync("port", AnnounceTimeout, cancellationToken);
        return announced["port"]!.GetValue<string>();
    }

    private static IEnumerable<(string, int)> Measured(IEnumerable<BenchProcess> processes) =>
        processes.Select(p => (p.Role, p.Pid)).Append(("harness", Environment.ProcessId));

    /// <summary>Waits the warm-up, then measures every process (and the harness) over the window.</summary>
    private static async Task WindowAsync(Context c, ScenarioResult result, List<BenchProcess> processes, TimeSpan? warmup = null, TimeSpan? length = null)
    {
        await Task.Delay(warmup ?? c.Warmup, c.Cancellation);
        var early = processes.Where(p => p.HasExited).ToList();
        foreach (var p in early) Context.Progress($"{result.Name}: {p.Role} (pid {p.Pid}) ended before the window, exit code {p.ExitCodeText()}: {p.FirstError() ?? "nothing on stderr"}");
        Context.Progress(Invariant($"{result.Name}: window {(length ?? c.Window).TotalSeconds:0.#} s over {processes.Count} processes"));
        var window = new CpuWindow(Measured(processes));
        var figures = await window.MeasureAsync(length ?? c.Window, c.Options.SampleInterval, c.Cancellation);
        Collect(result, window, figures);
    }

    private static void Collect(ScenarioResult result, CpuWindow window, List<ProcessFigures> figures)
    {
        result.Processes.AddRange(figures.Take(figures.Count - 1));
        result.Harness = figures[^1];
        result.MachineBusyCores = window.MachineBusyCores;
        foreach (var p in result.Processes.Where(p => p.Invalid is not null)) result.Problems.Add($"{p.Role} (pid {p.Pid}): {p.Invalid}: no figures for it");
    }

    /// <summary>What a recorder's summary says, checked: at least rate × duration samples, none lost, no gap, exit 0, no stack trace.</summary>
    private sealed record RecorderOutcome(JsonObject Json, string Line, string? Problem, long Lost, double? SamplesPerSecond, double? SelfReportedCorePercent);

    private static async Task<RecorderOutcome> FinishRecorderAsync(BenchProcess recorder, string recording, double rateHz, double seconds, CancellationToken cancellationToken)
    {
        // record gives up by itself after twice its duration + 10 s without samples; NWB conversion comes after.
        if (!await recorder.WaitForExitAsync(TimeSpan.FromSeconds((seconds * 2) + 60), cancellationToken))
        {
            recorder.Kill();
            return new RecorderOutcome(new JsonObject { ["complete"] = false, ["problem"] = "did not finish" }, "did not finish: killed",
                Invariant($"did not finish within {(seconds * 2) + 60:0} s of its {seconds:0.#} s recording; killed"), 0, null, null);
        }

        var summary = recorder.LastJsonWith("samples");
        var json = new JsonObject { ["pid"] = recorder.Pid, ["exit_code"] = recorder.ExitCode };
        var problems = new List<string>();
        long samples = 0, lost = 0, gaps = 0;
        double? perSecond = null, selfPct = null;
        long expected = (long)Math.Round(seconds * rateHz);
        if (summary is null)
        {
            problems.Add("printed no summary");
        }
        else
        {
            samples = summary["samples"]!.GetValue<long>();
            lost = summary["lost_samples"]?.GetValue<long>() ?? 0;
            gaps = summary["gaps"]?.GetValue<long>() ?? 0;
            // The rate the rig runs at (its clock's nearest), which record's own target follows.
            double actualRate = summary["rate_hz"]?.GetValue<double>() ?? rateHz;
            // record's own target where it says it (newer builds), else the same rule worked out here.
            expected = summary["expected_samples"]?.GetValue<long>() ?? (long)Math.Round(seconds * actualRate);
            perSecond = summary["samples_per_s"]?.GetValue<double>();
            if (summary["cpu_s"]?.GetValue<double>() is { } cpu && summary["duration_s"]?.GetValue<double>() is { } duration && duration > 0) selfPct = 100 * cpu / duration;
            json["samples"] = samples;
            json["expected_samples"] = expected;
            json["lost_samples"] = lost;
            json["gaps"] = gaps;
            json["samples_per_s"] = perSecond;
            json["self_reported_cpu_s"] = summary["cpu_s"]?.DeepClone();
            json["duration_s"] = summary["duration_s"]?.DeepClone();
            json["disconnected"] = summary["disconnected"]?.DeepClone();
            string where = GapsFromSidecar(recording, actualRate, json);
            if (lost > 0 || gaps > 0) problems.Add(Invariant($"lost {lost} samples in {gaps} gaps{where}"));
            // record stops at the end of the first batch that reaches its target, and counts what it received: with
            // nothing lost that is never fewer than the target. A batch is what one read of the link delivered, several
            // blocks when reads are coalesced, so more than one block over is not a loss: said, not failed.
            if (samples < expected) problems.Add(Invariant($"{samples} samples, {expected - samples} fewer than {expected}"));
            json["over_target_samples"] = Math.Max(0, samples - expected);
            // Newer builds give their own verdict, and why they stopped: it must agree, and says what the counts cannot.
            if (summary["complete"] is JsonValue complete && complete.TryGetValue(out bool says))
            {
                json["record_says_complete"] = says;
                json["stopped"] = summary["stopped"]?.DeepClone();
                if (!says) problems.Add("record says incomplete" + (summary["stopped"]?.ToString() is { Length: > 0 } why ? ": " + why : ""));
            }
        }

        if (recorder.ExitCode != 0) problems.Add(Invariant($"exit code {recorder.ExitCode}"));
        if (recorder.UnhandledException || recorder.StackTrace) problems.Add("crashed with " + (recorder.UnhandledException ? "an unhandled exception" : "a stack trace"));
        if (problems.Count > 0 && recorder.FirstError() is { } first) problems.Add("stderr: " + first);
        string? problem = problems.Count == 0 ? null : string.Join("; ", problems);
        json["complete"] = problem is null;
        json["problem"] = problem;
        string over = samples - expected > ProtocolLimits.MaxSampleValues
            ? Invariant($" ({samples - expected} over: more than one {ProtocolLimits.MaxSampleValues}-sample block, as record stops at the end of a read that may hold several)")
            : "";
        string line = summary is null
            ? $"no summary (exit code {recorder.ExitCodeText()})"
            : Invariant($"{samples:N0} samples of {expected:N0}{over}, {lost} lost, {gaps} gaps, exit code {recorder.ExitCodeText()}{(selfPct is { } s ? Invariant($"; its own cpu_s: {s:0.0} % of one core over its whole run") : "")}: {(problem is null ? "complete" : "INCOMPLETE")}");
        return new RecorderOutcome(json, line, problem, lost, perSecond, selfPct);
    }

    /// <summary>
    /// Where a raw capture's gaps were, from its sidecar (an .nwb keeps them inside, out of reach here): " at 0.41 s
    /// (4096), …" for the line, and gaps_at_s in <paramref name="json"/>. Empty when there is no sidecar.
    /// </summary>
    private static string GapsFromSidecar(string recording, double rateHz, JsonObject json)
    {
        string sidecar = RecordingSidecar.PathFor(recording);
        if (!recording.EndsWith(".bin", StringComparison.Ordinal) || !File.Exists(sidecar)) return "";
        if (JsonNode.Parse(File.ReadAllText(sidecar))?["gaps"] is not JsonArray gaps || gaps.Count == 0) return "";
        var at = gaps.Select(g => (Seconds: g!["start_index"]!.GetValue<double>() / rateHz, Length: g["length"]!.GetValue<long>(), Cause: g["cause"]?.GetValue<string>())).ToList();
        json["gaps_at_s"] = new JsonArray(at.Select(g => (JsonNode)new JsonObject { ["t_s"] = Math.Round(g.Seconds, 3), ["samples"] = g.Length, ["cause"] = g.Cause }).ToArray());
        return " at " + string.Join(", ", at.Take(5).Select(g => Invariant($"{g.Seconds:0.00} s ({g.Length})"))) + (at.Count > 5 ? ", …" : "") + " of the recording";
    }

    private static void SelfReported(ScenarioResult result, RecorderOutcome outcome, string role)
    {
        if (outcome.SelfReportedCorePercent is { } pct) result.Results[role + "_self_reported_core_pct"] = Math.Round(pct, 2);
    }

    /// <summary>Anything that printed "Unhandled exception" or a stack frame on stderr crashed, whoever it was.</summary>
    private static void CheckCrashes(ScenarioResult result, IEnumerable<BenchProcess> processes)
    {
        foreach (var p in processes.Where(p => p.UnhandledException || p.StackTrace))
        {
            if (result.Problems.Any(x => x.StartsWith(p.Role + ":", StringComparison.Ordinal) && x.Contains("crashed", StringComparison.Ordinal))) continue;
            result.Problems.Add($"{p.Role}: crashed with {(p.UnhandledException ? "an unhandled exception" : "a stack trace")}: {p.FirstError()}");
        }
    }

    private static async Task StopAllAsync(IEnumerable<BenchProcess> processes) => await Task.WhenAll(processes.Select(p => p.StopAsync(StopGrace)));

    private static int FreeLoopbackPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static async Task<JsonNode?> HealthAsync(HttpClient http, Uri service, CancellationToken cancellationToken)
    {
        try
        {
            return JsonNode.Parse(await http.GetStringAsync(new Uri(service, "/api/health"), cancellationToken));
        }
        catch (HttpRequestException e)
        {
            throw new HarnessException($"serve: GET /api/health failed: {e.Message}");
        }
    }

    /// <summary>
    /// bench.dll: the one given, or this tree's Release build (built now if missing). A build older than the sources is
    /// measured all the same, with a warning: someone may be changing the code while this runs.
    /// </summary>
    private static async Task<string> LocateBenchAsync(string? given, CancellationToken cancellationToken)
    {
        if (given is not null)
        {
            return File.Exists(given) ? given : throw new HarnessException($"cpu: --bench {given}: no such file");
        }

        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Bench.sln"))) root = root.Parent;
        if (root is null) throw new HarnessException($"cpu: no Bench.sln above {AppContext.BaseDirectory}: name the CLI with --bench path/to/bench.dll");
        string project = Path.Combine(root.FullName, "src", "Bench.Cli", "Bench.Cli.csproj");
        string dll = Path.Combine(root.FullName, "src", "Bench.Cli", "bin", "Release", "net10.0", "bench.dll");
        if (!File.Exists(dll))
        {
            Console.Error.WriteLine($"cpu: {dll} is missing: dotnet build {project} -c Release");
            using var build = Process.Start(new ProcessStartInfo("dotnet", ["build", project, "-c", "Release", "-v", "quiet", "-nologo"]) { UseShellExecute = false, RedirectStandardOutput = true })
                ?? throw new HarnessException("cpu: could not start dotnet build");
            // Its output goes to stderr, so that stdout stays the JSON lines with --json.
            string log = await build.StandardOutput.ReadToEndAsync(cancellationToken);
            await build.WaitForExitAsync(cancellationToken);
            Console.Error.Write(log);
            if (build.ExitCode != 0 || !File.Exists(dll)) throw new HarnessException($"cpu: building {project} failed (exit code {build.ExitCode})");
        }

        var built = File.GetLastWriteTimeUtc(dll);
        var newer = Directory.EnumerateFiles(Path.Combine(root.FullName, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal) && File.GetLastWriteTimeUtc(f) > built)
            .Take(3).ToList();
        if (newer.Count > 0)
        {
            Console.Error.WriteLine($"cpu: warning: {dll} is older than {string.Join(", ", newer.Select(f => Path.GetRelativePath(root.FullName, f)))}: it measures the code as last built (dotnet build {project} -c Release to measure the sources)");
        }

        return dll;
    }
}
