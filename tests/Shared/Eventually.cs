using System.Diagnostics;

namespace Bench.Tests;

/// <summary>
/// Waits for a condition instead of sleeping for a guessed time: polls it (quickly at first, then every 50 ms) until
/// it holds, and fails only after a generous deadline that a loaded machine still meets. A test that used to sleep
/// 300 ms "to be sure" now waits exactly as long as the thing it needs takes, and no longer.
/// </summary>
internal static class Eventually
{
    /// <summary>The deadline when none is given: long enough for a busy 2-core machine, short enough to end a hung test.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Waits until <paramref name="condition"/> holds.</summary>
    /// <param name="condition">What must become true.</param>
    /// <param name="what">What is awaited, for the failure message.</param>
    /// <param name="timeout">The deadline (<see cref="DefaultTimeout"/> by default).</param>
    public static Task True(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        True(() => Task.FromResult(condition()), what, timeout);

    /// <summary>Waits until the asynchronous <paramref name="condition"/> holds (e.g. an HTTP poll).</summary>
    public static async Task True(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultTimeout;
        // The deadline is real time on purpose: it only ends a test that would otherwise hang.
        var watch = Stopwatch.StartNew();
        Exception? lastError = null;
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                if (await condition()) return;
                lastError = null;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A probe of a state still changing can throw (a 404 before the first figures, a key not there yet,
                // a connection being replaced): that is "not yet", and the last such error is told at the deadline.
                lastError = e;
            }

            if (watch.Elapsed > limit)
                throw new Xunit.Sdk.XunitException($"{what}: not so after {limit.TotalSeconds:0} s" + (lastError is null ? "" : $"; the last check failed: {lastError.Message}"));
            await Task.Delay(Math.Min(50, 1 << Math.Min(attempt, 6)));
        }
    }

    /// <summary>Waits until the asynchronous <paramref name="condition"/> holds (the service tests' form: deadline first).</summary>
    public static Task TrueAsync(Func<Task<bool>> condition, TimeSpan? timeout = null, string? what = null) =>
        True(condition, what ?? "the condition", timeout);

    /// <summary>Reads <paramref name="get"/> until <paramref name="ok"/> accepts it, and returns that value.</summary>
    public static async Task<T> Value<T>(Func<Task<T>> get, Func<T, bool> ok, string what, TimeSpan? timeout = null)
    {
        T value = default!;
        try
        {
            await True(async () => ok(value = await get()), what, timeout);
        }
        catch (Xunit.Sdk.XunitException e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}; last seen: {value}");
        }

        return value;
    }
}
