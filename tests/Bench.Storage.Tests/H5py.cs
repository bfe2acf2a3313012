using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Bench.Storage.Tests;

/// <summary>
/// Runs read_nwb.py under a Python that has h5py, an HDF5 reader independent of PureHDF. Debian's python3-h5py
/// installs for /usr/bin/python3, which is tried first (a pyenv or venv python3 earlier on PATH usually lacks it).
/// A missing h5py fails the test with what to install: it never skips.
/// </summary>
internal static class H5py
{
    private static readonly Lazy<string?> Python = new(FindPython);

    public static JsonObject Read(string nwbPath)
    {
        string python = Python.Value ?? throw new Xunit.Sdk.XunitException(
            "h5py is missing: the NWB tests read files back with an independent HDF5 reader. Install Debian's python3-h5py "
            + "(apt-get install -y python3-h5py; scripts/test.sh does this).");
        string script = Path.Combine(AppContext.BaseDirectory, "read_nwb.py");
        var (code, stdout, stderr) = Run(python, script, nwbPath);
        if (code != 0) throw new Xunit.Sdk.XunitException($"read_nwb.py failed ({code}):\n{stderr}");
        return JsonNode.Parse(stdout)!.AsObject();
    }

    private static string? FindPython()
    {
        foreach (string candidate in new[] { "/usr/bin/python3", "python3" })
        {
            try
            {
                if (Run(candidate, "-c", "import h5py").Code == 0) return candidate;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // not installed under that name
            }
        }

        return null;
    }

    private static (int Code, string Stdout, string Stderr) Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout, stderr.Result);
    }
}
