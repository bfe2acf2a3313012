namespace Bench.Core.Models;

/// <summary>
/// FitzHugh–Nagumo parameters: FitzHugh (1961), "Impulses and physiological states in theoretical models of
/// nerve membrane", Biophys. J. 1:445–466: a = 0.7, b = 0.8, φ = 0.08. The model is dimensionless; Bench takes
/// one time unit as 1 ms, the stimulus amplitude as FitzHugh's I, and shows v as V = scale·v + offset (mV)
/// so that rest sits near −70 mV like the other models.
/// </summary>
public sealed record FitzHughNagumoParameters
{
    /// <summary>FitzHugh's a.</summary>
    public double A { get; init; } = 0.7;

    /// <summary>FitzHugh's b.</summary>
    public double B { get; init; } = 0.8;

    /// <summary>FitzHugh's φ (recovery time scale).</summary>
    public double Phi { get; init; } = 0.08;

    /// <summary>mV per unit of v for display.</summary>
    public double VScaleMv { get; init; } = 30;

    /// <summary>mV at v = 0 for display.</summary>
    public double VOffsetMv { get; init; } = -34;
}

/// <summary>The FitzHugh–Nagumo model: dv/dt = v − v³/3 − w + I, dw/dt = φ (v + a − b w).</summary>
public sealed class FitzHughNagumo : INeuronModel
{
    private static readonly string[] Observables = ["v", "w"];
    private double v;
    private double w;

    /// <summary>Creates the model at its resting point.</summary>
    public FitzHughNagumo(FitzHughNagumoParameters parameters, Integrator integrator = Integrator.ExponentialEuler)
    {
        Parameters = parameters;
        Integrator = integrator;
        Reset();
    }

    /// <summary>The parameters.</summary>
    public FitzHughNagumoParameters Parameters { get; }

    /// <summary>The integration scheme.</summary>
    public Integrator Integrator { get; }

    /// <inheritdoc/>
    public string Name => "fhn";

    /// <inheritdoc/>
    public string StimulusUnit => "dimensionless I";

    /// <inheritdoc/>
    public double StimulusSlopeMvPerMsPerUnit => Parameters.VScaleMv;

    /// <inheritdoc/>
    public double VoltageMv => (Parameters.VScaleMv * v) + Parameters.VOffsetMv;

    /// <inheritdoc/>
    public IReadOnlyList<string> ObservableNames => Observables;

    /// <inheritdoc/>
    public void Reset()
    {
        // The resting point solves v − v³/3 − (v + a)/b = 0; Newton from v = −1.2 converges in a few steps.
        var p = Parameters;
        double x = -1.2;
        for (int i = 0; i < 50; i++)
        {
            double f = x - (x * x * x / 3) - ((x + p.A) / p.B);
            double df = 1 - (x * x) - (1 / p.B);
            x -= f / df;
        }

        v = x;
        w = (x + p.A) / p.B;
    }

    /// <inheritdoc/>
    public void Step(double stimulus, double dtMs)
    {
        var p = Parameters;
        if (Integrator == Integrator.ExponentialEuler)
        {
            // v: linearly implicit Euler; w: exact relaxation toward (v + a)/b at the new v.
            double f = v - (v * v * v / 3) - w + stimulus;
            v += dtMs * f / (1 - (dtMs * (1 - (v * v))));
            double wInf = (v + p.A) / p.B;
            w = wInf + ((w - wInf) * Math.Exp(-p.Phi * p.B * dtMs));
            return;
        }

        (double dv1, double dw1) = Derivatives(v, w, stimulus);
        (double dv2, double dw2) = Derivatives(v + (0.5 * dtMs * dv1), w + (0.5 * dtMs * dw1), stimulus);
        (double dv3, double dw3) = Derivatives(v + (0.5 * dtMs * dv2), w + (0.5 * dtMs * dw2), stimulus);
        (double dv4, double dw4) = Derivatives(v + (dtMs * dv3), w + (dtMs * dw3), stimulus);
        v += dtMs / 6 * (dv1 + (2 * dv2) + (2 * dv3) + dv4);
        w += dtMs / 6 * (dw1 + (2 * dw2) + (2 * dw3) + dw4);
    }

    private (double Dv, double Dw) Derivatives(double vv, double ww, double i) =>
        (vv - (vv * vv * vv / 3) - ww + i, Parameters.Phi * (vv + Parameters.A - (Parameters.B * ww)));

    /// <inheritdoc/>
    public void ReadObservables(Span<double> destination)
    {
        destination[0] = v;
        destination[1] = w;
    }
}
