using Bench.Storage.Catalog;
using Microsoft.Data.Sqlite;

namespace Bench.Storage.Tests;

public sealed class BenchCatalogTests : IDisposable
{
    private const string Rig = "0123456789abcdef";
    private readonly string dir = Path.Combine(NwbTestData.TempDirectory(), "data");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(Path.GetDirectoryName(dir)!, recursive: true);
    }

    private static DateTime Utc(int minute) => new(2024, 5, 6, 7, minute, 0, DateTimeKind.Utc);

    [Fact]
    public void Creates_the_data_directory_and_a_versioned_wal_database()
    {
        var catalog = new BenchCatalog(dir);
        Assert.True(File.Exists(Path.Combine(dir, "catalog.db")));
        Assert.Equal(Path.Combine(dir, "catalog.db"), catalog.DatabasePath);
        using var connection = new SqliteConnection($"Data Source={catalog.DatabasePath}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA user_version";
        Assert.Equal(1L, (long)command.ExecuteScalar()!);
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", (string)command.ExecuteScalar()!);

        // Opening again keeps what is there.
        catalog.UpsertRig(Rig, "uno", "1.0.0", "1.0", null);
        Assert.Single(new BenchCatalog(dir).ListRigs());
    }

    [Fact]
    public void A_newer_schema_is_refused()
    {
        var catalog = new BenchCatalog(dir);
        using (var connection = new SqliteConnection($"Data Source={catalog.DatabasePath};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version = 2";
            command.ExecuteNonQuery();
        }

        var e = Assert.Throws<InvalidOperationException>(() => new BenchCatalog(dir));
        Assert.Contains("schema version 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rigs_are_upserted_keeping_when_first_seen()
    {
        var catalog = new BenchCatalog(dir);
        var first = catalog.UpsertRig("0123456789ABCDEF", "uno", "1.0.0", "1.0", "/dev/ttyACM0", Utc(1));
        Assert.Equal(new RigRecord(Rig, "uno", "1.0.0", "1.0", "/dev/ttyACM0", Utc(1), Utc(1)), first);

        var again = catalog.UpsertRig(Rig, "uno", "1.1.0", "1.1", null, Utc(5));
        Assert.Equal(new RigRecord(Rig, "uno", "1.1.0", "1.1", "/dev/ttyACM0", Utc(1), Utc(5)), again);
        catalog.UpsertRig("fedcba9876543210", "nano", "1.0.0", "1.0", "tcp://127.0.0.1:7000", Utc(3));

        Assert.Equal([Rig, "fedcba9876543210"], catalog.ListRigs().Select(r => r.UniqueId));
        Assert.Equal(again, catalog.GetRig(Rig));
        Assert.Null(catalog.GetRig("0000000000000000"));
        Assert.Throws<ArgumentException>(() => catalog.UpsertRig("123", "uno", "1", "1", null));
        Assert.Throws<ArgumentException>(() => catalog.UpsertRig(Rig, "uno", "1", "1", null, new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Local)));
    }

    [Fact]
    public void The_latest_calibration_is_the_most_recent_one()
    {
        var catalog = new BenchCatalog(dir);
        Assert.Throws<InvalidOperationException>(() => catalog.SaveCalibration(Rig, 0.039, -100, null, CalibrationSources.Default));
        catalog.UpsertRig(Rig, "uno", "1.0.0", "1.0", null);
        Assert.False(catalog.TryGetLatestCalibration(Rig, out _));

        var a = catalog.SaveCalibration(Rig, 0.0390625, -100, null, CalibrationSources.Default, createdUtc: Utc(1));
        var b = catalog.SaveCalibration(Rig, 0.0391234, -99.87, 0.05, CalibrationSources.TwoPoint, "residual 0.02 mV", Utc(9));
        var c = catalog.SaveCalibration(Rig, 0.0390001, -100.2, null, CalibrationSources.ModelFit, createdUtc: Utc(4));
        Assert.Equal(new CalibrationRecord(b.Id, Rig, 0.0391234, -99.87, 0.05, "two-point", "residual 0.02 mV", Utc(9)), b);

        Assert.True(catalog.TryGetLatestCalibration(Rig.ToUpperInvariant(), out var latest));
        Assert.Equal(b, latest);
        Assert.Equal([b, c, a], catalog.ListCalibrations(Rig));
        Assert.Empty(catalog.ListCalibrations("fedcba9876543210"));

        Assert.Throws<ArgumentException>(() => catalog.SaveCalibration(Rig, 0, -100, null, "default"));
        Assert.Throws<ArgumentException>(() => catalog.SaveCalibration(Rig, double.NaN, -100, null, "default"));
        Assert.Throws<ArgumentException>(() => catalog.SaveCalibration(Rig, 0.04, -100, -1, "default"));
        Assert.Throws<ArgumentException>(() => catalog.SaveCalibration(Rig, 0.04, -100, null, " "));
    }

    [Fact]
    public void A_calibration_no_front_end_can_have_is_refused_with_the_rule_and_a_stored_one_is_ignored()
    {
        var catalog = new BenchCatalog(dir);
        catalog.UpsertRig(Rig, "uno", "1.0.0", "1.0", null);
        var e = Assert.Throws<ArgumentException>(() => catalog.SaveCalibration(Rig, 1e308, 1e308, null, "manual"));
        Assert.Contains("1 mV to 100000 mV", e.Message);
        Assert.Contains("±100000 mV", Assert.Throws<ArgumentException>(() => catalog.SaveCalibration(Rig, 0.0390625, 1e308, null, "manual", adcBits: 12)).Message);
        Assert.Contains("above 0", Assert.Throws<ArgumentException>(() => catalog.SaveCalibration(Rig, -0.0390625, 60, null, "manual", adcBits: 12)).Message);
        // With the rig's ADC the rule is exact: 2 mV per count is 2 V over 10 bits, but 131 V over 16.
        Assert.NotNull(catalog.SaveCalibration(Rig, 2, -100, null, "manual", adcBits: 10));
        Assert.Throws<ArgumentException>(() => catalog.SaveCalibration(Rig, 2, -100, null, "manual", adcBits: 16));
        Assert.DoesNotContain(catalog.ListCalibrations(Rig), c => c.MillivoltsPerCount > 2);

        // One stored before calibrations were checked (written here behind the catalog's back) is not applied.
        using (var connection = new SqliteConnection($"Data Source={catalog.DatabasePath}"))
        {
            connection.Open();
            using var insert = connection.CreateCommand();
            insert.CommandText = $"INSERT INTO calibrations (rig_unique_id, mv_per_count, offset_mv, na_per_code, source, notes, created_utc) VALUES ('{Rig}', 1e308, 1e308, NULL, 'manual', NULL, '2099-01-01T00:00:00.0000000Z')";
            insert.ExecuteNonQuery();
        }

        var device = new Bench.Core.Protocol.DeviceInfo(1, 0, 1, 0, 0, "EMU", 0x0123456789abcdef, 16_000_000, 100_000, 5000, 12, 1, 0, 11, 500, []);
        var (calibration, source, _) = RigCalibrations.For(catalog, device);
        Assert.Equal(Bench.Core.Instrument.FrontEnd.Emulated.Calibration, calibration);
        Assert.Contains("ignored", source);
        Assert.Contains("1 mV to 100000 mV", source);
    }

    [Fact]
    public void Recordings_round_trip()
    {
        var catalog = new BenchCatalog(dir);
        catalog.UpsertRig(Rig, "uno", "1.0.0", "1.0", null);
        var one = new RecordingRecord("paired-pulse_01", RecordingNames.RelativeFilePath("paired-pulse_01"), Rig, Utc(1), 5.0, 100_000, 0,
            20000, null, null, RecordingStatus.Recording);
        var two = new RecordingRecord("run.2", "recordings/run.2.nwb", Rig, Utc(2), 60.5, 1_209_990, 10, 20000, "hh", 0.75,
            RecordingStatus.Recovered);
        catalog.AddRecording(one);
        catalog.AddRecording(two);
        Assert.Equal("recordings/paired-pulse_01.nwb", one.RelativePath);

        Assert.Equal(one, catalog.GetRecording("paired-pulse_01"));
        Assert.Equal([two, one], catalog.ListRecordings());
        Assert.Equal([two, one], catalog.ListRecordings(Rig));
        Assert.Empty(catalog.ListRecordings("fedcba9876543210"));

        var done = one with { Status = RecordingStatus.Complete, DurationS = 5.0, Model = "hh", RmseMv = 1.25 };
        catalog.UpdateRecording(done);
        Assert.Equal(done, catalog.GetRecording("paired-pulse_01"));
        Assert.Throws<KeyNotFoundException>(() => catalog.UpdateRecording(done with { Id = "missing" }));

        Assert.Contains("already exists", Assert.Throws<InvalidOperationException>(() => catalog.AddRecording(one)).Message, StringComparison.Ordinal);
        Assert.Contains("not in the catalog", Assert.Throws<InvalidOperationException>(
            () => catalog.AddRecording(one with { Id = "other", RigUniqueId = "fedcba9876543210" })).Message, StringComparison.Ordinal);

        Assert.Equal(Path.Combine(catalog.DataDirectory, "recordings", "run.2.nwb"), catalog.FullPathOf(two));
        Assert.Equal(Path.Combine(catalog.DataDirectory, "recordings", "run.2.nwb"), catalog.DeleteRecording("run.2"));
        Assert.Null(catalog.GetRecording("run.2"));
        Assert.Null(catalog.DeleteRecording("run.2"));
        Assert.Equal([done], catalog.ListRecordings());
    }

    [Fact]
    public void Recordings_cannot_name_or_point_outside_the_data_directory()
    {
        var catalog = new BenchCatalog(dir);
        catalog.UpsertRig(Rig, "uno", "1.0.0", "1.0", null);
        var ok = new RecordingRecord("ok", "recordings/ok.nwb", Rig, Utc(1), 1, 1, 0, 20000, null, null, RecordingStatus.Complete);
        Assert.Throws<ArgumentException>(() => catalog.AddRecording(ok with { Id = "../x" }));
        Assert.Throws<ArgumentException>(() => catalog.AddRecording(ok with { RelativePath = "../outside.nwb" }));
        Assert.Throws<ArgumentException>(() => catalog.AddRecording(ok with { RelativePath = "/etc/passwd" }));
        Assert.Throws<ArgumentException>(() => catalog.AddRecording(ok with { RelativePath = "recordings/../../x.nwb" }));
        Assert.Throws<ArgumentException>(() => catalog.GetRecording("../x"));
        Assert.Throws<ArgumentException>(() => catalog.DeleteRecording("a/b"));
        Assert.Empty(catalog.ListRecordings());
    }

    [Fact]
    public void Concurrent_writers_all_land()
    {
        var catalog = new BenchCatalog(dir);
        catalog.UpsertRig(Rig, "uno", "1.0.0", "1.0", null);
        Parallel.For(0, 40, i =>
        {
            catalog.SaveCalibration(Rig, 0.039 + (i * 1e-6), -100, null, CalibrationSources.ModelFit);
            catalog.AddRecording(new RecordingRecord($"r{i}", $"recordings/r{i}.nwb", Rig, Utc(i % 60), 1, 1, 0, 20000, null, null,
                RecordingStatus.Complete));
            _ = catalog.ListRecordings();
        });
        Assert.Equal(40, catalog.ListCalibrations(Rig).Count);
        Assert.Equal(40, catalog.ListRecordings().Count);
    }

    [Fact]
    public void Values_are_parameters_not_sql()
    {
        var catalog = new BenchCatalog(dir);
        const string board = "x'); DROP TABLE rigs; --";
        catalog.UpsertRig(Rig, board, "1.0.0", "1.0", "'; DELETE FROM rigs; --");
        Assert.Equal(board, Assert.Single(catalog.ListRigs()).Board);
    }
}
