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
    int ActionPotentials, double NoiseCounts, double ResidualRmseMv, bool IsGood, string? Warning);

/// <summary>
/// Calibrates the input against the model: gain and offset chosen so that the recording's resting level and its AP
/// peaks land on the model's. The model is driven sample for sample by the same stimulus (see
/// <see cref="Comparison.LiveComparison"/>), so its action potentials say where the recording's should be: the
/// recorded peak is read there (the highest 5-sample mean within ±1 ms, so noise does not inflate it). Only as good as
/// the model: the residual against it is the quality measure, and a warning says when it is poor.
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
        foreach (var ap in report.Spikes)
        {
            int p = (int)Math.Round(ap.PeakTimeMs / dtMs);
            double best = double.NegativeInfinity;
            for (int i = Math.Max(2, p - window); i <= Math.Min(counts.Length - 3, p + window); i++)
            {
                double mean = (counts[i - 2] + counts[i - 1] + counts[i] + counts[i + 1] + counts[i + 2]) / 5;
                if (mean > best) best = mean;   // NaN (a gap) never wins
            }

            if (double.IsNegativeInfinity(best)) continue;
            peakSum += best;
            modelPeakSum += ap.PeakMv;
            used++;
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
        if (warning is null && residual > maxResidualMv)
        {
            warning = string.Create(CultureInfo.InvariantCulture,
                $"the calibrated recording differs from the model by {residual:0.##} mV RMS (more than {maxResidualMv} mV): the model does not describe this preparation well enough to calibrate against; fit the model first or use the two-point procedure");
        }

        return new ModelCalibrationResult(calibration, rest, peak, modelRest, modelPeak, used, noise, residual, warning is null, warning);
    }
}
