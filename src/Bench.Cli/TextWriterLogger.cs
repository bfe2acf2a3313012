using Microsoft.Extensions.Logging;

namespace Bench.Cli;

/// <summary>
/// Warnings of the rig's session (a rig that did not come back, a stop it did not confirm) as lines on stderr: stdout
/// carries the command's JSON and stays clean.
/// </summary>
internal sealed class TextWriterLogger(TextWriter error, string prefix) : ILogger
{
    /// <inheritdoc/>
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    /// <inheritdoc/>
    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    /// <inheritdoc/>
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel)) error.WriteLine($"bench: {prefix}: {formatter(state, exception)}");
    }
}
