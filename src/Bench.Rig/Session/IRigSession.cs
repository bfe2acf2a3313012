using System.Threading.Channels;
using Bench.Core.Protocol;
using Bench.Core.Stimulus;

namespace Bench.Rig.Session;

/// <summary>
/// A connected rig as everything above the rig layer sees it: what it is, its sample clock, the sample and event
/// channels, acquisition and stimulus control. <see cref="RigSession"/> speaks Bench's wire protocol to a Bench rig;
/// <see cref="Firmata.FirmataSession"/> drives a stock Arduino running Firmata. Disposal stops stimulation first.
/// </summary>
public interface IRigSession : IAsyncDisposable
{
    /// <summary>The rig, as it described itself (a Firmata board: as Bench describes it, <see cref="Firmata.FirmataSession"/>).</summary>
    DeviceInfo Device { get; }

    /// <summary>Where the rig is connected now.</summary>
    string PortName { get; }

    /// <summary>The sample period in the rig's clock ticks (<see cref="DeviceInfo.ClockHz"/>), after configuration.</summary>
    uint PeriodTicks { get; }

    /// <summary>The sample rate (Hz) the rig was configured to.</summary>
    double SampleRateHz { get; }

    /// <summary>How exactly the rig times its samples and its stimuli.</summary>
    RigTiming Timing { get; }

    /// <summary>Every sample batch, in order, nothing dropped (recording, comparison).</summary>
    ChannelReader<SampleBatch> Samples { get; }

    /// <summary>Recent sample batches for viewers; a slow viewer loses old ones, never stalls acquisition.</summary>
    ChannelReader<SampleBatch> Preview { get; }

    /// <summary>Gaps, pulses played, status, disconnects, reconnects.</summary>
    ChannelReader<RigEvent> Events { get; }

    /// <summary>The rig's sample clock fitted against the host's (null until enough samples arrived).</summary>
    ClockFit? Clock { get; }

    /// <summary>Host seconds since the session was created (the time base of batches and events).</summary>
    double HostSeconds { get; }

    /// <summary>The session sample index the next sample will have.</summary>
    ulong NextSampleIndex { get; }

    /// <summary>Whether acquisition is running.</summary>
    bool IsRunning { get; }

    /// <summary>Whether the link is up.</summary>
    bool IsConnected { get; }

    /// <summary>Counters of what went wrong and what arrived.</summary>
    RigHealth Health { get; }

    /// <summary>Command round trips (ms) measured so far (empty where the rig has none to measure).</summary>
    IReadOnlyList<double> RoundTripsMs { get; }

    /// <summary>Sets the sample rate.</summary>
    /// <exception cref="ArgumentException">The rig cannot sample at that rate; the message says what it can.</exception>
    Task ConfigureAsync(double sampleRateHz, CancellationToken cancellationToken = default);

    /// <summary>Starts acquisition; the rig's sample index restarts at 0 (the session's keeps counting).</summary>
    Task StartAsync(CancellationToken cancellationToken = default);

    /// <summary>Stops acquisition and all stimuli.</summary>
    Task StopAsync(CancellationToken cancellationToken = default);

    /// <summary>Every output to zero now.</summary>
    Task StopAllAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Plays <paramref name="protocol"/> (in nA) on an output from the rig's sample index
    /// <paramref name="atDeviceSampleIndex"/>, or as soon as possible; returns the command as the rig plays it.
    /// </summary>
    /// <exception cref="StimulusProtocolException">The protocol cannot be played on this rig; nothing was played. The message says why.</exception>
    Task<StimulusCommand> PlayAsync(StimulusProtocol protocol, int output = 0, ulong? atDeviceSampleIndex = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Checks <paramref name="protocol"/> against everything this rig can honour, without playing it, and returns the
    /// command it would play (starting as soon as possible).
    /// </summary>
    /// <exception cref="StimulusProtocolException">It cannot be played on this rig; the message says why.</exception>
    StimulusCommand CheckStimulus(StimulusProtocol protocol, int output = 0);

    /// <summary>The nA per output code of an output: its calibration when one is in use, else the nominal step.</summary>
    double NanoampsPerCode(int output);

    /// <summary>Uses a measured nA per code for <paramref name="output"/> from now on.</summary>
    /// <exception cref="ArgumentException">No such output, or a step that is not a positive number.</exception>
    void UseOutputCalibration(int output, double nanoampsPerCode);

    /// <summary>The session sample index of device sample <paramref name="deviceIndex"/> in the current run.</summary>
    ulong ToSessionIndex(ulong deviceIndex);
}

/// <summary>How exactly a rig times its samples and stimuli, for people and for the recording's metadata.</summary>
/// <param name="SampleTimeUncertaintyMs">How far a sample's true instant may be from index ÷ rate (ms); 0 for a crystal-timed rig.</param>
/// <param name="StimulusTimeUncertaintyMs">How far a pulse edge may be from where it is recorded on the sample clock (ms).</param>
/// <param name="StimulusHostTimed">True when the host times the pulses (a Firmata board), false when the rig does.</param>
/// <param name="Description">One sentence: what times what, and what that means for the data.</param>
public sealed record RigTiming(double SampleTimeUncertaintyMs, double StimulusTimeUncertaintyMs, bool StimulusHostTimed, string Description)
{
    /// <summary>The shortest phase, and gap between pulses, the rig can honour (ms); 0 for a rig that times pulses to the sample.</summary>
    public double MinimumPhaseMs { get; init; }

    /// <summary>True when the rig can play biphasic and negative pulses (a Bench rig's DAC); false for an on/off pin.</summary>
    public bool BipolarPulses { get; init; } = true;

    /// <summary>A Bench rig: samples and pulse edges on the board's crystal-timed sample clock.</summary>
    public static RigTiming BenchRig { get; } = new(0, 0, false,
        "samples and pulse edges are timed by the rig's crystal on one sample clock; pulse edges fall exactly on sample boundaries");
}
