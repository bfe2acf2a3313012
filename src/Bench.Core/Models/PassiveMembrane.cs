namespace Bench.Core.Models;

/// <summary>
/// A passive membrane: a resistor and a capacitor in parallel, Cm dV/dt = −gL (V − EL) + I, with τ = Cm / gL = RC.
/// The defaults (Cm 1 µF/cm², gL 0.05 mS/cm², EL −70 mV) give τ = 20 ms; over the emulated preparation's 10⁶ µm²
/// (0.01 cm²) that is C = 10 nF and R = 2 MΩ, so the 50 nA of a Firmata board's D9 charges it by 100 mV towards
/// +30 mV: the charging curve a stock Arduino records well at 1 kHz, and the circuit a lab can build on a breadboard.
/// </summary>
public sealed record PassiveMembraneParameters
{
    /// <summary>Membrane capacitance (µF/cm²).</summary>
    public double CmMicrofaradsPerCm2 { get; init; } = 1;

    /// <summary>Leak conductance (mS/cm²); τ = Cm / gL.</summary>
    public double GLeakMilliSiemensPerCm2 { get; init; } = 0.05;

    /// <summary>Rest (the leak's reversal), mV.</summary>
    public double ELeakMv { get; init; } = -70;

    /// <summary>The time constant τ = Cm / gL (ms).</summary>
    public double TauMs => CmMicrofaradsPerCm2 / GLeakMilliSiemensPerCm2;
}

/// <summary>The passive (RC) membrane, stepped exactly: between stimulus changes V relaxes exponentially towards EL + I/gL.</summary>
public sealed class PassiveMembrane : INeuronModel
{
    private static readonly string[] Observables = ["i_leak_uA_per_cm2"];
    private double v;

    /// <summary>Creates the membrane at rest.</summary>
    public PassiveMembrane(PassiveMembraneParameters parameters)
    {
        Parameters = parameters;
        Reset();
    }

    /// <summary>The parameters.</summary>
    public PassiveMembraneParameters Parameters { get; }

    /// <inheritdoc/>
    public string Name => "rc";

    /// <inheritdoc/>
    public string StimulusUnit => "uA/cm2";

    /// <inheritdoc/>
    public double StimulusSlopeMvPerMsPerUnit => 1 / Parameters.CmMicrofaradsPerCm2;

    /// <inheritdoc/>
    public double VoltageMv => v;

    /// <inheritdoc/>
    public IReadOnlyList<string> ObservableNames => Observables;

    /// <inheritdoc/>
    public void Reset() => v = Parameters.ELeakMv;

    /// <inheritdoc/>
    public void Step(double stimulus, double dtMs)
    {
        // Linear, so the exponential update is exact for a stimulus held over the step (both integrators).
        var p = Parameters;
        double vInf = p.ELeakMv + (stimulus / p.GLeakMilliSiemensPerCm2);
        v = vInf + ((v - vInf) * Math.Exp(-dtMs / p.TauMs));
    }

    /// <inheritdoc/>
    public void ReadObservables(Span<double> destination) => destination[0] = Parameters.GLeakMilliSiemensPerCm2 * (v - Parameters.ELeakMv);
}
