using System.Globalization;
using Bench.Core.Analysis;

namespace Bench.Core.Instrument;

/// <summary>What a calibration against the model found.</summary>
/// <param name="Calibration">Counts → mV that puts the recording's rest and AP peak on the model's.</param>
/// <param name="RestCounts">The recording's rest (median counts).</param>
/// <param name="PeakCounts">The recording's mean AP peak (counts), at the model's action potentials.</param>
/// <param name="ModelRestMv">The model's rest.</param>
/// <param name="ModelPeakMv">The model's mean AP peak.</param>
/// <param name="ActionPotentials">Action potentials used.</param>
/// <param name="NoiseCounts">Noise of the recording (robust standard deviation, counts).</param>
/// <param name="ResidualRmseMv">RMS of calibrated recording − model over every compared sample (mV).</param>
/// <param name="IsGood">True when the fit can be trusted: APs found, gain positive, residual small.</param>
/// <param name="Warning">Why not, or null.</param>
public sealed record ModelCalibrationResult(Calibration Calibration, double RestCounts, double PeakCounts, double ModelRestMv, double ModelPeakMv,
    int ActionPotentials, double NoiseCounts, double ResidualRmseMv, bool IsGood, string? Warning)
{
    /// <summary>Mean half-width of the recording's APs less the model's (ms): no gain or offset changes it.</summary>
    public double HalfWidthDifferenceMs { get; init; } = double.NaN;

    /// <summary>Standard uncertainty of <see cref="HalfWidthDifferenceMs"/> from the recording's noise (ms).</summary>
    public double HalfWidthUncertaintyMs { get; init; } = double.NaN;

    /// <summary>Mean time of the recording's APs (their upstroke's half-amplitude crossing) less the model's (ms): no gain or offset changes it.</summary>
    public double TimingDifferenceMs { get; init; } = double.NaN;

    /// <summary>Standard uncertainty of <see cref="TimingDifferenceMs"/> from the recording's noise (ms).</summary>
    public double TimingUncertaintyMs { get; init; } = double.NaN;

    /// <summary>True when the refusal is because the preparation's APs differ from the model's in what gain and offset cannot change.</summary>
    public bool PreparationDiffers { get; init; }
}

/// <summary>
/// Calibrates the input against the model: gain and offset chosen so that the recording's resting level and its AP
/// peaks land on the model's. The model is driven sample for sample by the same stimulus (see
/// <see cref="Comparison.LiveComparison"/>), so its action potentials say where the recording's should be: the
/// recorded peak is read there (the highest 5-sample mean within ±1 ms, so noise does not inflate it). Only as good as
/// the model: the residual against it is the quality measure, and a warning says when it is poor.
/// Gain and offset can make any AP's rest and peak land on the model's, so a preparation that differs from the model
/// (gNa 100 against 120: a lower peak) would be absorbed into the instrument as a gain change. They cannot change
/// time: each AP's half-width (between its half-amplitude crossings) and the time of its upstroke's half-amplitude
/// crossing are the same in counts as in mV. Where these differ from the model's beyond the recording's noise
/// (5 standard uncertainties) and beyond what an instrument's clock and sampling instant can do (3 % of the
/// half-width, one sample of timing), the preparation differs from the model, not the instrument, and the result is
/// refused.
/// </summary>
public static class ModelCalibration
{
    /// <summary>Fits gain and offset.</summary>
    /// <param name="counts">The recording's raw ADC counts per sample (NaN where nothing was received).</param>
    /// <param name="modelMv">The model's potential for the same samples.</param>
    /// <param name="dtMs">Sample interval.</param>
    /// <param name="maxResidualMv">Residual RMS above which the result is flagged poor.</param>
    /// <exception cref="ArgumentException">The traces differ in length or are empty.</exception>
    public static ModelCalibrationResult Fit(ReadOnlySpan<double> counts, ReadOnlySpan<double> modelMv, double dtMs, double maxResidualMv = 5)
    {
        if (counts.Length != modelMv.Length || counts.IsEmpty) throw new ArgumentException("calibration against the model: the recording and the model's trace must have the same, non-zero number of samples");
        var present = new List<double>(counts.Length);
        foreach (double c in counts)
        {
            if (!double.IsNaN(c)) present.Add(c);
        }

        if (present.Count < 10) throw new ArgumentException("calibration against the model: the recording has fewer than 10 samples");
        present.Sort();
        double rest = present[present.Count / 2];
        var deviations = present.Select(c => Math.Abs(c - rest)).Order().ToList();
        double noise = 1.4826 * deviations[deviations.Count / 2];

        double modelRest = ActionPotentialAnalysis.EstimateRest(modelMv, dtMs);
        var report = ActionPotentialAnalysis.Analyze(modelMv, dtMs);
        int window = Math.Max(1, (int)Math.Round(1 / dtMs));
        double peakSum = 0, modelPeakSum = 0;
        int used = 0;
        // The noise of one sample (counts), from sample-to-sample steps: robust, and blind to the slow signal.
        var steps = new List<double>(counts.Length);
        for (int i = 1; i < counts.Length; i++)
        {
            if (!double.IsNaN(counts[i]) && !double.IsNaN(counts[i - 1])) steps.Add(Math.Abs(counts[i] - counts[i - 1]));
        }

        steps.Sort();
        double sampleNoise = steps.Count > 0 ? Math.Max(1.4826 * steps[steps.Count / 2] / Math.Sqrt(2), 0.3) : double.NaN;
        double halfWidthDiff = 0, halfWidthVar = 0, timingDiff = 0, timingVar = 0, modelHalfWidth = 0;
        int timed = 0;
        foreach (var ap in report.Spikes)
        {
            int p = (int)Math.Round(ap.PeakTimeMs / dtMs);
            double best = double.NegativeInfinity;
            int bestIndex = -1;
            for (int i = Math.Max(2, p - window); i <= Math.Min(counts.Length - 3, p + window); i++)
            {
                double mean = (counts[i - 2] + counts[i - 1] + counts[i] + counts[i + 1] + counts[i + 2]) / 5;
                if (mean > best)
                {
                    best = mean;   // NaN (a gap) never wins
                    bestIndex = i;
                }
            }

            if (double.IsNegativeInfinity(best)) continue;
            peakSum += best;
            modelPeakSum += ap.PeakMv;
            used++;
            // Both traces' peaks as 5-sample means, so the half-amplitude levels are measured alike.
            int mp = Math.Clamp(p, 2, modelMv.Length - 3);
            double modelPeak5 = double.NegativeInfinity;
            for (int i = Math.Max(2, mp - 3); i <= Math.Min(modelMv.Length - 3, mp + 3); i++)
            {
                modelPeak5 = Math.Max(modelPeak5, (modelMv[i - 2] + modelMv[i - 1] + modelMv[i] + modelMv[i + 1] + modelMv[i + 2]) / 5);
            }

            var recorded = HalfAmplitude(counts, bestIndex, rest + ((best - rest) / 2), dtMs, 10 * window);
            var model = HalfAmplitude(modelMv, mp, modelRest + ((modelPeak5 - modelRest) / 2), dtMs, 10 * window);
            if (recorded is not { } r || model is not { } m) continue;
            double upJitter = sampleNoise / r.UpSlopePerMs, downJitter = sampleNoise / r.DownSlopePerMs;
            halfWidthDiff += (r.DownMs - r.UpMs) - (m.DownMs - m.UpMs);
            modelHalfWidth += m.DownMs - m.UpMs;
            halfWidthVar += (upJitter * upJitter) + (downJitter * downJitter);
            timingDiff += r.UpMs - m.UpMs;
            timingVar += upJitter * upJitter;
            timed++;
        }

        string? warning = null;
        double peak = used > 0 ? peakSum / used : double.NaN;
        double modelPeak = used > 0 ? modelPeakSum / used : double.NaN;
        Calibration calibration;
        if (report.Spikes.Count == 0)
        {
            warning = "the model fires no action potential with this stimulus: only the rest can be matched; stimulate harder or use the two-point procedure";
        }
        else if (used == 0)
        {
            warning = "every model action potential falls in a gap of the recording: record again";
        }
        else if (peak - rest < 8 * Math.Max(noise, 1))
        {
            warning = string.Create(CultureInfo.InvariantCulture,
                $"no action potential in the recording where the model fires ({peak - rest:0.#} counts above rest, noise {noise:0.#}): is the preparation excitable and the stimulus reaching it?");
        }

        if (warning is null)
        {
            double gain = (modelPeak - modelRest) / (peak - rest);
            calibration = new Calibration(gain, modelRest - (gain * rest));
        }
        else
        {
            // Nothing to scale by: keep a unit gain and match the rest only, so the result is still usable for a look.
            calibration = new Calibration(1, modelRest - rest);
        }

        double sse = 0;
        long n = 0;
        for (int i = 0; i < counts.Length; i++)
        {
            if (double.IsNaN(counts[i])) continue;
            double e = calibration.ToMillivolts(counts[i]) - modelMv[i];
            sse += e * e;
            n++;
        }

        double residual = Math.Sqrt(sse / n);
        double hwDiff = double.NaN, hwSe = double.NaN, tDiff = double.NaN, tSe = double.NaN;
        bool preparation = false;
        if (timed > 0)
        {
            (hwDiff, hwSe) = (halfWidthDiff / timed, Math.Sqrt(halfWidthVar) / timed);
            (tDiff, tSe) = (timingDiff / timed, Math.Sqrt(timingVar) / timed);
            // Margins for what an instrument can do to time: its clock can run a little off (a few hundred ppm, far
            // below 3 % of a half-width) and its sampling instant can lag the nominal one by up to a sample (the
            // simulated ATmega firmware's is 0.011 ms, and its half-widths 0.015 ms narrower: 1 %).
            bool widthDiffers = Math.Abs(hwDiff) > (5 * hwSe) + (0.03 * modelHalfWidth / timed);
            bool timingDiffers = Math.Abs(tDiff) > (5 * tSe) + dtMs;
            if (warning is null && (widthDiffers || timingDiffers))
            {
                preparation = true;
                warning = string.Create(CultureInfo.InvariantCulture,
                    $"the preparation differs from the model, not the instrument: its action potentials are {Math.Abs(hwDiff):0.000} ms {(hwDiff < 0 ? "narrower" : "wider")} (± {hwSe:0.000}) and {Math.Abs(tDiff):0.000} ms {(tDiff < 0 ? "earlier" : "later")} (± {tSe:0.000}) than the model's, which no gain or offset can change, so a gain fitted here would absorb the preparation's difference; calibrate with --reference MV1,MV2 (two known potentials), or fit the model to this preparation first (bench fit) and calibrate against the fitted model (--param)");
            }
        }

        if (warning is null && residual > maxResidualMv)
        {
            warning = string.Create(CultureInfo.InvariantCulture,
                $"the calibrated recording differs from the model by {residual:0.##} mV RMS (more than {maxResidualMv} mV): the model does not describe this preparation well enough to calibrate against; fit the model first or use the two-point procedure");
        }

        return new ModelCalibrationResult(calibration, rest, peak, modelRest, modelPeak, used, noise, residual, warning is null, warning)
        {
            HalfWidthDifferenceMs = hwDiff,
            HalfWidthUncertaintyMs = hwSe,
            TimingDifferenceMs = tDiff,
            TimingUncertaintyMs = tSe,
            PreparationDiffers = preparation,
        };
    }

    /// <summary>
    /// The half-amplitude crossings around a peak at <paramref name="peak"/>: up and down times (ms, interpolated
    /// between samples) and the trace's slope there (units per ms, positive); null when either is not found within
    /// <paramref name="reach"/> samples or a gap intervenes.
    /// </summary>
    private static (double UpMs, double DownMs, double UpSlopePerMs, double DownSlopePerMs)? HalfAmplitude(ReadOnlySpan<double> v, int peak, double level, double dtMs, int reach)
    {
        if (peak < 1 || peak >= v.Length - 1) return null;
        double up = double.NaN, down = double.NaN, upSlope = 0, downSlope = 0;
        for (int i = peak; i > Math.Max(0, peak - reach); i--)
        {
            if (double.IsNaN(v[i]) || double.IsNaN(v[i - 1])) return null;
            if (v[i - 1] < level && v[i] >= level)
            {
                up = (i - 1 + ((level - v[i - 1]) / (v[i] - v[i - 1]))) * dtMs;
                upSlope = (v[i] - v[i - 1]) / dtMs;
                break;
            }
        }

        for (int i = peak; i < Math.Min(v.Length - 1, peak + reach); i++)
        {
            if (double.IsNaN(v[i]) || double.IsNaN(v[i + 1])) return null;
            if (v[i] >= level && v[i + 1] < level)
            {
                down = (i + ((v[i] - level) / (v[i] - v[i + 1]))) * dtMs;
                downSlope = (v[i] - v[i + 1]) / dtMs;
                break;
            }
        }

        return double.IsNaN(up) || double.IsNaN(down) ? null : (up, down, upSlope, downSlope);
    }
}
