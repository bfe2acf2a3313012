namespace Bench.Core.Instrument;

/// <summary>
/// A recording front end: the membrane potential through an amplifier (gain and offset) onto an ADC's range.
/// The reference rig maps −100 … +60 mV onto 0 … 5 V.
/// </summary>
/// <param name="GainVoltsPerVolt">Amplifier gain (ADC-input mV per membrane mV).</param>
/// <param name="OffsetMv">Offset added at the ADC input (mV).</param>
/// <param name="AdcBits">ADC resolution.</param>
/// <param name="AdcReferenceMv">ADC full scale (mV).</param>
public sealed record FrontEnd(double GainVoltsPerVolt, double OffsetMv, int AdcBits, double AdcReferenceMv)
{
    /// <summary>The reference rig's front end: −100 … +60 mV onto 0 … 5000 mV, 10-bit ADC (ATmega328P).</summary>
    public static FrontEnd ReferenceRig { get; } = new(5000.0 / 160, 100 * 5000.0 / 160, 10, 5000);

    /// <summary>The emulated rig's default: the same range on a 12-bit ADC.</summary>
    public static FrontEnd Emulated { get; } = ReferenceRig with { AdcBits = 12 };

    /// <summary>
    /// The calibration to use for a rig nobody has calibrated: the emulated rig's own front end for the emulator
    /// (board <c>EMU</c>), else the reference rig's nominal front end on the rig's ADC.
    /// </summary>
    public static (Calibration Calibration, string Source) NominalCalibration(Protocol.DeviceInfo device) => device.Board == "EMU"
        ? (Emulated.Calibration, "emulated rig front end")
        : (new FrontEnd(ReferenceRig.GainVoltsPerVolt, ReferenceRig.OffsetMv, device.AdcBits, device.AdcRefMv).Calibration, "reference rig front end, nominal (not calibrated)");

    /// <summary>Largest ADC code.</summary>
    public int MaxCode => (1 << AdcBits) - 1;

    /// <summary>The ADC code for a membrane potential (rounded, clipped to the ADC's range).</summary>
    public ushort ToCode(double membraneMv)
    {
        double adcMv = (GainVoltsPerVolt * membraneMv) + OffsetMv;
        double code = Math.Round(adcMv / AdcReferenceMv * (1 << AdcBits));
        return (ushort)Math.Clamp(code, 0, MaxCode);
    }

    /// <summary>The calibration this front end implies: mV per count and the mV at count 0.</summary>
    public Calibration Calibration => new(AdcReferenceMv / (1 << AdcBits) / GainVoltsPerVolt, -OffsetMv / GainVoltsPerVolt);
}

/// <summary>ADC counts to membrane mV: V = <see cref="MillivoltsPerCount"/>·code + <see cref="OffsetMv"/>.</summary>
/// <param name="MillivoltsPerCount">Membrane mV per ADC count.</param>
/// <param name="OffsetMv">Membrane mV at count 0.</param>
public sealed record Calibration(double MillivoltsPerCount, double OffsetMv)
{
    /// <summary>The membrane potential of an ADC code.</summary>
    public double ToMillivolts(double code) => (MillivoltsPerCount * code) + OffsetMv;
}
