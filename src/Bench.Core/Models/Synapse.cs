using Bench.Core.Analysis;
using Bench.Core.Simulation;
using Bench.Core.Stimulus;

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

    /// <summary>A synapse of <paramref name="kind"/> (its reversal and time course) with weight <paramref name="peakConductanceMilliSiemensPerCm2"/>.</summary>
    /// <exception cref="ArgumentException">A weight that is negative or not finite.</exception>
    public static SynapseParameters Of(SynapseKind kind, double peakConductanceMilliSiemensPerCm2)
    {
        if (!(peakConductanceMilliSiemensPerCm2 >= 0) || !double.IsFinite(peakConductanceMilliSiemensPerCm2))
        {
            throw new ArgumentException($"a synapse's weight (peak conductance) must be a finite number >= 0 mS/cm2 (got {peakConductanceMilliSiemensPerCm2})");
        }

        return (kind == SynapseKind.Excitatory ? Excitatory : Inhibitory) with { PeakConductanceMilliSiemensPerCm2 = peakConductanceMilliSiemensPerCm2 };
    }
}

/// <summary>What a synapse does to the next cell.</summary>
public enum SynapseKind
{
    /// <summary>Depolarises it (reversal 0 mV, AMPA-like).</summary>
    Excitatory,

    /// <summary>Holds it below rest (reversal −80 mV, GABA_A-like).</summary>
    Inhibitory,
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
/// Transmission to the next neuron: an action potential travels down an axon (uniform or myelinated); at the terminal
/// (its last compartment, x = 1) it releases transmitter onto a postsynaptic HH cell through a <see cref="DualExponentialSynapse"/>.
/// </summary>
public sealed class TransmissionCircuit
{
    private double timeMs;

    /// <summary>Creates the circuit at rest.</summary>
    public TransmissionCircuit(IAxon axon, HodgkinHuxley postsynaptic, SynapseParameters synapse)
    {
        Axon = axon;
        Postsynaptic = postsynaptic;
        Synapse = new DualExponentialSynapse(synapse);
    }

    /// <summary>The presynaptic axon.</summary>
    public IAxon Axon { get; }

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
        Synapse.Step(timeMs, Axon.VoltageMv(Axon.Compartments - 1), dtMs);
    }
}

/// <summary>What the postsynaptic cell of a <see cref="SynapticPreparation"/> did over a run.</summary>
/// <param name="PostsynapticMv">Its potential at t = 0 and after every step.</param>
/// <param name="DtMs">The step.</param>
/// <param name="RestMv">Its potential at t = 0 (rest, before any release).</param>
/// <param name="PeakDepolarisationMv">Highest potential minus rest (mV): the EPSP's amplitude while the cell stays below threshold.</param>
/// <param name="PeakHyperpolarisationMv">Rest minus the lowest potential (mV): the IPSP's amplitude.</param>
/// <param name="PostsynapticSpikeTimesMs">Its action potentials (0 mV upward crossings).</param>
/// <param name="Releases">Releases of each synapse.</param>
public sealed record SynapticResponse(double[] PostsynapticMv, double DtMs, double RestMv, double PeakDepolarisationMv, double PeakHyperpolarisationMv,
    IReadOnlyList<double> PostsynapticSpikeTimesMs, IReadOnlyList<int> Releases)
{
    /// <summary>True when the postsynaptic cell fired.</summary>
    public bool Fired => PostsynapticSpikeTimesMs.Count > 0;
}

/// <summary>
/// Two-cell (and more) synaptic transmission as a practical sets it up: each synapse has its own presynaptic Hodgkin–Huxley
/// cell, stimulated at chosen times; every synapse ends on the same postsynaptic cell. A presynaptic action potential
/// (its upward 0 mV crossing) releases transmitter after the synapse's delay, and the dual-exponential conductance
/// (weight = peak conductance) drives the postsynaptic cell towards the synapse's reversal. Two releases of one synapse
/// close in time sum (temporal summation); releases of two synapses at once sum (spatial summation); an inhibitory
/// synapse opposes an excitatory one.
/// </summary>
public sealed class SynapticPreparation
{
    private readonly double[] synapticCurrents;
    private double timeMs;

    /// <summary>Creates the preparation at rest.</summary>
    /// <param name="cell">The postsynaptic cell's membrane, e.g. <see cref="HodgkinHuxleyParameters.Teaching"/>.</param>
    /// <param name="synapses">One entry per synapse (and so per presynaptic cell), each with its kind, weight and time course.</param>
    /// <param name="presynapticCell">
    /// The presynaptic cells' membrane (default: <paramref name="cell"/>). At 6.3 °C the teaching membrane stays
    /// refractory for about 8 ms; a warmer one (18.5 °C: 4 ms) fires at the short intervals temporal summation needs.
    /// </param>
    /// <exception cref="ArgumentException">No synapse, or a synapse whose time constants are not 0 &lt; rise &lt; decay.</exception>
    public SynapticPreparation(HodgkinHuxleyParameters cell, IReadOnlyList<SynapseParameters> synapses, HodgkinHuxleyParameters? presynapticCell = null)
    {
        ArgumentNullException.ThrowIfNull(synapses);
        if (synapses.Count == 0) throw new ArgumentException("a synaptic preparation needs at least one synapse");
        Cell = cell;
        PresynapticCell = presynapticCell ?? cell;
        Presynaptic = [.. synapses.Select(_ => new HodgkinHuxley(PresynapticCell))];
        Postsynaptic = new HodgkinHuxley(cell);
        Synapses = [.. synapses.Select(p => new DualExponentialSynapse(p))];
        synapticCurrents = new double[synapses.Count];
    }

    /// <summary>The postsynaptic cell's membrane.</summary>
    public HodgkinHuxleyParameters Cell { get; }

    /// <summary>The presynaptic cells' membrane.</summary>
    public HodgkinHuxleyParameters PresynapticCell { get; }

    /// <summary>The presynaptic cells, one per synapse.</summary>
    public IReadOnlyList<HodgkinHuxley> Presynaptic { get; }

    /// <summary>The postsynaptic cell.</summary>
    public HodgkinHuxley Postsynaptic { get; }

    /// <summary>The synapses, in the order given.</summary>
    public IReadOnlyList<DualExponentialSynapse> Synapses { get; }

    /// <summary>
    /// A presynaptic stimulus that fires one action potential at each of <paramref name="onsetsMs"/>: 0.5 ms pulses of
    /// 40 µA/cm², each well above threshold. Onsets closer than the presynaptic cell's refractory period (about 8 ms for
    /// the teaching membrane at 6.3 °C, 4 ms at 18.5 °C) do not all fire it.
    /// </summary>
    public static StimulusProtocol PresynapticSpikes(params double[] onsetsMs)
    {
        ArgumentNullException.ThrowIfNull(onsetsMs);
        return new StimulusProtocol("presynaptic spikes", StimulusUnit.MicroampsPerCm2,
            [.. onsetsMs.Select(t => new PulseTrain(t, 0.5, 40, 0, 0, 0, 0, 1))]);
    }

    /// <summary>
    /// Advances everything by <paramref name="dtMs"/>, presynaptic cell i receiving <paramref name="presynapticStimuli"/>[i]
    /// µA/cm² over the step. Allocates nothing.
    /// </summary>
    public void Step(ReadOnlySpan<double> presynapticStimuli, double dtMs)
    {
        if (presynapticStimuli.Length != Presynaptic.Count) throw new ArgumentException($"give one stimulus per presynaptic cell ({Presynaptic.Count}), not {presynapticStimuli.Length}");
        // Synaptic currents at the step's start, like the stimulus: explicit in g, fine at a lab's dt.
        double synaptic = 0;
        for (int i = 0; i < Synapses.Count; i++) synaptic -= Synapses[i].CurrentAt(Postsynaptic.VoltageMv);
        for (int i = 0; i < Presynaptic.Count; i++) Presynaptic[i].Step(presynapticStimuli[i], dtMs);
        Postsynaptic.Step(synaptic, dtMs);
        timeMs += dtMs;
        for (int i = 0; i < Synapses.Count; i++) Synapses[i].Step(timeMs, Presynaptic[i].VoltageMv, dtMs);
    }

    /// <summary>
    /// Runs a fresh copy of this preparation (same cells and synapses, from rest) for <paramref name="durationMs"/>,
    /// presynaptic cell i stimulated by <paramref name="presynapticStimuli"/>[i] (in µA/cm², sampled at each step's
    /// midpoint); returns what the postsynaptic cell did.
    /// </summary>
    /// <exception cref="ArgumentException">Not one protocol per presynaptic cell, or a protocol not in µA/cm².</exception>
    public SynapticResponse Run(IReadOnlyList<StimulusProtocol> presynapticStimuli, double durationMs, double dtMs = 0.01)
    {
        ArgumentNullException.ThrowIfNull(presynapticStimuli);
        if (presynapticStimuli.Count != Presynaptic.Count) throw new ArgumentException($"give one protocol per presynaptic cell ({Presynaptic.Count}), not {presynapticStimuli.Count}");
        if (presynapticStimuli.Any(p => p.Unit != StimulusUnit.MicroampsPerCm2 && p.Trains.Count > 0)) throw new ArgumentException("presynaptic stimuli are current densities: give them in uA/cm2");
        var fresh = new SynapticPreparation(Cell, [.. Synapses.Select(s => s.Parameters)], PresynapticCell);
        int steps = Simulator.StepCount(durationMs, dtMs);
        var v = new double[steps + 1];
        var stimuli = new double[fresh.Presynaptic.Count];
        v[0] = fresh.Postsynaptic.VoltageMv;
        for (int k = 0; k < steps; k++)
        {
            for (int i = 0; i < stimuli.Length; i++) stimuli[i] = presynapticStimuli[i].AmplitudeAt((k + 0.5) * dtMs);
            fresh.Step(stimuli, dtMs);
            v[k + 1] = fresh.Postsynaptic.VoltageMv;
        }

        double rest = v[0];
        return new SynapticResponse(v, dtMs, rest, v.Max() - rest, rest - v.Min(), SpikeDetector.Detect(v, dtMs), [.. fresh.Synapses.Select(s => s.Releases)]);
    }
}
