using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Bench.Core.Models;
using Bench.Core.Instrument;

namespace Bench.Rig.Emulation;

/// <summary>
/// The preparation behind the reference firmware running under bench-sim: answers the harness's analog socket
/// (hardware/sim/README.md, protocol version 1) in lock step. The stimulus outputs the firmware drives (enable, the
/// MCP4822's channels A and B) set the current into a Bench.Core neuron model, which is stepped cycle-exactly between
/// output changes; each ADC conversion is answered with the membrane potential (plus seeded noise) seen through the
/// reference rig's front end, in millivolts at the ADC pin.
/// </summary>
/// <remarks>
/// The same model, area and noise as <see cref="EmulatedRig"/>, so a recording from the firmware and one from the
/// emulated rig show the same preparation (up to the 10-bit ADC of the Uno against the emulator's 12 bits).
/// </remarks>
public sealed class FirmwarePreparation
{
    /// <summary>Largest model step (ms): NEURON's default dt, so a 20 kHz sample period takes two steps.</summary>
    private const double MaxStepMs = 0.025;

    private readonly INeuronModel model;
    private readonly FrontEnd frontEnd;
    private readonly double noiseMv;
    private readonly double densityPerNanoamp;
    private readonly double nanoampsPerCode;
    private readonly double? seriesResistorMohm;
    private readonly Random random;
    private double clockHz = 16_000_000;
    private ulong modelCycle;
    private int enable, dacA, dacB;
    private readonly Queue<(ulong Cycle, int Signal, int Value)> pending = new();
    private readonly List<LoggedConversion>? conversionLog;
    private readonly Func<long, double>? waveform;

    /// <summary>Builds the preparation.</summary>
    /// <param name="modelName">A model of <see cref="ModelCatalog"/> (e.g. <c>hh</c>).</param>
    /// <param name="parameters">Parameter overrides (mismatch on purpose, for calibration and fitting to find).</param>
    /// <param name="seed">Seed of the noise.</param>
    /// <param name="noiseMv">Membrane-referred noise, standard deviation (mV).</param>
    /// <param name="preparationAreaUm2">Membrane area the current spreads over (µm²), as <see cref="EmulatorOptions.PreparationAreaUm2"/>.</param>
    /// <param name="nanoampsPerCode">Stimulus current per DAC code of A above B (the reference rig's Howland pump: 1 nA).</param>
    /// <param name="seriesResistorMohm">
    /// Null: the reference rig's stimulus path (D9 enables the Howland pump driven by the MCP4822). A value: any other
    /// Uno firmware (Firmata), whose digital pin D9 drives current into the preparation through this series resistor,
    /// I = (V_D9 − V_m) / R with V_D9 0 or 5 V (<see cref="Bench.Rig.Firmata.FirmataWiring"/>).
    /// </param>
    /// <param name="waveform">
    /// Null: the model answers every conversion. Otherwise the ADC pin's voltage (mV) for conversion number n (from 0):
    /// a known signal, for tests that check each value arrives.
    /// </param>
    /// <param name="logConversions">Keep every conversion's cycle, the 10-bit code it yields and when it was asked (<see cref="ConversionLog"/>).</param>
    public FirmwarePreparation(string modelName, IReadOnlyDictionary<string, double> parameters, int seed = 1, double noiseMv = 0.2,
        double preparationAreaUm2 = 1e6, double nanoampsPerCode = 1, double? seriesResistorMohm = null, Func<long, double>? waveform = null, bool logConversions = false)
    {
        this.waveform = waveform;
        conversionLog = logConversions ? [] : null;
        if (seriesResistorMohm is { } r && !(r > 0 && double.IsFinite(r))) throw new ArgumentOutOfRangeException(nameof(seriesResistorMohm), r, "the series resistor must be above 0 MΩ");
        this.seriesResistorMohm = seriesResistorMohm;
        model = ModelCatalog.Get(modelName).Create(parameters);
        frontEnd = FrontEnd.ReferenceRig;
        this.noiseMv = noiseMv;
        densityPerNanoamp = 1e5 / preparationAreaUm2;
        this.nanoampsPerCode = nanoampsPerCode;
        random = new Random(seed);
    }

    /// <summary>ADC conversions answered so far.</summary>
    public long Conversions { get; private set; }

    /// <summary>
    /// Every conversion answered (when asked for): its CPU cycle, the code the ATmega's ADC makes of the answer,
    /// floor(mV × 1024 / 5000) clamped to 0 … 1023, as the harness quantizes it, and this machine's time then. A copy,
    /// safe to read while serving.
    /// </summary>
    public IReadOnlyList<LoggedConversion> ConversionLog
    {
        get
        {
            if (conversionLog is null) return [];
            lock (conversionLog) return [.. conversionLog];
        }
    }

    /// <summary>The model's membrane potential now (mV), for tests.</summary>
    public double MembraneMv => model.VoltageMv;

    /// <summary>The stimulus current the outputs drive now (nA).</summary>
    public double CurrentNanoamps => seriesResistorMohm is { } r
        ? ((enable * Bench.Rig.Firmata.FirmataWiring.PinHighMv) - model.VoltageMv) / r   // mV / MΩ = nA
        : enable * (dacA - dacB) * nanoampsPerCode;

    /// <summary>
    /// Serves one harness connection until it closes or <paramref name="cancellationToken"/> ends it. Blocking: run it
    /// on its own thread, because the simulation waits for every answer (20,000 a second at 20 kHz).
    /// </summary>
    /// <exception cref="InvalidDataException">The harness spoke a protocol this does not know.</exception>
    public void Serve(Socket connection, CancellationToken cancellationToken)
    {
        using var registration = cancellationToken.Register(() => connection.Shutdown(SocketShutdown.Both));
        var input = new byte[1 << 16];
        var answer = new byte[64];
        int start = 0, end = 0;
        while (true)
        {
            int newline = input.AsSpan(start, end - start).IndexOf((byte)'\n');
            if (newline < 0)
            {
                if (start > 0)
                {
                    input.AsSpan(start, end - start).CopyTo(input);
                    end -= start;
                    start = 0;
                }

                if (end == input.Length) throw new InvalidDataException("analog socket: a line longer than 64 KB");
                int read;
                try
                {
                    read = connection.Receive(input, end, input.Length - end, SocketFlags.None);
                }
                catch (SocketException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }

                if (read == 0) return;   // the harness stopped
                end += read;
                continue;
            }

            var line = input.AsSpan(start, newline);
            start += newline + 1;
            if (line.StartsWith("adc "u8))
            {
                ulong cycle = ParseCycle(line[4..], out _);
                double pinMv = Convert(cycle);
                if (!Utf8Formatter.TryFormat(pinMv, answer, out int written, new StandardFormat('F', 4))) throw new InvalidOperationException("cannot format " + pinMv);
                answer[written++] = (byte)'\n';
                connection.Send(answer, 0, written, SocketFlags.None);
            }
            else if (line.StartsWith("out "u8))
            {
                ulong cycle = ParseCycle(line[4..], out int used);
                var rest = line[(4 + used + 1)..];
                int space = rest.IndexOf((byte)' ');
                if (space < 0 || !Utf8Parser.TryParse(rest[(space + 1)..], out int value, out _)) throw Bad(line);
                int signal = rest[..space] switch
                {
                    var s when s.SequenceEqual("enable"u8) => 0,
                    var s when s.SequenceEqual("dac_a"u8) => 1,
                    var s when s.SequenceEqual("dac_b"u8) => 2,
                    _ => -1,   // reset and anything newer: the membrane does not care
                };
                if (signal >= 0) pending.Enqueue((cycle, signal, value));
            }
            else if (line.StartsWith("hello "u8))
            {
                Hello(System.Text.Encoding.ASCII.GetString(line));
            }
            else
            {
                throw Bad(line);
            }
        }
    }

    private void Hello(string line)
    {
        var fields = line.Split(' ');
        if (fields.Length < 3 || fields[1] != "bench-sim" || fields[2] != "1") throw new InvalidDataException($"analog socket: expected 'hello bench-sim 1 ...', got '{line}'");
        foreach (var f in fields.AsSpan(3))
        {
            if (f.StartsWith("clock_hz=", StringComparison.Ordinal)) clockHz = double.Parse(f.AsSpan(9), CultureInfo.InvariantCulture);
        }
    }

    /// <summary>
    /// The ADC pin's voltage at <paramref name="cycle"/>: the model advanced to that instant, each output change taking
    /// effect at its own cycle (§ rules of the socket protocol: earlier changes have happened, later ones not yet).
    /// </summary>
    private double Convert(ulong cycle)
    {
        while (pending.Count > 0 && pending.Peek().Cycle < cycle)
        {
            var (at, signal, value) = pending.Dequeue();
            Advance(at);
            switch (signal)
            {
                case 0: enable = value; break;
                case 1: dacA = value; break;
                default: dacB = value; break;
            }
        }

        Advance(cycle);
        double pinMv = waveform is null
            ? (frontEnd.GainVoltsPerVolt * (model.VoltageMv + (noiseMv * Gaussian()))) + frontEnd.OffsetMv
            : waveform(Conversions);
        Conversions++;
        if (conversionLog is not null)
        {
            int code = (int)Math.Clamp(Math.Floor(pinMv * 1024 / 5000), 0, 1023);
            lock (conversionLog) conversionLog.Add(new LoggedConversion(cycle, code, Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency));
        }

        return pinMv;
    }

    private void Advance(ulong cycle)
    {
        if (cycle <= modelCycle) return;
        double spanMs = (cycle - modelCycle) * 1000.0 / clockHz;
        int steps = (int)Math.Ceiling(spanMs / MaxStepMs);
        double dtMs = spanMs / steps;
        if (seriesResistorMohm is null)
        {
            double stimulus = CurrentNanoamps * densityPerNanoamp;
            for (int i = 0; i < steps; i++) model.Step(stimulus, dtMs);
        }
        else
        {
            // Through a resistor the current follows the membrane potential: taken afresh at each step.
            for (int i = 0; i < steps; i++) model.Step(CurrentNanoamps * densityPerNanoamp, dtMs);
        }
        modelCycle = cycle;
    }

    private double Gaussian()
    {
        double u1 = 1 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    private static ulong ParseCycle(ReadOnlySpan<byte> text, out int used)
    {
        if (!Utf8Parser.TryParse(text, out ulong cycle, out used)) throw Bad(text);
        return cycle;
    }

    private static InvalidDataException Bad(ReadOnlySpan<byte> line) =>
        new($"analog socket: cannot read '{System.Text.Encoding.ASCII.GetString(line)}' (hardware/sim/README.md, protocol 1)");
}

/// <summary>One ADC conversion the simulated board asked for.</summary>
/// <param name="Cycle">The CPU cycle it was asked at (simulated time: 16,000 cycles a millisecond on an Uno).</param>
/// <param name="Code">The 10-bit code the ATmega's ADC makes of the answer.</param>
/// <param name="HostSeconds">This machine's monotonic clock when it was asked (s): simulated time falls behind it
/// whenever the machine deschedules the simulator, which a real board's clock never does.</param>
public readonly record struct LoggedConversion(ulong Cycle, int Code, double HostSeconds);
