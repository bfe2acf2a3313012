using System.Diagnostics;
using System.Text.Json.Nodes;
using Bench.Core.Protocol;
using Bench.Core.Instrument;
using Bench.Storage.Journal;
using Bench.Storage.Nwb;
using Bench.Storage.Recordings;
using static Bench.Storage.Tests.NwbTestData;

namespace Bench.Storage.Tests;

/// <summary>
/// The one recording format: NWB files that the official schema accepts, that Bench reads back whole (samples, gaps,
/// pulses with the commands that made them, the model compared live), and journals that survive a damaged record.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class RecordingFormatTests : IDisposable
{
    private static readonly DeviceInfo Device = new(1, 0, 1, 0, 0, "EMU", 0xb3c4000000000001, 16_000_000, 100_000, 5000, 12, 1, 0, 11, 500,
        [new OutputDescriptor(1, 12, 2047, 1, 1_000_000, 500_000)]);

    private static readonly Calibration Cal = new(0.0390625, -100);

    private readonly string dir = TempDirectory();

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void Every_shape_of_file_validates_against_the_NWB_2_7_0_schema()
    {
        var regular = Path.Combine(dir, "regular.nwb");
        NwbWriter.Write(regular, Recording(3000, []) with { ModelName = "hh", HasStimulusCurrent = true, StimulusNanoampsPerCode = 0.05 },
            Chunks([(0, 3000)], 700, model: true, stimulus: true));
        var gapped = Path.Combine(dir, "gapped.nwb");
        NwbWriter.Write(gapped, Recording(2950, [new NwbGap(1200, 50)]) with { ModelName = "hh", HasStimulusCurrent = true },
            Chunks([(0, 1200), (1250, 3000)], 700, model: true, stimulus: true));
        var empty = Path.Combine(dir, "empty.nwb");
        NwbWriter.Write(empty, Recording(0, []) with { ProtocolJson = null }, []);
        string fromJournal = Journal("journal", withDamage: false);
        JournalConverter.Convert(JournalConverter.JournalPathFor(fromJournal), fromJournal);

        foreach (string file in new[] { regular, gapped, empty, fromJournal }) NwbSchema.AssertValid(file);
    }

    [Fact]
    public void The_validator_finds_what_the_schema_requires_when_it_is_missing()
    {
        // A check that cannot fail proves nothing: take a required dataset and attribute out of a valid file.
        var path = Path.Combine(dir, "broken.nwb");
        NwbWriter.Write(path, Recording(100, []), Chunks([(0, 100)], 100, model: false, stimulus: false));
        NwbSchema.AssertValid(path);
        Python($"import h5py\nf = h5py.File('{path}', 'r+')\ndel f['timestamps_reference_time']\ndel f['session_description']\nf.close()");
        var problems = NwbSchema.Problems(path);
        Assert.Contains(problems, p => p.Contains("timestamps_reference_time", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("session_description", StringComparison.Ordinal));
    }

    [Fact]
    public void An_NWB_recording_reads_back_with_its_gaps_pulses_commands_and_model()
    {
        string nwb = Journal("whole", withDamage: false);
        var conversion = JournalConverter.Convert(JournalConverter.JournalPathFor(nwb), nwb);
        Assert.Equal(300, conversion.Nwb.Samples);
        Assert.Equal(20UL, conversion.Nwb.LostSamples);

        var reader = RecordingReader.Open(nwb);
        var info = reader.Info;
        Assert.True(info.IsNwb);
        Assert.Equal(20_000, info.SampleRateHz);
        Assert.Equal(Cal.MillivoltsPerCount, info.Calibration.MillivoltsPerCount, 12);
        Assert.Equal(Cal.OffsetMv, info.Calibration.OffsetMv, 12);
        Assert.Equal("two-point", info.CalibrationSource);
        Assert.Equal("EMU", info.Device!.Board);
        Assert.Equal(0xb3c4000000000001UL, info.Device.UniqueId);
        Assert.Equal("hh", info.Model!.Name);
        Assert.Equal(100.0, info.Model.Parameters["gNa"]);
        Assert.Equal(2e6, info.Model.PreparationAreaUm2);
        Assert.Null(info.StimulusCommandMissing);
        // The two protocols played, as the rig accepted them; the first scheduled at an index, rebased to the file's time zero.
        Assert.Equal([3, 4], info.Stimuli.Select(c => (int)c.StimId));
        Assert.Equal(StimulusCommand.AtIndex, info.Stimuli[0].Flags);
        Assert.Equal(40UL, info.Stimuli[0].StartIndex);
        // The second was played as soon as possible: the rig's report of its first pulse anchors it.
        Assert.Equal(StimulusCommand.AtIndex, info.Stimuli[1].Flags);
        Assert.Equal(200UL, info.Stimuli[1].StartIndex);
        Assert.Equal(0.5, info.NanoampsPerCode);

        var items = reader.Read().ToList();
        var samples = items.OfType<RecordedSamples>().ToList();
        Assert.Equal(300, samples.Sum(s => s.Codes.Length));
        Assert.Equal([1000, 1001], samples[0].Codes[..2].Select(c => (int)c));
        var gap = Assert.Single(items.OfType<RecordedGap>());
        Assert.Equal((150UL, 20UL), (gap.FirstIndex, gap.Length));
        var pulses = items.OfType<RecordedPulse>().Select(p => p.Pulse).ToList();
        Assert.Equal(2, pulses.Count);
        Assert.Equal(new StimulusEvent(40, 3, 0, 0, 0, 600, 0, 0), pulses[0]);
        Assert.Equal(new StimulusEvent(200, 4, 0, 0, 0, -200, 0, StimulusEvent.Last), pulses[1]);
        // Each pulse comes after the samples of its onset, as it would on the wire.
        Assert.True(items.IndexOf(items.OfType<RecordedPulse>().First()) > items.IndexOf(samples[0]));

        // The current as played, sample for sample: 300 nA for the 10 samples from 40, -100 nA for 10 from 200.
        var current = reader.SamplesWithCurrent().SelectMany(s => s.Codes.Select((_, i) => (Index: s.FirstIndex + (ulong)i, Na: s.StimulusNanoamps![i]))).ToList();
        Assert.Equal(300f, current.Single(c => c.Index == 45).Na);
        Assert.Equal(0f, current.Single(c => c.Index == 50).Na);
        Assert.Equal(-100f, current.Single(c => c.Index == 209).Na);
        Assert.Equal(20, current.Count(c => c.Na != 0));
    }

    [Fact]
    public void A_reader_that_knows_only_NWB_gets_volts_times_stimulus_and_gaps()
    {
        string nwb = Journal("plain", withDamage: false);
        JournalConverter.Convert(JournalConverter.JournalPathFor(nwb), nwb);
        var f = NwbSchema.ReadByType(nwb);

        var v = Assert.Single(f["membrane"]!.AsArray())!;
        Assert.Equal("volts", (string?)v["unit"]);
        Assert.Equal(300, (int)v["n"]!);
        Assert.Equal(((1000 * Cal.MillivoltsPerCount) + Cal.OffsetMv) / 1000, (double)v["first"]![0]!, 12);
        Assert.Equal(1 / 20_000.0, (double)v["t_first"]![1]!, 12);
        Assert.Equal(319 / 20_000.0, (double)v["t_last"]!, 12);   // 20 samples lost: the last one's time says so
        var stimulus = Assert.Single(f["stimulus"]!.AsArray())!;
        Assert.Equal("amperes", (string?)stimulus["unit"]);
        Assert.Equal(300e-9, (double)stimulus["max"]!, 15);
        Assert.Equal(40 / 20_000.0, (double)stimulus["t_of_max"]!, 12);
        var lost = f["intervals"]!["invalid_times"]!;
        Assert.Equal([150 / 20_000.0], lost["start_time"]!.AsArray().Select(x => (double)x!));
        Assert.Equal([170 / 20_000.0], lost["stop_time"]!.AsArray().Select(x => (double)x!));
        var events = f["intervals"]!["stimulus_events"]!;
        Assert.Equal([40 / 20_000.0, 200 / 20_000.0], events["start_time"]!.AsArray().Select(x => (double)x!));
        Assert.Equal([300.0, -100.0], events["phase1_nA"]!.AsArray().Select(x => (double)x!));

        // Nothing lost: the same reader takes the times from starting_time and rate.
        var regular = Path.Combine(dir, "regular.nwb");
        NwbWriter.Write(regular, Recording(3000, []) with { HasStimulusCurrent = true }, Chunks([(0, 3000)], 700, model: false, stimulus: true));
        v = Assert.Single(NwbSchema.ReadByType(regular)["membrane"]!.AsArray())!;
        Assert.Equal(2999 / RateHz, (double)v["t_last"]!, 12);
        Assert.Empty(NwbSchema.ReadByType(regular)["intervals"]!["invalid_times"]!["start_time"]!.AsArray());
    }

    [Fact]
    public void A_damaged_journal_record_is_skipped_and_what_follows_is_kept()
    {
        string nwb = Journal("damaged", withDamage: true);
        string journal = JournalConverter.JournalPathFor(nwb);
        var scan = RecordingJournal.Scan(journal);
        Assert.Equal(1, scan.DamagedStretches);
        Assert.True(scan.SkippedBytes > 0);
        Assert.NotNull(scan.End);                         // the end record after the damage is still read
        Assert.Equal(2, scan.Pulses.Count);

        var conversion = JournalConverter.Convert(journal, nwb);
        Assert.Equal(1, conversion.DamagedStretches);
        // The damaged record held 50 samples: they count as lost, beside the 20 the link lost.
        Assert.Equal(250, conversion.Nwb.Samples);
        Assert.Equal(70UL, conversion.Nwb.LostSamples);
        NwbSchema.AssertValid(nwb);
    }

    [Fact]
    public void A_file_of_the_earlier_Bench_still_exports_and_compare_says_what_is_missing()
    {
        // The NWB file as Bench wrote it before this format: gaps under /intervals/gaps, pulses without their codes,
        // the protocols without the commands the rig accepted, no Bench metadata.
        string nwb = Journal("earlier", withDamage: false);
        JournalConverter.Convert(JournalConverter.JournalPathFor(nwb), nwb);
        Python($"import h5py\nf = h5py.File('{nwb}', 'r+')\n"
            + "del f['general/data_collection'].attrs['bench']\nf.move('intervals/invalid_times', 'intervals/gaps')\n"
            + "e = f['intervals/stimulus_events']\n"
            + "for c in ('stim_id', 'output', 'phase1_code', 'phase2_code', 'flags'): del e[c]\n"
            + "e.attrs['colnames'] = ['start_time', 'stop_time', 'train', 'pulse', 'phase1_nA', 'phase2_nA', 'onset_sample']\n"
            + "del f['general/stimulus']\nf['general/stimulus'] = '{\"played\":[{\"stim_id\":3,\"name\":\"one\"}]}'\nf.close()");

        var reader = RecordingReader.Open(nwb);
        Assert.NotNull(reader.Info.StimulusCommandMissing);
        Assert.Contains("record it again", reader.Info.StimulusCommandMissing, StringComparison.Ordinal);
        var csv = RecordingExport.Csv(reader, Path.Combine(dir, "earlier.csv"));
        Assert.Equal(300, csv.Rows);
        Assert.Equal(20UL, csv.LostSamples);
        Assert.Equal("2.25,-59.1797,300,-65", File.ReadAllLines(csv.Path)[1 + 45]);
    }

    [Fact]
    public void An_unknown_HDF5_file_and_a_missing_recording_get_errors_that_say_what_to_do()
    {
        var other = Path.Combine(dir, "other.h5");
        Python($"import h5py\nf = h5py.File('{other}', 'w')\nf['x'] = [1, 2, 3]\nf.close()");
        var e = Assert.Throws<RecordingFormatException>(() => RecordingReader.Open(other));
        Assert.Contains("not an NWB recording Bench wrote", e.Message, StringComparison.Ordinal);

        string nwb = Journal("interrupted", withDamage: false);
        e = Assert.Throws<RecordingFormatException>(() => RecordingReader.Open(nwb));
        Assert.Contains($"bench recover {nwb}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Exports_hold_every_sample_with_its_current_in_csv_and_in_a_spreadsheet()
    {
        string nwb = Journal("export", withDamage: false);
        JournalConverter.Convert(JournalConverter.JournalPathFor(nwb), nwb);
        var reader = RecordingReader.Open(nwb);

        var csv = RecordingExport.Csv(reader, Path.Combine(dir, "x.csv"));
        Assert.Equal(300, csv.Rows);
        Assert.Equal(20UL, csv.LostSamples);
        var lines = File.ReadAllLines(csv.Path);
        // With the model's prediction, as the recording was compared live (an empty cell where the model had not caught up).
        Assert.Equal(RecordingExport.CsvHeader + ",model_mV", lines[0]);
        Assert.Equal("2.25,-59.1797,300,-65", lines[1 + 45]);   // sample 45: 45 / 20 kHz, 1045 counts, in the first pulse

        // A span that ends inside the gap (lost from 150 to 170): the 10 lost before its end are counted too.
        var cut = RecordingExport.Csv(reader, Path.Combine(dir, "cut.csv"), toS: 160 / 20_000.0);
        Assert.Equal(150, cut.Rows);
        Assert.Equal(10UL, cut.LostSamples);

        var span = RecordingExport.Spreadsheet(reader, Path.Combine(dir, "x.xlsx"), fromS: 0.002, toS: 0.011);
        Assert.Equal(200 - 40, span.Rows);      // 40 … 219, less the 20 lost from 150
        Assert.Equal(20UL, span.LostSamples);
        // Read back by an independent reader (openpyxl): the header with units, numbers as numbers.
        string rows = Python($"import openpyxl\nws = openpyxl.load_workbook('{span.Path}', read_only=True).active\n"
            + "rows = list(ws.iter_rows(values_only=True))\nprint(len(rows)); print(rows[0]); print(rows[6])");
        var printed = rows.Split('\n');
        Assert.Equal("161", printed[0]);
        Assert.Equal("('time (ms)', 'membrane potential (mV)', 'stimulus (nA)', 'model (mV)')", printed[1]);
        Assert.Equal("(2.25, -59.1797, 300, -65)", printed[2]);
    }

    /// <summary>A journal of 300 samples at 20 kHz (20 lost at 150), two protocols played (the first at index 40), a model with its parameters.</summary>
    private string Journal(string name, bool withDamage)
    {
        string nwb = Path.Combine(dir, name + ".nwb");
        var header = JournalHeader.Create(name, DateTime.UtcNow, "emulated", Device, Cal, "two-point", 20_000, 0, 0.5, "hh",
            new Dictionary<string, double> { ["gNa"] = 100 }, preparationAreaUm2: 2e6);
        string journal = JournalConverter.JournalPathFor(nwb);
        long damageAt = 0;
        using (var writer = new RecordingJournalWriter(journal, header))
        {
            var first = new StimulusCommand(3, 0, StimulusCommand.AtIndex, 40, [new StimulusTrain(0, 600, 10, 0, 0, 0, 100, 1)]);
            var second = new StimulusCommand(4, 0, 0, 0, [new StimulusTrain(0, -200, 10, 0, 0, 0, 100, 1)]);
            writer.WriteProtocol(new JsonObject { ["stim_id"] = 3, ["name"] = "one", ["command"] = StimulusCommandJson.ToJson(first, 0.5) });
            writer.WriteProtocol(new JsonObject { ["stim_id"] = 4, ["name"] = "two", ["command"] = StimulusCommandJson.ToJson(second, 0.5) });
            foreach (var (start, count) in new (ulong, int)[] { (0, 50), (50, 50), (100, 50), (170, 50), (220, 50), (270, 50) })
            {
                if (start == 100)
                {
                    writer.Flush();
                    damageAt = new FileInfo(journal).Length + 20;   // inside the samples record from 100
                }

                var codes = Enumerable.Range(0, count).Select(i => (ushort)(1000 + (int)start + i)).ToArray();
                writer.WriteSamples(start, codes, Enumerable.Repeat(-65f, count).ToArray());
                if (start == 100) writer.WriteGap(150, 20);
                if (start == 0) writer.WritePulse(JournalPulse.From(new StimulusEvent(40, 3, 0, 0, 0, 600, 0, 0), 40, first.Trains[0], 0.5));
                if (start == 170) writer.WritePulse(JournalPulse.From(new StimulusEvent(200, 4, 0, 0, 0, -200, 0, StimulusEvent.Last), 200, second.Trains[0], 0.5));
            }

            writer.WriteEnd(new JsonObject { ["samples"] = 300, ["clock"] = new JsonObject { ["drift_ppm"] = 12.5 } });
        }

        if (withDamage)
        {
            var bytes = File.ReadAllBytes(journal);
            bytes[damageAt] ^= 0x40;
            File.WriteAllBytes(journal, bytes);
        }

        return nwb;
    }

    private static string Python(string code)
    {
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(code);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, stderr.Result);
        return stdout.Trim();
    }
}
