namespace Bench.Rig.Firmata;

/// <summary>
/// The documented circuit of a stock Arduino used as a rig through Firmata (hardware/README.md, "A stock Arduino with
/// Firmata"): the preparation's membrane potential through the reference front end (−100 … +60 mV onto 0 … 5 V) on
/// A0, and stimulus current from digital pin D9 through a series resistor into the preparation.
/// </summary>
public static class FirmataWiring
{
    /// <summary>The analog pin the front end feeds (A0).</summary>
    public const int AnalogPin = 0;

    /// <summary>The digital pin that drives the stimulus resistor (D9).</summary>
    public const int StimulusPin = 9;

    /// <summary>The series resistor between D9 and the preparation (MΩ).</summary>
    public const double SeriesResistorMohm = 100;

    /// <summary>The level of a digital pin driven high on a 5 V Uno (mV).</summary>
    public const double PinHighMv = 5000;

    /// <summary>
    /// The current while D9 is high, nominally (nA): 5 V / 100 MΩ = 50 nA. The exact current is (5 V − V_m) / R, so it
    /// is 1.4 % more at −70 mV and 1.2 % less at +60 mV; while D9 is low, −V_m / R flows (+0.7 nA at −70 mV).
    /// </summary>
    public const double NominalNanoamps = PinHighMv / SeriesResistorMohm;
}
