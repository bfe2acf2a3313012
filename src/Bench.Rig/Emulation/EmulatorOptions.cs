using System.Globalization;
using Bench.Core.Instrument;

namespace Bench.Rig.Emulation;

/// <summary>Faults the emulated rig injects on request.</summary>
/// <param name="DropProbability">Probability that an outgoing frame is lost (its sequence number is still used).</param>
/// <param name="CorruptProbability">Probability per outgoing byte that one of its bits flips.</param>
/// <param name="StallAtSeconds">Seconds of acquisition (device time since Start) after which the rig stops sending (NaN: never).</param>
/// <param name="StallSeconds">How long the stall lasts; samples pile up and overrun as on a real board.</param>
/// <param name="DisconnectAtSeconds">Seconds of acquisition after which the link drops, as a pulled cable (NaN: never).</param>
/// <param name="DisconnectSeconds">How long the rig stays away before it reappears (on a new port for --pty).</param>
/// <param name="DriftPpm">Device clock error: positive runs fast.</param>
public sealed record FaultOptions(
    double DropProbability = 0, double CorruptProbability = 0, double StallAtSeconds = double.NaN, double StallSeconds = 0,
    double DisconnectAtSeconds = double.NaN, double DisconnectSeconds = 1, double DriftPpm = 0)
{
    /// <summary>No faults.</summary>
    public static FaultOptions None { get; } = new();

    private static readonly string[] Keys = ["drop", "corrupt", "stall_at", "stall", "disconnect_at", "disconnect", "drift_ppm"];

    /// <summary>Parses <c>drop=0.01,corrupt=0.001,stall_at=5,stall=0.5,disconnect_at=3,disconnect=1,drift_ppm=200</c>.</summary>
    /// <exception cref="ArgumentException">An unknown key or a bad value; the message lists the keys.</exception>
    public static FaultOptions Parse(string? text)
    {
        var f = None;
        if (string.IsNullOrWhiteSpace(text)) return f;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || !double.TryParse(part.AsSpan(eq + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            {
                throw new ArgumentException($"--faults: '{part}' is not key=number; keys: {string.Join(", ", Keys)}");
            }

            string key = part[..eq];
            bool probability = key is "drop" or "corrupt";
            if ((probability && (v < 0 || v > 1)) || (!probability && key != "drift_ppm" && v < 0))
            {
                throw new ArgumentException($"--faults: {key}={v.ToString(CultureInfo.InvariantCulture)} is out of range ({(probability ? "0 to 1" : "not negative")})");
            }

            f = key switch
            {
                "drop" => f with { DropProbability = v },
                "corrupt" => f with { CorruptProbability = v },
                "stall_at" => f with { StallAtSeconds = v },
                "stall" => f with { StallSeconds = v },
                "disconnect_at" => f with { DisconnectAtSeconds = v },
                "disconnect" => f with { DisconnectSeconds = v },
                "drift_ppm" => f with { DriftPpm = v },
                _ => throw new ArgumentException($"--faults: unknown key '{key}'; keys: {string.Join(", ", Keys)}"),
            };
        }

        return f;
    }
}

/// <summary>How the emulated rig is built: its preparation, front end, link and identity.</summary>
public sealed record EmulatorOptions
{
    /// <summary>The preparation's neuron model (catalog name).</summary>
    public string Model { get; init; } = "hh";

    /// <summary>Parameter mismatch from the model's defaults, so calibration and fitting have something to find.</summary>
    public IReadOnlyDictionary<string, double> Parameters { get; init; } = new Dictionary<string, double>();

    /// <summary>Seed of the noise (and of the fault dice).</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Device time per host time: 1 is real time.</summary>
    public double Speed { get; init; } = 1;

    /// <summary>Link baud rate: the rig sends at most baud/10 bytes a second; 0 is unlimited.</summary>
    public int Baud { get; init; } = 1_000_000;

    /// <summary>The recording front end.</summary>
    public FrontEnd FrontEnd { get; init; } = FrontEnd.Emulated;

    /// <summary>Membrane-referred noise, standard deviation (mV).</summary>
    public double NoiseMv { get; init; } = 0.2;

    /// <summary>Membrane area the stimulus current spreads over (µm²): 10⁶ µm² makes 1 nA = 0.1 µA/cm².</summary>
    public double PreparationAreaUm2 { get; init; } = 1e6;

    /// <summary>Faults to inject.</summary>
    public FaultOptions Faults { get; init; } = FaultOptions.None;

    /// <summary>
    /// Samples the rig can hold while the link is slower than acquisition: 65,536 (3.3 s at 20 kHz) by default. A real
    /// rig is never descheduled; the emulator's thread is, on a busy machine, and a small buffer would turn that pause
    /// into loss no board would have. Set it smaller (4,096 is a Uno-class board's order) to study overruns.
    /// </summary>
    public int BufferCapacitySamples { get; init; } = DefaultBufferCapacitySamples;

    /// <summary>The default of <see cref="BufferCapacitySamples"/>.</summary>
    public const int DefaultBufferCapacitySamples = 65_536;

    /// <summary>The rig's maximum sample rate (Hz), as DeviceInfo announces it.</summary>
    public uint MaxSampleRateHz { get; init; } = 1_000_000;

    /// <summary>
    /// How often the device loop wakes (ms): it acquires every sample due and sends them in one write. 5 ms keeps a
    /// 20 kHz rig at a few hundred wake-ups a second on both sides of the link.
    /// </summary>
    public double TickMs { get; init; } = 5;

    /// <summary>The 64-bit identity; derived from the seed unless given.</summary>
    public ulong? UniqueId { get; init; }
}
