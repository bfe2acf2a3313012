using PureHDF.VOL.Native;

namespace Bench.Storage.Nwb;

/// <summary>
/// A PureHDF writing chunk cache for datasets written front to back. PureHDF's default cache
/// (<see cref="SimpleWritingChunkCache"/>) keeps every chunk until the file is closed, which would hold a whole
/// recording in memory; here a chunk is compressed and written out as soon as a later chunk is asked for, so at most
/// one chunk per dataset is held.
/// </summary>
/// <remarks>
/// PureHDF can write each chunk only once, so a chunk that has been written out must never be asked for again: the
/// writer only ever moves forward, and a request that goes back throws rather than silently writing a zero-filled
/// chunk over the data.
/// </remarks>
internal sealed class SequentialChunkCache : IWritingChunkCache
{
    private readonly SortedDictionary<ulong, (Memory<byte> Chunk, Action<ulong, Memory<byte>> Writer)> open = new();
    private ulong writtenBelow;

    /// <inheritdoc />
    public Memory<byte> GetChunk(ulong chunkIndex, Func<Memory<byte>> chunkAllocator, Action<ulong, Memory<byte>> chunkWriter)
    {
        if (open.TryGetValue(chunkIndex, out var entry)) return entry.Chunk;
        if (chunkIndex < writtenBelow)
        {
            throw new InvalidOperationException($"HDF5 chunk {chunkIndex} was already written out; samples must be written in order");
        }

        // Every chunk before this one is complete. Each was handed over with its own writer: PureHDF's writer closes
        // over the chunk's coordinates, so it must be the one that writes that chunk.
        while (open.Count > 0)
        {
            var first = open.First();
            if (first.Key >= chunkIndex) break;
            first.Value.Writer(first.Key, first.Value.Chunk);
            open.Remove(first.Key);
        }

        writtenBelow = chunkIndex;
        var chunk = chunkAllocator();
        open[chunkIndex] = (chunk, chunkWriter);
        return chunk;
    }

    /// <inheritdoc />
    public void Flush(Action<ulong, Memory<byte>> chunkWriter)
    {
        foreach (var (index, entry) in open) chunkWriter(index, entry.Chunk);
        open.Clear();
    }
}
