using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Threading.Channels;

namespace Bench.Benchmarks.Cpu;

/// <summary>
/// One <c>dotnet bench.dll …</c> process, started as a user starts it. <c>dotnet x.dll</c> runs the program in the
/// host's own process, so the pid here is the one whose CPU time is the program's. Its stdout lines are kept (the
/// announcement and the summary are JSON lines); its stderr is kept too and scanned for crashes.
/// </summary>
internal sealed partial class BenchProcess : IDisposable
{
    private static readonly ConcurrentDictionary<int, BenchProcess> Live = new();
    private readonly Process process;
    private readonly Channel<string> stdout = Channel.CreateUnbounded<string>();
    private readonly ConcurrentQueue<string> stdoutLines = new();
    private readonly ConcurrentQueue<string> stderrLines = new();
    private int stderrCount;

    private BenchProcess(string role, Process process)
    {
        Role = role;
        this.process = process;
        Pid = process.Id;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                stdout.Writer.TryComplete();
                return;
            }

            stdoutLines.Enqueue(e.Data);
            stdout.Writer.TryWrite(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            if (e.Data.Contains("Unhandled exception", StringComparison.Ordinal)) UnhandledException = true;
            if (StackFrame().IsMatch(e.Data)) StackTrace = true;
            // Keep the first lines (the cause) and count the rest: a looping error must not fill the harness's memory.
            if (Interlocked.Increment(ref stderrCount) <= 200) stderrLines.Enqueue(e.Data);
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>What this process is in the scenario (emulate, record, serve, …).</summary>
    public string Role { get; }

    public int Pid { get; }

    public bool HasExited => process.HasExited;

    public int? ExitCode => process.HasExited ? process.ExitCode : null;

    /// <summary>stderr said "Unhandled exception".</summary>
    public bool UnhandledException { get; private set; }

    /// <summary>stderr held a stack frame ("   at Namespace.Type.Method(…)").</summary>
    public bool StackTrace { get; private set; }

    public IReadOnlyCollection<string> StderrLines => stderrLines;

    public int StderrLineCount => stderrCount;

    public IReadOnlyCollection<string> StdoutLines => stdoutLines;

    /// <summary>Starts <c>dotnet <paramref name="benchDll"/> <paramref name="args"/></c>; killed by <see cref="KillAll"/> if still running.</summary>
    public static BenchProcess Start(string benchDll, string role, IEnumerable<string> args, string dataDirectory)
    {
        var info = new ProcessStartInfo("dotnet", [benchDll, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // Not the terminal's stdin: a bench process must not read keys meant for the harness.
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        // Nothing of the user's own catalog or calibrations: every process gets the run's scratch folder.
        info.Environment["BENCH_DATA_DIR"] = dataDirectory;
        var started = Process.Start(info) ?? throw new InvalidOperationException($"could not start dotnet {benchDll} {role}");
        var bench = new BenchProcess(role, started);
        Live[bench.Pid] = bench;
        return bench;
    }

    /// <summary>The first stdout line that is a JSON object with <paramref name="property"/>, e.g. emulate's {"port":…} or serve's {"url":…}.</summary>
    public async Task<JsonObject> AnnouncementAsync(string property, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await foreach (string line in stdout.Reader.ReadAllAsync(cts.Token))
            {
                if (ParseObject(line) is { } json && json.ContainsKey(property)) return json;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new HarnessException($"{Role} (pid {Pid}) printed no {{\"{property}\":…}} line within {timeout.TotalSeconds:0} s{Tail()}");
        }

        throw new HarnessException($"{Role} (pid {Pid}) ended (exit code {ExitCodeText()}) before printing its {{\"{property}\":…}} line{Tail()}");
    }

    /// <summary>Waits for the process to end by itself; false if it has not within <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>The last stdout line that is a JSON object with <paramref name="property"/> (record's summary has "samples").</summary>
    public JsonObject? LastJsonWith(string property) => stdoutLines.Reverse().Select(ParseObject).FirstOrDefault(j => j is not null && j.ContainsKey(property));

    /// <summary>Stops it as Ctrl+C or a service manager would (SIGTERM) so it finishes what it writes; killed after <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (!process.HasExited)
        {
            try
            {
                using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", Pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false });
                if (kill is not null) await kill.WaitForExitAsync();
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // No kill(1): the SIGKILL below still ends it.
            }

            using var cts = new CancellationTokenSource(grace);
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                Kill();
            }
        }

        Live.TryRemove(Pid, out _);
    }

    /// <summary>SIGKILL, now, to it and anything it started.</summary>
    public void Kill()
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // It ended meanwhile.
        }
    }

    /// <summary>Kills every process this harness started that still runs: the last word of every scenario, Ctrl+C and exit.</summary>
    public static void KillAll()
    {
        foreach (var bench in Live.Values)
        {
            bench.Kill();
            Live.TryRemove(bench.Pid, out _);
        }
    }

    /// <summary>How many this harness started still run (for the message on Ctrl+C).</summary>
    public static int LiveCount => Live.Values.Count(b => !b.HasExited);

    public void Dispose()
    {
        Kill();
        Live.TryRemove(Pid, out _);
        process.Dispose();
    }

    /// <summary>"exit code N" or "still running".</summary>
    public string ExitCodeText() => ExitCode is { } code ? code.ToString(CultureInfo.InvariantCulture) : "still running";

    /// <summary>The first stderr line that says what went wrong, for a one-line report.</summary>
    public string? FirstError() => stderrLines.FirstOrDefault(l => l.Length > 0 && !StackFrame().IsMatch(l) && !l.StartsWith("bench: serving", StringComparison.Ordinal));

    private string Tail()
    {
        var last = stderrLines.Where(l => !StackFrame().IsMatch(l)).TakeLast(3).ToList();
        return last.Count == 0 ? "" : "; its stderr: " + string.Join(" / ", last);
    }

    private static JsonObject? ParseObject(string line)
    {
        if (!line.StartsWith('{')) return null;
        try
        {
            return JsonNode.Parse(line) as JsonObject;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>A .NET stack frame as printed with an unhandled exception: "   at Bench.Rig.X.Y(…)".</summary>
    [GeneratedRegex(@"^\s+at \S+\(.*\)")]
    private static partial Regex StackFrame();
}

/// <summary>The harness could not run a scenario (a process did not start or announce): one line, exit code 2.</summary>
internal sealed class HarnessException(string message) : Exception(message);
