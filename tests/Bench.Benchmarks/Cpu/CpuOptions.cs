using System.Globalization;

namespace Bench.Benchmarks.Cpu;

/// <summary>The <c>cpu</c> mode's command line.</summary>
internal sealed class CpuOptions
{
    public const string Usage = """
        usage: dotnet run -c Release --project tests/Bench.Benchmarks -- cpu [scenario ...] [options]

        Runs the real bench CLI as separate processes and reads each one's CPU time from /proc/<pid>/stat
        at the start and end of a window, after a warm-up.

        scenarios (default: all of them, in this order):
          record       bench emulate --pty + bench record at --rate (to an .nwb)
          serve        bench serve (its embedded emulated rig) with --viewers live streams open (default 1)
          serve-idle   bench serve with no viewer
          class        --pairs pairs of bench emulate --pty --seed i + bench record, all started at once
          throughput   bench emulate --pty --baud 0 + bench record at --tp-rate for --tp-seconds (to a raw .bin)
          all          all of the above

        options:
          --warmup S        wait this long after the processes start before the window (default 10)
          --window S        the measurement window (default 20)
          --rate HZ         sample rate of record, serve and class (default 20000)
          --pairs N         class: emulator/recorder pairs (default 20)
          --viewers N       serve: live streams the harness reads (default 1)
          --tp-seconds S    throughput: the recording's length; the window is from 3 s to 1 s before its end (default 10)
          --tp-rate HZ      throughput: sample rate (default 1000000)
          --format nwb|bin  what record and class record to (default nwb, as a user would; bin: a raw capture whose
                            sidecar says where each gap was, so the harness can report when samples were lost)
          --sample-ms MS    how often threads are read for context switches and thread churn (default 500)
          --bench PATH      the bench.dll to run (default: src/Bench.Cli/bin/Release/net10.0/bench.dll of this tree, built if missing)
          --json            one JSON object per scenario on stdout (the table goes to stderr)
          --keep            keep the scratch folder (recordings, data dirs) and say where it is

        exit code: 0 all well; 1 a recorder lost samples, ended early, or a process crashed; 2 the harness could not
        run (bad option, a process did not start); 130 interrupted.
        """;

    public static readonly string[] AllScenarios = ["record", "serve", "serve-idle", "class", "throughput"];

    public List<string> Scenarios { get; } = [];

    public double WarmupSeconds { get; private set; } = 10;

    public double WindowSeconds { get; private set; } = 20;

    public double RateHz { get; private set; } = 20_000;

    public int Pairs { get; private set; } = 20;

    public int Viewers { get; private set; } = 1;

    public double ThroughputSeconds { get; private set; } = 10;

    public double ThroughputRateHz { get; private set; } = 1_000_000;

    public TimeSpan SampleInterval { get; private set; } = TimeSpan.FromMilliseconds(500);

    public string? BenchDll { get; private set; }

    /// <summary>The extension record and class record to: ".nwb" or ".bin".</summary>
    public string RecordExtension { get; private set; } = ".nwb";

    public bool Json { get; private set; }

    public bool Keep { get; private set; }

    /// <summary>Parses the arguments after <c>cpu</c>; throws <see cref="HarnessException"/> with what is wrong.</summary>
    public static CpuOptions Parse(IReadOnlyList<string> args)
    {
        var o = new CpuOptions();
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new HarnessException($"cpu: {a} needs a value");
            double Number(double min, double max)
            {
                string text = Value();
                if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !(v >= min && v <= max))
                {
                    throw new HarnessException($"cpu: {a} must be a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)} (got '{text}')");
                }

                return v;
            }

            switch (a)
            {
                case "--warmup": o.WarmupSeconds = Number(0, 3600); break;
                case "--window": o.WindowSeconds = Number(1, 3600); break;
                case "--rate": o.RateHz = Number(1, 1_000_000); break;
                case "--pairs": o.Pairs = (int)Number(1, 200); break;
                case "--viewers": o.Viewers = (int)Number(0, 100); break;
                case "--tp-seconds": o.ThroughputSeconds = Number(6, 3600); break;
                case "--tp-rate": o.ThroughputRateHz = Number(1, 10_000_000); break;
                case "--sample-ms": o.SampleInterval = TimeSpan.FromMilliseconds(Number(50, 60_000)); break;
                case "--bench": o.BenchDll = Path.GetFullPath(Value()); break;
                case "--format":
                    o.RecordExtension = Value() switch
                    {
                        "nwb" => ".nwb",
                        "bin" => ".bin",
                        var other => throw new HarnessException($"cpu: --format is nwb or bin (got '{other}')"),
                    };
                    break;
                case "--json": o.Json = true; break;
                case "--keep": o.Keep = true; break;
                case "all": o.Scenarios.AddRange(AllScenarios); break;
                default:
                    if (!AllScenarios.Contains(a)) throw new HarnessException($"cpu: unknown scenario or option '{a}' (scenarios: {string.Join(", ", AllScenarios)}, all; --help lists the options)");
                    o.Scenarios.Add(a);
                    break;
            }
        }

        if (o.Scenarios.Count == 0) o.Scenarios.AddRange(AllScenarios);
        return o;
    }
}
