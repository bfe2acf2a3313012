using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Bench.Benchmarks.Cpu;

/// <summary>
/// What one process cost over the measurement window: CPU time from /proc/&lt;pid&gt;/stat at its start and end, context
/// switches summed over its threads, and its threads.
/// </summary>
internal sealed class ProcessFigures
{
    public required string Role { get; init; }

    public required int Pid { get; init; }

    public double WindowSeconds { get; set; }

    public double UserSeconds { get; set; }

    public double SystemSeconds { get; set; }

    public double CpuSeconds => UserSeconds + SystemSeconds;

    /// <summary>Percent of one core over the window.</summary>
    public double CorePercent => WindowSeconds > 0 ? 100 * CpuSeconds / WindowSeconds : double.NaN;

    public double UserPercent => WindowSeconds > 0 ? 100 * UserSeconds / WindowSeconds : double.NaN;

    public double SystemPercent => WindowSeconds > 0 ? 100 * SystemSeconds / WindowSeconds : double.NaN;

    public long VoluntarySwitches { get; set; }

    public long InvoluntarySwitches { get; set; }

    public double SwitchesPerSecond => WindowSeconds > 0 ? (VoluntarySwitches + InvoluntarySwitches) / WindowSeconds : double.NaN;

    public int ThreadsAtStart { get; set; }

    public int ThreadsAtEnd { get; set; }

    /// <summary>Distinct threads seen by any sample in the window: with a churning thread pool more than the count at either end.</summary>
    public int ThreadsSeen { get; set; }

    /// <summary>Threads first seen after the window started: created in it (a lower bound: one that lived between two samples is missed).</summary>
    public int ThreadsCreated { get; set; }

    /// <summary>Why its figures do not cover the window (it exited, or could not be read), or null.</summary>
    public string? Invalid { get; set; }

    public JsonObject ToJson() => new()
    {
        ["role"] = Role,
        ["pid"] = Pid,
        ["window_s"] = Round(WindowSeconds, 3),
        ["cpu_s"] = Round(CpuSeconds, 2),
        ["user_s"] = Round(UserSeconds, 2),
        ["system_s"] = Round(SystemSeconds, 2),
        ["core_pct"] = Round(CorePercent, 2),
        ["ctx_switches_per_s"] = Round(SwitchesPerSecond, 1),
        ["voluntary_switches"] = VoluntarySwitches,
        ["involuntary_switches"] = InvoluntarySwitches,
        ["threads_start"] = ThreadsAtStart,
        ["threads_end"] = ThreadsAtEnd,
        ["threads_seen"] = ThreadsSeen,
        ["threads_created_seen"] = ThreadsCreated,
        ["invalid"] = Invalid,
    };

    internal static JsonNode? Round(double value, int digits) => double.IsFinite(value) ? Math.Round(value, digits) : null;
}

/// <summary>
/// Measures a set of processes over one window. CPU time needs only the two ends (the kernel keeps the time of exited
/// threads in the process's total); context switches are kept per thread, so threads are read every
/// <c>sampleInterval</c> as well and a thread that ends in the window keeps what it had at its last sample.
/// </summary>
internal sealed class CpuWindow
{
    private readonly List<Tracked> tracked;

    public CpuWindow(IEnumerable<(string Role, int Pid)> processes)
    {
        tracked = processes.Select(p => new Tracked(p.Role, p.Pid)).ToList();
    }

    /// <summary>
    /// The whole machine over the window, in cores (1 = one core busy all the time): what the figures share the
    /// machine with. What the measured processes do not explain is someone else's (a build, another test).
    /// </summary>
    public double MachineBusyCores { get; private set; } = double.NaN;

    /// <summary>Runs the window: <paramref name="onStart"/> and <paramref name="onEnd"/> run right at its two ends (to read other counters alike).</summary>
    public async Task<List<ProcessFigures>> MeasureAsync(TimeSpan window, TimeSpan sampleInterval, CancellationToken cancellationToken, Action? onStart = null, Action? onEnd = null)
    {
        var machine = ProcFs.ReadMachine();
        long machineStart = Stopwatch.GetTimestamp();
        foreach (var t in tracked) t.Begin();
        onStart?.Invoke();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < window)
        {
            var wait = window - clock.Elapsed;
            await Task.Delay(wait < sampleInterval ? wait : sampleInterval, cancellationToken);
            if (clock.Elapsed < window) foreach (var t in tracked) t.SampleThreads();
        }

        foreach (var t in tracked) t.End();
        onEnd?.Invoke();
        var machineEnd = ProcFs.ReadMachine();
        MachineBusyCores = (machineEnd.Busy - machine.Busy) / (double)ProcFs.ClockTicks / Stopwatch.GetElapsedTime(machineStart).TotalSeconds;
        return tracked.Select(t => t.Figures).ToList();
    }

    private sealed class Tracked(string role, int pid)
    {
        private readonly Dictionary<int, (long Voluntary0, long Involuntary0, long Voluntary, long Involuntary)> threads = [];
        private readonly HashSet<int> atStart = [];
        private CpuReading? start;

        public ProcessFigures Figures { get; } = new() { Role = role, Pid = pid };

        public void Begin()
        {
            start = ProcFs.ReadCpu(pid);
            if (start is null)
            {
                Figures.Invalid = "not running when the window started";
                return;
            }

            Figures.ThreadsAtStart = start.Value.Threads;
            foreach (var (tid, v, i) in ProcFs.ReadThreadSwitches(pid))
            {
                threads[tid] = (v, i, v, i);
                atStart.Add(tid);
            }
        }

        public void SampleThreads()
        {
            if (start is null) return;
            foreach (var (tid, v, i) in ProcFs.ReadThreadSwitches(pid))
            {
                // A thread born in the window started from zero switches.
                threads[tid] = threads.TryGetValue(tid, out var seen) ? seen with { Voluntary = v, Involuntary = i } : (0, 0, v, i);
            }
        }

        public void End()
        {
            if (start is null) return;
            SampleThreads();
            var end = ProcFs.ReadCpu(pid);
            if (end is null)
            {
                Figures.Invalid = "exited during the window";
                return;
            }

            double ticks = ProcFs.ClockTicks;
            Figures.WindowSeconds = Stopwatch.GetElapsedTime(start.Value.Timestamp, end.Value.Timestamp).TotalSeconds;
            Figures.UserSeconds = (end.Value.UserTicks - start.Value.UserTicks) / ticks;
            Figures.SystemSeconds = (end.Value.SystemTicks - start.Value.SystemTicks) / ticks;
            Figures.ThreadsAtEnd = end.Value.Threads;
            Figures.ThreadsSeen = threads.Count;
            Figures.ThreadsCreated = threads.Keys.Count(tid => !atStart.Contains(tid));
            Figures.VoluntarySwitches = threads.Values.Sum(t => t.Voluntary - t.Voluntary0);
            Figures.InvoluntarySwitches = threads.Values.Sum(t => t.Involuntary - t.Involuntary0);
        }
    }
}
