using System.Diagnostics;
using System.Globalization;

namespace Bench.Benchmarks.Cpu;

/// <summary>One reading of a process's CPU time from <c>/proc/&lt;pid&gt;/stat</c>.</summary>
/// <param name="UserTicks">utime: all its threads, the ones that have exited included (the kernel sums them per thread group).</param>
/// <param name="SystemTicks">stime, likewise.</param>
/// <param name="Threads">num_threads when read.</param>
/// <param name="Timestamp">Stopwatch timestamp of the reading.</param>
internal readonly record struct CpuReading(long UserTicks, long SystemTicks, int Threads, long Timestamp);

/// <summary>Reads what the kernel accounts per process and per thread under /proc (Linux only).</summary>
internal static class ProcFs
{
    private static readonly Lazy<(long Ticks, string Source)> Clock = new(ReadClockTicks);

    /// <summary>Clock ticks per second, the unit of utime and stime.</summary>
    public static long ClockTicks => Clock.Value.Ticks;

    /// <summary>Where <see cref="ClockTicks"/> came from: getconf, or the assumed Linux default.</summary>
    public static string ClockTicksSource => Clock.Value.Source;

    /// <summary>The process's CPU time so far, or null once it has gone (its /proc entry with it).</summary>
    public static CpuReading? ReadCpu(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        long now = Stopwatch.GetTimestamp();
        // comm (field 2) is in parentheses and may itself hold spaces or ')': the fields after the last ')' are fixed.
        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is field 3 (state): field n is fields[n - 3]; utime 14, stime 15, num_threads 20 (proc(5)).
        return new CpuReading(
            long.Parse(fields[11], CultureInfo.InvariantCulture),
            long.Parse(fields[12], CultureInfo.InvariantCulture),
            int.Parse(fields[17], CultureInfo.InvariantCulture),
            now);
    }

    /// <summary>The whole machine's CPU time from the first line of /proc/stat (ticks): busy (not idle or iowait) and all.</summary>
    public static (long Busy, long Total) ReadMachine()
    {
        string first = File.ReadLines("/proc/stat").First();
        // cpu  user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user and nice.
        var ticks = first.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        long total = ticks.Sum();
        return (total - ticks[3] - ticks[4], total);
    }

    /// <summary>
    /// Context switches of each live thread (tid, voluntary, involuntary), from <c>/proc/&lt;pid&gt;/task/&lt;tid&gt;/status</c>.
    /// Per thread because <c>/proc/&lt;pid&gt;/status</c> counts the main thread only, which in a .NET program mostly waits.
    /// </summary>
    public static List<(int Tid, long Voluntary, long Involuntary)> ReadThreadSwitches(int pid)
    {
        var result = new List<(int, long, long)>();
        string[] tasks;
        try
        {
            tasks = Directory.GetDirectories($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/task");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return result;
        }

        foreach (string task in tasks)
        {
            string status;
            try
            {
                status = File.ReadAllText(Path.Combine(task, "status"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;   // the thread ended between the listing and the read
            }

            long voluntary = Field(status, "voluntary_ctxt_switches:");
            long involuntary = Field(status, "nonvoluntary_ctxt_switches:");
            if (voluntary >= 0 && involuntary >= 0) result.Add((int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture), voluntary, involuntary));
        }

        return result;
    }

    private static long Field(string status, string name)
    {
        // "voluntary_ctxt_switches:" is also the tail of "nonvoluntary_ctxt_switches:": match at a line start only.
        int at;
        if (status.StartsWith(name, StringComparison.Ordinal)) at = 0;
        else if ((at = status.IndexOf("\n" + name, StringComparison.Ordinal)) >= 0) at++;
        else return -1;
        int start = at + name.Length;
        int end = status.IndexOf('\n', start);
        return long.TryParse(status.AsSpan(start, (end < 0 ? status.Length : end) - start).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long value) ? value : -1;
    }

    private static (long, string) ReadClockTicks()
    {
        try
        {
            using var getconf = Process.Start(new ProcessStartInfo("getconf", ["CLK_TCK"]) { RedirectStandardOutput = true, UseShellExecute = false });
            if (getconf is not null)
            {
                string text = getconf.StandardOutput.ReadToEnd().Trim();
                getconf.WaitForExit();
                if (getconf.ExitCode == 0 && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long ticks) && ticks > 0)
                {
                    return (ticks, "getconf CLK_TCK");
                }
            }
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No getconf: fall through to the default.
        }

        // USER_HZ is 100 on every Linux architecture .NET runs on; the kernel's own HZ does not change it.
        return (100, "assumed 100 (getconf CLK_TCK did not answer)");
    }
}
