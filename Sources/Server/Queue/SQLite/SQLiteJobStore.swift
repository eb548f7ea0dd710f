// SQLiteJobStore: the job store of one server per data directory. Rows in SQLite (DIR/jobs.sqlite3, WAL),
// bytes in files (DIR/jobs/<id>/input.<ext>, result.<ext>, mask.png); a flock on DIR keeps a second server out.
// By concern:
// - this file: the store, its settings and state, and `withDatabase` (the lock and the busy retry below);
// - SQLiteJobStore+Transitions.swift: the lease state machine (enqueue, claim, progress, heartbeat,
//   succeed, finish, requeue, cancel) and the ends the database would not take;
// - SQLiteJobStore+Recovery.swift: what a start finds (a lost, foreign or damaged database) and repairs
//   (interrupted jobs, files no row accounts for);
// - SQLiteJobStore+Capacity.swift: queue_capacity, max_data_bytes and the Retry-After they suggest;
// - SQLiteJobStore+Reads.swift: what clients and workers read (jobs, positions, files, counts);
// - SQLiteJobStore+Reuse.swift: the result cache's copies of a succeeded job, and purge;
// - SQLiteJobStore+Housekeeping.swift: expiry, the readiness write, checkpoints, integrity checks;
// - JobRows.swift (rows decoded by column name), StagedFiles.swift (stage → commit → roll back),
//   JobFiles.swift (crash-safe file primitives), JobSchema.swift (migrations), SQLite.swift (the connection).
//
// Crash rules (files are written before the row that points at them, rows deleted before their files):
// - crash between the input file and the INSERT: an orphan directory with no row, marked `.pending`
//   (created before the input, removed after the commit), swept at start;
// - crash between the result file and the UPDATE: the row is still running, so it runs again at start
//   (result files of unfinished jobs are removed, and a rerun's rename replaces a stale one anyway);
// - crash while running: recoverInterruptedJobs() requeues it, or fails it after max_attempts.
// - crash between deleting expired rows and their files: the directories were marked `.expired` before
//   the DELETE, and are swept at start.
// The start-up sweep deletes a job directory without a row only when it carries one of those markers: a
// directory of an acknowledged job never does, so a database that lost rows (restored from an older
// backup, its WAL lost) never costs their files. Such directories are moved to DIR/unclaimed instead, and a
// database that has neither the data directory's identity (DIR/store-id, the same UUID as `store_id` in
// its `meta` table) nor any job refuses to start while job files exist: it is not the database that made
// them. `PRAGMA quick_check` runs at every start.
//
// All state changes happen under one Mutex around one connection, so in this process two transitions
// never interleave (cancel vs succeed, two workers claiming); IMMEDIATE transactions, WAL and the busy
// timeout keep any other connection (sqlite3 CLI) from corrupting or half-reading anything.
//
// Another connection holding the write lock (a backup, a sqlite3 shell): no call waits for it under the
// Mutex for longer than `LockWait.slice`. A call that gets SQLITE_BUSY has changed nothing (the statement
// or the BEGIN IMMEDIATE failed, and writeTransaction rolled back), so it releases the Mutex, sleeps, and
// tries again until its own deadline: `LockWait.request` for calls a client waits on (it then gets a 503),
// `LockWait.background` for workers and housekeeping. A request therefore never queues behind a worker's
// long wait, and concurrent requests wait side by side instead of one after the other.
import CSQLite
import Foundation
import Glibc
import Synchronization

/// The job store of one server per data directory: rows in SQLite, files in job directories.
public final class SQLiteJobStore: JobStore {
    let directory: String
    let queueCapacity: Int
    let maxAttempts: Int
    /// Seconds a finished job (row and files) is kept.
    let resultTTL: Double
    /// `max_data_bytes`: the job files may take at most this much, counting what the unfinished jobs'
    /// results will add; 0 = no quota.
    let maxDataBytes: Int
    let clock: @Sendable () -> Double
    let directoryLock: DirectoryLock
    let state: Mutex<State>

    /// How long calls keep trying while another connection holds the database's write lock (seconds).
    enum LockWait {
        /// Calls a client is waiting on (submit, status, cancel, result, /readyz): past this the request
        /// gets its 503 "database is locked" rather than hanging.
        static let request = 1.0
        /// Workers and housekeeping (claim, finish, requeue, expiry, start-up recovery): nobody waits on
        /// the answer, and giving up on a finish would throw away a computed result.
        static let background = 10.0
        /// Longest busy wait inside one attempt, with the Mutex held.
        static let slice = 0.05
    }

    struct State {
        let db: SQLiteConnection
        /// Ids whose directory exists but whose row is not inserted yet: the sweep must not touch them.
        var pending: Set<String> = []
        /// The first SQLITE_CORRUPT/NOTADB this process met: the store cannot be trusted to write any more,
        /// and /readyz says so until a restart (which runs `PRAGMA quick_check`).
        var damage: String?
        /// Jobs whose end (failed or canceled) the database would not take: this process answers for them
        /// with that end, so they never look running forever; `retryUnrecorded` writes them later.
        var unrecorded: [String: (record: JobRecord, lease: Int)] = [:]
        /// Bytes of the job files (rescanned every expiry round, kept up to date in between).
        var dataBytes = 0
        /// What the unfinished jobs' results will add (`resultAllowance`), by job id.
        var resultAllowances: [String: Int] = [:]
    }

    /// The file in the data directory that holds the store's identity, a UUID also kept in the database
    /// (`meta.store_id`); both are written when the store is created.
    static let identityFileName = "store-id"
    /// Markers in a job directory that has no row (yet, or any more): the sweep may delete it.
    static let pendingMarker = ".pending"
    static let expiredMarker = ".expired"
    /// Where the sweep moves job directories the database does not know (DIR/unclaimed/<name>).
    static let unclaimedDirectoryName = "unclaimed"

    /// Unix seconds (`wallClockSeconds`); tests pass a clock of their own.
    public static let systemClock: @Sendable () -> Double = { wallClockSeconds() }

    var databasePath: String { directory + "/jobs.sqlite3" }
    var jobsDirectory: String { directory + "/jobs" }
    var unclaimedDirectory: String { directory + "/" + Self.unclaimedDirectoryName }
    func jobDirectory(_ id: String) -> String { jobsDirectory + "/" + id }

    /// Opens (creating if needed) the store in `directory`.
    /// `sqliteReadOnly` is a test hook: it opens the database SQLITE_OPEN_READONLY, which is how a
    /// read-only database behaves (tests run as root, where chmod does not block writes).
    public init(directory: String, queueCapacity: Int, maxAttempts: Int, resultTTL: Double, maxDataBytes: Int = 0,
         clock: @escaping @Sendable () -> Double = SQLiteJobStore.systemClock, sqliteReadOnly: Bool = false) throws {
        self.queueCapacity = queueCapacity
        self.maxAttempts = maxAttempts
        self.resultTTL = resultTTL
        self.maxDataBytes = maxDataBytes
        self.clock = clock
        try JobFiles.makeDirectories(directory)
        directoryLock = try DirectoryLock(directory: directory)
        // Symlinks resolved once: SQLite opens its file with SQLITE_OPEN_NOFOLLOW, which refuses a path
        // through a link, and a data directory linked into place must work.
        let directory = JobFiles.resolved(directory)
        self.directory = directory
        let db = try Self.openChecked(directory: directory, readOnly: sqliteReadOnly)
        try JobSchema.migrate(db)
        if !sqliteReadOnly { try Self.establishIdentity(db, directory: directory) }
        try JobFiles.makeDirectory(directory + "/jobs", parent: directory)
        var state = State(db: db)
        state.dataBytes = try JobFiles.treeSize(directory + "/jobs")
        let unfinished = try db.prepare("SELECT id, method, params FROM jobs WHERE status IN ('queued', 'running')")
        while try unfinished.step() {
            let params = try? JSONDecoder().decode(JobParams.self, from: Data(try unfinished.text("params").utf8))
            let method = try unfinished.text("method")
            state.resultAllowances[try unfinished.text("id")] = params.map { Self.resultAllowance(method: method, params: $0) } ?? 0
        }
        self.state = Mutex(state)
    }

    /// Runs `body` under the Mutex with SQLite's busy timeout set to at most one `LockWait.slice`. On
    /// SQLITE_BUSY the Mutex is released and `body` runs again after a sleep (growing to 1/20 of `wait`,
    /// within 0.05…0.2 s) until `wait` seconds have passed; then the busy error is thrown (`wait` 0: one
    /// attempt). `body` must have no effect when it fails with SQLITE_BUSY, or make `noRetry` true once
    /// it has.
    func withDatabase<T: Sendable>(wait: Double, noRetry: () -> Bool = { false },
                                           _ body: (inout State) throws -> T) throws -> T {
        let deadline = monotonicSeconds() + wait
        var pause = 0.002
        while true {
            let slice = min(LockWait.slice, max(0, deadline - monotonicSeconds()))
            do {
                return try state.withLock { state in
                    state.db.setBusyTimeout(milliseconds: Int32((slice * 1000).rounded(.up)))
                    do {
                        return try body(&state)
                    } catch let error as SQLiteError where error.isDamage {
                        if state.damage == nil { state.damage = error.description }
                        throw error
                    }
                }
            } catch let error as SQLiteError where error.isBusy {
                let left = deadline - monotonicSeconds()
                guard left > 0, !noRetry() else { throw error }
                usleep(UInt32(min(pause, left) * 1_000_000))
                // Long waits poll less often, so they hold the Mutex a small part of the time.
                pause = min(pause * 2, max(LockWait.slice, min(0.2, wait / 20)))
            }
        }
    }

}
