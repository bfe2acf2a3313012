using Microsoft.Extensions.Logging;

namespace Bench.Rig.Session;

/// <summary>What the session recovers from and goes on, logged rather than swallowed.</summary>
internal static partial class RigLog
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "{Port}: {Why}")]
    public static partial void GaveUp(ILogger logger, string port, string why);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Port}: the rig answered but could not be resumed ({Reason}); looking again")]
    public static partial void ResumeFailed(ILogger logger, string port, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Port}: the rig did not confirm the stop ({Reason}); its watchdog stops the outputs within {WatchdogMs} ms")]
    public static partial void StopUnconfirmed(ILogger logger, string port, string reason, int watchdogMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Port}: not the lost rig (unique id {UniqueId:x16}; 0: no answer)")]
    public static partial void NotTheLostRig(ILogger logger, string port, ulong uniqueId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "reconnect attempt failed: {Reason}")]
    public static partial void ReconnectAttemptFailed(ILogger logger, string reason);
}
