using Bench.Core.Comparison;
using Bench.Core.Protocol;
using Bench.Core.Instrument;
using CsCheck;

namespace Bench.Core.Tests.Comparison;

/// <summary>
/// Any protocol the rig accepts goes through the live comparison: long steps, pulses that overlap the spike, trains
/// that end mid-AP, APs at the window's edges. None may break it, and every AP it sees whole is measured on both traces.
/// </summary>
public sealed class RandomProtocolTests
{
    private static readonly DeviceInfo Emulated = new(1, 0, 1, 0, 0, "EMU", 1, 16_000_000, 100_000, 5000, 12, 1, 0, ProtocolLimits.MaxTrains, 500,
        [new OutputDescriptor(Unit: 1, DacBits: 12, MaxAmplitudeCode: 2047, Scale: 1, MaxPhaseUs: 1_000_000, MaxCharge: 500_000)]);

    /// <summary>Period of the rig's sample clock at 20 kHz (16 MHz / 800).</summary>
    private const uint PeriodTicks = 800;

    private static readonly Gen<StimulusTrain> Train =
        Gen.Select(Gen.Int[0, 3000], Gen.Int[-300, 300], Gen.Int[1, 20_000], Gen.Int[0, 100], Gen.Int[-150, 150], Gen.Int[0, 400], Gen.Int[1, 4], Gen.Int[0, 3000])
            .Select((delay, p1, p1n, gap, p2, p2n, count, rest) =>
            {
                int width = p1n + (p2n > 0 ? gap + p2n : 0);
                return new StimulusTrain((uint)delay, (short)p1, (ushort)p1n, (ushort)(p2n > 0 ? gap : 0), (short)(p2n > 0 ? p2 : 0), (ushort)p2n,
                    (uint)(width + rest), (ushort)count);
            });

    private static readonly Gen<StimulusCommand> Command = Train.List[1, 3].Select(trains => new StimulusCommand(1, 0, StimulusCommand.AtIndex, 400, trains));

    [Fact]
    public void Every_protocol_the_rig_accepts_is_compared_whole()
    {
        Command.Where(c => StimulusLimits.Check(c, Emulated, PeriodTicks) is null).Sample(command =>
        {
            ulong end = 400;
            foreach (var t in command.Trains) end += t.DelaySamples + ((ulong)t.PulseCount * t.IntervalSamples);
            int samples = (int)end + 1000;
            var rec = EmulatedRecording.Make(samples, command: command, blockSamples: 20);
            var c = LiveComparison.Create("hh", null, rec.Setup with { Stimulus = command });
            rec.Feed(c);
            var report = c.GetReport();
            Assert.Equal((ulong)samples, c.ComparedThrough);
            // The model is the preparation: every spike pairs, and every AP seen whole (15 ms after it) is measured on both.
            Assert.Equal(report.Update.WholeSpikes.SpikesRecorded, report.Update.WholeSpikes.SpikesModel);
            double lastMs = samples / EmulatedRecording.RateHz * 1000;
            foreach (var row in report.ActionPotentials.Where(r => r.RecordedSpikeMs < lastMs - 16))
            {
                Assert.NotNull(row.Recorded);
                Assert.NotNull(row.Model);
                var d = Assert.NotNull(row.Differences);
                Assert.True(Math.Abs(d.PeakMv) < 0.1 && Math.Abs(d.ThresholdMv) < 0.5, $"{d} in {Describe(command)}");
            }
        }, iter: 20, threads: 1);
    }

    [Theory]
    [InlineData(50, 80)]
    [InlineData(400, 40)]
    [InlineData(40, -80)]
    public void A_long_step_is_measured_and_breaks_nothing(int durationMs, int nanoamps)
    {
        // The step that took the live pipeline down (issue 15): 50 ms at 80 nA, and 400 ms, and a hyperpolarising one.
        int n = durationMs * 20;
        var command = new StimulusCommand(1, 0, StimulusCommand.AtIndex, 400, [new StimulusTrain(0, (short)nanoamps, (ushort)n, 0, 0, 0, (uint)n, 1)]);
        Assert.Null(StimulusLimits.Check(command, Emulated, PeriodTicks));
        var rec = EmulatedRecording.Make(400 + n + 2000, command: command, noiseMv: 0.2);
        var c = LiveComparison.Create("hh", null, rec.Setup with { Stimulus = command });
        rec.Feed(c);
        var report = c.GetReport();
        if (nanoamps > 0) Assert.NotEmpty(report.ActionPotentials);
        Assert.All(report.ActionPotentials, row =>
        {
            Assert.NotNull(row.Recorded);
            var d = Assert.NotNull(row.Differences);
            Assert.True(double.IsFinite(d.ThresholdMv) && double.IsFinite(d.HalfWidthMs), d.ToString());
        });
    }

    private static string Describe(StimulusCommand c) => string.Join("; ", c.Trains.Select(t =>
        $"delay {t.DelaySamples}, {t.Phase1Code}×{t.Phase1Samples} gap {t.InterphaseSamples} {t.Phase2Code}×{t.Phase2Samples}, every {t.IntervalSamples} ×{t.PulseCount}"));
}
