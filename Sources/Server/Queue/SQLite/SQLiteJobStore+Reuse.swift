// The result cache and purge: a job born succeeded with copies of a cached job's files, and a finished job's
// row and files deleted on request. Crash rules as for enqueue and expiry (SQLiteJobStore.swift): the copy's
// directory is marked `.pending` until its row commits, and a purged directory `.expired` before its row goes.
import CSQLite
import Glibc

extension SQLiteJobStore {
    /// The newest live succeeded job with `cacheKey` whose files are all in place, copied into a new job
    /// (`JobStore.reuseCachedResult`); nil on a miss.
    public func reuseCachedResult(cacheKey: String, method: String, params: JobParams, inputFormat: String,
                                  inputWidth: Int, inputHeight: Int) throws -> JobRecord? {
        guard JobFormat.isValid(inputFormat) else { throw JobStoreError.invalidFormat(inputFormat) }
        let now = clock()
        let sources: [JobRecord] = try withDatabase(wait: LockWait.request) { state in
            let query = try state.db.prepare("""
                SELECT \(JobRows.columns) FROM jobs WHERE cache_key = ? AND status = 'succeeded' AND finished_at >= ?
                ORDER BY finished_at DESC LIMIT 4
                """)
            try query.bind(1, cacheKey)
            try query.bind(2, now - resultTTL)
            var records: [JobRecord] = []
            while try query.step() { records.append(try JobRows.record(query)) }
            query.reset()
            return records
        }
        // A source whose result or a recorded attachment is missing is skipped, never half-copied.
        sources: for source in sources {
            guard let format = source.resultFormat, JobFormat.isValid(format),
                  let result = try JobFiles.read(jobDirectory(source.id) + "/result." + format) else { continue }
            var files: [(name: String, bytes: [UInt8])] = []
            for attachment in source.attachments.sorted(by: { $0.rawValue < $1.rawValue }) {
                guard let bytes = try JobFiles.read(jobDirectory(source.id) + "/" + attachment.rawValue) else { continue sources }
                files.append((attachment.rawValue, bytes))
            }
            // The result last: a reader that finds it finds the attachments.
            files.append(("result." + format, result))
            return try storeCopy(of: source, files: files, cacheKey: cacheKey, method: method, params: params,
                                 inputFormat: inputFormat, inputWidth: inputWidth, inputHeight: inputHeight)
        }
        return nil
    }

    private func storeCopy(of source: JobRecord, files: [(name: String, bytes: [UInt8])], cacheKey: String,
                           method: String, params: JobParams, inputFormat: String, inputWidth: Int,
                           inputHeight: Int) throws -> JobRecord {
        let paramsJSON = try JobRows.json(params)
        let id = JobID.generate()
        let bytes = files.reduce(0) { $0 + $1.bytes.count }
        try withDatabase(wait: LockWait.request) { state in
            try checkQuota(&state, adding: bytes)
            state.pending.insert(id)
            state.dataBytes += bytes
        }
        var committed = false
        defer { if !committed { state.withLock { $0.dataBytes -= bytes } } }
        let now = clock()
        let record = try storeNewJob(id: id, files: files) { db in
            let insert = try db.prepare("""
                INSERT INTO jobs (id, status, method, params, input_width, input_height, input_format,
                    progress_step, progress_total, loss, created_at, started_at, finished_at, result_format,
                    summary, cache_key, attachments)
                VALUES (?, 'succeeded', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING \(JobRows.columns)
                """)
            try Self.bindSubmission(insert, id: id, method: method, paramsJSON: paramsJSON, inputWidth: inputWidth,
                                    inputHeight: inputHeight, inputFormat: inputFormat)
            try insert.bind(7, source.progressStep)
            try insert.bind(8, source.progressTotal)
            try insert.bind(9, source.loss.flatMap { $0.isFinite ? $0 : nil })
            try insert.bind(10, now)
            try insert.bind(11, now)
            try insert.bind(12, now)
            try insert.bind(13, source.resultFormat)
            try insert.bind(14, source.summary)
            try insert.bind(15, cacheKey)
            try insert.bind(16, JobRows.attachmentsText(source.attachments))
            return try Self.insertedRow(insert, context: "reuseCachedResult")
        }
        committed = true
        return record
    }

    /// Deletes a finished job's row, then its directory (`JobStore.purge`).
    public func purge(id: String) throws -> JobRecord? {
        guard JobID.isValid(id) else { return nil }
        let now = clock()
        // An end the database has not taken yet is finished all the same (its row still says running, under
        // the lease that ended it; a row claimed again since then is another run's and stays).
        let kept = state.withLock { $0.unrecorded[id] }
        let found = try kept?.record ?? withDatabase(wait: LockWait.request) { state in try liveRecord(state.db, id: id, now: now) }
        guard let job = found, job.status.isFinished else { return found }
        let dir = jobDirectory(id)
        // Marked before the row goes: a crash in between leaves a directory the start-up sweep deletes.
        if JobFiles.isDirectory(dir) {
            try JobFiles.writeAtomically([], to: dir + "/" + Self.expiredMarker, directory: dir)
        }
        let deleted: Bool
        do {
            deleted = try withDatabase(wait: LockWait.request) { state in
                let db = state.db
                let deleted = try db.writeTransaction {
                    let delete = try db.prepare("""
                        DELETE FROM jobs WHERE id = ? AND (status IN ('succeeded', 'failed', 'canceled') OR lease = ?)
                        """)
                    try delete.bind(1, id)
                    try delete.bind(2, kept?.lease ?? -1)
                    try delete.step()
                    return db.changes > 0
                }
                if deleted { state.unrecorded[id] = nil }
                return deleted
            }
        } catch {
            // The row stays (a locked or failing database): so do its files, unmarked.
            try? JobFiles.removeFile(dir + "/" + Self.expiredMarker)
            throw error
        }
        guard deleted else {
            // Claimed again meanwhile (the unrecorded end had lost its lease): that run's files stay.
            try? JobFiles.removeFile(dir + "/" + Self.expiredMarker)
            return try self.job(id: id)
        }
        let size = try JobFiles.treeSize(dir)
        try JobFiles.removeJobDirectory(dir)
        state.withLock { $0.dataBytes = max(0, $0.dataBytes - size) }
        return job
    }
}
