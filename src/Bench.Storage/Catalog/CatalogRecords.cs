using System.Globalization;

namespace Bench.Storage.Catalog;

/// <summary>A rig the catalog has seen.</summary>
/// <param name="UniqueId">The board's unique id, 16 lower-case hex digits (a string, not a number: 64-bit ids do not
/// survive JavaScript's numbers).</param>
/// <param name="Board">Board name from its DeviceInfo.</param>
/// <param name="Firmware">Firmware version, <c>major.minor.patch</c>.</param>
/// <param name="Protocol">Wire protocol version, <c>major.minor</c>.</param>
/// <param name="LastPort">The port it was last seen on (e.g. <c>/dev/ttyACM0</c>, <c>tcp://…</c>), if known.</param>
/// <param name="FirstSeenUtc">When it was first seen.</param>
/// <param name="LastSeenUtc">When it was last seen.</param>
public sealed record RigRecord(
    string UniqueId, string Board, string Firmware, string Protocol, string? LastPort, DateTime FirstSeenUtc, DateTime LastSeenUtc);

/// <summary>A calibration of one rig: ADC counts to membrane mV and, optionally, DAC codes to nA.</summary>
/// <param name="Id">Catalog id (increasing with every calibration saved).</param>
/// <param name="RigUniqueId">The rig, 16 hex digits.</param>
/// <param name="MillivoltsPerCount">Membrane mV per ADC count.</param>
/// <param name="OffsetMv">Membrane mV at count 0.</param>
/// <param name="NanoampsPerCode">Stimulus nA per DAC code, when it was measured.</param>
/// <param name="Source">How it was obtained (see <see cref="CalibrationSources"/>).</param>
/// <param name="Notes">Quality or remarks (e.g. the fit's residual), free text.</param>
/// <param name="CreatedUtc">When it was saved.</param>
public sealed record CalibrationRecord(
    long Id, string RigUniqueId, double MillivoltsPerCount, double OffsetMv, double? NanoampsPerCode, string Source, string? Notes, DateTime CreatedUtc);

/// <summary>The usual values of <see cref="CalibrationRecord.Source"/> (any non-empty text is accepted).</summary>
public static class CalibrationSources
{
    /// <summary>Measured with two known potentials.</summary>
    public const string TwoPoint = "two-point";

    /// <summary>Fitted by comparing a recording with the model.</summary>
    public const string ModelFit = "model-fit";

    /// <summary>The front end's nominal values.</summary>
    public const string Default = "default";
}

/// <summary>Where a recording stands.</summary>
public enum RecordingStatus
{
    /// <summary>Being recorded (or interrupted before it finished).</summary>
    Recording,

    /// <summary>Finished normally.</summary>
    Complete,

    /// <summary>Interrupted, then rebuilt from what reached the disk.</summary>
    Recovered,
}

/// <summary>A recording in the catalog.</summary>
/// <param name="Id">Its name (<see cref="RecordingNames"/>): unique, safe as a file name.</param>
/// <param name="RelativePath">Its file, relative to the data directory (e.g. <c>recordings/x.nwb</c>), so the data
/// directory can move.</param>
/// <param name="RigUniqueId">The rig, 16 hex digits.</param>
/// <param name="StartedUtc">Host time of device sample 0.</param>
/// <param name="DurationS">Length in seconds of device time.</param>
/// <param name="Samples">Samples received.</param>
/// <param name="LostSamples">Samples lost on the link.</param>
/// <param name="SampleRateHz">Device samples per second.</param>
/// <param name="Model">The model it was compared with, if any.</param>
/// <param name="RmseMv">Root-mean-square difference between recording and model (mV), if compared.</param>
/// <param name="Status">Where it stands.</param>
public sealed record RecordingRecord(
    string Id, string RelativePath, string RigUniqueId, DateTime StartedUtc, double DurationS, long Samples, long LostSamples,
    double SampleRateHz, string? Model, double? RmseMv, RecordingStatus Status);

/// <summary>Rig unique ids in their text form: 16 lower-case hex digits, as in the sidecar and NWB files.</summary>
public static class RigIds
{
    /// <summary>The text form of a unique id.</summary>
    public static string Format(ulong uniqueId) => uniqueId.ToString("x16", CultureInfo.InvariantCulture);

    /// <summary>Normalises a text id (any case) to lower case.</summary>
    /// <exception cref="ArgumentException">Not exactly 16 hex digits.</exception>
    public static string Normalize(string uniqueId)
    {
        if (uniqueId is null || uniqueId.Length != 16 || !uniqueId.All(char.IsAsciiHexDigit))
        {
            throw new ArgumentException($"a rig unique id is 16 hex digits, not '{uniqueId}'", nameof(uniqueId));
        }

        return uniqueId.ToLowerInvariant();
    }
}

/// <summary>The calibration a rig is used with.</summary>
public static class RigCalibrations
{
    /// <summary>
    /// The rig's latest calibration stored in <paramref name="catalog"/> (applied automatically whenever the rig
    /// connects), else its front end's nominal one (<see cref="Bench.Core.Instrument.FrontEnd.NominalCalibration"/>); and the
    /// output's nA per DAC code, when that calibration measured it.
    /// </summary>
    public static (Bench.Core.Instrument.Calibration Calibration, string Source, double? NanoampsPerCode) For(BenchCatalog? catalog, Bench.Core.Protocol.DeviceInfo device)
    {
        string? ignored = null;
        if (catalog is not null && catalog.TryGetLatestCalibration(RigIds.Format(device.UniqueId), out var stored) && stored is not null)
        {
            // A calibration stored before calibrations were checked may be one no front end can have: recording with it
            // would give infinite potentials, so the nominal one is used and the source says why.
            ignored = Bench.Core.Instrument.CalibrationLimits.Check(stored.MillivoltsPerCount, stored.OffsetMv, device.AdcBits);
            if (ignored is null)
            {
                return (new Bench.Core.Instrument.Calibration(stored.MillivoltsPerCount, stored.OffsetMv),
                    string.Create(CultureInfo.InvariantCulture, $"{stored.Source}, stored {stored.CreatedUtc:yyyy-MM-dd HH:mm} UTC (calibration {stored.Id})"),
                    stored.NanoampsPerCode);
            }

            ignored = string.Create(CultureInfo.InvariantCulture, $" (stored calibration {stored.Id} ignored: {ignored}; store a new one)");
        }

        var (nominal, source) = Bench.Core.Instrument.FrontEnd.NominalCalibration(device);
        return (nominal, source + ignored, null);
    }
}
