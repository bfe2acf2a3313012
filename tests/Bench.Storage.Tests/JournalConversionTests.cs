using System.Text.Json.Nodes;
using Bench.Core.Protocol;
using Bench.Core.Instrument;
using Bench.Storage.Journal;

namespace Bench.Storage.Tests;

/// <summary>Ending a journal: the journal is deleted only once its NWB file is complete and recorded.</summary>
public sealed class JournalConversionTests : IDisposable
{
    private static readonly DeviceInfo Device = new(1, 0, 1, 0, 0, "EMU", 0xb3c4000000000001, 16_000_000, 100_000, 5000, 12, 1, 0, 11, 500,
        [new OutputDescriptor(1, 12, 2047, 1, 1_000_000, 500_000)]);

    private readonly string dir = NwbTestData.TempDirectory();

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string Journal(string name, Calibration calibration)
    {
        string nwb = Path.Combine(dir, name + ".nwb");
        var header = JournalHeader.Create(name, DateTime.UtcNow, "emulated", Device, calibration, "test", 20_000, 0, 1, "hh", null);
        using var writer = new RecordingJournalWriter(JournalConverter.JournalPathFor(nwb), header);
        var codes = new ushort[100];
        var model = new float[100];
        for (int i = 0; i < codes.Length; i++)
        {
            codes[i] = (ushort)(1000 + i);
            model[i] = -65;
        }

        writer.WriteSamples(0, codes, model);
        writer.WriteEnd(new JsonObject { ["samples"] = 100 });
        return nwb;
    }

    [Fact]
    public void The_journal_goes_only_after_the_file_is_complete_and_recorded()
    {
        string nwb = Journal("fine", FrontEnd.Emulated.Calibration);
        JournalConversion? recorded = null;
        var result = JournalConverter.ConvertAndRemoveJournal(JournalConverter.JournalPathFor(nwb), nwb, r =>
        {
            // When the result is recorded the file is in place and the journal still there.
            Assert.True(File.Exists(nwb));
            Assert.True(File.Exists(JournalConverter.JournalPathFor(nwb)));
            recorded = r;
        });
        Assert.Same(result, recorded);
        Assert.Equal(100, result.Nwb.Samples);
        Assert.False(File.Exists(JournalConverter.JournalPathFor(nwb)));
        Assert.False(File.Exists(nwb + ".partial"));
    }

    [Fact]
    public void A_failure_to_record_the_result_keeps_the_journal_and_leaves_no_file()
    {
        string nwb = Journal("unrecorded", FrontEnd.Emulated.Calibration);
        var e = Assert.Throws<JournalConversionException>(() =>
            JournalConverter.ConvertAndRemoveJournal(JournalConverter.JournalPathFor(nwb), nwb, _ => throw new ArgumentException("the catalog refused it")));
        Assert.Contains("the catalog refused it", e.Message);
        Assert.Contains($"bench recover {nwb}", e.Message);
        Assert.True(File.Exists(JournalConverter.JournalPathFor(nwb)));
        Assert.False(File.Exists(nwb));
        Assert.False(File.Exists(nwb + ".partial"));
        // And the journal is whole: the conversion can be done again.
        JournalConverter.ConvertAndRemoveJournal(JournalConverter.JournalPathFor(nwb), nwb);
        Assert.True(File.Exists(nwb));
    }

    [Fact]
    public void A_failed_conversion_keeps_the_journal_and_says_bench_recover_can_retry()
    {
        string nwb = Journal("blocked", FrontEnd.Emulated.Calibration);
        Directory.CreateDirectory(nwb);   // something in the file's way
        var e = Assert.Throws<JournalConversionException>(() => JournalConverter.ConvertAndRemoveJournal(JournalConverter.JournalPathFor(nwb), nwb));
        Assert.Contains("could not be written", e.Message);
        Assert.Contains("bench recover", e.Message);
        Assert.True(File.Exists(JournalConverter.JournalPathFor(nwb)));
        Assert.False(File.Exists(nwb + ".partial"));
    }

    [Fact]
    public void A_journal_with_an_absurd_calibration_converts_without_an_infinite_RMSE()
    {
        // Written before calibrations were checked: the potentials overflow, so there is no RMSE to report (the
        // catalog would refuse an infinite one and the recording would be stuck).
        string nwb = Journal("absurd", new Calibration(1e308, 1e308));
        var result = JournalConverter.ConvertAndRemoveJournal(JournalConverter.JournalPathFor(nwb), nwb);
        Assert.Null(result.RmseMv);
        Assert.True(File.Exists(nwb));
    }
}
