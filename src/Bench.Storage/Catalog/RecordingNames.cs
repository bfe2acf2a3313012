namespace Bench.Storage.Catalog;

/// <summary>
/// Recording names, which become file names inside the data directory. Names come from users (the CLI, the web
/// page), so they are checked twice: <see cref="Validate"/> allows only a plain file-name alphabet, and
/// <see cref="ResolveInside"/> refuses any path that would land outside the data directory — a name can never reach
/// another file on the machine.
/// </summary>
public static class RecordingNames
{
    /// <summary>Longest name allowed.</summary>
    public const int MaxLength = 100;

    /// <summary>The folder under the data directory that holds the recordings' files.</summary>
    public const string Folder = "recordings";

    /// <summary>True when <paramref name="name"/> is a valid recording name (see <see cref="Validate"/>).</summary>
    public static bool IsValid(string? name) => Problem(name) is null;

    /// <summary>
    /// Checks a recording name: 1 to 100 characters of <c>A–Z a–z 0–9 . _ -</c>, not starting with '.' (so no
    /// <c>..</c>, no hidden files, no separators, no absolute paths).
    /// </summary>
    /// <returns>The name, for chaining.</returns>
    /// <exception cref="ArgumentException">The name breaks a rule; the message says which.</exception>
    public static string Validate(string? name)
    {
        string? problem = Problem(name);
        if (problem is not null) throw new ArgumentException(problem, nameof(name));
        return name!;
    }

    /// <summary>The path of a recording's NWB file relative to the data directory: <c>recordings/&lt;name&gt;.nwb</c>.</summary>
    /// <exception cref="ArgumentException">The name is not valid.</exception>
    public static string RelativeFilePath(string name) => $"{Folder}/{Validate(name)}.nwb";

    /// <summary>
    /// The full path of <paramref name="relativePath"/> inside <paramref name="dataDirectory"/>, refusing anything
    /// that would resolve outside it (<c>..</c> segments, absolute paths) or to the directory itself.
    /// </summary>
    /// <param name="dataDirectory">The data directory.</param>
    /// <param name="relativePath">A recording name or a path relative to the data directory (as the catalog stores
    /// them).</param>
    /// <exception cref="ArgumentException">The path is empty, rooted, or escapes the data directory.</exception>
    public static string ResolveInside(string dataDirectory, string relativePath)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataDirectory);
        if (string.IsNullOrEmpty(relativePath)) throw new ArgumentException("the path is empty", nameof(relativePath));
        if (Path.IsPathRooted(relativePath)) throw new ArgumentException($"'{relativePath}' is absolute; only paths inside the data directory are allowed", nameof(relativePath));
        if (relativePath.Contains('\0', StringComparison.Ordinal)) throw new ArgumentException("the path contains a NUL character", nameof(relativePath));
        string root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(dataDirectory));
        string full = Path.GetFullPath(Path.Combine(root, relativePath));
        // Compare with a trailing separator so that /data/bench-other is not taken to be inside /data/bench.
        if (!full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{relativePath}' resolves to {full}, outside the data directory {root}", nameof(relativePath));
        }

        return full;
    }

    private static string? Problem(string? name)
    {
        if (string.IsNullOrEmpty(name)) return "a recording name must not be empty";
        if (name.Length > MaxLength) return $"a recording name has at most {MaxLength} characters, this one has {name.Length}";
        if (name[0] == '.') return $"a recording name must not start with '.' ('{name}')";
        foreach (char c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            {
                return $"a recording name may contain only letters A-Z a-z, digits, '.', '_' and '-'; '{name}' has '{(char.IsControl(c) ? $"U+{(int)c:X4}" : c.ToString())}'";
            }
        }

        return null;
    }
}
