using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Bench.Service;

/// <summary>The triggered sweep's window around each stimulus onset (ms before and after it).</summary>
/// <param name="PreMs">Time shown before the onset.</param>
/// <param name="PostMs">Time shown after the onset; also the hold-off: a pulse inside a sweep starts no sweep of its own.</param>
public sealed record SweepWindow(double PreMs, double PostMs)
{
    /// <summary>The default: −5 ms … +45 ms, an action potential and its after-hyperpolarisation.</summary>
    public static SweepWindow Default { get; } = new(5, 45);

    /// <summary>The most time before the onset a sweep shows (ms).</summary>
    public const double MaxPreMs = 100;

    /// <summary>The most time after the onset a sweep shows (ms).</summary>
    public const double MaxPostMs = 1000;

    /// <summary>Throws <see cref="ArgumentException"/> naming the field and its range unless the window is one a sweep can show.</summary>
    public void Check()
    {
        if (!(PreMs >= 0 && PreMs <= MaxPreMs)) throw new ArgumentException($"pre_ms: {PreMs} is outside 0 … {MaxPreMs} ms");
        if (!(PostMs >= 1 && PostMs <= MaxPostMs)) throw new ArgumentException($"post_ms: {PostMs} is outside 1 … {MaxPostMs} ms");
    }
}

/// <summary>
/// Builds the page's triggered sweeps, as an oscilloscope does: each stimulus pulse (unless it falls inside the sweep
/// already running: the hold-off) starts a sweep of every sample from <see cref="SweepWindow.PreMs"/> before its onset
/// to <see cref="SweepWindow.PostMs"/> after it, at the rig's full rate, with the model's prediction for the same
/// samples. Samples and predictions go into two fixed rings (no allocation per sample); a sweep is written once, as
/// JSON, when both traces have passed its end (or the model is given up on). Used on the pipeline's pump only.
/// </summary>
internal sealed class SweepBuilder
{
    private const int MaxPending = 8;
    private readonly float[] recorded;
    private readonly float[] model;
    private readonly ulong mask;
    private readonly double rateHz;
    private readonly bool hasModel;
    private readonly List<Pending> pending = new(MaxPending);
    private readonly ArrayBufferWriter<byte> json = new(1 << 16);
    private ulong recordedEnd, modelEnd;
    private bool anyRecorded, anyModel;
    private ulong holdOffUntil;

    /// <param name="sampleRateHz">The rig's rate.</param>
    /// <param name="hasModel">Whether a model predicts the samples (else sweeps carry the rig's trace only).</param>
    public SweepBuilder(double sampleRateHz, bool hasModel)
    {
        rateHz = sampleRateHz;
        this.hasModel = hasModel;
        // The longest window, twice over (the model may lag the samples by a pulse's wait), as a power of two.
        ulong longest = (ulong)Math.Ceiling((SweepWindow.MaxPreMs + SweepWindow.MaxPostMs) * sampleRateHz / 1000);
        // At most 2²¹ samples a ring (8 MB each): at rates above ~1 MHz the longest windows are shortened to fit.
        ulong capacity = Math.Min(1UL << 21, System.Numerics.BitOperations.RoundUpToPowerOf2(Math.Max(1024, 2 * longest + 1)));
        mask = capacity - 1;
        recorded = new float[capacity];
        model = new float[capacity];
        Array.Fill(recorded, float.NaN);
        Array.Fill(model, float.NaN);
    }

    /// <summary>Sweeps waiting for their samples.</summary>
    public int PendingCount => pending.Count;

    /// <summary>Calibrated samples from session index <paramref name="first"/>; indices skipped since the last are lost (NaN).</summary>
    public void OnRecorded(ulong first, ReadOnlySpan<ushort> codes, Bench.Core.Instrument.Calibration calibration)
    {
        if (anyRecorded) Blank(recorded, recordedEnd, first);
        for (int i = 0; i < codes.Length; i++) recorded[(first + (ulong)i) & mask] = (float)calibration.ToMillivolts(codes[i]);
        recordedEnd = first + (ulong)codes.Length;
        anyRecorded = true;
    }

    /// <summary>The model's prediction from session index <paramref name="first"/> (NaN where it has none).</summary>
    public void OnModel(ulong first, ReadOnlySpan<double> mv)
    {
        if (anyModel) Blank(model, modelEnd, first);
        for (int i = 0; i < mv.Length; i++) model[(first + (ulong)i) & mask] = (float)mv[i];
        modelEnd = Math.Max(modelEnd, first + (ulong)mv.Length);
        anyModel = true;
    }

    private void Blank(float[] ring, ulong from, ulong to)
    {
        if (to <= from) return;
        ulong n = Math.Min(to - from, mask + 1);
        for (ulong k = 0; k < n; k++) ring[(to - n + k) & mask] = float.NaN;
    }

    /// <summary>
    /// A pulse as played: starts a sweep unless it falls inside the running one's window (then it is marked in it).
    /// </summary>
    public void OnPulse(ulong onsetIndex, SweepWindow window, StimulusMarker marker)
    {
        foreach (var p in pending)
        {
            if (onsetIndex >= p.First && onsetIndex < p.End) p.Pulses.Add((onsetIndex, marker));
        }

        if (onsetIndex < holdOffUntil) return;
        ulong half = (mask + 1) / 2;
        ulong pre = Math.Min(half / 4, (ulong)Math.Round(window.PreMs * rateHz / 1000));
        ulong post = Math.Clamp((ulong)Math.Round(window.PostMs * rateHz / 1000), 1, half - pre);
        holdOffUntil = onsetIndex + post;
        if (pending.Count == MaxPending) pending.RemoveAt(0);   // a viewer cannot take sweeps faster than the rig makes them
        var sweep = new Pending(onsetIndex, onsetIndex >= pre ? onsetIndex - pre : 0, onsetIndex + post, marker, window);
        sweep.Pulses.Add((onsetIndex, marker));
        pending.Add(sweep);
    }

    /// <summary>
    /// Writes each sweep whose samples are all in (and the model's, or it gave up waiting for them: it lags at most
    /// a pulse's wait), oldest first; <paramref name="publish"/> gets its JSON.
    /// </summary>
    public void Complete(Action<string> publish)
    {
        // The model waits at a pulse for the pulse's report, at most a quarter of a second; then the sweep goes without it.
        ulong modelPatience = (ulong)(0.5 * rateHz);
        while (pending.Count > 0)
        {
            var p = pending[0];
            if (recordedEnd < p.End) return;
            if (hasModel && modelEnd < p.End && recordedEnd < p.End + modelPatience) return;
            pending.RemoveAt(0);
            // Samples the rings no longer hold (a sweep kept waiting longer than they reach back) are not sent.
            if (recordedEnd - p.First > mask) continue;
            publish(Write(p));
        }
    }

    private string Write(Pending p)
    {
        json.ResetWrittenCount();
        using (var w = new Utf8JsonWriter(json))
        {
            double dtMs = 1000 / rateHz;
            w.WriteStartObject();
            w.WriteNumber("onset_index", p.Onset);
            w.WriteNumber("onset_ms", Math.Round(p.Onset * dtMs, 3));
            w.WriteNumber("first_index", p.First);
            w.WriteNumber("dt_ms", dtMs);
            w.WriteNumber("pre_ms", p.Window.PreMs);
            w.WriteNumber("post_ms", p.Window.PostMs);
            w.WriteString("protocol", p.Marker.Protocol);
            w.WriteStartArray("pulses");
            foreach (var (onset, m) in p.Pulses)
            {
                w.WriteStartObject();
                w.WriteNumber("t_ms", Math.Round((onset - (double)p.Onset) * dtMs, 4));
                w.WriteNumber("train", m.Train);
                w.WriteNumber("pulse", m.Pulse);
                w.WriteNumber("phase1_nA", m.Phase1Nanoamps);
                w.WriteNumber("phase1_ms", m.Phase1Ms);
                w.WriteNumber("phase2_nA", m.Phase2Nanoamps);
                w.WriteNumber("phase2_ms", m.Phase2Ms);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            Series(w, "recorded_mv", recorded, p, recordedEnd);
            if (hasModel) Series(w, "model_mv", model, p, modelEnd);
            else w.WriteNull("model_mv");
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(json.WrittenSpan);
    }

    private void Series(Utf8JsonWriter w, string name, float[] ring, Pending p, ulong written)
    {
        w.WriteStartArray(name);
        for (ulong i = p.First; i < p.End; i++)
        {
            // Past what was written, the ring still holds an older lap's values.
            float v = i < written ? ring[i & mask] : float.NaN;
            // 0.01 mV: finer than any rig's ADC step (0.16 mV on the reference front end).
            if (float.IsFinite(v)) w.WriteNumberValue(Math.Round(v, 2));
            else w.WriteNullValue();
        }

        w.WriteEndArray();
    }

    private sealed class Pending(ulong onset, ulong first, ulong end, StimulusMarker marker, SweepWindow window)
    {
        public ulong Onset { get; } = onset;

        public ulong First { get; } = first;

        public ulong End { get; } = end;

        public StimulusMarker Marker { get; } = marker;

        public SweepWindow Window { get; } = window;

        public List<(ulong Onset, StimulusMarker Marker)> Pulses { get; } = new(4);
    }
}
