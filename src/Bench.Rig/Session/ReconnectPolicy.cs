using Bench.Rig.Transports;
using Microsoft.Extensions.Logging;

namespace Bench.Rig.Session;

/// <summary>
/// Finds a lost rig again: opens candidates (the caller decides where to look: the same address, or every port), asks
/// each who it is, and keeps only the rig with the same unique id — another board on the port is left alone. Gives up
/// after a time limit.
/// </summary>
public sealed class ReconnectPolicy
{
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(200);
    private readonly Func<CancellationToken, Task<IRigTransport?>> open;
    private readonly TimeSpan timeout;
    private readonly TimeProvider time;
    private readonly ILogger logger;

    /// <summary>Creates the policy.</summary>
    /// <param name="open">Opens the next candidate (null: none now); its errors count as "not there yet".</param>
    /// <param name="timeout">How long to look before giving up.</param>
    /// <param name="time">The clock of the time limit and the pauses.</param>
    /// <param name="logger">Where failed attempts are noted.</param>
    public ReconnectPolicy(Func<CancellationToken, Task<IRigTransport?>> open, TimeSpan timeout, TimeProvider time, ILogger logger)
    {
        this.open = open;
        this.timeout = timeout;
        this.time = time;
        this.logger = logger;
    }

    /// <summary>A transport to the rig with <paramref name="uniqueId"/>, probed and open; null when the time ran out.</summary>
    public async Task<IRigTransport?> FindAsync(ulong uniqueId, CancellationToken cancellationToken)
    {
        long start = time.GetTimestamp();
        while (!cancellationToken.IsCancellationRequested && time.GetElapsedTime(start) < timeout)
        {
            IRigTransport? candidate = null;
            try
            {
                candidate = await open(cancellationToken).ConfigureAwait(false);
                if (candidate is not null)
                {
                    var probed = await RigSession.ProbeAsync(candidate, TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
                    if (probed?.UniqueId == uniqueId) return candidate;
                    RigLog.NotTheLostRig(logger, candidate.Name, probed?.UniqueId ?? 0);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is IOException or TimeoutException or UnauthorizedAccessException)
            {
                RigLog.ReconnectAttemptFailed(logger, e.Message);
            }

            if (candidate is not null) await candidate.DisposeAsync().ConfigureAwait(false);
            try
            {
                await Task.Delay(Pause, time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return null;
    }
}
