// The lease state machine: queued → running (claim) → succeeded | failed | canceled (succeed, finish), or back
// to queued (requeue at a clean stop); cancel from any side. Every change of a running job checks the lease
// in the same IMMEDIATE transaction that makes it, so a stale holder changes nothing.
import CSQLite
import Glibc

extension SQLiteJobStore {
    /// Stores the input file, then the row. Throws `.queueFull` when `queueCapacity` jobs are queued
    /// (checked again inside the insert transaction, so concurrent enqueues cannot overshoot). On any
    /// failure the job directory is removed: no orphan.
    public func enqueue(method: String, params: JobParams, input: [UInt8], inputFormat: String,
                 inputWidth: Int, inputHeight: Int, cacheKey: String?) throws -> JobRecord {
        guard JobFormat.isValid(inputFormat) else { throw JobStoreError.invalidFormat(inputFormat) }
        guard JobFormat.isValid(params.format) else { throw JobStoreError.invalidFormat(params.format) }
        let paramsJSON = try JobRows.json(params)
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
        var committed = false
        defer {
            if !committed {
                state.withLock { state in
                    state.dataBytes -= input.count
                    state.resultAllowances[id] = nil
                }
            }
        }
        let now = clock()
        let record = try storeNewJob(id: id, files: [("input." + inputFormat, input)]) { db in
            try Self.checkCapacity(db, capacity: queueCapacity)
            let insert = try db.prepare("""
                INSERT INTO jobs (id, status, method, params, input_width, input_height, input_format, created_at,
                    cache_key)
                VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?) RETURNING \(JobRows.columns)
                """)
            try Self.bindSubmission(insert, id: id, method: method, paramsJSON: paramsJSON, inputWidth: inputWidth,
                                    inputHeight: inputHeight, inputFormat: inputFormat)
            try insert.bind(7, now)
            try insert.bind(8, cacheKey)
            return try Self.insertedRow(insert, context: "enqueue")
        }
        committed = true
        return record
    }

    /// A new job's files, then its row, as one unit (`enqueue`, and the result cache's copies): until the row
    /// commits the directory holds a `.pending` marker, so a crash in between leaves a directory the start-up
    /// sweep removes; on any failure the directory is removed here. `insert` runs inside the IMMEDIATE
    /// transaction and returns the inserted row. The caller has counted the bytes and put `id` in `pending`.
    func storeNewJob(id: String, files: [(name: String, bytes: [UInt8])],
                     insert: (SQLiteConnection) throws -> JobRecord) throws -> JobRecord {
        let dir = jobDirectory(id)
        defer { _ = state.withLock { $0.pending.remove(id) } }
        do {
            try JobFiles.makeDirectory(dir, parent: jobsDirectory)
            try JobFiles.writeAtomically([], to: dir + "/" + Self.pendingMarker, directory: dir)
            for file in files { try JobFiles.writeAtomically(file.bytes, to: dir + "/" + file.name, directory: dir) }
            let record = try withDatabase(wait: LockWait.request) { state in
                try state.db.writeTransaction { try insert(state.db) }
            }
            // Committed: from now on only the row accounts for the directory. (A crash before this unlink
            // leaves the marker in a known directory, which the sweep removes.)
            try? JobFiles.removeFile(dir + "/" + Self.pendingMarker)
            return record
        } catch {
            try? JobFiles.removeJobDirectory(dir)
            throw error
        }
    }

    /// Binds the first six columns every new job's INSERT names: id, method, params, input_width,
    /// input_height, input_format.
    static func bindSubmission(_ insert: SQLiteStatement, id: String, method: String, paramsJSON: String,
                               inputWidth: Int, inputHeight: Int, inputFormat: String) throws {
        try insert.bind(1, id)
        try insert.bind(2, method)
        try insert.bind(3, paramsJSON)
        try insert.bind(4, inputWidth)
        try insert.bind(5, inputHeight)
        try insert.bind(6, inputFormat)
    }

    /// The row an `INSERT … RETURNING` statement gave.
    static func insertedRow(_ insert: SQLiteStatement, context: String) throws -> JobRecord {
        guard try insert.step() else {
            throw SQLiteError(code: SQLITE_ERROR, message: "INSERT returned no row", context: context)
        }
        let record = try JobRows.record(insert)
        insert.reset()
        return record
    }

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

    func claim(where condition: String, id: String? = nil) throws -> JobClaim? {
        let now = clock()
        return try withDatabase(wait: LockWait.background) { state in
            let db = state.db
            return try db.writeTransaction { () throws -> JobClaim? in
                let claim = try db.prepare("""
                    UPDATE jobs SET status = 'running', attempts = attempts + 1, lease = lease + 1,
                        started_at = ?, finished_at = NULL, progress_step = 0, loss = NULL, cancel_requested = 0
                    WHERE \(condition)
                    RETURNING \(JobRows.columns)
                    """)
                try claim.bind(1, now)
                if let id { try claim.bind(2, id) }
                guard try claim.step() else { return nil }
                let record = try JobRows.record(claim)
                let lease = try JobRows.lease(claim)
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

    /// Whether `claim` still holds its job, and whether a cancel was requested. The lease has no expiry here
    /// (one server per data directory: a holder that died is recovered at the next start), so this only reads.
    public func heartbeat(_ claim: JobClaim) throws -> LeaseState {
        try withDatabase(wait: LockWait.background) { state in
            guard let row = try Self.leaseRow(state.db, claim) else { return .lost }
            return row.cancelRequested ? .cancelRequested : .held
        }
    }

    /// Publishes the result and marks the job succeeded, only while it is still running under this
    /// lease and no cancel was requested. Returns false otherwise and leaves no result file; a job whose
    /// cancel was requested becomes canceled here (the work is done, but the client said no).
    public func succeed(_ claim: JobClaim, result: [UInt8], format: String,
                        attachments: [JobAttachment: [UInt8]], summary: String?) throws -> Bool {
        guard JobFormat.isValid(format) else { throw JobStoreError.invalidFormat(format) }
        let dir = jobDirectory(claim.id)
        // The slow part (write + fsync) happens outside the lock; only the renames happen under it, after
        // the lease check, so a stale holder can never overwrite a live result. Attachments are published
        // before the result, so a succeeded row always has them; a crash in between leaves files that the
        // next start removes (the row is not succeeded).
        var staged = try StagedFiles(attachments.sorted { $0.key.rawValue < $1.key.rawValue }.map { ($0.key.rawValue, $0.value) }
                                     + [("result." + format, result)], in: dir)
        let now = clock()
        // Retried on SQLITE_BUSY only while no file has been moved or removed: the BEGIN IMMEDIATE that
        // waits for another connection's lock comes first, and a failure after that rolls the files back
        // and gives up.
        var touchedFiles = false
        // Set when the job reached an end here (succeeded, or canceled at the last moment).
        var ended: JobStatus?
        defer { if ended != nil { self.ended(claim.job) } }
        do {
            return try withDatabase(wait: LockWait.background, noRetry: { touchedFiles }) { state in
                let db = state.db
                let published = try db.writeTransaction {
                    guard let row = try Self.leaseRow(db, claim) else {
                        touchedFiles = true
                        staged.rollBack()
                        return false
                    }
                    if row.cancelRequested {
                        touchedFiles = true
                        staged.rollBack()
                        try Self.writeEnd(db, id: claim.id, status: .canceled, error: nil, at: now)
                        ended = .canceled
                        return false
                    }
                    touchedFiles = true
                    try staged.commit()
                    let update = try db.prepare("""
                        UPDATE jobs SET status = 'succeeded', result_format = ?, finished_at = ?, error = NULL, summary = ?,
                            attachments = ?
                        WHERE id = ? AND lease = ?
                        """)
                    try update.bind(1, format)
                    try update.bind(2, now)
                    try update.bind(3, summary)
                    try update.bind(4, JobRows.attachmentsText(attachments.keys))
                    try update.bind(5, claim.id)
                    try update.bind(6, claim.lease)
                    try update.step()
                    ended = .succeeded
                    return true
                }
                // Counted under the same lock as the commit: a purge that sees the row succeeded sees its bytes.
                if published { state.dataBytes += result.count + attachments.values.reduce(0) { $0 + $1.count } }
                return published
            }
        } catch {
            // The row did not change (the lock never came, or the transaction rolled back): neither the staged
            // files nor the ones already renamed into place may outlive it.
            ended = nil
            staged.rollBack()
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
    func remember(_ claim: JobClaim, status: JobStatus, error: JobError?, at now: Double) {
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

    /// The row's cancel flag when it is running under `claim`'s lease, else nil.
    static func leaseRow(_ db: SQLiteConnection, _ claim: JobClaim) throws -> LeaseRow? {
        let query = try db.prepare("SELECT cancel_requested FROM jobs WHERE id = ? AND status = 'running' AND lease = ?")
        try query.bind(1, claim.id)
        try query.bind(2, claim.lease)
        guard try query.step() else { return nil }
        return LeaseRow(cancelRequested: query.int(0) != 0)
    }

    static func writeEnd(_ db: SQLiteConnection, id: String, status: JobStatus, error: JobError?,
                               at time: Double) throws {
        let update = try db.prepare("UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ?")
        try update.bind(1, status.rawValue)
        try update.bind(2, try error.map(JobRows.json))
        try update.bind(3, time)
        try update.bind(4, id)
        try update.step()
    }

    static func backToQueue(_ db: SQLiteConnection, id: String, giveBackAttempt: Bool) throws {
        let update = try db.prepare("""
            UPDATE jobs SET status = 'queued', started_at = NULL, progress_step = 0, loss = NULL,
                attempts = MAX(0, attempts - ?)
            WHERE id = ?
            """)
        try update.bind(1, giveBackAttempt ? 1 : 0)
        try update.bind(2, id)
        try update.step()
    }

    struct LeaseRow { var cancelRequested: Bool }
}
