using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Bench.Core.Protocol;
using Microsoft.Data.Sqlite;

namespace Bench.Storage.Catalog;

/// <summary>
/// The catalog of rigs, calibrations and recordings: <c>catalog.db</c> (SQLite) in the data directory.
/// </summary>
/// <remarks>
/// <para>Every call opens its own connection (pooled by Microsoft.Data.Sqlite), so one instance serves concurrent
/// requests of a web service; the database is in WAL mode so readers never wait for a writer, and a writer waits for
/// another (up to the command timeout) instead of failing. Every value goes into SQL as a parameter.</para>
/// <para>The schema's version is <c>PRAGMA user_version</c>: an empty file is created at <see cref="SchemaVersion"/>,
/// and a newer one than this code knows is refused rather than misread.</para>
/// <para>Times are stored as ISO 8601 UTC text of fixed width, so text order is time order.</para>
/// </remarks>
public sealed class BenchCatalog
{
    /// <summary>The schema version this code reads and writes.</summary>
    public const int SchemaVersion = 1;

    /// <summary>The catalog's file name in the data directory.</summary>
    public const string FileName = "catalog.db";

    private const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    private const string RecordingColumns =
        "id, file_path, rig_unique_id, started_utc, duration_s, samples, lost_samples, sample_rate_hz, model, rmse_mv, status";

    private const string CalibrationColumns = "id, rig_unique_id, mv_per_count, offset_mv, na_per_code, source, notes, created_utc";

    private readonly string connectionString;

    /// <summary>Opens (creating if needed) the catalog in <paramref name="dataDirectory"/>, which is created too.</summary>
    /// <exception cref="InvalidOperationException">The catalog was written by a newer Bench (higher schema version).</exception>
    public BenchCatalog(string dataDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataDirectory);
        DataDirectory = Path.GetFullPath(dataDirectory);
        Directory.CreateDirectory(DataDirectory);
        DatabasePath = Path.Combine(DataDirectory, FileName);
        connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            ForeignKeys = true,
            Pooling = true,
        }.ToString();
        Migrate();
    }

    /// <summary>The data directory (full path).</summary>
    public string DataDirectory { get; }

    /// <summary>The catalog file.</summary>
    public string DatabasePath { get; }

    /// <summary>Opens the catalog in <see cref="BenchDataDirectory.Default"/>.</summary>
    public static BenchCatalog OpenDefault() => new(BenchDataDirectory.Default);

    // ---- rigs ----

    /// <summary>Records that a rig was seen now (or at <paramref name="seenUtc"/>): adds it, or updates its
    /// board, firmware, protocol, port and last-seen time, keeping when it was first seen.</summary>
    /// <param name="uniqueId">16 hex digits.</param>
    /// <param name="board">Board name.</param>
    /// <param name="firmware">Firmware version.</param>
    /// <param name="protocol">Protocol version.</param>
    /// <param name="port">The port it answered on, if any.</param>
    /// <param name="seenUtc">When (UTC); now if null.</param>
    /// <returns>The rig as stored.</returns>
    public RigRecord UpsertRig(string uniqueId, string board, string firmware, string protocol, string? port, DateTime? seenUtc = null)
    {
        string id = RigIds.Normalize(uniqueId);
        ArgumentNullException.ThrowIfNull(board);
        ArgumentNullException.ThrowIfNull(firmware);
        ArgumentNullException.ThrowIfNull(protocol);
        string seen = Time(seenUtc ?? DateTime.UtcNow);
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        using (var upsert = Command(connection, transaction, """
            INSERT INTO rigs (unique_id, board, firmware, protocol, last_port, first_seen_utc, last_seen_utc)
            VALUES ($id, $board, $firmware, $protocol, $port, $seen, $seen)
            ON CONFLICT (unique_id) DO UPDATE SET
                board = excluded.board, firmware = excluded.firmware, protocol = excluded.protocol,
                last_port = coalesce(excluded.last_port, rigs.last_port),
                last_seen_utc = max(rigs.last_seen_utc, excluded.last_seen_utc)
            """))
        {
            upsert.Parameters.AddWithValue("$id", id);
            upsert.Parameters.AddWithValue("$board", board);
            upsert.Parameters.AddWithValue("$firmware", firmware);
            upsert.Parameters.AddWithValue("$protocol", protocol);
            upsert.Parameters.AddWithValue("$port", Nullable(port));
            upsert.Parameters.AddWithValue("$seen", seen);
            upsert.ExecuteNonQuery();
        }

        var rig = GetRig(connection, transaction, id)!;
        transaction.Commit();
        return rig;
    }

    /// <summary>Records that the rig a DeviceInfo describes was seen now on <paramref name="port"/>.</summary>
    public RigRecord UpsertRig(DeviceInfo device, string? port)
    {
        ArgumentNullException.ThrowIfNull(device);
        return UpsertRig(RigIds.Format(device.UniqueId), device.Board, $"{device.FirmwareMajor}.{device.FirmwareMinor}.{device.FirmwarePatch}",
            $"{device.ProtocolMajor}.{device.ProtocolMinor}", port);
    }

    /// <summary>One rig, or null if the catalog has not seen it.</summary>
    public RigRecord? GetRig(string uniqueId)
    {
        string id = RigIds.Normalize(uniqueId);
        using var connection = Open();
        return GetRig(connection, null, id);
    }

    /// <summary>All rigs, most recently seen first.</summary>
    public IReadOnlyList<RigRecord> ListRigs()
    {
        using var connection = Open();
        using var command = Command(connection, null,
            "SELECT unique_id, board, firmware, protocol, last_port, first_seen_utc, last_seen_utc FROM rigs ORDER BY last_seen_utc DESC, unique_id");
        return ReadAll(command, ReadRig);
    }

    // ---- calibrations ----

    /// <summary>Saves a calibration of a rig the catalog knows.</summary>
    /// <param name="rigUniqueId">16 hex digits.</param>
    /// <param name="millivoltsPerCount">Membrane mV per ADC count (see <see cref="Bench.Core.Instrument.CalibrationLimits"/>).</param>
    /// <param name="offsetMv">Membrane mV at count 0.</param>
    /// <param name="nanoampsPerCode">Stimulus nA per DAC code, if measured (positive).</param>
    /// <param name="source">How it was obtained (<see cref="CalibrationSources"/>).</param>
    /// <param name="notes">Quality or remarks.</param>
    /// <param name="createdUtc">When (UTC); now if null.</param>
    /// <param name="adcBits">The rig's ADC resolution, when known: the calibration is checked against it (else against any ADC a rig can have).</param>
    /// <returns>The calibration as stored, with its id.</returns>
    /// <exception cref="ArgumentException">The calibration is not one a front end can have (<see cref="Bench.Core.Instrument.CalibrationLimits"/>; the message states the rule), or a field is missing.</exception>
    /// <exception cref="InvalidOperationException">The rig is not in the catalog (<see cref="UpsertRig(string,string,string,string,string?,DateTime?)"/> first).</exception>
    public CalibrationRecord SaveCalibration(string rigUniqueId, double millivoltsPerCount, double offsetMv, double? nanoampsPerCode,
        string source, string? notes = null, DateTime? createdUtc = null, int? adcBits = null)
    {
        string id = RigIds.Normalize(rigUniqueId);
        // Every recording made with a stored calibration is converted with it: one that no front end can have (e.g.
        // 1e308 mV per count) would make those recordings' figures infinite, so it is refused here, where all paths meet.
        if (Bench.Core.Instrument.CalibrationLimits.Check(millivoltsPerCount, offsetMv, adcBits) is { } implausible)
        {
            throw new ArgumentException($"not a calibration a rig's front end can have: {implausible}", nameof(millivoltsPerCount));
        }
        if (nanoampsPerCode is { } scale && (!double.IsFinite(scale) || scale <= 0))
        {
            throw new ArgumentException($"nA per code must be positive, not {scale}", nameof(nanoampsPerCode));
        }

        if (string.IsNullOrWhiteSpace(source)) throw new ArgumentException("a calibration needs its source (e.g. two-point)", nameof(source));
        string created = Time(createdUtc ?? DateTime.UtcNow);
        using var connection = Open();
        using var command = Command(connection, null, $"""
            INSERT INTO calibrations (rig_unique_id, mv_per_count, offset_mv, na_per_code, source, notes, created_utc)
            VALUES ($rig, $mv, $offset, $na, $source, $notes, $created)
            RETURNING {CalibrationColumns}
            """);
        command.Parameters.AddWithValue("$rig", id);
        command.Parameters.AddWithValue("$mv", millivoltsPerCount);
        command.Parameters.AddWithValue("$offset", offsetMv);
        command.Parameters.AddWithValue("$na", Nullable(nanoampsPerCode));
        command.Parameters.AddWithValue("$source", source);
        command.Parameters.AddWithValue("$notes", Nullable(notes));
        command.Parameters.AddWithValue("$created", created);
        try
        {
            return ReadAll(command, ReadCalibration)[0];
        }
        catch (SqliteException e) when (e.SqliteExtendedErrorCode == ForeignKeyViolation)
        {
            throw new InvalidOperationException($"rig {id} is not in the catalog: record the rig before its calibration", e);
        }
    }

    /// <summary>The rig's most recent calibration, if it has one.</summary>
    public bool TryGetLatestCalibration(string rigUniqueId, [NotNullWhen(true)] out CalibrationRecord? calibration)
    {
        string id = RigIds.Normalize(rigUniqueId);
        using var connection = Open();
        using var command = Command(connection, null,
            $"SELECT {CalibrationColumns} FROM calibrations WHERE rig_unique_id = $rig ORDER BY created_utc DESC, id DESC LIMIT 1");
        command.Parameters.AddWithValue("$rig", id);
        var found = ReadAll(command, ReadCalibration);
        calibration = found.Count > 0 ? found[0] : null;
        return calibration is not null;
    }

    /// <summary>All calibrations of a rig, most recent first.</summary>
    public IReadOnlyList<CalibrationRecord> ListCalibrations(string rigUniqueId)
    {
        string id = RigIds.Normalize(rigUniqueId);
        using var connection = Open();
        using var command = Command(connection, null,
            $"SELECT {CalibrationColumns} FROM calibrations WHERE rig_unique_id = $rig ORDER BY created_utc DESC, id DESC");
        command.Parameters.AddWithValue("$rig", id);
        return ReadAll(command, ReadCalibration);
    }

    // ---- recordings ----

    /// <summary>Adds a recording.</summary>
    /// <exception cref="ArgumentException">Invalid name, a path outside the data directory, or impossible numbers.</exception>
    /// <exception cref="InvalidOperationException">A recording with that name exists, or the rig is not in the catalog.</exception>
    public void AddRecording(RecordingRecord recording)
    {
        var r = Checked(recording);
        using var connection = Open();
        using var command = Command(connection, null, $"""
            INSERT INTO recordings ({RecordingColumns})
            VALUES ($id, $path, $rig, $started, $duration, $samples, $lost, $rate, $model, $rmse, $status)
            """);
        Bind(command, r);
        try
        {
            command.ExecuteNonQuery();
        }
        catch (SqliteException e) when (e.SqliteExtendedErrorCode == PrimaryKeyViolation)
        {
            throw new InvalidOperationException($"a recording named '{r.Id}' already exists", e);
        }
        catch (SqliteException e) when (e.SqliteExtendedErrorCode == ForeignKeyViolation)
        {
            throw new InvalidOperationException($"rig {r.RigUniqueId} is not in the catalog: record the rig before its recordings", e);
        }
    }

    /// <summary>Replaces a recording's row (found by its <see cref="RecordingRecord.Id"/>), e.g. when it completes.</summary>
    /// <exception cref="KeyNotFoundException">No recording has that name.</exception>
    public void UpdateRecording(RecordingRecord recording)
    {
        var r = Checked(recording);
        using var connection = Open();
        using var command = Command(connection, null, """
            UPDATE recordings SET file_path = $path, rig_unique_id = $rig, started_utc = $started, duration_s = $duration,
                samples = $samples, lost_samples = $lost, sample_rate_hz = $rate, model = $model, rmse_mv = $rmse, status = $status
            WHERE id = $id
            """);
        Bind(command, r);
        int changed;
        try
        {
            changed = command.ExecuteNonQuery();
        }
        catch (SqliteException e) when (e.SqliteExtendedErrorCode == ForeignKeyViolation)
        {
            throw new InvalidOperationException($"rig {r.RigUniqueId} is not in the catalog", e);
        }

        if (changed == 0) throw new KeyNotFoundException($"no recording named '{r.Id}'");
    }

    /// <summary>Recordings, most recent first; of one rig only when <paramref name="rigUniqueId"/> is given.</summary>
    public IReadOnlyList<RecordingRecord> ListRecordings(string? rigUniqueId = null)
    {
        using var connection = Open();
        using var command = Command(connection, null, rigUniqueId is null
            ? $"SELECT {RecordingColumns} FROM recordings ORDER BY started_utc DESC, id"
            : $"SELECT {RecordingColumns} FROM recordings WHERE rig_unique_id = $rig ORDER BY started_utc DESC, id");
        if (rigUniqueId is not null) command.Parameters.AddWithValue("$rig", RigIds.Normalize(rigUniqueId));
        return ReadAll(command, ReadRecording);
    }

    /// <summary>One recording, or null if there is none with that name.</summary>
    /// <exception cref="ArgumentException">Not a valid recording name.</exception>
    public RecordingRecord? GetRecording(string id)
    {
        RecordingNames.Validate(id);
        using var connection = Open();
        return GetRecording(connection, null, id);
    }

    /// <summary>
    /// Removes a recording from the catalog and returns the full path of its file, for the caller to delete (the
    /// catalog never deletes files itself); null if there was no such recording. The path is checked to lie inside the
    /// data directory.
    /// </summary>
    /// <exception cref="ArgumentException">Not a valid recording name.</exception>
    public string? DeleteRecording(string id)
    {
        RecordingNames.Validate(id);
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        var existing = GetRecording(connection, transaction, id);
        if (existing is null) return null;
        // Resolve before deleting the row: a path that escapes the data directory is refused with the row kept.
        string path = RecordingNames.ResolveInside(DataDirectory, existing.RelativePath);
        using (var delete = Command(connection, transaction, "DELETE FROM recordings WHERE id = $id"))
        {
            delete.Parameters.AddWithValue("$id", id);
            delete.ExecuteNonQuery();
        }

        transaction.Commit();
        return path;
    }

    /// <summary>The full path of a recording's file (checked to lie inside the data directory).</summary>
    public string FullPathOf(RecordingRecord recording)
    {
        ArgumentNullException.ThrowIfNull(recording);
        return RecordingNames.ResolveInside(DataDirectory, recording.RelativePath);
    }

    // ---- plumbing ----

    private const int PrimaryKeyViolation = 1555; // SQLITE_CONSTRAINT_PRIMARYKEY

    private const int ForeignKeyViolation = 787; // SQLITE_CONSTRAINT_FOREIGNKEY

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        return connection;
    }

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    private void Migrate()
    {
        using var connection = Open();
        // WAL is a property of the database file: set once, it stays. It cannot change inside a transaction.
        using (var wal = Command(connection, null, "PRAGMA journal_mode = WAL"))
        {
            wal.ExecuteNonQuery();
        }

        // BEGIN IMMEDIATE (Microsoft.Data.Sqlite's default): two processes creating the catalog at once take turns.
        using var transaction = connection.BeginTransaction();
        long version;
        using (var read = Command(connection, transaction, "PRAGMA user_version"))
        {
            version = (long)read.ExecuteScalar()!;
        }

        if (version > SchemaVersion)
        {
            throw new InvalidOperationException(
                $"{DatabasePath} has schema version {version}, newer than this Bench understands ({SchemaVersion}); upgrade Bench");
        }

        if (version < 1)
        {
            using var create = Command(connection, transaction, """
                CREATE TABLE rigs (
                    unique_id      TEXT PRIMARY KEY CHECK (length(unique_id) = 16),
                    board          TEXT NOT NULL,
                    firmware       TEXT NOT NULL,
                    protocol       TEXT NOT NULL,
                    last_port      TEXT,
                    first_seen_utc TEXT NOT NULL,
                    last_seen_utc  TEXT NOT NULL
                );
                CREATE TABLE calibrations (
                    id             INTEGER PRIMARY KEY AUTOINCREMENT,
                    rig_unique_id  TEXT NOT NULL REFERENCES rigs (unique_id) ON DELETE CASCADE,
                    mv_per_count   REAL NOT NULL,
                    offset_mv      REAL NOT NULL,
                    na_per_code    REAL,
                    source         TEXT NOT NULL,
                    notes          TEXT,
                    created_utc    TEXT NOT NULL
                );
                CREATE INDEX calibrations_by_rig ON calibrations (rig_unique_id, created_utc);
                CREATE TABLE recordings (
                    id             TEXT PRIMARY KEY,
                    file_path      TEXT NOT NULL,
                    rig_unique_id  TEXT NOT NULL REFERENCES rigs (unique_id),
                    started_utc    TEXT NOT NULL,
                    duration_s     REAL NOT NULL,
                    samples        INTEGER NOT NULL,
                    lost_samples   INTEGER NOT NULL,
                    sample_rate_hz REAL NOT NULL,
                    model          TEXT,
                    rmse_mv        REAL,
                    status         TEXT NOT NULL CHECK (status IN ('recording', 'complete', 'recovered'))
                );
                CREATE INDEX recordings_by_start ON recordings (started_utc);
                CREATE INDEX recordings_by_rig ON recordings (rig_unique_id, started_utc);
                PRAGMA user_version = 1;
                """);
            create.ExecuteNonQuery();
        }

        transaction.Commit();
    }

    private RecordingRecord Checked(RecordingRecord recording)
    {
        ArgumentNullException.ThrowIfNull(recording);
        RecordingNames.Validate(recording.Id);
        string path = recording.RelativePath?.Replace('\\', '/') ?? throw new ArgumentException("the recording needs its file path", nameof(recording));
        RecordingNames.ResolveInside(DataDirectory, path);
        if (!double.IsFinite(recording.DurationS) || recording.DurationS < 0) throw new ArgumentException("duration must be ≥ 0 s", nameof(recording));
        if (recording.Samples < 0 || recording.LostSamples < 0) throw new ArgumentException("sample counts must be ≥ 0", nameof(recording));
        if (!double.IsFinite(recording.SampleRateHz) || recording.SampleRateHz <= 0) throw new ArgumentException("the sample rate must be positive", nameof(recording));
        if (recording.RmseMv is { } rmse && (!double.IsFinite(rmse) || rmse < 0)) throw new ArgumentException("the RMSE must be ≥ 0 mV", nameof(recording));
        if (!Enum.IsDefined(recording.Status)) throw new ArgumentException($"unknown status {recording.Status}", nameof(recording));
        Time(recording.StartedUtc);
        return recording with { RelativePath = path, RigUniqueId = RigIds.Normalize(recording.RigUniqueId) };
    }

    private static void Bind(SqliteCommand command, RecordingRecord r)
    {
        command.Parameters.AddWithValue("$id", r.Id);
        command.Parameters.AddWithValue("$path", r.RelativePath);
        command.Parameters.AddWithValue("$rig", r.RigUniqueId);
        command.Parameters.AddWithValue("$started", Time(r.StartedUtc));
        command.Parameters.AddWithValue("$duration", r.DurationS);
        command.Parameters.AddWithValue("$samples", r.Samples);
        command.Parameters.AddWithValue("$lost", r.LostSamples);
        command.Parameters.AddWithValue("$rate", r.SampleRateHz);
        command.Parameters.AddWithValue("$model", Nullable(r.Model));
        command.Parameters.AddWithValue("$rmse", Nullable(r.RmseMv));
        command.Parameters.AddWithValue("$status", StatusText(r.Status));
    }

    private static RigRecord? GetRig(SqliteConnection connection, SqliteTransaction? transaction, string id)
    {
        using var command = Command(connection, transaction,
            "SELECT unique_id, board, firmware, protocol, last_port, first_seen_utc, last_seen_utc FROM rigs WHERE unique_id = $id");
        command.Parameters.AddWithValue("$id", id);
        var found = ReadAll(command, ReadRig);
        return found.Count > 0 ? found[0] : null;
    }

    private static RecordingRecord? GetRecording(SqliteConnection connection, SqliteTransaction? transaction, string id)
    {
        using var command = Command(connection, transaction, $"SELECT {RecordingColumns} FROM recordings WHERE id = $id");
        command.Parameters.AddWithValue("$id", id);
        var found = ReadAll(command, ReadRecording);
        return found.Count > 0 ? found[0] : null;
    }

    private static List<T> ReadAll<T>(SqliteCommand command, Func<SqliteDataReader, T> read)
    {
        var list = new List<T>();
        using var reader = command.ExecuteReader();
        while (reader.Read()) list.Add(read(reader));
        return list;
    }

    private static RigRecord ReadRig(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.IsDBNull(4) ? null : r.GetString(4),
        ParseTime(r.GetString(5)), ParseTime(r.GetString(6)));

    private static CalibrationRecord ReadCalibration(SqliteDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.GetDouble(2), r.GetDouble(3), r.IsDBNull(4) ? null : r.GetDouble(4), r.GetString(5),
        r.IsDBNull(6) ? null : r.GetString(6), ParseTime(r.GetString(7)));

    private static RecordingRecord ReadRecording(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), ParseTime(r.GetString(3)), r.GetDouble(4), r.GetInt64(5), r.GetInt64(6),
        r.GetDouble(7), r.IsDBNull(8) ? null : r.GetString(8), r.IsDBNull(9) ? null : r.GetDouble(9), ParseStatus(r.GetString(10)));

    private static string StatusText(RecordingStatus status) => status switch
    {
        RecordingStatus.Recording => "recording",
        RecordingStatus.Complete => "complete",
        RecordingStatus.Recovered => "recovered",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };

    private static RecordingStatus ParseStatus(string text) => text switch
    {
        "recording" => RecordingStatus.Recording,
        "complete" => RecordingStatus.Complete,
        "recovered" => RecordingStatus.Recovered,
        _ => throw new InvalidDataException($"unknown recording status '{text}' in the catalog"),
    };

    /// <summary>A UTC time as stored; local or unspecified times are refused rather than guessed.</summary>
    private static string Time(DateTime utc)
    {
        if (utc.Kind != DateTimeKind.Utc) throw new ArgumentException($"times in the catalog are UTC; got a {utc.Kind} time ({utc:O})", nameof(utc));
        return utc.ToString(TimeFormat, CultureInfo.InvariantCulture);
    }

    private static DateTime ParseTime(string text) =>
        DateTime.ParseExact(text, TimeFormat, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);

    private static object Nullable(object? value) => value ?? DBNull.Value;
}
