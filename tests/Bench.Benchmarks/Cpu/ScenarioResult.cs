using System.Text.Json.Nodes;
using static System.FormattableString;

namespace Bench.Benchmarks.Cpu;

/// <summary>One scenario's figures: per process, the scenario's own results, and what went wrong.</summary>
internal sealed class ScenarioResult(string name, string description)
{
    public string Name => name;

    /// <summary>What ran, for the table's heading.</summary>
    public string Description => description;

    public JsonObject Settings { get; } = [];

    public List<ProcessFigures> Processes { get; } = [];

    /// <summary>The harness's own process over the same window (the viewers' HTTP clients live in it): not in any total.</summary>
    public ProcessFigures? Harness { get; set; }

    /// <summary>The whole machine's busy time over the window, in cores.</summary>
    public double MachineBusyCores { get; set; } = double.NaN;

    /// <summary>Figures of the scenario itself (samples, events/s, totals).</summary>
    public JsonObject Results { get; } = [];

    /// <summary>Lines under the table saying what the results mean.</summary>
    public List<string> Lines { get; } = [];

    /// <summary>Samples lost, a recorder that ended early, a crash: each makes the exit code 1.</summary>
    public List<string> Problems { get; } = [];

    public bool Ok => Problems.Count == 0;

    /// <summary>CPU of the measured processes, in cores, the harness not included.</summary>
    public double MeasuredCores => Processes.Where(p => p.Invalid is null).Sum(p => p.CorePercent) / 100;

    public JsonObject ToJson()
    {
        var json = new JsonObject
        {
            ["scenario"] = Name,
            ["ok"] = Ok,
            ["settings"] = Settings.DeepClone(),
            ["clk_tck"] = ProcFs.ClockTicks,
            ["cores"] = Environment.ProcessorCount,
            ["processes"] = new JsonArray(Processes.Select(p => (JsonNode)p.ToJson()).ToArray()),
            ["harness"] = Harness?.ToJson(),
            ["machine_busy_cores"] = ProcessFigures.Round(MachineBusyCores, 3),
            ["other_load_cores"] = ProcessFigures.Round(OtherLoadCores, 3),
            ["results"] = Results.DeepClone(),
            ["problems"] = new JsonArray(Problems.Select(p => (JsonNode)p).ToArray()),
        };
        return json;
    }

    /// <summary>Busy time of the machine that neither the measured processes nor the harness account for.</summary>
    public double OtherLoadCores => MachineBusyCores - MeasuredCores - ((Harness?.CorePercent ?? 0) / 100);

    /// <summary>The human table: one row per process, then the scenario's lines and problems.</summary>
    public void Print(TextWriter w)
    {
        w.WriteLine();
        w.WriteLine(Invariant($"== {Name}: {Description}"));
        w.WriteLine(Invariant($"   {"process",-12} {"pid",7} {"CPU s",7} {"% core",7} {"user %",7} {"sys %",7} {"switches/s",10} {"threads",8} {"seen",5} {"new",4}"));
        foreach (var p in Processes) Row(w, p, p.Role);
        if (Harness is { } h) Row(w, h, "(harness)");
        if (double.IsFinite(MachineBusyCores))
        {
            w.WriteLine(Invariant($"   machine: {100 * MachineBusyCores:0.0} % of one core busy in all ({Environment.ProcessorCount} cores); not these processes: {100 * OtherLoadCores:0.0} %{(OtherLoadCores > 0.1 ? " — something else ran: figures are disturbed, and a thread that polls reads low (it gets less CPU on a busy machine)" : "")}"));
        }

        foreach (string line in Lines) w.WriteLine("   " + line);
        foreach (string problem in Problems) w.WriteLine("   PROBLEM: " + problem);
    }

    private static void Row(TextWriter w, ProcessFigures p, string label)
    {
        if (p.Invalid is not null)
        {
            w.WriteLine(Invariant($"   {label,-12} {p.Pid,7} {p.Invalid}"));
            return;
        }

        w.WriteLine(Invariant($"   {label,-12} {p.Pid,7} {p.CpuSeconds,7:0.00} {p.CorePercent,7:0.0} {p.UserPercent,7:0.0} {p.SystemPercent,7:0.0} {p.SwitchesPerSecond,10:0} {Threads(p),8} {p.ThreadsSeen,5} {p.ThreadsCreated,4}"));
    }

    private static string Threads(ProcessFigures p) => Invariant($"{p.ThreadsAtStart}→{p.ThreadsAtEnd}");
}
