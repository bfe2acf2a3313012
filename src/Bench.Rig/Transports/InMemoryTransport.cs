using System.IO.Pipelines;

namespace Bench.Rig.Transports;

/// <summary>Two ends of an in-memory byte stream, for tests and for running the emulated rig inside one process.</summary>
public sealed class InMemoryTransport : IRigTransport
{
    private readonly Pipe incoming;
    private readonly Pipe outgoing;

    private InMemoryTransport(string name, Pipe incoming, Pipe outgoing)
    {
        Name = name;
        this.incoming = incoming;
        this.outgoing = outgoing;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public PipeReader Input => incoming.Reader;

    /// <inheritdoc/>
    public PipeWriter Output => outgoing.Writer;

    /// <summary>A connected pair: what the host writes the device reads, and back.</summary>
    public static (InMemoryTransport Host, InMemoryTransport Device) CreatePair(string name = "memory")
    {
        // No back-pressure: like a real link's OS buffers, a writer never waits on a slow reader.
        var options = new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, useSynchronizationContext: false, pauseWriterThreshold: 0);
        var toDevice = new Pipe(options);
        var toHost = new Pipe(options);
        return (new InMemoryTransport(name, toHost, toDevice), new InMemoryTransport(name + ":device", toDevice, toHost));
    }

    /// <summary>
    /// Cuts the link from this end as a pulled cable would: the other end's reads fail with
    /// <see cref="RigDisconnectedException"/> and its writes find the link closed. (Each end completes only its own
    /// halves of the pipes: a pipe's reader and writer each belong to one side.)
    /// </summary>
    public void Disconnect()
    {
        var error = new RigDisconnectedException($"{Name} disconnected");
        outgoing.Writer.Complete(error);
        incoming.Reader.Complete(error);
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        Output.Complete();
        Input.Complete();
        return ValueTask.CompletedTask;
    }
}
