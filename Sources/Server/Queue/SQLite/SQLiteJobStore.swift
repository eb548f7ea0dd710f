// The durable job queue: rows in SQLite (DIR/jobs.sqlite3), bytes in files (DIR/jobs/<id>/input.<ext>,
// result.<ext>). One server per data directory is the supported setup, and a flock on DIR enforces it.
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
    private let clock: @Sendable () -> Double
    private let directoryLock: DirectoryLock
    private let state: Mutex<State>

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

    private struct State {
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
    private var jobsDirectory: String { directory + "/jobs" }
    private var unclaimedDirectory: String { directory + "/" + Self.unclaimedDirectoryName }
    private func jobDirectory(_ id: String) -> String { jobsDirectory + "/" + id }

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
            let params = try? JSONDecoder().decode(JobParams.self, from: Data(unfinished.text(2).utf8))
            state.resultAllowances[unfinished.text(0)] = params.map { Self.resultAllowance(method: unfinished.text(1), params: $0) } ?? 0
        }
        self.state = Mutex(state)
    }

    /// Room a job's result takes at most, reserved against `max_data_bytes` from submission to its end: the
    /// output as 4 bytes a pixel (a PNG of it is rarely larger), twice for `deep` (its mask).
    static func resultAllowance(method: String, params: JobParams) -> Int {
        4 * params.width * params.height * (method == "deep" ? 2 : 1) + 4096
    }

    /// Opens the database only when it can be the one that made the job files: a missing or empty file,
    /// or one with neither jobs nor the directory's identity, while DIR/jobs holds unmarked job
    /// directories, refuses (before SQLite creates or changes anything); so does a database whose
    /// identity is another's, and one that `PRAGMA quick_check` finds damaged.
    private static func openChecked(directory: String, readOnly: Bool) throws -> SQLiteConnection {
        let path = directory + "/jobs.sqlite3"
        let fileIdentity = try readIdentityFile(directory)
        let jobFiles = try unmarkedEntries(directory + "/jobs")
        var info = stat()
        let exists = lstat(path, &info) == 0
        if !jobFiles.isEmpty && (!exists || info.st_size == 0) {
            throw JobStoreError.databaseLost(directory: directory, jobDirectories: jobFiles.count,
                                             detail: exists ? "jobs.sqlite3 is empty" : "jobs.sqlite3 is missing")
        }
        let db: SQLiteConnection
        var problems: [String] = []
        do {
            db = try SQLiteConnection(path: path, readOnly: readOnly)
            let check = try db.prepare("PRAGMA quick_check")
            while try check.step(), problems.count < 5 { problems.append(check.text(0)) }
            check.reset()
        } catch let error as SQLiteError where [SQLITE_CORRUPT, SQLITE_NOTADB].contains(error.primaryCode) {
            throw JobStoreError.damagedDatabase(path: path, detail: error.message)
        }
        if problems != ["ok"] {
            throw JobStoreError.damagedDatabase(path: path, detail: problems.joined(separator: "; "))
        }
        // A database without the schema (user_version 0) has neither jobs nor an identity.
        let hasSchema = (try db.queryInt("PRAGMA user_version") ?? 0) > 0
        let databaseIdentity = hasSchema ? try readIdentity(db) : nil
        if let fileIdentity, let databaseIdentity, fileIdentity != databaseIdentity {
            throw JobStoreError.foreignDatabase(directory: directory, fileIdentity: fileIdentity, databaseIdentity: databaseIdentity)
        }
        if databaseIdentity == nil && !jobFiles.isEmpty {
            let jobs = hasSchema ? (try db.queryInt("SELECT COUNT(*) FROM jobs") ?? 0) : 0
            if jobs == 0 {
                throw JobStoreError.databaseLost(
                    directory: directory, jobDirectories: jobFiles.count,
                    detail: "jobs.sqlite3 has no jobs and not the store's identity"
                        + (fileIdentity.map { " (\($0), in \(directory)/\(identityFileName))" } ?? ""))
            }
            // Jobs but no identity: a database from before identities, or a directory that lost its identity
            // file. Its rows are kept; directories it does not know go to DIR/unclaimed.
        }
        return db
    }

    /// Writes the identity where it is missing: the database first, then the file, so a file identity
    /// always names a database that held it. A new store gets a fresh UUID.
    private static func establishIdentity(_ db: SQLiteConnection, directory: String) throws {
        let fileIdentity = try readIdentityFile(directory)
        var identity = try readIdentity(db)
        if identity == nil {
            let chosen = fileIdentity ?? JobID.generate()
            try db.writeTransaction {
                let insert = try db.prepare("INSERT INTO meta (key, value) VALUES ('store_id', ?) ON CONFLICT (key) DO NOTHING")
                try insert.bind(1, chosen)
                try insert.step()
            }
            identity = try readIdentity(db)
        }
        guard let identity, fileIdentity != identity else { return }
        try JobFiles.writeAtomically(Array((identity + "\n").utf8), to: directory + "/" + identityFileName, directory: directory)
    }

    /// The database's identity (`meta.store_id`), nil when it has none.
    private static func readIdentity(_ db: SQLiteConnection) throws -> String? {
        let query = try db.prepare("SELECT value FROM meta WHERE key = 'store_id'")
        return try query.step() ? query.text(0) : nil
    }

    /// DIR/store-id's identity; nil when the file is missing. A file that holds no UUID is an error.
    static func readIdentityFile(_ directory: String) throws -> String? {
        let path = directory + "/" + identityFileName
        guard let bytes = try JobFiles.read(path) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard JobID.isValid(text) else {
            throw JobStoreError.damagedDatabase(path: path, detail: "the identity file holds no store identity (a UUID)")
        }
        return text
    }

    /// Entries of DIR/jobs that are neither temp files nor directories marked `.pending`/`.expired`: what
    /// only the database can account for.
    private static func unmarkedEntries(_ jobs: String) throws -> [String] {
        try JobFiles.list(jobs).filter { name in
            !name.hasPrefix(JobFiles.tempPrefix) && !isMarked(jobs + "/" + name)
        }
    }

    private static func isMarked(_ path: String) -> Bool {
        JobFiles.isDirectory(path)
            && (JobFiles.exists(path + "/" + pendingMarker) || JobFiles.exists(path + "/" + expiredMarker))
    }

    private static let columns = """
        id, status, method, params, input_width, input_height, input_format, progress_step, progress_total, \
        loss, attempts, cancel_requested, created_at, started_at, finished_at, error, result_format, lease
        """

    /// Runs `body` under the Mutex with SQLite's busy timeout set to at most one `LockWait.slice`. On
    /// SQLITE_BUSY the Mutex is released and `body` runs again after a sleep (growing to 1/20 of `wait`,
    /// within 0.05…0.2 s) until `wait` seconds have passed; then the busy error is thrown (`wait` 0: one
    /// attempt). `body` must have no effect when it fails with SQLITE_BUSY, or make `noRetry` true once
    /// it has.
    private func withDatabase<T: Sendable>(wait: Double, noRetry: () -> Bool = { false },
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

    // MARK: start-up

    /// Call once at start, before workers and requests: 'running' rows belong to a process that died.
    /// They go back to the queue, or fail once they have been interrupted `maxAttempts` times; a running
    /// job whose cancel was requested becomes canceled. Then files with no row, stray temp files and
    /// result files of unfinished jobs are deleted.
    @discardableResult
    public func recoverInterruptedJobs() throws -> JobRecoveryReport {
        let now = clock()
        return try withDatabase(wait: LockWait.background) { state in
            var report = JobRecoveryReport()
            let db = state.db
            var known: [String: (status: JobStatus, inputFormat: String, resultFormat: String?)] = [:]
            try db.writeTransaction {
                let running = try db.prepare("SELECT id, attempts, cancel_requested FROM jobs WHERE status = 'running'")
                var interrupted: [(id: String, attempts: Int, canceled: Bool)] = []
                while try running.step() {
                    interrupted.append((running.text(0), running.int(1), running.int(2) != 0))
                }
                running.reset()
                for job in interrupted {
                    if job.canceled {
                        try Self.writeEnd(db, id: job.id, status: .canceled, error: nil, at: now)
                        report.canceled += 1
                    } else if job.attempts >= maxAttempts {
                        let error = JobError(
                            status: 500, title: "Job interrupted",
                            detail: "interrupted \(job.attempts) times; gave up after max_attempts (\(maxAttempts))")
                        try Self.writeEnd(db, id: job.id, status: .failed, error: error, at: now)
                        report.failed += 1
                    } else {
                        try Self.backToQueue(db, id: job.id, giveBackAttempt: false)
                        report.requeued += 1
                    }
                }
                let all = try db.prepare("SELECT id, status, input_format, result_format FROM jobs")
                while try all.step() {
                    let status = JobStatus(rawValue: all.text(1)) ?? .failed
                    known[all.text(0)] = (status, all.text(2), all.optionalText(3))
                }
                all.reset()

                // Queued jobs must have their input: a missing one (e.g. power loss undid the file but not
                // the row) fails the job with a reason instead of failing a worker later.
                for (id, job) in known where job.status == .queued {
                    if !JobFiles.exists(jobDirectory(id) + "/input." + job.inputFormat) {
                        let error = JobError(status: 500, title: "Input lost",
                                             detail: "the stored input image of this job is missing")
                        try Self.writeEnd(db, id: id, status: .failed, error: error, at: now)
                        known[id]?.status = .failed
                        report.failed += 1
                    }
                }
            }

            for name in try JobFiles.list(jobsDirectory) where !state.pending.contains(name) {
                let path = jobsDirectory + "/" + name
                guard JobID.isValid(name), let job = known[name], JobFiles.isDirectory(path) else {
                    if name.hasPrefix(JobFiles.tempPrefix) || Self.isMarked(path) {
                        // A temp file, an enqueue that never committed, or an expired job: never acknowledged,
                        // or past its result_ttl.
                        try JobFiles.removeJobDirectory(path)
                        report.removedFiles += 1
                    } else {
                        // Not ours to delete: the database does not know it, but nothing says it was never
                        // acknowledged (a database restored from an older backup, or one that lost its WAL).
                        try JobFiles.makeDirectory(unclaimedDirectory, parent: directory)
                        try JobFiles.moveAside(path, into: unclaimedDirectory, name: name)
                        report.unclaimed.append(name)
                    }
                    continue
                }
                for file in try JobFiles.list(path) {
                    let keep = (file == "input." + job.inputFormat && !job.status.isFinished)
                        || (job.status == .succeeded && file == "result." + (job.resultFormat ?? ""))
                        || (job.status == .succeeded && JobAttachment(rawValue: file) != nil)
                    if !keep {
                        try JobFiles.removeTree(path + "/" + file)
                        report.removedFiles += 1
                    }
                }
            }
            state.resultAllowances = state.resultAllowances.filter { known[$0.key]?.status.isFinished == false }
            state.dataBytes = try JobFiles.treeSize(jobsDirectory)
            return report
        }
    }

    // MARK: producers

    /// Stores the input file, then the row. Throws `.queueFull` when `queueCapacity` jobs are queued
    /// (checked again inside the insert transaction, so concurrent enqueues cannot overshoot). On any
    /// failure the job directory is removed: no orphan.
    public func enqueue(method: String, params: JobParams, input: [UInt8], inputFormat: String,
                 inputWidth: Int, inputHeight: Int) throws -> JobRecord {
        guard JobFormat.isValid(inputFormat) else { throw JobStoreError.invalidFormat(inputFormat) }
        guard JobFormat.isValid(params.format) else { throw JobStoreError.invalidFormat(params.format) }
        let paramsJSON = try Self.encodeJSON(params)
        let id = JobID.generate()
        let allowance = Self.resultAllowance(method: method, params: params)
        // Cheap early refusal, so a full queue does not cost a 25 MB write first. The input and the
        // result's allowance are counted against max_data_bytes from here on.
        let admit = { [self] in
            try withDatabase(wait: LockWait.request) { state in
                try Self.checkCapacity(state.db, capacity: queueCapacity)
                try checkQuota(&state, adding: input.count + allowance)
                state.pending.insert(id)
                state.dataBytes += input.count
                state.resultAllowances[id] = allowance
            }
        }
        do {
            try admit()
        } catch JobStoreError.storeFull {
            // Finished jobs past their result_ttl may not have been swept yet.
            _ = try? expire()
            try admit()
        }
        let dir = jobDirectory(id)
        var committed = false
        defer {
            if !committed {
                state.withLock { state in
                    state.dataBytes -= input.count
                    state.resultAllowances[id] = nil
                }
            }
        }
        do {
            defer { _ = state.withLock { $0.pending.remove(id) } }
            try JobFiles.makeDirectory(dir, parent: jobsDirectory)
            // Until the row commits, the directory says it may be deleted without one (a crash in between).
            try JobFiles.writeAtomically([], to: dir + "/" + Self.pendingMarker, directory: dir)
            try JobFiles.writeAtomically(input, to: dir + "/input." + inputFormat, directory: dir)
            let now = clock()
            let record = try withDatabase(wait: LockWait.request) { state in
                let db = state.db
                return try db.writeTransaction {
                    try Self.checkCapacity(db, capacity: queueCapacity)
                    let insert = try db.prepare("""
                        INSERT INTO jobs (id, status, method, params, input_width, input_height, input_format, created_at)
                        VALUES (?, 'queued', ?, ?, ?, ?, ?, ?) RETURNING \(Self.columns)
                        """)
                    try insert.bind(1, id)
                    try insert.bind(2, method)
                    try insert.bind(3, paramsJSON)
                    try insert.bind(4, inputWidth)
                    try insert.bind(5, inputHeight)
                    try insert.bind(6, inputFormat)
                    try insert.bind(7, now)
                    guard try insert.step() else {
                        throw SQLiteError(code: SQLITE_ERROR, message: "INSERT returned no row", context: "enqueue")
                    }
                    let record = try Self.decode(insert)
                    insert.reset()
                    return record
                }
            }
            // Committed: from now on only the row accounts for the directory. (A crash before this unlink
            // leaves the marker in a known directory, which the sweep removes.)
            committed = true
            try? JobFiles.removeFile(dir + "/" + Self.pendingMarker)
            return record
        } catch {
            try? JobFiles.removeJobDirectory(dir)
            throw error
        }
    }

    /// `max_data_bytes`: the job files, the results the unfinished jobs will add, and `bytes` more must fit.
    private func checkQuota(_ state: inout State, adding bytes: Int) throws {
        guard maxDataBytes > 0 else { return }
        let committed = state.dataBytes + state.resultAllowances.values.reduce(0, +)
        guard committed + bytes > maxDataBytes else { return }
        throw JobStoreError.storeFull(usedBytes: committed, neededBytes: bytes, limitBytes: maxDataBytes,
                                      retryAfterSeconds: try Self.nextExpiry(state.db, ttl: resultTTL, now: clock()))
    }

    /// Seconds until the next finished job expires (and frees its files), 1…3600; the mean run time when
    /// nothing finished is waiting to expire (only unfinished jobs hold the space).
    private static func nextExpiry(_ db: SQLiteConnection, ttl: Double, now: Double) throws -> Int {
        let query = try db.prepare("SELECT MIN(finished_at) FROM jobs WHERE finished_at IS NOT NULL")
        guard try query.step(), let oldest = query.optionalDouble(0) else { return try retryAfter(db) }
        return Int(min(3600, max(1, (oldest + ttl - now).rounded(.up))))
    }

    /// A job ended: its input is no longer needed (a finished job keeps only its result and mask), and its
    /// result allowance is given back. Best effort: the start-up sweep removes an input a crash left.
    private func ended(_ job: JobRecord) {
        let path = jobDirectory(job.id) + "/input." + job.inputFormat
        var info = stat()
        let size = lstat(path, &info) == 0 ? Int(info.st_size) : 0
        let removed = (try? JobFiles.removeFile(path)) != nil
        state.withLock { state in
            if removed { state.dataBytes -= size }
            state.resultAllowances[job.id] = nil
        }
    }

    /// Bytes the job files take now, and the quota (0: none): for /metrics.
    public var dataUsage: (bytes: Int, reservedForResults: Int) {
        state.withLock { ($0.dataBytes, $0.resultAllowances.values.reduce(0, +)) }
    }

    /// Recounts the job files' bytes from the disk (every expiry round), so the running count never drifts.
    func refreshDataUsage() throws {
        let bytes = try JobFiles.treeSize(jobsDirectory)
        state.withLock { $0.dataBytes = bytes }
    }

    private static func checkCapacity(_ db: SQLiteConnection, capacity: Int) throws {
        let queued = try db.queryInt("SELECT COUNT(*) FROM jobs WHERE status = 'queued'") ?? 0
        guard queued < capacity else { throw JobStoreError.queueFull(retryAfterSeconds: try retryAfter(db)) }
    }

    /// A slot frees when a running job ends, so suggest the mean run time of the last 20 finished jobs
    /// (clamped to 1…300 s; 10 s when there is no history).
    private static func retryAfter(_ db: SQLiteConnection) throws -> Int {
        let statement = try db.prepare("""
            SELECT AVG(finished_at - started_at) FROM (SELECT finished_at, started_at FROM jobs
            WHERE status IN ('succeeded', 'failed') AND started_at IS NOT NULL AND finished_at IS NOT NULL
            ORDER BY finished_at DESC LIMIT 20)
            """)
        guard try statement.step(), let mean = statement.optionalDouble(0), mean.isFinite else { return 10 }
        return Int(min(300, max(1, mean.rounded(.up))))
    }

    // MARK: workers

    /// Hands the oldest queued job to the caller: status running, attempts + 1, a fresh lease. One
    /// IMMEDIATE transaction under the store's lock, so no job is ever handed out twice.
    public func claimNext() throws -> JobClaim? {
        try claim(where: "seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1)")
    }

    /// Claims job `id` as `claimNext` does, if it is still queued (nil when another worker took it or it
    /// was canceled meanwhile). The worker pool peeks with `nextQueued`, reserves memory, then claims.
    public func claim(id: String) throws -> JobClaim? {
        try claim(where: "id = ? AND status = 'queued'", id: id)
    }

    /// The oldest queued job, without claiming it.
    public func nextQueued() throws -> JobRecord? {
        try withDatabase(wait: LockWait.background) { state in
            let query = try state.db.prepare("SELECT \(Self.columns) FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1")
            guard try query.step() else { return nil }
            let record = try Self.decode(query)
            query.reset()
            return record
        }
    }

    /// Size of the stored input file (the memory estimate counts it); nil when it is missing.
    public func inputByteCount(_ job: JobRecord) -> Int? {
        var info = stat()
        guard stat(jobDirectory(job.id) + "/input." + job.inputFormat, &info) == 0 else { return nil }
        return Int(info.st_size)
    }

    private func claim(where condition: String, id: String? = nil) throws -> JobClaim? {
        let now = clock()
        return try withDatabase(wait: LockWait.background) { state in
            let db = state.db
            return try db.writeTransaction { () throws -> JobClaim? in
                let claim = try db.prepare("""
                    UPDATE jobs SET status = 'running', attempts = attempts + 1, lease = lease + 1,
                        started_at = ?, finished_at = NULL, progress_step = 0, loss = NULL, cancel_requested = 0
                    WHERE \(condition)
                    RETURNING \(Self.columns)
                    """)
                try claim.bind(1, now)
                if let id { try claim.bind(2, id) }
                guard try claim.step() else { return nil }
                let record = try Self.decode(claim)
                let lease = claim.int(17)
                claim.reset()
                return JobClaim(job: record, attempt: record.attempts, lease: lease)
            }
        }
    }

    /// Records progress; false when the caller no longer holds the lease (nothing changed then). Runs on
    /// the computing thread and is best effort (the next report overwrites it), so it makes one attempt
    /// that does not wait when the database is locked instead of stalling the job.
    @discardableResult
    public func updateProgress(_ claim: JobClaim, step: Int, total: Int, loss: Double?) throws -> Bool {
        try withDatabase(wait: 0) { state in
            let update = try state.db.prepare("""
                UPDATE jobs SET progress_step = ?, progress_total = ?, loss = ?
                WHERE id = ? AND status = 'running' AND lease = ?
                """)
            try update.bind(1, step)
            try update.bind(2, total)
            try update.bind(3, loss.flatMap { $0.isFinite ? $0 : nil })
            try update.bind(4, claim.id)
            try update.bind(5, claim.lease)
            try update.step()
            return state.db.changes == 1
        }
    }

    /// Publishes the result and marks the job succeeded, only while it is still running under this
    /// lease and no cancel was requested. Returns false otherwise and leaves no result file; a job whose
    /// cancel was requested becomes canceled here (the work is done, but the client said no).
    public func succeed(_ claim: JobClaim, result: [UInt8], format: String,
                        attachments: [JobAttachment: [UInt8]] = [:]) throws -> Bool {
        guard JobFormat.isValid(format) else { throw JobStoreError.invalidFormat(format) }
        let dir = jobDirectory(claim.id)
        // The slow part (write + fsync) happens outside the lock; only the rename happens under it,
        // after the lease check, so a stale holder can never overwrite a live result.
        var extraTemps: [(name: String, temp: String)] = []
        do {
            for (attachment, bytes) in attachments.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                extraTemps.append((attachment.rawValue, try JobFiles.writeTemp(bytes, in: dir)))
            }
        } catch {
            for extra in extraTemps { try? JobFiles.removeFile(extra.temp) }
            throw error
        }
        let temp = try JobFiles.writeTemp(result, in: dir)
        // Attachments are published before the result, so a succeeded row always has them; a crash in
        // between leaves files that the next start removes (the row is not succeeded).
        let extraTempPaths = extraTemps.map(\.temp)
        let now = clock()
        // Retried on SQLITE_BUSY only while no file has been moved or removed: the BEGIN IMMEDIATE that
        // waits for another connection's lock comes first, and a failure after that undoes the renames and
        // gives up.
        var moved = false
        // Set once this attempt starts publishing: only then are result files in the job directory its own.
        var published = false
        // Set when the job reached an end here (succeeded, or canceled at the last moment).
        var ended = false
        defer {
            if ended {
                self.ended(claim.job)
                let added = result.count + attachments.values.reduce(0) { $0 + $1.count }
                if published { state.withLock { $0.dataBytes += added } }
            }
        }
        do {
            return try withDatabase(wait: LockWait.background, noRetry: { moved }) { state in
                let db = state.db
                do {
                    return try db.writeTransaction {
                        guard let row = try Self.leaseRow(db, claim) else {
                            moved = true
                            try JobFiles.removeFile(temp)
                            Self.discard(extraTempPaths)
                            return false
                        }
                        if row.cancelRequested {
                            moved = true
                            try JobFiles.removeFile(temp)
                            Self.discard(extraTempPaths)
                            try Self.writeEnd(db, id: claim.id, status: .canceled, error: nil, at: now)
                            ended = true
                            return false
                        }
                        moved = true
                        published = true
                        for extra in extraTemps {
                            try JobFiles.publish(temp: extra.temp, as: dir + "/" + extra.name, directory: dir)
                        }
                        try JobFiles.publish(temp: temp, as: dir + "/result." + format, directory: dir)
                        let update = try db.prepare("""
                            UPDATE jobs SET status = 'succeeded', result_format = ?, finished_at = ?, error = NULL
                            WHERE id = ? AND lease = ?
                            """)
                        try update.bind(1, format)
                        try update.bind(2, now)
                        try update.bind(3, claim.id)
                        try update.bind(4, claim.lease)
                        try update.step()
                        ended = true
                        return true
                    }
                } catch {
                    ended = false
                    // The row did not change: the published files must not outlive the failed commit.
                    if published {
                        try? JobFiles.removeFile(dir + "/result." + format)
                        Self.discard(extraTemps.map { dir + "/" + $0.name })
                    }
                    throw error
                }
            }
        } catch {
            // Whatever was not published (all of it when the lock never came) is removed.
            try? JobFiles.removeFile(temp)
            Self.discard(extraTempPaths)
            throw error
        }
    }

    /// Ends the job failed or canceled, only under `claim`'s lease; false when it was lost. When the database
    /// will not take the end, the job ends in this process's answers all the same (`unrecorded`, written
    /// later by `retryUnrecorded`; a failure's detail says it is not recorded), and the error is thrown.
    @discardableResult
    public func finish(_ claim: JobClaim, as end: JobEnd) throws -> Bool {
        let now = clock()
        do {
            let ended = try withDatabase(wait: LockWait.background) { state in
                let db = state.db
                return try db.writeTransaction {
                    guard try Self.leaseRow(db, claim) != nil else { return false }
                    try Self.writeEnd(db, id: claim.id, status: end.status, error: end.error, at: now)
                    return true
                }
            }
            if ended { self.ended(claim.job) }
            return ended
        } catch let storeError {
            var error = end.error
            error?.detail += " (the job store could not record this failure: \(JobStoreError.clientText(storeError)))"
            remember(claim, status: end.status, error: error, at: now)
            throw storeError
        }
    }

    /// A job's end the database would not take, kept in memory so the job does not look alive.
    private func remember(_ claim: JobClaim, status: JobStatus, error: JobError?, at now: Double) {
        var record = claim.job
        record.status = status
        record.error = error
        record.finishedAt = now
        state.withLock { $0.unrecorded[claim.id] = (record, claim.lease) }
    }

    /// Writes the ends kept in memory by `finish` when the database would not take them
    /// (housekeeping calls it every minute). Returns how many are still unwritten.
    @discardableResult
    public func retryUnrecorded() -> Int {
        let entries = state.withLock { $0.unrecorded }
        for (id, entry) in entries {
            let written: Bool? = try? withDatabase(wait: LockWait.request) { state in
                let db = state.db
                return try db.writeTransaction {
                    let claim = JobClaim(job: entry.record, attempt: entry.record.attempts, lease: entry.lease)
                    guard try Self.leaseRow(db, claim) != nil else { return true }  // rerun or gone: nothing to write
                    try Self.writeEnd(db, id: id, status: entry.record.status, error: entry.record.error,
                                    at: entry.record.finishedAt ?? clock())
                    return true
                }
            }
            if written == true { _ = state.withLock { $0.unrecorded.removeValue(forKey: id) } }
        }
        return state.withLock { $0.unrecorded.count }
    }

    /// Graceful shutdown: puts a running job back at its place in the queue and gives the attempt back,
    /// so a clean stop costs nothing. A job whose cancel was requested is canceled instead.
    @discardableResult
    public func requeue(_ claim: JobClaim) throws -> Bool {
        let now = clock()
        return try withDatabase(wait: LockWait.background) { state in
            let db = state.db
            return try db.writeTransaction {
                guard let row = try Self.leaseRow(db, claim) else { return false }
                if row.cancelRequested {
                    try Self.writeEnd(db, id: claim.id, status: .canceled, error: nil, at: now)
                } else {
                    try Self.backToQueue(db, id: claim.id, giveBackAttempt: true)
                }
                return true
            }
        }
    }

    /// Whether `claim` still holds its job, and whether a cancel was requested. The lease has no expiry here
    /// (one server per data directory: a holder that died is recovered at the next start), so this only reads.
    public func heartbeat(_ claim: JobClaim) throws -> LeaseState {
        try withDatabase(wait: LockWait.background) { state in
            guard let row = try Self.leaseRow(state.db, claim) else { return .lost }
            return row.cancelRequested ? .cancelRequested : .held
        }
    }

    // MARK: clients

    /// The job, or nil when the id is malformed, unknown, or expired (finished longer than resultTTL ago,
    /// even if expire() has not deleted it yet).
    public func job(id: String) throws -> JobRecord? {
        guard JobID.isValid(id) else { return nil }
        if let kept = state.withLock({ $0.unrecorded[id]?.record }) { return kept }
        let now = clock()
        return try withDatabase(wait: LockWait.request) { state in try liveRecord(state.db, id: id, now: now) }
    }

    /// 1-based position among queued jobs (1 = next to run); nil unless the job is queued.
    public func queuePosition(id: String) throws -> Int? {
        guard JobID.isValid(id) else { return nil }
        return try withDatabase(wait: LockWait.request) { state in
            let query = try state.db.prepare("""
                SELECT (SELECT COUNT(*) FROM jobs AS o WHERE o.status = 'queued' AND o.seq <= j.seq)
                FROM jobs AS j WHERE j.id = ? AND j.status = 'queued'
                """)
            try query.bind(1, id)
            return try query.step() ? query.int(0) : nil
        }
    }

    /// The stored input image. Throws `.notFound` for malformed/unknown/expired ids.
    public func inputBytes(id: String) throws -> [UInt8] {
        guard let job = try job(id: id) else { throw JobStoreError.notFound(id: id) }
        let path = jobDirectory(job.id) + "/input." + job.inputFormat
        guard let bytes = try JobFiles.read(path) else { throw JobFiles.fail("reading", path, ENOENT) }
        return bytes
    }

    /// The result image when the job succeeded, nil while it has not. Throws `.notFound` for
    /// malformed/unknown/expired ids (also when expiry removes it mid-read).
    private static func discard(_ paths: [String]) {
        for path in paths { try? JobFiles.removeFile(path) }
    }

    /// An attachment of a succeeded job; nil when the job has not succeeded or has no such file.
    public func attachmentBytes(id: String, _ attachment: JobAttachment) throws -> [UInt8]? {
        let name = attachment.rawValue
        guard let job = try job(id: id) else { throw JobStoreError.notFound(id: id) }
        guard job.status == .succeeded else { return nil }
        guard let bytes = try JobFiles.read(jobDirectory(job.id) + "/" + name) else {
            if job.method == "deep" { throw JobStoreError.resultLost(id: id, file: name) }  // deep always makes its mask
            return nil
        }
        return bytes
    }

    public func resultBytes(id: String) throws -> [UInt8]? {
        guard let job = try job(id: id) else { throw JobStoreError.notFound(id: id) }
        guard job.status == .succeeded, let format = job.resultFormat, JobFormat.isValid(format) else { return nil }
        guard let bytes = try JobFiles.read(jobDirectory(job.id) + "/result." + format) else {
            // Expired meanwhile (expiry removes rows first): gone as a job. Else the file alone is lost.
            guard try self.job(id: id) != nil else { throw JobStoreError.notFound(id: id) }
            throw JobStoreError.resultLost(id: id, file: "result." + format)
        }
        return bytes
    }

    /// True when `job` succeeded but its result file is not in the store (GET /jobs/{id} then shows it
    /// failed with the 410 the result answers).
    public func isResultLost(_ job: JobRecord) -> Bool {
        guard job.status == .succeeded, let format = job.resultFormat, JobFormat.isValid(format) else { return false }
        return !JobFiles.exists(jobDirectory(job.id) + "/result." + format)
    }

    /// DELETE /jobs/{id}: a queued job is canceled at once; a running one gets cancelRequested (its
    /// worker stops at the next step); a finished one is left as it is. Nil when there is no such job.
    public func cancel(id: String) throws -> JobRecord? {
        guard JobID.isValid(id) else { return nil }
        if let kept = state.withLock({ $0.unrecorded[id]?.record }) { return kept }
        let now = clock()
        var canceledQueued: JobRecord?
        defer { if let canceledQueued { ended(canceledQueued) } }
        return try withDatabase(wait: LockWait.request) { state in
            let db = state.db
            return try db.writeTransaction {
                guard let job = try liveRecord(db, id: id, now: now) else { return nil }
                if job.status == .queued { canceledQueued = job }
                switch job.status {
                case .queued:
                    try Self.writeEnd(db, id: id, status: .canceled, error: nil, at: now)
                case .running:
                    let update = try db.prepare("UPDATE jobs SET cancel_requested = 1 WHERE id = ?")
                    try update.bind(1, id)
                    try update.step()
                case .succeeded, .failed, .canceled:
                    return job
                }
                return try liveRecord(db, id: id, now: now)
            }
        }
    }

    // MARK: housekeeping

    /// Deletes finished jobs older than resultTTL: rows first, then their files (a crash in between
    /// leaves orphan files, which the next start sweeps). Returns how many jobs were deleted.
    @discardableResult
    public func expire() throws -> Int {
        let cutoff = clock() - resultTTL
        // The directories are marked before their rows go, so a crash in between leaves directories the
        // sweep may delete (a row whose directory is marked is past its result_ttl: nobody sees it).
        let due: [String] = try withDatabase(wait: LockWait.background) { state in
            let query = try state.db.prepare("""
                SELECT id FROM jobs WHERE status IN ('succeeded', 'failed', 'canceled')
                AND finished_at IS NOT NULL AND finished_at < ?
                """)
            try query.bind(1, cutoff)
            var ids: [String] = []
            while try query.step() { ids.append(query.text(0)) }
            return ids
        }
        for id in due where JobID.isValid(id) && JobFiles.isDirectory(jobDirectory(id)) {
            try JobFiles.writeAtomically([], to: jobDirectory(id) + "/" + Self.expiredMarker, directory: jobDirectory(id))
        }
        let ids: [String] = try withDatabase(wait: LockWait.background) { state in
            let db = state.db
            return try db.writeTransaction {
                let delete = try db.prepare("""
                    DELETE FROM jobs WHERE status IN ('succeeded', 'failed', 'canceled')
                    AND finished_at IS NOT NULL AND finished_at < ? RETURNING id
                    """)
                try delete.bind(1, cutoff)
                var ids: [String] = []
                while try delete.step() { ids.append(delete.text(0)) }
                delete.reset()
                return ids
            }
        }
        for id in ids where JobID.isValid(id) {
            try JobFiles.removeJobDirectory(jobDirectory(id))
        }
        try refreshDataUsage()
        return ids.count
    }

    /// Jobs per status (every status present, zero when none), for metrics and /readyz.
    public func counts() throws -> [JobStatus: Int] {
        try withDatabase(wait: LockWait.request) { state in
            var counts = Dictionary(uniqueKeysWithValues: JobStatus.allCases.map { ($0, 0) })
            let query = try state.db.prepare("SELECT status, COUNT(*) FROM jobs GROUP BY status")
            while try query.step() {
                if let status = JobStatus(rawValue: query.text(0)) { counts[status] = query.int(1) }
            }
            return counts
        }
    }

    /// For /readyz: commits a tiny write to the database and creates/removes a temp file in the jobs
    /// directory. Throws (SQLiteError / JobStoreError.fileSystem) when either cannot be written.
    public func checkWritable() throws {
        if let damage = state.withLock({ $0.damage }) {
            throw JobStoreError.damagedDatabase(path: "jobs.sqlite3", detail: damage)
        }
        let now = clock()
        try withDatabase(wait: LockWait.request) { state in
            let db = state.db
            try db.writeTransaction {
                let beat = try db.prepare("""
                    INSERT INTO meta (key, value) VALUES ('writable_check', ?)
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value
                    """)
                try beat.bind(1, now)
                try beat.step()
            }
        }
        let temp = try JobFiles.writeTemp([0], in: jobsDirectory)
        try JobFiles.removeFile(temp)
    }

    /// Copies the WAL into the main file and empties it (`wal_checkpoint(TRUNCATE)`): at a clean shutdown,
    /// so jobs.sqlite3 alone holds everything. Best effort: a reader elsewhere may keep part of the WAL.
    public func checkpoint() throws {
        try withDatabase(wait: LockWait.background) { state in
            _ = try state.db.queryText("PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }

    func checkpointForTests() throws { try checkpoint() }

    /// Drops the connection's cached pages, so the next read comes from the file (tests that damage it).
    func releaseCacheForTests() {
        state.withLock { state in _ = state.db.releaseMemory() }
    }

    /// `PRAGMA quick_check` on the live database (housekeeping runs it now and then): damage found is
    /// kept like damage met by a statement, and /readyz reports it.
    public func verifyIntegrity() throws {
        try withDatabase(wait: LockWait.background) { state in
            let check = try state.db.prepare("PRAGMA quick_check")
            var problems: [String] = []
            while try check.step(), problems.count < 5 { problems.append(check.text(0)) }
            check.reset()
            if problems != ["ok"], state.damage == nil { state.damage = "PRAGMA quick_check: " + problems.joined(separator: "; ") }
        }
    }

    // MARK: helpers (called with the lock held)

    private func liveRecord(_ db: SQLiteConnection, id: String, now: Double) throws -> JobRecord? {
        let query = try db.prepare("SELECT \(Self.columns) FROM jobs WHERE id = ?")
        try query.bind(1, id)
        guard try query.step() else { return nil }
        let record = try Self.decode(query)
        query.reset()
        if record.status.isFinished, let finished = record.finishedAt, finished < now - resultTTL { return nil }
        return record
    }

    private struct LeaseRow { var cancelRequested: Bool }

    /// The row's cancel flag when it is running under `claim`'s lease, else nil.
    private static func leaseRow(_ db: SQLiteConnection, _ claim: JobClaim) throws -> LeaseRow? {
        let query = try db.prepare("SELECT cancel_requested FROM jobs WHERE id = ? AND status = 'running' AND lease = ?")
        try query.bind(1, claim.id)
        try query.bind(2, claim.lease)
        guard try query.step() else { return nil }
        return LeaseRow(cancelRequested: query.int(0) != 0)
    }

    private static func writeEnd(_ db: SQLiteConnection, id: String, status: JobStatus, error: JobError?,
                               at time: Double) throws {
        let update = try db.prepare("UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?")
        try update.bind(1, status.rawValue)
        try update.bind(2, try error.map(encodeJSON))
        try update.bind(3, time)
        try update.bind(4, id)
        try update.step()
    }

    private static func backToQueue(_ db: SQLiteConnection, id: String, giveBackAttempt: Bool) throws {
        let update = try db.prepare("""
            UPDATE jobs SET status = 'queued', started_at = NULL, progress_step = 0, loss = NULL,
                attempts = MAX(0, attempts - ?)
            WHERE id = ?
            """)
        try update.bind(1, giveBackAttempt ? 1 : 0)
        try update.bind(2, id)
        try update.step()
    }

    private static func encodeJSON(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private static func decode(_ row: SQLiteStatement) throws -> JobRecord {
        let id = row.text(0)
        guard let status = JobStatus(rawValue: row.text(1)) else {
            throw JobStoreError.corruptRecord(id: id, detail: "unknown status \(row.text(1).debugDescription)")
        }
        let decoder = JSONDecoder()
        let params: JobParams
        do {
            params = try decoder.decode(JobParams.self, from: Data(row.text(3).utf8))
        } catch {
            throw JobStoreError.corruptRecord(id: id, detail: "params: \(error)")
        }
        var jobError: JobError?
        if let text = row.optionalText(15) {
            do {
                jobError = try decoder.decode(JobError.self, from: Data(text.utf8))
            } catch {
                throw JobStoreError.corruptRecord(id: id, detail: "error: \(error)")
            }
        }
        return JobRecord(
            id: id, status: status, method: row.text(2), params: params,
            inputWidth: row.int(4), inputHeight: row.int(5), inputFormat: row.text(6),
            progressStep: row.int(7), progressTotal: row.int(8), loss: row.optionalDouble(9),
            attempts: row.int(10), cancelRequested: row.int(11) != 0,
            createdAt: row.double(12), startedAt: row.optionalDouble(13), finishedAt: row.optionalDouble(14),
            error: jobError, resultFormat: row.optionalText(16))
    }
}
