using Bench.Core.Instrument;
using Bench.Storage.Nwb;

namespace Bench.Storage.Tests;

/// <summary>Deterministic recordings for the NWB tests: every value is a function of its device sample index.</summary>
internal static class NwbTestData
{
    public const double RateHz = 20000;

    public const string ProtocolJson = """{"name":"paired pulse","unit":"nA","trains":[{"start_ms":25,"phase1_ms":1,"phase1_amplitude":2.5,"interval_ms":8,"count":2}]}""";

    public static readonly Calibration Calibration = new(0.0390987654321, -100.123456789);

    public static readonly NwbDevice Device = new("uno", "1.2.3", "1.0", 0x0123456789ABCDEF);

    public static short Count(ulong i) => (short)((i * 7) % 4096);

    public static float ModelMv(ulong i) => (float)(-70 + (i % 1000 * 0.01));

    public static float StimulusNanoamps(ulong i) => i is >= 500 and < 520 ? 2.5f : i is >= 660 and < 680 ? 1.5f : 0f;

    public static NwbRecording Recording(long samples, IReadOnlyList<NwbGap> gaps, IReadOnlyList<NwbStimulusEvent>? events = null) => new(
        Identifier: "bench-test-0001",
        SessionDescription: "Bench NWB writer test",
        StartTimeUtc: new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero).AddTicks(1234560),
        Device: Device,
        Calibration: Calibration,
        CalibrationSource: "two-point",
        SampleRateHz: RateHz,
        SampleCount: samples,
        ProtocolJson: ProtocolJson,
        Events: events ?? [],
        Gaps: gaps);

    /// <summary>Chunks of at most <paramref name="size"/> samples over the given runs of received samples [start, end).</summary>
    public static IEnumerable<SampleChunk> Chunks(IEnumerable<(ulong Start, ulong End)> runs, int size, bool model, bool stimulus)
    {
        foreach (var (start, end) in runs)
        {
            for (ulong first = start; first < end; first += (ulong)size)
            {
                int n = (int)Math.Min((ulong)size, end - first);
                var counts = new short[n];
                var mv = model ? new float[n] : [];
                var na = stimulus ? new float[n] : [];
                for (int i = 0; i < n; i++)
                {
                    ulong index = first + (ulong)i;
                    counts[i] = Count(index);
                    if (model) mv[i] = ModelMv(index);
                    if (stimulus) na[i] = StimulusNanoamps(index);
                }

                yield return new SampleChunk(first, counts, mv, na);
            }
        }
    }

    public static string TempDirectory()
    {
        string dir = Path.Combine(Path.GetTempPath(), "bench-storage-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
