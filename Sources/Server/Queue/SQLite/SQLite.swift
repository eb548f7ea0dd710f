// A thin layer over the system SQLite (CSQLite): one connection, prepared statements with typed
// bind/column helpers, IMMEDIATE write transactions, and errors that keep SQLite's result code so the
// server can tell "disk full / read-only / I/O error" (503) from programming errors.
import CSQLite

/// An SQLite failure: the (extended) result code, `sqlite3_errmsg`, and what we were doing.
struct SQLiteError: Error, CustomStringConvertible, Equatable, JobStoreFailure {
    /// Extended result code (e.g. SQLITE_IOERR_WRITE); `primaryCode` strips the extension.
    let code: Int32
    let message: String
    let context: String

    var primaryCode: Int32 { code & 0xFF }

    /// Another connection holds the lock we need (SQLITE_BUSY after the busy timeout): the statement
    /// did nothing, and trying again later may succeed.
    var isBusy: Bool { primaryCode == SQLITE_BUSY }

    /// The file is damaged (a bad page, not a database): nothing written from now on can be trusted.
    var isDamage: Bool { primaryCode == SQLITE_CORRUPT || primaryCode == SQLITE_NOTADB }

    /// Failures of the storage itself rather than of our SQL: the server answers 503 for these.
    var isStorageUnavailable: Bool {
        switch primaryCode {
        case SQLITE_IOERR, SQLITE_FULL, SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_BUSY, SQLITE_LOCKED,
             SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_PERM:
            return true
        default:
            return false
        }
    }

    /// SQLite's own words, without the file paths `context` may hold.
    var clientDescription: String { message }

    var description: String {
        let name = String(cString: sqlite3_errstr(code))
        return "SQLite error \(code) (\(name)) while \(context): \(message)"
    }
}

/// SQLITE_TRANSIENT is a macro Swift does not import: it tells SQLite to copy bound bytes at once.
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One SQLite connection. Not Sendable on purpose: JobStore keeps it inside a Mutex, so every use is
/// serialised; it is also opened FULLMUTEX as a second line of defence.
final class SQLiteConnection {
    private(set) var handle: OpaquePointer?
    let path: String

    /// Opens (creating if needed) the database and applies the connection settings:
    /// - WAL: readers never block the writer, and a crash can never leave a half-written page.
    /// - synchronous=NORMAL: safe with WAL — every commit reaches the OS before it returns, so a crash
    ///   of the *process* loses nothing; a power loss may roll back the last few commits but can never
    ///   corrupt the database (WAL frames are checksummed). Our job files are fsynced separately, and
    ///   the start-up recovery repairs rows and files that disagree.
    /// - busy_timeout: a second connection (sqlite3 CLI, a second process) waits instead of failing;
    ///   `setBusyTimeout` changes it per operation (JobStore waits in short slices, see there).
    /// - foreign_keys=ON: off by default in SQLite, and we want constraints enforced if we add any.
    init(path: String, readOnly: Bool = false, busyTimeoutMs: Int32 = 5_000) throws {
        self.path = path
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE))
            | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            let code = db.map { sqlite3_extended_errcode($0) } ?? rc
            sqlite3_close_v2(db)
            throw SQLiteError(code: code, message: message, context: "opening \(path)")
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeoutMs)
        do {
            if !readOnly {
                // journal_mode answers with the resulting mode; anything but "wal" means WAL is unavailable.
                let mode = try queryText("PRAGMA journal_mode=WAL")
                guard mode?.lowercased() == "wal" else {
                    throw SQLiteError(code: SQLITE_ERROR, message: "journal_mode is \(mode ?? "unknown"), not wal",
                                      context: "enabling WAL on \(path)")
                }
            }
            try execute("PRAGMA synchronous=NORMAL")
            try execute("PRAGMA foreign_keys=ON")
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    func close() {
        if let handle {
            // close_v2 defers the close until outstanding statements are finalised; ours always are.
            sqlite3_close_v2(handle)
        }
        handle = nil
    }

    /// How long the next statements wait for another connection's lock before SQLITE_BUSY (0 = fail at
    /// once). SQLite's busy handler sleeps and retries within this time.
    func setBusyTimeout(milliseconds: Int32) {
        if let handle { sqlite3_busy_timeout(handle, max(0, milliseconds)) }
    }

    func error(_ code: Int32, _ context: String) -> SQLiteError {
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
        let extended = handle.map { sqlite3_extended_errcode($0) } ?? code
        // errmsg/extended code describe the most recent failure on this connection; the returned code
        // is authoritative when they disagree (e.g. a failure reported by step after reset).
        return SQLiteError(code: (extended & 0xFF) == (code & 0xFF) ? extended : code,
                           message: message, context: context)
    }

    /// Runs one or more statements that return no rows.
    func execute(_ sql: String) throws {
        guard let handle else { throw SQLiteError(code: SQLITE_MISUSE, message: "connection closed", context: sql) }
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, "executing \(sql)") }
    }

    func prepare(_ sql: String) throws -> SQLiteStatement {
        try SQLiteStatement(connection: self, sql: sql)
    }

    /// First column of the first row as text (for PRAGMAs that answer a value).
    func queryText(_ sql: String) throws -> String? {
        let statement = try prepare(sql)
        return try statement.step() ? statement.text(0) : nil
    }

    func queryInt(_ sql: String) throws -> Int? {
        let statement = try prepare(sql)
        return try statement.step() ? statement.int(0) : nil
    }

    /// Frees the cached pages not in use (`sqlite3_db_release_memory`).
    func releaseMemory() -> Int32 { handle.map { sqlite3_db_release_memory($0) } ?? 0 }

    /// Number of rows changed by the most recent INSERT/UPDATE/DELETE.
    var changes: Int { handle.map { Int(sqlite3_changes($0)) } ?? 0 }

    /// Copies the whole database, WAL content included, into a new database at `path` (SQLite's online
    /// backup: a consistent snapshot while other connections keep writing).
    func backup(to path: String) throws {
        guard let handle else { throw SQLiteError(code: SQLITE_MISUSE, message: "connection closed", context: "backup") }
        let destination = try SQLiteConnection(path: path, journal: false)
        guard let target = destination.handle, let backup = sqlite3_backup_init(target, "main", handle, "main") else {
            throw destination.error(sqlite3_errcode(destination.handle), "starting a backup to \(path)")
        }
        var rc: Int32
        repeat {
            rc = sqlite3_backup_step(backup, -1)
            if rc == SQLITE_BUSY || rc == SQLITE_LOCKED { sqlite3_sleep(20) }
        } while rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED
        sqlite3_backup_finish(backup)
        guard rc == SQLITE_DONE else { throw destination.error(rc, "copying the database to \(path)") }
        // A single file: the copy keeps no WAL beside it.
        try destination.execute("PRAGMA journal_mode=DELETE")
        destination.close()
    }

    /// A plain connection for a backup's destination (no WAL, no settings).
    private init(path: String, journal: Bool) throws {
        self.path = path
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW, nil)
        guard rc == SQLITE_OK, let db else {
            sqlite3_close_v2(db)
            throw SQLiteError(code: rc, message: String(cString: sqlite3_errstr(rc)), context: "opening \(path)")
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
    }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`. IMMEDIATE takes the write lock up front, so a
    /// read-then-write transaction can never fail half-way with SQLITE_BUSY_SNAPSHOT because another
    /// connection wrote in between; the busy timeout covers waiting for that lock.
    func writeTransaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            // After some errors (e.g. SQLITE_FULL) SQLite has already rolled back; ignore that case.
            if let handle, sqlite3_get_autocommit(handle) == 0 {
                _ = sqlite3_exec(handle, "ROLLBACK", nil, nil, nil)
            }
            throw error
        }
    }
}

/// A prepared statement. Parameters are 1-based (SQLite's convention), columns 0-based or by name.
final class SQLiteStatement {
    private var statement: OpaquePointer?
    /// Result column indices by name (`column(_:)`), read on first use.
    private var columnIndices: [String: Int32]?
    private let connection: SQLiteConnection
    let sql: String

    fileprivate init(connection: SQLiteConnection, sql: String) throws {
        self.connection = connection
        self.sql = sql
        guard let db = connection.handle else {
            throw SQLiteError(code: SQLITE_MISUSE, message: "connection closed", context: "preparing \(sql)")
        }
        let rc = sqlite3_prepare_v2(db, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, statement != nil else {
            let failure = connection.error(rc == SQLITE_OK ? SQLITE_MISUSE : rc, "preparing \(sql)")
            sqlite3_finalize(statement)
            throw failure
        }
    }

    deinit { sqlite3_finalize(statement) }

    // MARK: binding

    private func check(_ rc: Int32, _ index: Int32) throws {
        guard rc == SQLITE_OK else { throw connection.error(rc, "binding parameter \(index) of \(sql)") }
    }

    func bind(_ index: Int32, _ value: Int) throws {
        try check(sqlite3_bind_int64(statement, index, Int64(value)), index)
    }

    func bind(_ index: Int32, _ value: Double) throws {
        try check(sqlite3_bind_double(statement, index, value), index)
    }

    func bind(_ index: Int32, _ value: String) throws {
        // Explicit byte length: an embedded NUL must not silently truncate the value.
        let length = Int32(clamping: value.utf8.count)
        try check(sqlite3_bind_text(statement, index, value, length, sqliteTransient), index)
    }

    func bind(_ index: Int32, _ value: Bool) throws {
        try bind(index, value ? 1 : 0)
    }

    func bindNull(_ index: Int32) throws {
        try check(sqlite3_bind_null(statement, index), index)
    }

    func bind(_ index: Int32, _ value: Double?) throws {
        if let value { try bind(index, value) } else { try bindNull(index) }
    }

    func bind(_ index: Int32, _ value: String?) throws {
        if let value { try bind(index, value) } else { try bindNull(index) }
    }

    func bind(_ index: Int32, _ value: Int?) throws {
        if let value { try bind(index, value) } else { try bindNull(index) }
    }

    // MARK: stepping

    /// Advances to the next row: true when a row is available, false when done.
    @discardableResult
    func step() throws -> Bool {
        let rc = sqlite3_step(statement)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error(rc, "running \(sql)")
        }
    }

    /// Clears bindings and rewinds so the statement can run again.
    func reset() {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
    }

    // MARK: columns

    func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(statement, column) == SQLITE_NULL
    }

    func int(_ column: Int32) -> Int {
        Int(sqlite3_column_int64(statement, column))
    }

    func double(_ column: Int32) -> Double {
        sqlite3_column_double(statement, column)
    }

    func text(_ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(statement, column) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    func optionalInt(_ column: Int32) -> Int? { isNull(column) ? nil : int(column) }
    func optionalDouble(_ column: Int32) -> Double? { isNull(column) ? nil : double(column) }
    func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }

    // MARK: columns by name

    /// The index of the result column `name`, as the SELECT or RETURNING clause names it (read from the
    /// statement once). A name the statement does not have is an error, never another column's value.
    func column(_ name: String) throws -> Int32 {
        if columnIndices == nil {
            var indices: [String: Int32] = [:]
            for index in 0..<sqlite3_column_count(statement) {
                if let name = sqlite3_column_name(statement, index) { indices[String(cString: name)] = index }
            }
            columnIndices = indices
        }
        guard let index = columnIndices?[name] else {
            throw SQLiteError(code: SQLITE_RANGE, message: "no result column named \(name)", context: "reading \(sql)")
        }
        return index
    }

    func int(_ name: String) throws -> Int { int(try column(name)) }
    func double(_ name: String) throws -> Double { double(try column(name)) }
    func text(_ name: String) throws -> String { text(try column(name)) }
    func optionalDouble(_ name: String) throws -> Double? { optionalDouble(try column(name)) }
    func optionalText(_ name: String) throws -> String? { optionalText(try column(name)) }
}
