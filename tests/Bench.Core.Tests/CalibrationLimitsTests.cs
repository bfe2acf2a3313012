using Bench.Core.Instrument;

namespace Bench.Core.Tests;

public class CalibrationLimitsTests
{
    [Fact]
    public void Every_nominal_front_end_is_plausible()
    {
        Assert.Null(CalibrationLimits.Check(FrontEnd.ReferenceRig.Calibration, FrontEnd.ReferenceRig.AdcBits));
        Assert.Null(CalibrationLimits.Check(FrontEnd.Emulated.Calibration, FrontEnd.Emulated.AdcBits));
        Assert.Null(CalibrationLimits.Check(FrontEnd.Emulated.Calibration, null));
        // A high-gain front end (±1 mV onto a 16-bit ADC) and a ±50 V one are still front ends.
        Assert.Null(CalibrationLimits.Check(2.0 / 65536, -1, 16));
        Assert.Null(CalibrationLimits.Check(100_000.0 / 1024, -50_000, 10));
    }

    [Theory]
    [InlineData(1e308, 1e308, "mv_per_count")]
    [InlineData(double.NaN, -100, "finite number above 0")]
    [InlineData(double.PositiveInfinity, -100, "finite number above 0")]
    [InlineData(0, -100, "finite number above 0")]
    [InlineData(-0.0390625, 60, "above 0")]
    [InlineData(1e-9, -100, "1 mV to 100000 mV")]
    [InlineData(200, -100, "1 mV to 100000 mV")]
    [InlineData(0.0390625, 1e308, "±100000 mV")]
    [InlineData(0.0390625, double.NaN, "offset_mv must be a finite number")]
    [InlineData(0.0390625, 99_990, "±100000 mV")]
    public void An_absurd_calibration_is_refused_with_the_rule_stated(double mvPerCount, double offsetMv, string rule)
    {
        string? why = CalibrationLimits.Check(mvPerCount, offsetMv, 12);
        Assert.NotNull(why);
        Assert.Contains(rule, why);
    }

    [Fact]
    public void Without_the_ADC_the_rule_allows_any_resolution_a_rig_can_have()
    {
        // 2 mV per count is absurd on 16 bits (131 V) but plausible on 10 (2 V): unknown bits let it pass.
        Assert.Null(CalibrationLimits.Check(2, -100, null));
        Assert.Null(CalibrationLimits.Check(2, -100, 10));
        Assert.NotNull(CalibrationLimits.Check(2, -100, 16));
        Assert.NotNull(CalibrationLimits.Check(1e308, -100, null));
        Assert.Contains("1 to 16", CalibrationLimits.Check(1, 0, 40));
    }
}
