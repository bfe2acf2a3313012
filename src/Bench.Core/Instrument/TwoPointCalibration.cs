using System.Globalization;

namespace Bench.Core.Instrument;

/// <summary>A stimulus output's conversion: I = <see cref="NanoampsPerCode"/>·code + <see cref="OffsetNanoamps"/>.</summary>
/// <param name="NanoampsPerCode">Current per DAC code (nA).</param>
/// <param name="OffsetNanoamps">Current at code 0 (nA).</param>
public sealed record OutputCalibration(double NanoampsPerCode, double OffsetNanoamps)
{
    /// <summary>The current a code drives.</summary>
    public double ToNanoamps(double code) => (NanoampsPerCode * code) + OffsetNanoamps;

    /// <summary>The (fractional) code that drives <paramref name="nanoamps"/>.</summary>
    public double ToCode(double nanoamps) => (nanoamps - OffsetNanoamps) / NanoampsPerCode;
}

/// <summary>
/// Two-point calibration from known references: two reference potentials applied at the input (a calibrator or a
/// divider) and the mean ADC counts read at each give mV per count and the offset; two DAC codes and the currents
/// measured at the output (through a known resistor) give nA per code. Pure; a store keeps the result per rig.
/// </summary>
public static class TwoPointCalibration
{
    /// <summary>The input calibration from two reference potentials and the mean counts read at each.</summary>
    /// <param name="referenceMv1">First reference (membrane-referred mV).</param>
    /// <param name="meanCounts1">Mean ADC counts read with it applied.</param>
    /// <param name="referenceMv2">Second reference.</param>
    /// <param name="meanCounts2">Mean counts read with it.</param>
    /// <param name="maxCode">The ADC's largest code (2^bits − 1): a reading at either rail is refused (saturated). 0: not checked.</param>
    /// <param name="minimumSeparationCounts">The readings must differ by at least this many counts, or quantisation dominates the gain.</param>
    /// <exception cref="ArgumentException">Degenerate or saturated references; the message says which and what to do.</exception>
    public static Calibration ForInput(double referenceMv1, double meanCounts1, double referenceMv2, double meanCounts2, int maxCode = 0, double minimumSeparationCounts = 20)
    {
        if (!double.IsFinite(referenceMv1) || !double.IsFinite(referenceMv2) || !double.IsFinite(meanCounts1) || !double.IsFinite(meanCounts2))
        {
            throw new ArgumentException("two-point calibration: every reference and reading must be a number");
        }

        if (maxCode > 0)
        {
            foreach (double c in (ReadOnlySpan<double>)[meanCounts1, meanCounts2])
            {
                if (c <= 0.5 || c >= maxCode - 0.5)
                {
                    throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                        $"two-point calibration: a reading of {c:0.##} counts is at the ADC's rail (0 … {maxCode}): the input is saturated; use references inside the front end's range"));
                }
            }
        }

        if (Math.Abs(referenceMv2 - referenceMv1) < 1e-9)
        {
            throw new ArgumentException("two-point calibration: the two references are the same potential; apply two different ones (e.g. −80 and +20 mV)");
        }

        if (Math.Abs(meanCounts2 - meanCounts1) < minimumSeparationCounts)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"two-point calibration: the readings {meanCounts1:0.##} and {meanCounts2:0.##} counts differ by less than {minimumSeparationCounts} counts: is the reference connected? Use references further apart"));
        }

        double mvPerCount = (referenceMv2 - referenceMv1) / (meanCounts2 - meanCounts1);
        return new Calibration(mvPerCount, referenceMv1 - (mvPerCount * meanCounts1));
    }

    /// <summary>The output calibration from two DAC codes and the currents measured while each was held.</summary>
    /// <exception cref="ArgumentException">The same code twice, or currents that do not change; the message says which.</exception>
    public static OutputCalibration ForOutput(short code1, double measuredNanoamps1, short code2, double measuredNanoamps2)
    {
        if (!double.IsFinite(measuredNanoamps1) || !double.IsFinite(measuredNanoamps2)) throw new ArgumentException("two-point output calibration: the measured currents must be numbers");
        if (code1 == code2) throw new ArgumentException("two-point output calibration: drive two different codes (e.g. −1000 and +1000)");
        double perCode = (measuredNanoamps2 - measuredNanoamps1) / (code2 - code1);
        if (perCode == 0)
        {
            throw new ArgumentException("two-point output calibration: the current did not change between the two codes: is the output connected to the measuring resistor?");
        }

        return new OutputCalibration(perCode, measuredNanoamps1 - (perCode * code1));
    }

    /// <summary>Mean of a stretch of ADC readings (the reading at a reference).</summary>
    public static double MeanCounts(ReadOnlySpan<ushort> counts)
    {
        if (counts.IsEmpty) throw new ArgumentException("two-point calibration: no samples were read at the reference");
        double sum = 0;
        foreach (ushort c in counts) sum += c;
        return sum / counts.Length;
    }
}
