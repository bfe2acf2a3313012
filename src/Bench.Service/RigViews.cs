using System.Globalization;
using Bench.Core.Protocol;
using Bench.Core.Instrument;
using Bench.Rig.Emulation;
using Bench.Rig.Session;

namespace Bench.Service;

/// <summary>A recording could not be written out; the message says why and where its journal is kept.</summary>
public sealed class RecordingFailedException : IOException
{
    /// <summary>Creates the exception.</summary>
    public RecordingFailedException(string message, Exception inner) : base(message, inner)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RecordingFailedException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public RecordingFailedException(string message) : base(message)
    {
    }
}

/// <summary>A pulse as played, for the page's markers: onset (ms of session time), its protocol, and its phases.</summary>
public sealed record StimulusMarker(double OnsetMs, string Protocol, int Train, int Pulse,
    [property: System.Text.Json.Serialization.JsonPropertyName("phase1_nA")] double Phase1Nanoamps, double Phase1Ms,
    [property: System.Text.Json.Serialization.JsonPropertyName("phase2_nA")] double Phase2Nanoamps, double Phase2Ms);

/// <summary>The rig's state: <c>disconnected</c>, <c>connected</c> or <c>lost</c>, and what is known about it.</summary>
public sealed record RigStatus(string State, string? Address, DeviceView? Device, CalibrationView? Calibration, double SampleRateHz, HealthView? Health, RecordingInfo? Recording, string? Error)
{
    /// <summary>The last recording stopped (by request, or early: a full disk, a rig lost for good), until the next starts.</summary>
    public RecordingInfo? LastRecording { get; init; }

    /// <summary>The practical step running its trials on the rig, if any (the page's own stimuli wait for it).</summary>
    public string? Practical { get; init; }
}

/// <summary>A rig's identity for the API.</summary>
public sealed record DeviceView(string Board, string UniqueId, string Firmware, string Protocol, uint MaxSampleRateHz, int AdcBits)
{
    /// <summary>For a rig whose pulses the host times (a Firmata board): what that means for timing, for people; else null.</summary>
    public string? Timing { get; init; }

    /// <summary>From the rig's DeviceInfo.</summary>
    public static DeviceView From(DeviceInfo d) => new(d.Board, d.UniqueId.ToString("x16", CultureInfo.InvariantCulture),
        $"{d.FirmwareMajor}.{d.FirmwareMinor}.{d.FirmwarePatch}", $"{d.ProtocolMajor}.{d.ProtocolMinor}", d.MaxSampleRateHz, d.AdcBits);
}

/// <summary>ADC counts → mV in use, where it came from, and the stimulus output's nA per DAC code in use.</summary>
public sealed record CalibrationView(double MvPerCount, double OffsetMv, string Source, double? NanoampsPerCode)
{
    /// <summary>From a calibration.</summary>
    public static CalibrationView From(Calibration c, string source, double? nanoampsPerCode) => new(c.MillivoltsPerCount, c.OffsetMv, source, nanoampsPerCode);
}

/// <summary>Link health for the page.</summary>
public sealed record HealthView(ulong SamplesReceived, long Gaps, ulong LostSamples, long CrcErrors, long FramingErrors, long FramesLost, long DeviceOverruns, double? DriftPpm)
{
    internal static HealthView From(RigHealth h, RigHost.Connection c) =>
        new(c.SamplesReceived, h.Gaps, h.LostSamples, h.CrcErrors, h.FramingErrors, h.FramesLost, h.DeviceOverruns, c.Rig.Session.Clock is { IsFitted: true } clock ? Math.Round(clock.DriftPpm, 1) : null);
}

/// <summary>Everything the service is started with.</summary>
public sealed record ServiceOptions
{
    /// <summary>Where recordings and the catalog live.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>The rig to connect at start (<see cref="RigHost.EmulatedAddress"/> by default; null: none).</summary>
    public string? Rig { get; init; } = RigHost.EmulatedAddress;

    /// <summary>The sample rate to acquire at (Hz).</summary>
    public double SampleRateHz { get; init; } = 20_000;

    /// <summary>The embedded emulated rig.</summary>
    public EmulatorOptions Emulator { get; init; } = new();

    /// <summary>The model the recording is compared with (null: no comparison).</summary>
    public string? Model { get; init; } = "hh";

    /// <summary>Parameter overrides of the comparison's model.</summary>
    public IReadOnlyDictionary<string, double> ModelParameters { get; init; } = new Dictionary<string, double>();

    /// <summary>The API token (null: none needed, only allowed on loopback).</summary>
    public string? Token { get; init; }

    /// <summary>How long a rig that dropped off is looked for again before its recording ends.</summary>
    public TimeSpan ReconnectTimeout { get; init; } = TimeSpan.FromSeconds(30);
}
