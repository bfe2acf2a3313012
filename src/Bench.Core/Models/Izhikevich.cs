namespace Bench.Core.Models;

/// <summary>
/// Izhikevich (2003), "Simple model of spiking neurons", IEEE Trans. Neural Netw. 14:1569–1572, Fig. 2:
/// regular spiking (a 0.02, b 0.2, c −65, d 8), fast spiking (0.1, 0.2, −65, 2) and chattering/bursting
/// (0.02, 0.2, −50, 2). V in mV, t in ms; the stimulus amplitude is the paper's I.
/// </summary>
public sealed record IzhikevichParameters
{
    /// <summary>Recovery time scale (1/ms).</summary>
    public double A { get; init; } = 0.02;

    /// <summary>Sensitivity of u to v.</summary>
    public double B { get; init; } = 0.2;

    /// <summary>Reset potential (mV).</summary>
    public double CMv { get; init; } = -65;

    /// <summary>Reset increment of u.</summary>
    public double D { get; init; } = 8;

    /// <summary>Spike cut-off (mV).</summary>
    public double PeakMv { get; init; } = 30;

    /// <summary>Initial potential (mV); u starts at b·v. The rest of the presets is −70 mV.</summary>
    public double InitialVoltageMv { get; init; } = -70;

    /// <summary>Regular spiking (RS) cortical neuron.</summary>
    public static IzhikevichParameters RegularSpiking { get; } = new();

    /// <summary>Fast spiking (FS) interneuron.</summary>
    public static IzhikevichParameters FastSpiking { get; } = new() { A = 0.1, D = 2 };

    /// <summary>Chattering (CH): fast rhythmic bursts.</summary>
    public static IzhikevichParameters Bursting { get; } = new() { CMv = -50, D = 2 };
}

/// <summary>The Izhikevich model: v' = 0.04v² + 5v + 140 − u + I, u' = a(bv − u); at v ≥ 30 mV: v ← c, u ← u + d.</summary>
public sealed class Izhikevich : INeuronModel
{
    private static readonly string[] Observables = ["u"];
    private double v;
    private double u;
    private bool resetPending;

    /// <summary>Creates the model at its initial state.</summary>
    public Izhikevich(IzhikevichParameters parameters, Integrator integrator = Integrator.ExponentialEuler, string name = "izhikevich")
    {
        Parameters = parameters;
        Integrator = integrator;
        Name = name;
        Reset();
    }

    /// <summary>The parameters.</summary>
    public IzhikevichParameters Parameters { get; }

    /// <summary>The integration scheme.</summary>
    public Integrator Integrator { get; }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public string StimulusUnit => "dimensionless I";

    /// <inheritdoc/>
    public double StimulusSlopeMvPerMsPerUnit => 1;

    /// <inheritdoc/>
    public double VoltageMv => v;

    /// <inheritdoc/>
    public IReadOnlyList<string> ObservableNames => Observables;

    /// <inheritdoc/>
    public void Reset()
    {
        v = Parameters.InitialVoltageMv;
        u = Parameters.B * v;
        resetPending = false;
    }

    /// <inheritdoc/>
    public void Step(double stimulus, double dtMs)
    {
        var p = Parameters;
        if (resetPending)
        {
            // The spike was shown at the peak for one sample; the reset happens now, as in Izhikevich's own code.
            v = p.CMv;
            u += p.D;
            resetPending = false;
        }

        if (Integrator == Integrator.ExponentialEuler)
        {
            // v by forward Euler (the paper's scheme); u exactly, since it is linear in u for the frozen new v.
            v += dtMs * ((0.04 * v * v) + (5 * v) + 140 - u + stimulus);
            double uInf = p.B * Math.Min(v, p.PeakMv);
            u = uInf + ((u - uInf) * Math.Exp(-p.A * dtMs));
        }
        else
        {
            (double dv1, double du1) = Derivatives(v, u, stimulus);
            (double dv2, double du2) = Derivatives(v + (0.5 * dtMs * dv1), u + (0.5 * dtMs * du1), stimulus);
            (double dv3, double du3) = Derivatives(v + (0.5 * dtMs * dv2), u + (0.5 * dtMs * du2), stimulus);
            (double dv4, double du4) = Derivatives(v + (dtMs * dv3), u + (dtMs * du3), stimulus);
            v += dtMs / 6 * (dv1 + (2 * dv2) + (2 * dv3) + dv4);
            u += dtMs / 6 * (du1 + (2 * du2) + (2 * du3) + du4);
        }

        if (v >= p.PeakMv || double.IsNaN(v))
        {
            v = p.PeakMv;
            resetPending = true;
        }
    }

    private (double Dv, double Du) Derivatives(double x, double uu, double i) =>
        ((0.04 * x * x) + (5 * x) + 140 - uu + i, Parameters.A * ((Parameters.B * x) - uu));

    /// <inheritdoc/>
    public void ReadObservables(Span<double> destination) => destination[0] = u;
}
