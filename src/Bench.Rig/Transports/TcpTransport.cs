using System.Net.Sockets;

namespace Bench.Rig.Transports;

/// <summary>A rig over TCP: the emulated rig, or a real rig behind a network bridge.</summary>
public sealed class TcpTransport : StreamTransport
{
    private readonly TcpClient client;

    private TcpTransport(TcpClient client, string name) : base(client.GetStream(), name, ownsStream: true)
    {
        this.client = client;
    }

    /// <summary>Connects to <paramref name="host"/>:<paramref name="port"/>.</summary>
    /// <exception cref="RigConnectionException">Nothing listens there, or the name does not resolve.</exception>
    public static async Task<TcpTransport> ConnectAsync(string host, int port, CancellationToken cancellationToken = default)
    {
        var client = new TcpClient { NoDelay = true };
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            await client.ConnectAsync(host, port, timeout.Token).ConfigureAwait(false);
            return new TcpTransport(client, $"tcp://{host}:{port}");
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            client.Dispose();
            throw new RigConnectionException($"cannot connect to tcp://{host}:{port}: {(e is OperationCanceledException ? "no answer within 5 s" : e.Message)}; is the rig (or `bench emulate --tcp`) running?", e);
        }
    }

    /// <inheritdoc/>
    protected override async ValueTask DisposeStreamAsync()
    {
        await base.DisposeStreamAsync().ConfigureAwait(false);
        client.Dispose();
    }
}

/// <summary>A connection could not be made; the message names the problem and the fix.</summary>
public sealed class RigConnectionException : IOException
{
    /// <summary>Creates the exception.</summary>
    public RigConnectionException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RigConnectionException()
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public RigConnectionException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
