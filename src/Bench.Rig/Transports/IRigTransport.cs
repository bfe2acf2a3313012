using System.IO.Pipelines;

namespace Bench.Rig.Transports;

/// <summary>A byte stream to and from a rig: what the frame codec reads and writes.</summary>
public interface IRigTransport : IAsyncDisposable
{
    /// <summary>Where it is connected, e.g. "/dev/ttyACM0", "tcp://127.0.0.1:7000", "usb:1209:0001:0123456789ABCDEF".</summary>
    string Name { get; }

    /// <summary>Bytes from the device. Completes (with an exception) when the device disconnects.</summary>
    PipeReader Input { get; }

    /// <summary>Bytes to the device.</summary>
    PipeWriter Output { get; }

    /// <summary>
    /// How long the device needs after this transport opened it before it can answer: an Uno-class board resets when a
    /// serial port asserts DTR and runs its bootloader first. Zero for links that do not reset the device.
    /// </summary>
    TimeSpan ResetDelay => TimeSpan.Zero;
}

/// <summary>The device went away (cable pulled, port vanished).</summary>
public sealed class RigDisconnectedException : IOException
{
    /// <summary>Creates the exception.</summary>
    public RigDisconnectedException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RigDisconnectedException()
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public RigDisconnectedException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
