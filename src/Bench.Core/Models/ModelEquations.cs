namespace Bench.Core.Models;

/// <summary>
/// A single-compartment model's equations, apart from how they are integrated (as Brian2 keeps them apart from
/// <c>method=</c>). The state is y[0 … n): the first <see cref="GateStart"/> variables (the membrane potential first)
/// are general ODEs the model gives as derivatives; the rest are gating variables in steady-state/time-constant form,
/// dx/dt = (x∞ − x)/τx (the α/β form converts with <see cref="GateForm.FromRates"/>). Discrete events (a spike's
/// reset) are the model's, between steps.
/// </summary>
public interface IModelEquations
{
    /// <summary>Number of state variables.</summary>
    int StateCount { get; }

    /// <summary>Index of the first gating variable (= the number of general variables, at least 1).</summary>
    int GateStart { get; }

    /// <summary>
    /// Time derivatives of the general variables y[0 … GateStart) and each one's derivative with respect to itself
    /// (the diagonal of the Jacobian, which exponential Euler integrates exactly where the equation is linear in it).
    /// </summary>
    /// <param name="y">The whole state.</param>
    /// <param name="stimulus">The stimulus held over the step.</param>
    /// <param name="dydt">Receives dy/dt of the general variables.</param>
    /// <param name="selfJacobian">Receives ∂(dyᵢ/dt)/∂yᵢ of the general variables.</param>
    void Derivatives(ReadOnlySpan<double> y, double stimulus, Span<double> dydt, Span<double> selfJacobian);

    /// <summary>Steady state and time constant (ms) of each gate y[GateStart …] at state <paramref name="y"/>.</summary>
    /// <param name="y">The whole state.</param>
    /// <param name="steadyState">Receives x∞ of each gate.</param>
    /// <param name="tauMs">Receives τ of each gate (may be +∞: the gate does not move).</param>
    void Gates(ReadOnlySpan<double> y, Span<double> steadyState, Span<double> tauMs);
}

/// <summary>Conversions between the two ways a gate's kinetics are written.</summary>
public static class GateForm
{
    /// <summary>x∞ = α/(α + β), τ = 1/(α + β): the α/β (opening/closing rate) form as steady state and time constant.</summary>
    public static (double SteadyState, double TauMs) FromRates(double alphaPerMs, double betaPerMs)
    {
        double sum = alphaPerMs + betaPerMs;
        return (alphaPerMs / sum, 1 / sum);
    }
}

/// <summary>
/// The shared integrators, each written once for every model's <see cref="IModelEquations"/>. Holds its work arrays,
/// so a step allocates nothing.
/// <list type="bullet">
/// <item><see cref="Integrator.ExponentialEuler"/>: each general variable takes the exponential Euler step of its own
/// linearisation, y ← y + dt·φ(J·dt)·f with φ(z) = (eᶻ − 1)/z (exact where the equation is linear in it: the LIF's V,
/// HH's V with frozen gates); then every gate, at the new general variables, relaxes exactly towards x∞ (Rush–Larsen,
/// NEURON's <c>cnexp</c>). First order.</item>
/// <item><see cref="Integrator.RungeKutta4"/>: classic fourth-order Runge–Kutta on the whole state. Fourth order.</item>
/// </list>
/// </summary>
public sealed class StateIntegrator
{
    private readonly IModelEquations equations;
    private readonly double[] k1, k2, k3, k4, probe, jacobian, steady, tau;

    /// <summary>Creates the integrator of <paramref name="scheme"/> for <paramref name="equations"/>.</summary>
    public StateIntegrator(IModelEquations equations, Integrator scheme)
    {
        ArgumentNullException.ThrowIfNull(equations);
        if (equations.GateStart < 1 || equations.GateStart > equations.StateCount) throw new ArgumentException("the equations need 1 ≤ GateStart ≤ StateCount");
        this.equations = equations;
        Scheme = scheme;
        int n = equations.StateCount;
        (k1, k2, k3, k4, probe, jacobian, steady, tau) = (new double[n], new double[n], new double[n], new double[n], new double[n], new double[n], new double[n], new double[n]);
    }

    /// <summary>The scheme.</summary>
    public Integrator Scheme { get; }

    /// <summary>Advances <paramref name="y"/> by <paramref name="dtMs"/> with <paramref name="stimulus"/> held over the step.</summary>
    public void Step(Span<double> y, double stimulus, double dtMs)
    {
        if (Scheme == Integrator.RungeKutta4) StepRungeKutta4(y, stimulus, dtMs);
        else StepExponentialEuler(y, stimulus, dtMs);
    }

    /// <summary>φ(z) = (eᶻ − 1)/z, by its series near 0 where the quotient loses digits.</summary>
    public static double Phi(double z) => Math.Abs(z) < 1e-5 ? 1 + (z * (0.5 + (z / 6))) : Math.Abs(z) < 0.5 ? ExpM1(z) / z : (Math.Exp(z) - 1) / z;

    private static double ExpM1(double z)
    {
        // e^z − 1 without cancellation for moderate z: (u − 1)·z / ln u with u = e^z (Kahan's trick).
        double u = Math.Exp(z);
        return u == 1 ? z : (u - 1) * z / Math.Log(u);
    }

    private void StepExponentialEuler(Span<double> y, double stimulus, double dt)
    {
        int g0 = equations.GateStart;
        equations.Derivatives(y, stimulus, k1.AsSpan(0, g0), jacobian.AsSpan(0, g0));
        for (int i = 0; i < g0; i++) y[i] += dt * Phi(jacobian[i] * dt) * k1[i];
        int gates = equations.StateCount - g0;
        if (gates == 0) return;
        // Gates at the new potential, as NEURON's cnexp follows its voltage update.
        equations.Gates(y, steady.AsSpan(0, gates), tau.AsSpan(0, gates));
        for (int j = 0; j < gates; j++)
        {
            double x = y[g0 + j];
            y[g0 + j] = steady[j] + ((x - steady[j]) * Math.Exp(-dt / tau[j]));
        }
    }

    private void StepRungeKutta4(Span<double> y, double stimulus, double dt)
    {
        int n = equations.StateCount;
        Rates(y, stimulus, k1);
        for (int i = 0; i < n; i++) probe[i] = y[i] + (0.5 * dt * k1[i]);
        Rates(probe, stimulus, k2);
        for (int i = 0; i < n; i++) probe[i] = y[i] + (0.5 * dt * k2[i]);
        Rates(probe, stimulus, k3);
        for (int i = 0; i < n; i++) probe[i] = y[i] + (dt * k3[i]);
        Rates(probe, stimulus, k4);
        for (int i = 0; i < n; i++) y[i] += dt / 6 * (k1[i] + (2 * k2[i]) + (2 * k3[i]) + k4[i]);
    }

    /// <summary>dy/dt of the whole state: the general variables' derivatives and the gates' (x∞ − x)/τ.</summary>
    private void Rates(ReadOnlySpan<double> y, double stimulus, double[] dydt)
    {
        int g0 = equations.GateStart, gates = equations.StateCount - g0;
        equations.Derivatives(y, stimulus, dydt.AsSpan(0, g0), jacobian.AsSpan(0, g0));
        if (gates == 0) return;
        equations.Gates(y, steady.AsSpan(0, gates), tau.AsSpan(0, gates));
        for (int j = 0; j < gates; j++) dydt[g0 + j] = (steady[j] - y[g0 + j]) / tau[j];
    }
}

/// <summary>
/// A model written as equations: it holds the state and the shared integrator and steps one with the other; a model
/// with discrete events (a spike's reset) adds them around <see cref="Integrate"/>.
/// </summary>
public abstract class EquationModel : IModelEquations
{
    private readonly StateIntegrator integrator;

    /// <summary>Creates the state and the integrator.</summary>
    /// <param name="stateCount">Number of state variables.</param>
    /// <param name="gateStart">Index of the first gating variable.</param>
    /// <param name="scheme">The integrator.</param>
    protected EquationModel(int stateCount, int gateStart, Integrator scheme)
    {
        StateCount = stateCount;
        GateStart = gateStart;
        State = new double[stateCount];
        integrator = new StateIntegrator(this, scheme);
    }

    /// <summary>The integration scheme.</summary>
    public Integrator Integrator => integrator.Scheme;

    /// <inheritdoc/>
    public int StateCount { get; }

    /// <inheritdoc/>
    public int GateStart { get; }

    /// <summary>The state (y[0] the membrane potential in the model's own units).</summary>
    protected double[] State { get; }

    /// <summary>One step of the equations by the model's integrator.</summary>
    protected void Integrate(double stimulus, double dtMs) => integrator.Step(State, stimulus, dtMs);

    /// <inheritdoc/>
    public abstract void Derivatives(ReadOnlySpan<double> y, double stimulus, Span<double> dydt, Span<double> selfJacobian);

    /// <inheritdoc/>
    public virtual void Gates(ReadOnlySpan<double> y, Span<double> steadyState, Span<double> tauMs)
    {
    }
}
