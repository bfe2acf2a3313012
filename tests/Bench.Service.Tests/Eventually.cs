namespace Bench.Service.Tests;

/// <summary>Waits for a condition instead of sleeping a fixed time: as fast as the machine allows, as slow as it needs.</summary>
internal static class Eventually
{
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan? timeout = null, string? what = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not true within {(timeout ?? TimeSpan.FromSeconds(20)).TotalSeconds} s: {what ?? "the condition"}");
            await Task.Delay(50);
        }
    }
}
