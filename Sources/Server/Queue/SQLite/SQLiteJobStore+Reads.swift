// What clients and workers read: jobs (never one past its result_ttl), queue positions, the stored files.
import CSQLite
import Glibc

extension SQLiteJobStore {
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

    /// The oldest queued job, without claiming it.
    public func nextQueued() throws -> JobRecord? {
        try withDatabase(wait: LockWait.background) { state in
            let query = try state.db.prepare("SELECT \(JobRows.columns) FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1")
            guard try query.step() else { return nil }
            let record = try JobRows.record(query)
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

    /// The stored input image. Throws `.notFound` for malformed/unknown/expired ids.
    public func inputBytes(id: String) throws -> [UInt8] {
        guard let job = try job(id: id) else { throw JobStoreError.notFound(id: id) }
        let path = jobDirectory(job.id) + "/input." + job.inputFormat
        guard let bytes = try JobFiles.read(path) else { throw JobFiles.fail("reading", path, ENOENT) }
        return bytes
    }

    /// An attachment of a succeeded job; nil when the job has not succeeded or has no such file.
    public func attachmentBytes(id: String, _ attachment: JobAttachment) throws -> [UInt8]? {
        let name = attachment.rawValue
        guard let job = try job(id: id) else { throw JobStoreError.notFound(id: id) }
        guard job.status == .succeeded else { return nil }
        guard let bytes = try JobFiles.read(jobDirectory(job.id) + "/" + name) else {
            if job.attachments.contains(attachment) { throw JobStoreError.resultLost(id: id, file: name) }
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

    /// Jobs per status (every status present, zero when none), for metrics and /readyz.
    public func counts() throws -> [JobStatus: Int] {
        try withDatabase(wait: LockWait.request) { state in
            var counts = Dictionary(uniqueKeysWithValues: JobStatus.allCases.map { ($0, 0) })
            let query = try state.db.prepare("SELECT status, COUNT(*) AS jobs FROM jobs GROUP BY status")
            while try query.step() {
                if let status = JobStatus(rawValue: try query.text("status")) { counts[status] = try query.int("jobs") }
            }
            return counts
        }
    }

    func liveRecord(_ db: SQLiteConnection, id: String, now: Double) throws -> JobRecord? {
        let query = try db.prepare("SELECT \(JobRows.columns) FROM jobs WHERE id = ?")
        try query.bind(1, id)
        guard try query.step() else { return nil }
        let record = try JobRows.record(query)
        query.reset()
        if record.status.isFinished, let finished = record.finishedAt, finished < now - resultTTL { return nil }
        return record
    }
}
