using System.Globalization;

namespace Bench.Core.Instrument;

/// <summary>
/// What an input calibration (ADC counts → membrane mV) can be for a real front end, so a mistyped or absurd one is
/// refused when it is stored instead of corrupting every recording made with it. The rule: mV per count is a finite
/// positive number (the count rises with the potential), the ADC's whole range (2^bits counts) spans between
/// <see cref="MinSpanMv"/> and <see cref="MaxSpanMv"/> of membrane potential, and both ends of that range
/// (<c>offset_mv</c> and <c>offset_mv + span</c>) lie within ±<see cref="MaxAbsoluteMv"/>. The reference rig's front
/// end spans 160 mV (−100 … +60 mV), far inside these bounds; they only refuse what no amplifier in front of an ADC
/// can be.
/// </summary>
public static class CalibrationLimits
{
    /// <summary>The narrowest range a front end maps its ADC onto (mV): a gain that high would make the ADC's step meaningless.</summary>
    public const double MinSpanMv = 1;

    /// <summary>The widest range a front end maps its ADC onto (mV, i.e. 100 V).</summary>
    public const double MaxSpanMv = 100_000;

    /// <summary>The largest membrane-referred potential (mV) either end of the range may be.</summary>
    public const double MaxAbsoluteMv = 100_000;

    /// <summary>The ADC resolutions a rig can report (its samples are 16-bit codes).</summary>
    public const int MinAdcBits = 1, MaxAdcBits = 16;

    /// <summary>
    /// Why <paramref name="millivoltsPerCount"/> and <paramref name="offsetMv"/> cannot be the calibration of a front end
    /// on an ADC of <paramref name="adcBits"/> bits (null: of any ADC a rig can have, 1 to 16 bits); null when they can.
    /// The reason states the rule, so it can be shown as it is.
    /// </summary>
    public static string? Check(double millivoltsPerCount, double offsetMv, int? adcBits)
    {
        if (adcBits is { } b && (b < MinAdcBits || b > MaxAdcBits))
        {
            return string.Create(CultureInfo.InvariantCulture, $"the rig reports a {b}-bit ADC; a rig's ADC has {MinAdcBits} to {MaxAdcBits} bits");
        }

        if (!double.IsFinite(millivoltsPerCount) || !(millivoltsPerCount > 0))
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"mv_per_count must be a finite number above 0 (the count rises with the potential), not {millivoltsPerCount}");
        }

        if (!double.IsFinite(offsetMv)) return string.Create(CultureInfo.InvariantCulture, $"offset_mv must be a finite number, not {offsetMv}");
        // The span over the whole ADC range: with the ADC's own resolution, or the widest and narrowest a rig can have.
        double lowestSpan = millivoltsPerCount * Math.Pow(2, adcBits ?? MinAdcBits);
        double highestSpan = millivoltsPerCount * Math.Pow(2, adcBits ?? MaxAdcBits);
        string adc = adcBits is { } bits ? string.Create(CultureInfo.InvariantCulture, $"the {bits}-bit ADC's {1L << bits} counts") : "the ADC's range (1 to 16 bits)";
        if (highestSpan < MinSpanMv || lowestSpan > MaxSpanMv)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"mv_per_count {millivoltsPerCount} maps {adc} onto {(highestSpan < MinSpanMv ? highestSpan : lowestSpan):G4} mV: a front end maps it onto {MinSpanMv:G} mV to {MaxSpanMv:G} mV (100 V) of membrane potential; the reference rig maps 160 mV");
        }

        double top = offsetMv + (millivoltsPerCount * Math.Pow(2, adcBits ?? MinAdcBits));
        if (Math.Abs(offsetMv) > MaxAbsoluteMv || Math.Abs(top) > MaxAbsoluteMv)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"offset_mv {offsetMv} puts {adc} at {offsetMv:G6} … {top:G6} mV: both ends must lie within ±{MaxAbsoluteMv:G} mV (100 V); the reference rig's range is −100 … +60 mV");
        }

        return null;
    }

    /// <summary>Why <paramref name="calibration"/> cannot be a front end's on an ADC of <paramref name="adcBits"/> bits; null when it can.</summary>
    public static string? Check(Calibration calibration, int? adcBits)
    {
        ArgumentNullException.ThrowIfNull(calibration);
        return Check(calibration.MillivoltsPerCount, calibration.OffsetMv, adcBits);
    }
}
