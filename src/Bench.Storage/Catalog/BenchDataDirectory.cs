namespace Bench.Storage.Catalog;

/// <summary>
/// Where Bench keeps its catalog and recordings: <c>$BENCH_DATA_DIR</c>, else <c>$XDG_DATA_HOME/bench</c>, else
/// <c>~/.local/share/bench</c> (the XDG base directory default).
/// </summary>
public static class BenchDataDirectory
{
    /// <summary>The environment variable that overrides the location.</summary>
    public const string EnvironmentVariable = "BENCH_DATA_DIR";

    /// <summary>The data directory for this process's environment (not created; <see cref="BenchCatalog"/> creates it
    /// on demand).</summary>
    public static string Default => Resolve(Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));

    /// <summary>The data directory for a given environment (testable without touching the process's variables).</summary>
    /// <param name="getVariable">Reads an environment variable (null or empty when unset).</param>
    /// <param name="home">The user's home directory.</param>
    public static string Resolve(Func<string, string?> getVariable, string home)
    {
        ArgumentNullException.ThrowIfNull(getVariable);
        string? explicitDirectory = getVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(explicitDirectory)) return Path.GetFullPath(explicitDirectory);
        // The XDG specification says a relative XDG_DATA_HOME is invalid and must be ignored.
        string? xdg = getVariable("XDG_DATA_HOME");
        if (!string.IsNullOrEmpty(xdg) && Path.IsPathRooted(xdg)) return Path.Combine(Path.GetFullPath(xdg), "bench");
        if (string.IsNullOrEmpty(home)) throw new InvalidOperationException($"no home directory: set {EnvironmentVariable} to choose where Bench keeps its data");
        return Path.Combine(home, ".local", "share", "bench");
    }
}
