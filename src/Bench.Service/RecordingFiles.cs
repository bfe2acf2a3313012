namespace Bench.Service;

/// <summary>
/// The recordings whose files are in use in this process, by the full path of their NWB file: a recording holds its
/// name from its start until its stop has written and catalogued the file, and a delete holds it while it removes the
/// files. So a delete never pulls the journal from under a stop that is converting it: it waits for the stop (or is
/// refused while the recording is still running), and a recording cannot start under a name being deleted.
/// </summary>
internal static class RecordingFiles
{
    private static readonly Dictionary<string, Use> InUse = new(StringComparer.Ordinal);
    private static readonly Dictionary<string, int> Waiting = new(StringComparer.Ordinal);

    /// <summary>A hold on a recording's files, released by <see cref="Dispose"/>.</summary>
    internal sealed class Use(string path, bool deleting) : IDisposable
    {
        private readonly TaskCompletionSource released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>True for a delete, false for a recording (running or being stopped).</summary>
        public bool Deleting => deleting;

        /// <summary>Completes when the hold is released.</summary>
        public Task Released => released.Task;

        /// <summary>Releases the hold.</summary>
        public void Dispose()
        {
            lock (InUse)
            {
                if (InUse.TryGetValue(path, out var current) && ReferenceEquals(current, this)) InUse.Remove(path);
            }

            released.TrySetResult();
        }
    }

    /// <summary>Holds <paramref name="nwbPath"/> for a new recording.</summary>
    /// <exception cref="InvalidOperationException">Its files are in use (being recorded, stopped or deleted).</exception>
    public static Use Claim(string nwbPath, string name)
    {
        lock (InUse)
        {
            if (InUse.TryGetValue(nwbPath, out var other))
            {
                throw new InvalidOperationException(other.Deleting
                    ? $"the recording '{name}' is being deleted: choose another name or try again"
                    : $"a recording named '{name}' exists: choose another name or delete it first");
            }

            var use = new Use(nwbPath, deleting: false);
            InUse.Add(nwbPath, use);
            return use;
        }
    }

    /// <summary>
    /// Holds <paramref name="nwbPath"/> for a delete: at once if nothing uses it; after the stop (or delete) that holds
    /// it has finished, waiting up to <paramref name="wait"/>.
    /// </summary>
    /// <param name="nwbPath">The recording's NWB file (full path).</param>
    /// <param name="name">The recording's name, for the messages.</param>
    /// <param name="isRecording">True while the recording is still running (not yet being stopped): then waiting would not end, so the delete is refused.</param>
    /// <param name="wait">How long to wait for a stop in progress.</param>
    /// <param name="cancellationToken">Ends the wait (the request went away).</param>
    /// <exception cref="InvalidOperationException">The recording is running, or its stop did not finish in <paramref name="wait"/>.</exception>
    public static async Task<Use> ClaimForDeleteAsync(string nwbPath, string name, Func<bool> isRecording, TimeSpan wait, CancellationToken cancellationToken)
    {
        while (true)
        {
            Use? holder;
            lock (InUse)
            {
                if (!InUse.TryGetValue(nwbPath, out holder))
                {
                    var use = new Use(nwbPath, deleting: true);
                    InUse.Add(nwbPath, use);
                    return use;
                }
            }

            if (!holder.Deleting && isRecording()) throw new InvalidOperationException($"'{name}' is being recorded: stop it first (POST /api/recordings/stop)");
            lock (InUse) Waiting[nwbPath] = Waiting.GetValueOrDefault(nwbPath) + 1;
            try
            {
                await holder.Released.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new InvalidOperationException($"'{name}' is being stopped and its NWB file written: try again when the stop has finished");
            }
            finally
            {
                lock (InUse)
                {
                    if (--Waiting[nwbPath] == 0) Waiting.Remove(nwbPath);
                }
            }
        }
    }

    /// <summary>How many deletes wait for <paramref name="nwbPath"/> (for tests).</summary>
    internal static int WaitingFor(string nwbPath)
    {
        lock (InUse) return Waiting.GetValueOrDefault(nwbPath);
    }
}
