namespace Bench.Core.Models;

/// <summary>Parameters of a conductance synapse with a dual-exponential time course (NEURON's Exp2Syn).</summary>
/// <param name="ReversalMv">Reversal potential: 0 mV excitatory (AMPA-like), −80 mV inhibitory (GABA_A-like).</param>
/// <param name="PeakConductanceMilliSiemensPerCm2">Peak conductance density of one release.</param>
/// <param name="RiseMs">Rise time constant τ1.</param>
/// <param name="DecayMs">Decay time constant τ2 (&gt; τ1).</param>
/// <param name="DelayMs">Delay from the presynaptic spike to the conductance onset (release and diffusion).</param>
/// <param name="ThresholdMv">Presynaptic potential whose upward crossing releases transmitter.</param>
public sealed record SynapseParameters(
    double ReversalMv, double PeakConductanceMilliSiemensPerCm2, double RiseMs, double DecayMs, double DelayMs, double ThresholdMv)
{
    /// <summary>An excitatory synapse strong enough to fire a resting HH cell: E = 0 mV, τ 0.5/2 ms, 1 ms delay.</summary>
    public static SynapseParameters Excitatory { get; } = new(0, 1.0, 0.5, 2, 1, 0);

    /// <summary>An inhibitory synapse: E = −80 mV, τ 0.5/5 ms, 1 ms delay.</summary>
    public static SynapseParameters Inhibitory { get; } = new(-80, 1.0, 0.5, 5, 1, 0);
}

/// <summary>
/// A dual-exponential conductance synapse: each release adds to two exponentially decaying states A (τ1) and B (τ2)
/// and g = B − A, scaled so that one release peaks at the given conductance.
/// </summary>
public sealed class DualExponentialSynapse
{
    private readonly double factor;
    // Sized for a burst of releases in flight so that stepping does not grow it.
    private readonly Queue<double> pending = new(64);
    private double decayDt = double.NaN;
    private double riseDecay;
    private double fallDecay;
    private double a;
    private double b;
    private double previousPre = double.NaN;

    /// <summary>Creates the synapse.</summary>
    public DualExponentialSynapse(SynapseParameters parameters)
    {
        if (!(parameters.RiseMs > 0 && parameters.DecayMs > parameters.RiseMs))
        {
            throw new ArgumentException("synapse time constants need 0 < rise < decay");
        }

        Parameters = parameters;
        double tPeak = parameters.RiseMs * parameters.DecayMs / (parameters.DecayMs - parameters.RiseMs) * Math.Log(parameters.DecayMs / parameters.RiseMs);
        factor = 1 / (Math.Exp(-tPeak / parameters.DecayMs) - Math.Exp(-tPeak / parameters.RiseMs));
    }

    /// <summary>The parameters.</summary>
    public SynapseParameters Parameters { get; }

    /// <summary>Conductance now (mS/cm²).</summary>
    public double ConductanceMilliSiemensPerCm2 => b - a;

    /// <summary>Releases so far.</summary>
    public int Releases { get; private set; }

    /// <summary>Synaptic current density (µA/cm², outward positive) into a cell at <paramref name="postVMv"/>.</summary>
    public double CurrentAt(double postVMv) => ConductanceMilliSiemensPerCm2 * (postVMv - Parameters.ReversalMv);

    /// <summary>
    /// Advances one step ending at <paramref name="timeMs"/>: detects an upward threshold crossing of the presynaptic
    /// potential, schedules its release after the delay, and delivers releases that are due.
    /// </summary>
    public void Step(double timeMs, double preVMv, double dtMs)
    {
        if (previousPre < Parameters.ThresholdMv && preVMv >= Parameters.ThresholdMv)
        {
            pending.Enqueue(timeMs + Parameters.DelayMs);
        }

        previousPre = preVMv;
        if (dtMs != decayDt)
        {
            riseDecay = Math.Exp(-dtMs / Parameters.RiseMs);
            fallDecay = Math.Exp(-dtMs / Parameters.DecayMs);
            decayDt = dtMs;
        }

        a *= riseDecay;
        b *= fallDecay;
        while (pending.Count > 0 && pending.Peek() <= timeMs + (dtMs / 2))
        {
            pending.Dequeue();
            a += Parameters.PeakConductanceMilliSiemensPerCm2 * factor;
            b += Parameters.PeakConductanceMilliSiemensPerCm2 * factor;
            Releases++;
        }
    }
}

/// <summary>
/// Transmission to the next neuron: an action potential travels down an HH axon; at the terminal (x = 1) it releases
/// transmitter onto a postsynaptic HH cell through a <see cref="DualExponentialSynapse"/>.
/// </summary>
public sealed class TransmissionCircuit
{
    private double timeMs;

    /// <summary>Creates the circuit at rest.</summary>
    public TransmissionCircuit(HodgkinHuxleyAxon axon, HodgkinHuxley postsynaptic, SynapseParameters synapse)
    {
        Axon = axon;
        Postsynaptic = postsynaptic;
        Synapse = new DualExponentialSynapse(synapse);
    }

    /// <summary>The presynaptic axon.</summary>
    public HodgkinHuxleyAxon Axon { get; }

    /// <summary>The postsynaptic cell.</summary>
    public HodgkinHuxley Postsynaptic { get; }

    /// <summary>The synapse at the axon terminal.</summary>
    public DualExponentialSynapse Synapse { get; }

    /// <summary>Advances everything by one step with <paramref name="injectedNanoamps"/> into the axon at x = 0.</summary>
    public void Step(double injectedNanoamps, double dtMs)
    {
        // The synaptic conductance is taken at the step's start, like the stimulus: explicit in g, fine at lab dt.
        double synaptic = -Synapse.CurrentAt(Postsynaptic.VoltageMv);
        Axon.Step(injectedNanoamps, dtMs);
        Postsynaptic.Step(synaptic, dtMs);
        timeMs += dtMs;
        Synapse.Step(timeMs, Axon.VoltageMv(Axon.Geometry.Segments - 1), dtMs);
    }
}
