namespace Bench.Core.Models;

/// <summary>The Nernst equation: the equilibrium potential of an ion from its concentrations and the temperature.</summary>
public static class Nernst
{
    /// <summary>Gas constant R (J/(mol·K)), CODATA 2018 exact.</summary>
    public const double GasConstant = 8.314462618;

    /// <summary>Faraday constant F (C/mol), CODATA 2018 exact.</summary>
    public const double Faraday = 96485.33212;

    /// <summary>0 °C in kelvin.</summary>
    public const double ZeroCelsiusKelvin = 273.15;

    /// <summary>E = (RT/zF)·ln([out]/[in]) in mV.</summary>
    /// <param name="valence">The ion's charge z (+1 for Na⁺ and K⁺, +2 for Ca²⁺, −1 for Cl⁻).</param>
    /// <param name="outsideMm">Extracellular concentration (mM).</param>
    /// <param name="insideMm">Intracellular concentration (mM).</param>
    /// <param name="celsius">Temperature (°C).</param>
    /// <exception cref="ArgumentException">A concentration that is not positive, a valence of 0, or a temperature at or below absolute zero.</exception>
    public static double PotentialMv(int valence, double outsideMm, double insideMm, double celsius)
    {
        if (valence == 0) throw new ArgumentException("an ion's valence is not 0 (Na+ and K+ are +1, Ca2+ +2, Cl- -1)");
        if (!(outsideMm > 0) || !(insideMm > 0)) throw new ArgumentException($"concentrations must be positive (got outside {outsideMm} mM, inside {insideMm} mM)");
        double kelvin = celsius + ZeroCelsiusKelvin;
        if (!(kelvin > 0)) throw new ArgumentException($"temperature must be above absolute zero (got {celsius} degC)");
        return 1000 * GasConstant * kelvin / (valence * Faraday) * Math.Log(outsideMm / insideMm);
    }
}

/// <summary>
/// The teaching Hodgkin–Huxley membrane with ion concentrations: E_Na and E_K are not parameters but follow from
/// [Na⁺] and [K⁺] inside and out by the Nernst equation at the model's temperature (the same temperature that sets the
/// gates' rates by q10). The defaults (K⁺ 5.72 out / 140 in, Na⁺ 145 out / 18.18 in, mM, at 6.3 °C) give
/// E_K = −77.00 and E_Na = +50.00 mV, hh.mod's values, so at its defaults this is the <c>hh</c> teaching model (rest
/// −70 mV, threshold ≈ −55 mV). Raising [K⁺]o moves E_K and so rest towards it; the leak keeps its fixed reversal.
/// The cell starts at its resting potential for the parameters (<see cref="RestingPotentialMv"/>).
/// Concentrations: the mammalian figures of Hille (2001), <i>Ion Channels of Excitable Membranes</i>, 3rd ed.,
/// Table 1.1 (K⁺ 4–5 / 140–155 mM, Na⁺ 145 / 5–15 mM), with [K⁺]o and [Na⁺]i set so the potentials are HH's.
/// </summary>
public sealed record IonicHodgkinHuxleyParameters
{
    /// <summary>The membrane (conductances, leak, capacitance, temperature, rates); its E_Na and E_K are replaced by the Nernst potentials.</summary>
    public HodgkinHuxleyParameters Membrane { get; init; } = HodgkinHuxleyParameters.Teaching;

    /// <summary>Extracellular K⁺ (mM).</summary>
    public double PotassiumOutsideMm { get; init; } = IonicHodgkinHuxleyDeclarations.PotassiumOutside.DefaultValue;

    /// <summary>Intracellular K⁺ (mM).</summary>
    public double PotassiumInsideMm { get; init; } = IonicHodgkinHuxleyDeclarations.PotassiumInside.DefaultValue;

    /// <summary>Extracellular Na⁺ (mM).</summary>
    public double SodiumOutsideMm { get; init; } = IonicHodgkinHuxleyDeclarations.SodiumOutside.DefaultValue;

    /// <summary>Intracellular Na⁺ (mM).</summary>
    public double SodiumInsideMm { get; init; } = IonicHodgkinHuxleyDeclarations.SodiumInside.DefaultValue;

    /// <summary>Temperature (°C): the Nernst potentials' and the gates' (q10).</summary>
    public double TemperatureCelsius => Membrane.TemperatureCelsius;

    /// <summary>E_K by the Nernst equation (mV).</summary>
    public double EKMv => Nernst.PotentialMv(1, PotassiumOutsideMm, PotassiumInsideMm, TemperatureCelsius);

    /// <summary>E_Na by the Nernst equation (mV).</summary>
    public double ENaMv => Nernst.PotentialMv(1, SodiumOutsideMm, SodiumInsideMm, TemperatureCelsius);

    /// <summary>
    /// The resting potential (mV): the most negative potential where the steady-state current is zero and rising with
    /// V (a stable rest), found by a 0.5 mV scan from −150 mV and bisection. Past a few mM more K⁺ outside there may be
    /// no rest below threshold: the rest found is then the depolarised one of a cell in depolarisation block.
    /// </summary>
    public double RestingPotentialMv
    {
        get
        {
            var m = Membrane with { ENaMv = ENaMv, EKMv = EKMv };
            double Current(double v)
            {
                var r = HodgkinHuxleyRates.At(v - m.RateShiftMv, 1);
                return (m.GNaMilliSiemensPerCm2 * r.MInf * r.MInf * r.MInf * r.HInf * (v - m.ENaMv))
                    + (m.GKMilliSiemensPerCm2 * Math.Pow(r.NInf, 4) * (v - m.EKMv))
                    + (m.GLeakMilliSiemensPerCm2 * (v - m.ELeakMv));
            }

            for (double lo = -150; lo < 100; lo += 0.5)
            {
                double hi = lo + 0.5;
                if (!(Current(lo) < 0 && Current(hi) >= 0)) continue;
                for (int i = 0; i < 60; i++)
                {
                    double mid = 0.5 * (lo + hi);
                    if (Current(mid) < 0) lo = mid; else hi = mid;
                }

                return 0.5 * (lo + hi);
            }

            throw new ArgumentException("these concentrations and conductances leave the membrane no resting potential between -150 and +100 mV");
        }
    }

    /// <summary>
    /// The Hodgkin–Huxley membrane these concentrations make: E_Na, E_K from Nernst, starting at its resting potential
    /// (so a change of concentration is a new steady state, not a step that fires the cell at t = 0).
    /// </summary>
    public HodgkinHuxleyParameters ToMembrane() => Membrane with { ENaMv = ENaMv, EKMv = EKMv, InitialVoltageMv = RestingPotentialMv };
}

/// <summary>
/// The parameters of <c>hh-ions</c>: the Hodgkin–Huxley declarations less E_Na and E_K (which the concentrations set)
/// and v_init (it starts at rest), the same declarations bound to <see cref="IonicHodgkinHuxleyParameters.Membrane"/>;
/// then the four concentrations.
/// </summary>
public static class IonicHodgkinHuxleyDeclarations
{
    private static ModelParameter Concentration(string name, double defaultMm, string description, double labMaxMm) =>
        ModelParameter.Positive(name, "mM", defaultMm, description) with { LabRange = (0.1, labMaxMm), Transform = FitTransform.Log };

    /// <summary>Extracellular K⁺.</summary>
    public static ParameterBinding<IonicHodgkinHuxleyParameters> PotassiumOutside { get; } = new(
        Concentration("Ko", 5.72, "extracellular K+ (sets EK by Nernst)", 200), p => p.PotassiumOutsideMm, (p, x) => p with { PotassiumOutsideMm = x });

    /// <summary>Intracellular K⁺.</summary>
    public static ParameterBinding<IonicHodgkinHuxleyParameters> PotassiumInside { get; } = new(
        Concentration("Ki", 140, "intracellular K+ (sets EK by Nernst)", 500), p => p.PotassiumInsideMm, (p, x) => p with { PotassiumInsideMm = x });

    /// <summary>Extracellular Na⁺.</summary>
    public static ParameterBinding<IonicHodgkinHuxleyParameters> SodiumOutside { get; } = new(
        Concentration("Nao", 145, "extracellular Na+ (sets ENa by Nernst)", 500), p => p.SodiumOutsideMm, (p, x) => p with { SodiumOutsideMm = x });

    /// <summary>Intracellular Na⁺.</summary>
    public static ParameterBinding<IonicHodgkinHuxleyParameters> SodiumInside { get; } = new(
        Concentration("Nai", 18.18, "intracellular Na+ (sets ENa by Nernst)", 200), p => p.SodiumInsideMm, (p, x) => p with { SodiumInsideMm = x });

    /// <summary>Every parameter: the membrane's (without ENa, EK), then the concentrations.</summary>
    public static IReadOnlyList<ParameterBinding<IonicHodgkinHuxleyParameters>> All { get; } =
    [
        .. HodgkinHuxleyDeclarations.All
            .Where(b => b != HodgkinHuxleyDeclarations.ENa && b != HodgkinHuxleyDeclarations.EK && b != HodgkinHuxleyDeclarations.InitialVoltage)
            .Select(b => new ParameterBinding<IonicHodgkinHuxleyParameters>(b.Declaration, p => b.Get(p.Membrane), (p, x) => p with { Membrane = b.Set(p.Membrane, x) })),
        PotassiumOutside, PotassiumInside, SodiumOutside, SodiumInside,
    ];
}
