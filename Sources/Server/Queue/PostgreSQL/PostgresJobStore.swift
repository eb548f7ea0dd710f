// PostgresJobStore: the job store shared by replicas (queue_url postgres://…). Rows and files (bytea) in one
// database, so replicas share nothing else. By concern:
// - claims: `FOR UPDATE SKIP LOCKED` on the oldest queued row, a lease token bumped on every claim, and a
//   lease expiry the holder renews with `heartbeat`; a lease not renewed in time is recovered by any replica
//   (`recoverInterruptedJobs`, also run now and then from heartbeats, claims and expiry);
// - every change of a running job checks the lease inside the transaction that makes it (row locked with
//   FOR UPDATE), so a stale holder changes nothing, as in SQLiteJobStore;
// - a success inserts its files and marks the row in one transaction: both or neither;
// - queue_capacity and max_data_bytes are checked after the row and its input are inserted, under an advisory
//   transaction lock, so concurrent enqueues on any replica cannot overshoot (the heavy insert runs before it);
// - expiry runs on one replica at a time (pg_try_advisory_xact_lock), migrations under pg_advisory_xact_lock.
// Times are the replicas' clocks (Unix seconds), as in SQLite: keep them in sync (NTP) when leases matter.
import Foundation
import Glibc
import Synchronization

/// The job store of N replicas sharing one PostgreSQL database.
public final class PostgresJobStore: JobStore {
    let pool: PostgresPool
    let queueCapacity: Int
    let maxAttempts: Int
    let resultTTL: Double
    let maxDataBytes: Int
    /// Seconds a claim stays valid without a heartbeat (the worker pool beats every 10 s).
    let leaseSeconds: Double
    let clock: @Sendable () -> Double

    private struct State {
        /// Ends `finish` could not record (the database was away): answered from here, written later.
        var unrecorded: [String: (record: JobRecord, lease: Int)] = [:]
        /// The last usage read from the database, for /metrics between reads.
        var usage = (bytes: 0, reservedForResults: 0)
        /// Monotonic time of the last lease sweep of this process.
        var lastSweep = 0.0
    }
    private let state = Mutex(State())

    /// Connects (to `url`, a postgres:// URL or libpq keywords), applies the migrations, and keeps a pool of
    /// `connections`. `schema`: a schema of its own instead of the user's default (tests run side by side).
    public init(url: String, connections: Int, queueCapacity: Int, maxAttempts: Int, resultTTL: Double,
                maxDataBytes: Int = 0, leaseSeconds: Double = 60, schema: String? = nil,
                clock: @escaping @Sendable () -> Double = SQLiteJobStore.systemClock) throws {
        self.queueCapacity = queueCapacity
        self.maxAttempts = maxAttempts
        self.resultTTL = resultTTL
        self.maxDataBytes = maxDataBytes
        self.leaseSeconds = leaseSeconds
        self.clock = clock
        pool = PostgresPool(url: Self.withSearchPath(url, schema: schema), size: connections)
        if let schema {
            // The schema must exist before a connection can make it its search_path. IF NOT EXISTS does not
            // hold against a replica creating it at the same moment: the loser gets a unique violation (23505)
            // or duplicate_schema (42P06), and the schema is there either way.
            try PostgresPool(url: url, size: 1).withConnection { db in
                do {
                    try db.execute("CREATE SCHEMA IF NOT EXISTS " + Self.quoted(schema))
                } catch let error as PostgresError where error.sqlState == "23505" || error.sqlState == "42P06" {
                }
            }
        }
        // A replica may start before the database is up (compose, a rolling restart): wait for it a while.
        try pool.retrying(for: Self.backgroundWait) { try pool.withConnection { db in try PostgresSchema.migrate(db) } }
    }

    /// Connections one replica needs at most: one per worker (claims, progress, ends), one for the heartbeats
    /// and housekeeping, and two per core for requests (the submissions' and the inline work's slots are one
    /// per core each; status and result reads are short). Capped, so N replicas stay inside max_connections.
    public static func poolSize(_ config: ServiceConfig) -> Int {
        let role = ServerRole(rawValue: config.role) ?? .all
        let workers = role.runsJobs ? config.workers + 1 : 0
        let requests = role.servesRequests ? 2 * ServiceConfig.cpuCount : 1
        return min(32, 1 + workers + requests)
    }

    /// `url` with `options=-csearch_path=<schema>` added, so every pooled connection works in `schema`.
    static func withSearchPath(_ url: String, schema: String?) -> String {
        guard let schema else { return url }
        let option = "-csearch_path=" + schema
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            let encoded = option.replacingOccurrences(of: "=", with: "%3D")
            return url + (url.contains("?") ? "&" : "?") + "options=" + encoded
        }
        return url + " options='" + option + "'"
    }

    static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static let columns = JobRows.columns

    /// How long a worker's ends (succeed, finish, requeue) keep trying while the database is unreachable: a
    /// restart or failover takes seconds, and giving up would throw away a computed result.
    static let backgroundWait = 30.0

    /// Reads a job row the way `JobRows.record` reads SQLite's: a value the store cannot read is
    /// `.corruptRecord`, never a guess.
    static func record(_ rows: PostgresRows, _ row: Int) throws -> JobRecord {
        typealias Column = JobRows.Column
        let id = try rows.text(row, Column.id.rawValue)
        let statusText = try rows.text(row, Column.status.rawValue)
        guard let status = JobStatus(rawValue: statusText) else {
            throw JobStoreError.corruptRecord(id: id, detail: "unknown status \(statusText.debugDescription)")
        }
        let params: JobParams
        do {
            params = try JSONDecoder().decode(JobParams.self, from: Data(try rows.text(row, Column.params.rawValue).utf8))
        } catch {
            throw JobStoreError.corruptRecord(id: id, detail: "params: \(error)")
        }
        var jobError: JobError?
        if let text = try rows.optionalText(row, Column.error.rawValue) {
            do {
                jobError = try JSONDecoder().decode(JobError.self, from: Data(text.utf8))
            } catch {
                throw JobStoreError.corruptRecord(id: id, detail: "error: \(error)")
            }
        }
        func int(_ column: Column) throws -> Int { try rows.int(row, column.rawValue) }
        func optionalDouble(_ column: Column) throws -> Double? { try rows.optionalDouble(row, column.rawValue) }
        return JobRecord(
            id: id, status: status, method: try rows.text(row, Column.method.rawValue), params: params,
            inputWidth: try int(.inputWidth), inputHeight: try int(.inputHeight),
            inputFormat: try rows.text(row, Column.inputFormat.rawValue),
            progressStep: try int(.progressStep), progressTotal: try int(.progressTotal), loss: try optionalDouble(.loss),
            attempts: try int(.attempts), cancelRequested: try rows.bool(row, Column.cancelRequested.rawValue),
            createdAt: try rows.double(row, Column.createdAt.rawValue), startedAt: try optionalDouble(.startedAt),
            finishedAt: try optionalDouble(.finishedAt), error: jobError,
            resultFormat: try rows.optionalText(row, Column.resultFormat.rawValue),
            summary: try rows.optionalText(row, Column.summary.rawValue),
            attachments: try JobRows.attachments(try rows.text(row, Column.attachments.rawValue), id: id))
    }

    // MARK: submission

    public func enqueue(method: String, params: JobParams, input: [UInt8], inputFormat: String,
                        inputWidth: Int, inputHeight: Int, cacheKey: String?) throws -> JobRecord {
        guard JobFormat.isValid(inputFormat) else { throw JobStoreError.invalidFormat(inputFormat) }
        guard JobFormat.isValid(params.format) else { throw JobStoreError.invalidFormat(params.format) }
        let paramsJSON = try JobRows.json(params)
        let id = JobID.generate()
        let allowance = SQLiteJobStore.resultAllowance(method: method, params: params)
        let now = clock()
        // Cheap early refusal, so a full queue does not cost the upload's insert first.
        try pool.withConnection { db in try checkCapacity(db) }
        let admit = { [self] in
            try pool.transaction { db -> JobRecord in
                let inserted = try db.query("""
                    INSERT INTO jobs (id, status, method, params, input_width, input_height, input_format, created_at,
                        reserved_bytes, cache_key)
                    VALUES ($1, 'queued', $2, $3, $4, $5, $6, $7, $8, $9) RETURNING \(Self.columns)
                    """, [.text(id), .text(method), .text(paramsJSON), .int(inputWidth), .int(inputHeight),
                          .text(inputFormat), .double(now), .int(allowance), .optional(cacheKey)])
                let record = try Self.record(inserted, 0)
                try db.query("INSERT INTO job_files (job_id, name, size, data) VALUES ($1, $2, $3, $4)",
                             [.text(id), .text("input." + inputFormat), .int(input.count), .bytes(input)])
                // Serialises only the checks: each sees every enqueue committed before it took the lock.
                try lockAdmission(db)
                try checkCapacity(db, including: 1)
                try checkQuota(db, including: input.count + allowance, now: now)
                try db.query("SELECT pg_notify($1, $2)", [.text(PostgresNotifications.queuedChannel), .text(id)])
                return record
            }
        }
        do {
            return try admit()
        } catch JobStoreError.storeFull {
            // Finished jobs past their result_ttl may not have been swept yet.
            _ = try? expire()
            return try admit()
        }
    }

    /// Serialises the admission checks of every replica (queue_capacity, max_data_bytes) until the transaction ends.
    func lockAdmission(_ db: PostgresConnection) throws {
        try db.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':deepresize-admit'))")
    }

    /// `max_data_bytes`, counted after this transaction's own `needed` bytes were inserted (or reserved).
    func checkQuota(_ db: PostgresConnection, including needed: Int, now: Double) throws {
        guard maxDataBytes > 0 else { return }
        let used = try usage(db)
        if used.bytes + used.reservedForResults > maxDataBytes {
            throw JobStoreError.storeFull(usedBytes: used.bytes + used.reservedForResults - needed, neededBytes: needed,
                                          limitBytes: maxDataBytes, retryAfterSeconds: try nextExpiry(db, now: now))
        }
    }

    /// `queue_capacity`: refuses when that many jobs are queued (`including` this transaction's own).
    func checkCapacity(_ db: PostgresConnection, including own: Int = 0) throws {
        let queued = try db.query("SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued'").int(0, "n")
        guard queued - own < queueCapacity else { throw JobStoreError.queueFull(retryAfterSeconds: try retryAfter(db)) }
    }

    /// A slot frees when a running job ends: the mean run time of the last 20 finished jobs, 1…300 s (10 s
    /// without history), as in SQLite.
    func retryAfter(_ db: PostgresConnection) throws -> Int {
        let rows = try db.query("""
            SELECT AVG(finished_at - started_at) AS mean FROM (SELECT finished_at, started_at FROM jobs
            WHERE status IN ('succeeded', 'failed') AND started_at IS NOT NULL AND finished_at IS NOT NULL
            ORDER BY finished_at DESC LIMIT 20) AS recent
            """)
        guard let mean = try rows.optionalDouble(0, "mean"), mean.isFinite else { return 10 }
        return Int(min(300, max(1, mean.rounded(.up))))
    }

    /// Seconds until the next finished job expires, 1…3600; the mean run time when none is waiting to.
    func nextExpiry(_ db: PostgresConnection, now: Double) throws -> Int {
        let rows = try db.query("SELECT MIN(finished_at) AS oldest FROM jobs WHERE finished_at IS NOT NULL")
        guard let oldest = try rows.optionalDouble(0, "oldest") else { return try retryAfter(db) }
        return Int(min(3600, max(1, (oldest + resultTTL - now).rounded(.up))))
    }

    /// Bytes of the stored files, and the room reserved for the unfinished jobs' results.
    func usage(_ db: PostgresConnection) throws -> (bytes: Int, reservedForResults: Int) {
        let rows = try db.query("""
            SELECT (SELECT COALESCE(SUM(size), 0) FROM job_files) AS bytes,
                   (SELECT COALESCE(SUM(reserved_bytes), 0) FROM jobs WHERE status IN ('queued', 'running')) AS reserved
            """)
        let usage = (try rows.int(0, "bytes"), try rows.int(0, "reserved"))
        state.withLock { $0.usage = usage }
        return usage
    }

    // MARK: what clients ask

    public func job(id: String) throws -> JobRecord? {
        guard JobID.isValid(id) else { return nil }
        if let kept = state.withLock({ $0.unrecorded[id]?.record }) { return kept }
        return try pool.withConnection { db in try liveRecord(db, id: id, now: clock()) }
    }

    func liveRecord(_ db: PostgresConnection, id: String, now: Double, lock: Bool = false) throws -> JobRecord? {
        let rows = try db.query("SELECT \(Self.columns) FROM jobs WHERE id = $1" + (lock ? " FOR UPDATE" : ""), [.text(id)])
        guard rows.count == 1 else { return nil }
        let record = try Self.record(rows, 0)
        if record.status.isFinished, let finished = record.finishedAt, finished < now - resultTTL { return nil }
        return record
    }

    public func queuePosition(id: String) throws -> Int? {
        guard JobID.isValid(id) else { return nil }
        return try pool.withConnection { db in
            let rows = try db.query("""
                SELECT (SELECT COUNT(*) FROM jobs AS o WHERE o.status = 'queued' AND o.seq <= j.seq) AS position
                FROM jobs AS j WHERE j.id = $1 AND j.status = 'queued'
                """, [.text(id)])
            return rows.count == 1 ? try rows.int(0, "position") : nil
        }
    }

    public func cancel(id: String) throws -> JobRecord? {
        guard JobID.isValid(id) else { return nil }
        if let kept = state.withLock({ $0.unrecorded[id]?.record }) { return kept }
        let now = clock()
        return try pool.transaction { db in
            guard let job = try liveRecord(db, id: id, now: now, lock: true) else { return nil }
            switch job.status {
            case .queued:
                try writeEnd(db, id: id, status: .canceled, error: nil, at: now)
            case .running:
                // The holder learns it from its next heartbeat, on whichever replica it runs.
                try db.query("UPDATE jobs SET cancel_requested = TRUE WHERE id = $1", [.text(id)])
            case .succeeded, .failed, .canceled:
                return job
            }
            return try liveRecord(db, id: id, now: now)
        }
    }

    public func resultBytes(id: String) throws -> [UInt8]? {
        guard let job = try job(id: id) else { throw JobStoreError.notFound(id: id) }
        guard job.status == .succeeded, let format = job.resultFormat, JobFormat.isValid(format) else { return nil }
        guard let bytes = try file(id: id, name: "result." + format) else {
            guard try self.job(id: id) != nil else { throw JobStoreError.notFound(id: id) }
            throw JobStoreError.resultLost(id: id, file: "result." + format)
        }
        return bytes
    }

    public func attachmentBytes(id: String, _ attachment: JobAttachment) throws -> [UInt8]? {
        guard let job = try job(id: id) else { throw JobStoreError.notFound(id: id) }
        guard job.status == .succeeded else { return nil }
        guard let bytes = try file(id: id, name: attachment.rawValue) else {
            if job.attachments.contains(attachment) { throw JobStoreError.resultLost(id: id, file: attachment.rawValue) }
            return nil
        }
        return bytes
    }

    /// Files are published with their row in one transaction, so a succeeded job always has its result.
    public func isResultLost(_ job: JobRecord) -> Bool { false }

    func file(id: String, name: String) throws -> [UInt8]? {
        try pool.withConnection { db in
            let rows = try db.query("SELECT data FROM job_files WHERE job_id = $1 AND name = $2",
                                    [.text(id), .text(name)], binaryResults: true)
            return rows.count == 1 ? try rows.bytes(0, "data") : nil
        }
    }

    /// The names of a job's stored files (tests compare them with SQLite's directory listings).
    func fileNames(id: String) throws -> [String] {
        try pool.withConnection { db in
            let rows = try db.query("SELECT name FROM job_files WHERE job_id = $1 ORDER BY name", [.text(id)])
            return try (0..<rows.count).map { try rows.text($0, "name") }
        }
    }

    // MARK: workers

    public func nextQueued() throws -> JobRecord? {
        recoverIfDue()
        return try pool.withConnection { db in
            let rows = try db.query("SELECT \(Self.columns) FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1")
            return rows.count == 1 ? try Self.record(rows, 0) : nil
        }
    }

    public func claimNext() throws -> JobClaim? {
        recoverIfDue()
        return try claim(where: "seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)")
    }

    public func claim(id: String) throws -> JobClaim? {
        guard JobID.isValid(id) else { return nil }
        return try claim(where: "id = $3 AND status = 'queued'", id: id)
    }

    /// One UPDATE: the row is locked, re-checked and changed together, so no job is handed out twice.
    func claim(where condition: String, id: String? = nil) throws -> JobClaim? {
        let now = clock()
        var params: [PostgresValue] = [.double(now), .double(now + leaseSeconds)]
        if let id { params.append(.text(id)) }
        return try pool.withConnection { db in
            let rows = try db.query("""
                UPDATE jobs SET status = 'running', attempts = attempts + 1, lease = lease + 1, started_at = $1,
                    lease_expires_at = $2, finished_at = NULL, progress_step = 0, loss = NULL, cancel_requested = FALSE
                WHERE \(condition)
                RETURNING \(Self.columns)
                """, params)
            guard rows.count == 1 else { return nil }
            let record = try Self.record(rows, 0)
            return JobClaim(job: record, attempt: record.attempts, lease: try rows.int(0, JobRows.Column.lease.rawValue))
        }
    }

    public func inputBytes(id: String) throws -> [UInt8] {
        guard JobID.isValid(id) else { throw JobStoreError.notFound(id: id) }
        if state.withLock({ $0.unrecorded[id] == nil }) {
            // The common case in one round trip: the live job's input, or no row when the job is unknown or expired.
            let rows = try pool.withConnection { db in
                try db.query("""
                    SELECT j.input_format, f.data FROM jobs AS j
                    LEFT JOIN job_files AS f ON f.job_id = j.id AND f.name = 'input.' || j.input_format
                    WHERE j.id = $1 AND (j.finished_at IS NULL OR j.finished_at >= $2)
                    """, [.text(id), .double(clock() - resultTTL)], binaryResults: true)
            }
            guard rows.count == 1 else { throw JobStoreError.notFound(id: id) }
            guard let bytes = try rows.bytes(0, "data") else {
                throw JobStoreError.resultLost(id: id, file: "input." + String(decoding: try rows.bytes(0, "input_format") ?? [], as: UTF8.self))
            }
            return bytes
        }
        guard let job = try job(id: id) else { throw JobStoreError.notFound(id: id) }
        guard let bytes = try file(id: id, name: "input." + job.inputFormat) else {
            throw JobStoreError.resultLost(id: id, file: "input." + job.inputFormat)
        }
        return bytes
    }

    public func inputByteCount(_ job: JobRecord) -> Int? {
        try? pool.withConnection { db in
            let rows = try db.query("SELECT size FROM job_files WHERE job_id = $1 AND name = $2",
                                    [.text(job.id), .text("input." + job.inputFormat)])
            return rows.count == 1 ? try rows.int(0, "size") : nil
        }
    }

    @discardableResult
    public func updateProgress(_ claim: JobClaim, step: Int, total: Int, loss: Double?) throws -> Bool {
        try pool.withConnection { db in
            try db.query("""
                UPDATE jobs SET progress_step = $1, progress_total = $2, loss = $3
                WHERE id = $4 AND status = 'running' AND lease = $5
                """, [.int(step), .int(total), .optional(loss.flatMap { $0.isFinite ? $0 : nil }), .text(claim.id),
                      .int(claim.lease)]).affected == 1
        }
    }

    /// Renews the lease's expiry and tells the holder about a cancel requested on any replica.
    public func heartbeat(_ claim: JobClaim) throws -> LeaseState {
        recoverIfDue()
        return try pool.withConnection { db in
            let rows = try db.query("""
                UPDATE jobs SET lease_expires_at = $1 WHERE id = $2 AND status = 'running' AND lease = $3
                RETURNING cancel_requested
                """, [.double(clock() + leaseSeconds), .text(claim.id), .int(claim.lease)])
            guard rows.count == 1 else { return .lost }
            return try rows.bool(0, "cancel_requested") ? .cancelRequested : .held
        }
    }

    /// The row locked under `claim`'s lease: its cancel flag, or nil when the lease is lost.
    func lockLeased(_ db: PostgresConnection, _ claim: JobClaim) throws -> Bool? {
        let rows = try db.query("SELECT cancel_requested FROM jobs WHERE id = $1 AND status = 'running' AND lease = $2 FOR UPDATE",
                                [.text(claim.id), .int(claim.lease)])
        return rows.count == 1 ? try rows.bool(0, "cancel_requested") : nil
    }

    public func succeed(_ claim: JobClaim, result: [UInt8], format: String, attachments: [JobAttachment: [UInt8]],
                        summary: String?) throws -> Bool {
        guard JobFormat.isValid(format) else { throw JobStoreError.invalidFormat(format) }
        let now = clock()
        // One statement (one round trip, one commit): the row locked under the lease, the files published and
        // the input dropped, the row ended, waiting replicas told; or, when a cancel was requested, the job
        // canceled with its files gone. Nothing when the lease is lost.
        let files = attachments.sorted { $0.key.rawValue < $1.key.rawValue }.map { ($0.key.rawValue, $0.value) }
            + [("result." + format, result)]
        let values = files.indices.map { "($\(7 + 2 * $0)::text, $\(8 + 2 * $0)::bytea)" }.joined(separator: ", ")
        var params: [PostgresValue] = [.text(claim.id), .int(claim.lease), .text(format), .optional(summary), .double(now),
                                       .text(JobRows.attachmentsText(attachments.keys))]
        for (name, bytes) in files { params += [.text(name), .bytes(bytes)] }
        let sql = """
            WITH held AS (
                SELECT id, cancel_requested FROM jobs WHERE id = $1 AND status = 'running' AND lease = $2 FOR UPDATE
            ), published AS (
                INSERT INTO job_files (job_id, name, size, data)
                SELECT held.id, f.name, octet_length(f.data), f.data FROM held, (VALUES \(values)) AS f (name, data)
                WHERE NOT held.cancel_requested
                RETURNING 1
            ), dropped AS (
                DELETE FROM job_files USING held
                WHERE job_files.job_id = held.id AND (held.cancel_requested OR job_files.name LIKE 'input.%')
                RETURNING 1
            ), ended AS (
                UPDATE jobs SET status = CASE WHEN held.cancel_requested THEN 'canceled' ELSE 'succeeded' END,
                    result_format = CASE WHEN held.cancel_requested THEN NULL ELSE $3 END,
                    summary = CASE WHEN held.cancel_requested THEN NULL ELSE $4 END,
                    attachments = CASE WHEN held.cancel_requested THEN '' ELSE $6 END,
                    finished_at = $5, error = NULL, reserved_bytes = 0, lease_expires_at = NULL
                FROM held WHERE jobs.id = held.id
                RETURNING jobs.status
            )
            SELECT (SELECT status FROM ended) AS status,
                   (SELECT COUNT(*) FROM ended, LATERAL (SELECT pg_notify('\(PostgresNotifications.finishedChannel)', $1)) AS n) AS told
            """
        return try pool.retrying(for: Self.backgroundWait) {
            try pool.withConnection { db in
                try db.query(sql, params).optionalText(0, "status") == JobStatus.succeeded.rawValue
            }
        }
    }

    @discardableResult
    public func finish(_ claim: JobClaim, as end: JobEnd) throws -> Bool {
        let now = clock()
        do {
            return try pool.retrying(for: Self.backgroundWait) { try pool.transaction { db in
                guard try lockLeased(db, claim) != nil else { return false }
                try writeEnd(db, id: claim.id, status: end.status, error: end.error, at: now)
                return true
            } }
        } catch let storeError {
            var record = claim.job
            record.status = end.status
            record.error = end.error
            record.error?.detail += " (the job store could not record this failure: \(JobStoreError.clientText(storeError)))"
            record.finishedAt = now
            state.withLock { $0.unrecorded[claim.id] = (record, claim.lease) }
            throw storeError
        }
    }

    /// The end `finish` kept in memory for `id`, with the lease it ended, if any.
    func unrecordedEntry(_ id: String) -> (record: JobRecord, lease: Int)? { state.withLock { $0.unrecorded[id] } }

    func forgetUnrecorded(_ id: String) { _ = state.withLock { $0.unrecorded.removeValue(forKey: id) } }

    @discardableResult
    public func retryUnrecorded() -> Int {
        let entries = state.withLock { $0.unrecorded }
        for (id, entry) in entries {
            let written: Bool? = try? pool.transaction { db in
                let claim = JobClaim(job: entry.record, attempt: entry.record.attempts, lease: entry.lease)
                guard try lockLeased(db, claim) != nil else { return true }  // rerun or gone: nothing to write
                try writeEnd(db, id: id, status: entry.record.status, error: entry.record.error,
                             at: entry.record.finishedAt ?? clock())
                return true
            }
            if written == true { _ = state.withLock { $0.unrecorded.removeValue(forKey: id) } }
        }
        return state.withLock { $0.unrecorded.count }
    }

    @discardableResult
    public func requeue(_ claim: JobClaim) throws -> Bool {
        let now = clock()
        return try pool.retrying(for: Self.backgroundWait) { try pool.transaction { db in
            guard let cancelRequested = try lockLeased(db, claim) else { return false }
            if cancelRequested {
                try writeEnd(db, id: claim.id, status: .canceled, error: nil, at: now)
            } else {
                try backToQueue(db, id: claim.id, giveBackAttempt: true)
            }
            return true
        } }
    }

    /// Ends a job without a result: its input goes (a finished job keeps only a success's files), its
    /// result reservation is given back, and waiting requests on every replica are told.
    func writeEnd(_ db: PostgresConnection, id: String, status: JobStatus, error: JobError?, at time: Double) throws {
        try db.query("""
            UPDATE jobs SET status = $1, error = $2, finished_at = $3, reserved_bytes = 0, lease_expires_at = NULL
            WHERE id = $4
            """, [.text(status.rawValue), .optional(try error.map(JobRows.json)), .double(time), .text(id)])
        try db.query("DELETE FROM job_files WHERE job_id = $1", [.text(id)])
        try notifyFinished(db, id: id)
    }

    func backToQueue(_ db: PostgresConnection, id: String, giveBackAttempt: Bool) throws {
        try db.query("""
            UPDATE jobs SET status = 'queued', started_at = NULL, progress_step = 0, loss = NULL, lease_expires_at = NULL,
                attempts = GREATEST(0, attempts - $1)
            WHERE id = $2
            """, [.int(giveBackAttempt ? 1 : 0), .text(id)])
        try db.query("SELECT pg_notify($1, $2)", [.text(PostgresNotifications.queuedChannel), .text(id)])
    }

    func notifyFinished(_ db: PostgresConnection, id: String) throws {
        try db.query("SELECT pg_notify($1, $2)", [.text(PostgresNotifications.finishedChannel), .text(id)])
    }

    // MARK: housekeeping

    /// Running jobs whose lease expired (their holder died, or lost the database for longer than a lease)
    /// go back to the queue, or fail once interrupted `max_attempts` times; those whose cancel was requested
    /// are canceled. Any replica may run it at any time: the rows are locked with SKIP LOCKED, and a
    /// holder's own heartbeat or end in between wins (the lease is checked again).
    @discardableResult
    public func recoverInterruptedJobs() throws -> JobRecoveryReport {
        let now = clock()
        state.withLock { $0.lastSweep = monotonicSeconds() }
        return try pool.transaction { db in
            var report = JobRecoveryReport()
            let rows = try db.query("""
                SELECT id, attempts, cancel_requested FROM jobs
                WHERE status = 'running' AND lease_expires_at < $1 FOR UPDATE SKIP LOCKED
                """, [.double(now)])
            for row in 0..<rows.count {
                let id = try rows.text(row, "id"), attempts = try rows.int(row, "attempts")
                if try rows.bool(row, "cancel_requested") {
                    try writeEnd(db, id: id, status: .canceled, error: nil, at: now)
                    report.canceled += 1
                } else if attempts >= maxAttempts {
                    let error = JobError(status: 500, title: "Job interrupted",
                                         detail: "interrupted \(attempts) times; gave up after max_attempts (\(maxAttempts))")
                    try writeEnd(db, id: id, status: .failed, error: error, at: now)
                    report.failed += 1
                } else {
                    try backToQueue(db, id: id, giveBackAttempt: false)
                    report.requeued += 1
                }
            }
            return report
        }
    }

    /// The lease sweep, at most every quarter lease per process: from the calls workers make anyway, so
    /// a dead replica's jobs come back within about 1.25 leases while any replica runs workers.
    func recoverIfDue() {
        let due = state.withLock { state in
            guard monotonicSeconds() - state.lastSweep >= leaseSeconds / 4 else { return false }
            state.lastSweep = monotonicSeconds()
            return true
        }
        if due { _ = try? recoverInterruptedJobs() }
    }

    /// Deletes finished jobs past `result_ttl` (their files go with them), on one replica at a time.
    @discardableResult
    public func expire() throws -> Int {
        recoverIfDue()
        let cutoff = clock() - resultTTL
        let deleted = try pool.transaction { db -> Int in
            let locked = try db.query("SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || ':deepresize-expire')) AS locked")
            guard try locked.bool(0, "locked") else { return 0 }
            return try db.query("""
                DELETE FROM jobs WHERE status IN ('succeeded', 'failed', 'canceled')
                AND finished_at IS NOT NULL AND finished_at < $1
                """, [.double(cutoff)]).affected
        }
        _ = try pool.withConnection { db in try usage(db) }
        return deleted
    }

    /// PostgreSQL checks its own pages (data checksums, if the cluster has them): nothing to do here.
    public func verifyIntegrity() throws {}

    /// Nothing to make whole: every commit is in the database already.
    public func checkpoint() throws {}

    // MARK: operations

    /// A tiny committed write: throws while the database is unreachable or read-only (a standby).
    public func checkWritable() throws {
        try pool.withConnection { db in
            try db.query("""
                INSERT INTO meta (key, value) VALUES ('writable_check', $1)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value
                """, [.double(clock())])
        }
    }

    public func counts() throws -> [JobStatus: Int] {
        try pool.withConnection { db in
            var counts = Dictionary(uniqueKeysWithValues: JobStatus.allCases.map { ($0, 0) })
            let rows = try db.query("SELECT status, COUNT(*) AS jobs FROM jobs GROUP BY status")
            for row in 0..<rows.count {
                if let status = JobStatus(rawValue: try rows.text(row, "status")) { counts[status] = try rows.int(row, "jobs") }
            }
            return counts
        }
    }

    /// The last usage read (every enqueue with a quota and every expiry round read it); refreshed here when
    /// the database answers.
    public var dataUsage: (bytes: Int, reservedForResults: Int) {
        (try? pool.withConnection { db in try usage(db) }) ?? state.withLock { $0.usage }
    }
}

/// The NOTIFY channels the store writes and the listener (`PostgresListener`) hears.
enum PostgresNotifications {
    /// A job was queued (or put back): idle workers on any replica look again.
    static let queuedChannel = "deepresize_queued"
    /// A job ended: a synchronous request waiting on any replica answers.
    static let finishedChannel = "deepresize_finished"
}
