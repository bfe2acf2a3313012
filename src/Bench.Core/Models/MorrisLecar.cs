namespace Bench.Core.Models;

/// <summary>
/// Morris–Lecar parameters: the Hopf (class II) set of Rinzel &amp; Ermentrout (1998), "Analysis of neural
/// excitability and oscillations", in Koch &amp; Segev (eds.), <i>Methods in Neuronal Modeling</i>, 2nd ed., Table 7.1:
/// C = 20 µF/cm², g_Ca = 4.4, g_K = 8, g_L = 2 mS/cm², E_Ca = 120, E_K = −84, E_L = −60 mV,
/// V1 = −1.2, V2 = 18, V3 = 2, V4 = 30 mV, φ = 0.04.
/// </summary>
public sealed record MorrisLecarParameters
{
    /// <summary>Capacitance (µF/cm²).</summary>
    public double CmMicrofaradsPerCm2 { get; init; } = 20;

    /// <summary>Calcium conductance (mS/cm²).</summary>
    public double GCaMilliSiemensPerCm2 { get; init; } = 4.4;

    /// <summary>Potassium conductance (mS/cm²).</summary>
    public double GKMilliSiemensPerCm2 { get; init; } = 8;

    /// <summary>Leak conductance (mS/cm²).</summary>
    public double GLeakMilliSiemensPerCm2 { get; init; } = 2;

    /// <summary>Calcium reversal (mV).</summary>
    public double ECaMv { get; init; } = 120;

    /// <summary>Potassium reversal (mV).</summary>
    public double EKMv { get; init; } = -84;

    /// <summary>Leak reversal (mV).</summary>
    public double ELeakMv { get; init; } = -60;

    /// <summary>Half-activation of m∞ (mV).</summary>
    public double V1Mv { get; init; } = -1.2;

    /// <summary>Slope of m∞ (mV).</summary>
    public double V2Mv { get; init; } = 18;

    /// <summary>Half-activation of w∞ (mV).</summary>
    public double V3Mv { get; init; } = 2;

    /// <summary>Slope of w∞ (mV).</summary>
    public double V4Mv { get; init; } = 30;

    /// <summary>Rate scale of w (1/ms).</summary>
    public double Phi { get; init; } = 0.04;
}

/// <summary>The Morris–Lecar model: instantaneous Ca²⁺ activation m∞(V), slow K⁺ activation w.</summary>
public sealed class MorrisLecar : INeuronModel
{
    private static readonly string[] Observables = ["w", "i_ca_uA_per_cm2", "i_k_uA_per_cm2"];
    private double v;
    private double w;

    /// <summary>Creates the model at its resting point.</summary>
    public MorrisLecar(MorrisLecarParameters parameters, Integrator integrator = Integrator.ExponentialEuler)
    {
        Parameters = parameters;
        Integrator = integrator;
        Reset();
    }

    /// <summary>The parameters.</summary>
    public MorrisLecarParameters Parameters { get; }

    /// <summary>The integration scheme.</summary>
    public Integrator Integrator { get; }

    /// <inheritdoc/>
    public string Name => "morris-lecar";

    /// <inheritdoc/>
    public string StimulusUnit => "uA/cm2";

    /// <inheritdoc/>
    public double StimulusSlopeMvPerMsPerUnit => 1 / Parameters.CmMicrofaradsPerCm2;

    /// <inheritdoc/>
    public double VoltageMv => v;

    /// <inheritdoc/>
    public IReadOnlyList<string> ObservableNames => Observables;

    private double MInf(double x) => 0.5 * (1 + Math.Tanh((x - Parameters.V1Mv) / Parameters.V2Mv));

    private double WInf(double x) => 0.5 * (1 + Math.Tanh((x - Parameters.V3Mv) / Parameters.V4Mv));

    private double WTauMs(double x) => 1 / (Parameters.Phi * Math.Cosh((x - Parameters.V3Mv) / (2 * Parameters.V4Mv)));

    private double IonicCurrent(double x, double ww) =>
        (Parameters.GLeakMilliSiemensPerCm2 * (x - Parameters.ELeakMv))
        + (Parameters.GCaMilliSiemensPerCm2 * MInf(x) * (x - Parameters.ECaMv))
        + (Parameters.GKMilliSiemensPerCm2 * ww * (x - Parameters.EKMv));

    /// <inheritdoc/>
    public void Reset()
    {
        // Rest: the zero of the steady-state current, found by bisection on [−90, 0] mV where it is monotonic at this set.
        double lo = -90, hi = 0;
        for (int i = 0; i < 100; i++)
        {
            double mid = 0.5 * (lo + hi);
            if (IonicCurrent(mid, WInf(mid)) < 0) lo = mid; else hi = mid;
        }

        v = 0.5 * (lo + hi);
        w = WInf(v);
    }

    /// <inheritdoc/>
    public void Step(double stimulus, double dtMs)
    {
        var p = Parameters;
        if (Integrator == Integrator.ExponentialEuler)
        {
            // V: linearly implicit Euler with di/dV including dm∞/dV (the Ca²⁺ gate is instantaneous).
            double s = (v - p.V1Mv) / p.V2Mv;
            double sech = 1 / Math.Cosh(s);
            double dMInf = 0.5 / p.V2Mv * sech * sech;
            double g = p.GLeakMilliSiemensPerCm2 + (p.GCaMilliSiemensPerCm2 * (MInf(v) + (dMInf * (v - p.ECaMv)))) + (p.GKMilliSiemensPerCm2 * w);
            v += (stimulus - IonicCurrent(v, w)) / ((p.CmMicrofaradsPerCm2 / dtMs) + g);
            double wInf = WInf(v);
            w = wInf + ((w - wInf) * Math.Exp(-dtMs / WTauMs(v)));
            return;
        }

        (double dv1, double dw1) = Derivatives(v, w, stimulus);
        (double dv2, double dw2) = Derivatives(v + (0.5 * dtMs * dv1), w + (0.5 * dtMs * dw1), stimulus);
        (double dv3, double dw3) = Derivatives(v + (0.5 * dtMs * dv2), w + (0.5 * dtMs * dw2), stimulus);
        (double dv4, double dw4) = Derivatives(v + (dtMs * dv3), w + (dtMs * dw3), stimulus);
        v += dtMs / 6 * (dv1 + (2 * dv2) + (2 * dv3) + dv4);
        w += dtMs / 6 * (dw1 + (2 * dw2) + (2 * dw3) + dw4);
    }

    private (double Dv, double Dw) Derivatives(double x, double ww, double i) =>
        ((i - IonicCurrent(x, ww)) / Parameters.CmMicrofaradsPerCm2, (WInf(x) - ww) / WTauMs(x));

    /// <inheritdoc/>
    public void ReadObservables(Span<double> destination)
    {
        destination[0] = w;
        destination[1] = Parameters.GCaMilliSiemensPerCm2 * MInf(v) * (v - Parameters.ECaMv);
        destination[2] = Parameters.GKMilliSiemensPerCm2 * w * (v - Parameters.EKMv);
    }
}
