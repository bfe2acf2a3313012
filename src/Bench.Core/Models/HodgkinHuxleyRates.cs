using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Bench.Core.Models;

/// <summary>Steady states and time constants of the m, h and n gates at one potential.</summary>
/// <param name="MInf">Steady state of m.</param>
/// <param name="MTauMs">Time constant of m (ms).</param>
/// <param name="HInf">Steady state of h.</param>
/// <param name="HTauMs">Time constant of h (ms).</param>
/// <param name="NInf">Steady state of n.</param>
/// <param name="NTauMs">Time constant of n (ms).</param>
public readonly record struct GateRates(double MInf, double MTauMs, double HInf, double HTauMs, double NInf, double NTauMs);

/// <summary>
/// The rate functions of NEURON's <c>hh.mod</c>, in absolute mV. The 0/0 points of αm (−40 mV) and
/// αn (−55 mV) are trapped exactly as <c>hh.mod</c>'s <c>vtrap</c> does.
/// </summary>
public static class HodgkinHuxleyRates
{
    /// <summary>
    /// NEURON's <c>vtrap(x, y) = x / (exp(x/y) − 1)</c>, replaced by its first-order expansion
    /// <c>y (1 − x/y/2)</c> where |x/y| &lt; 1e-6, the 0/0 point.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Vtrap(double x, double y) =>
        Math.Abs(x / y) < 1e-6 ? y * (1 - (x / y / 2)) : x / (Math.Exp(x / y) - 1);

    /// <summary>Evaluates every gate's rates at <paramref name="vMv"/> (classic coordinates) with factor <paramref name="q10"/>.</summary>
    public static GateRates At(double vMv, double q10)
    {
        double alpha = 0.1 * Vtrap(-(vMv + 40), 10);
        double beta = 4 * Math.Exp(-(vMv + 65) / 18);
        double sum = alpha + beta;
        double mtau = 1 / (q10 * sum);
        double minf = alpha / sum;

        alpha = 0.07 * Math.Exp(-(vMv + 65) / 20);
        beta = 1 / (Math.Exp(-(vMv + 35) / 10) + 1);
        sum = alpha + beta;
        double htau = 1 / (q10 * sum);
        double hinf = alpha / sum;

        alpha = 0.01 * Vtrap(-(vMv + 55), 10);
        beta = 0.125 * Math.Exp(-(vMv + 65) / 80);
        sum = alpha + beta;
        double ntau = 1 / (q10 * sum);
        double ninf = alpha / sum;
        return new GateRates(minf, mtau, hinf, htau, ninf, ntau);
    }
}

/// <summary>
/// NEURON's rate table for <c>hh</c>: <c>TABLE minf, mtau, hinf, htau, ninf, ntau DEPEND celsius FROM -100 TO 100 WITH 200</c>,
/// read with linear interpolation and clamped at the ends, exactly as the code NEURON generates from <c>hh.mod</c>.
/// </summary>
public sealed class HodgkinHuxleyRateTable
{
    /// <summary>Lowest tabulated potential (mV).</summary>
    public const double MinMv = -100;

    /// <summary>Number of intervals (1 mV each).</summary>
    public const int Intervals = 200;

    private const int Stride = 6;
    private readonly double[] rows = new double[(Intervals + 1) * Stride];

    /// <summary>Builds the table for a q10 factor.</summary>
    public HodgkinHuxleyRateTable(double q10)
    {
        Q10 = q10;
        double x = MinMv;
        for (int i = 0; i <= Intervals; i++, x += 1.0)
        {
            var r = HodgkinHuxleyRates.At(x, q10);
            int o = i * Stride;
            rows[o] = r.MInf;
            rows[o + 1] = r.MTauMs;
            rows[o + 2] = r.HInf;
            rows[o + 3] = r.HTauMs;
            rows[o + 4] = r.NInf;
            rows[o + 5] = r.NTauMs;
        }
    }

    /// <summary>The q10 factor the table was built for.</summary>
    public double Q10 { get; }

    /// <summary>
    /// The table as vector rows for one compartment: taus (m, h, n, 1) and steady states (m, h, n, 0) at each grid
    /// point, so one interpolation serves all three gates. One extra row repeats the last, so a read of
    /// rows i and i + 1 with θ = 0 at the top end (i = 200) stays inside and is exact.
    /// </summary>
    internal (Vector256<double>[] Taus, Vector256<double>[] Infs) VectorRows()
    {
        var taus = new Vector256<double>[Intervals + 2];
        var infs = new Vector256<double>[Intervals + 2];
        for (int i = 0; i <= Intervals; i++)
        {
            int o = i * Stride;
            taus[i] = Vector256.Create(rows[o + 1], rows[o + 3], rows[o + 5], 1.0);
            infs[i] = Vector256.Create(rows[o], rows[o + 2], rows[o + 4], 0.0);
        }

        taus[Intervals + 1] = taus[Intervals];
        infs[Intervals + 1] = infs[Intervals];
        return (taus, infs);
    }
}
