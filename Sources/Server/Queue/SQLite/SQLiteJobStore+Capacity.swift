// The queue's bounds: `queue_capacity` (429) and `max_data_bytes` (507), counted in memory between
// rescans, and the Retry-After each suggests.
import CSQLite
import Glibc

extension SQLiteJobStore {
    /// Room a job's result takes at most, reserved against `max_data_bytes` from submission to its end: the
    /// output as 4 bytes a pixel (a PNG of it is rarely larger), twice for `deep` (its mask).
    static func resultAllowance(method: String, params: JobParams) -> Int {
        4 * params.width * params.height * (method == "deep" ? 2 : 1) + 4096
    }

    /// `max_data_bytes`: the job files, the results the unfinished jobs will add, and `bytes` more must fit.
    func checkQuota(_ state: inout State, adding bytes: Int) throws {
        guard maxDataBytes > 0 else { return }
        let committed = state.dataBytes + state.resultAllowances.values.reduce(0, +)
        guard committed + bytes > maxDataBytes else { return }
        throw JobStoreError.storeFull(usedBytes: committed, neededBytes: bytes, limitBytes: maxDataBytes,
                                      retryAfterSeconds: try Self.nextExpiry(state.db, ttl: resultTTL, now: clock()))
    }

    /// Seconds until the next finished job expires (and frees its files), 1…3600; the mean run time when
    /// nothing finished is waiting to expire (only unfinished jobs hold the space).
    static func nextExpiry(_ db: SQLiteConnection, ttl: Double, now: Double) throws -> Int {
        let query = try db.prepare("SELECT MIN(finished_at) FROM jobs WHERE finished_at IS NOT NULL")
        guard try query.step(), let oldest = query.optionalDouble(0) else { return try retryAfter(db) }
        return Int(min(3600, max(1, (oldest + ttl - now).rounded(.up))))
    }

    /// A job ended: its input is no longer needed (a finished job keeps only its result and mask), and its
    /// result allowance is given back. Best effort: the start-up sweep removes an input a crash left.
    func ended(_ job: JobRecord) {
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

    static func checkCapacity(_ db: SQLiteConnection, capacity: Int) throws {
        let queued = try db.queryInt("SELECT COUNT(*) FROM jobs WHERE status = 'queued'") ?? 0
        guard queued < capacity else { throw JobStoreError.queueFull(retryAfterSeconds: try retryAfter(db)) }
    }

    /// A slot frees when a running job ends, so suggest the mean run time of the last 20 finished jobs
    /// (clamped to 1…300 s; 10 s when there is no history).
    static func retryAfter(_ db: SQLiteConnection) throws -> Int {
        let statement = try db.prepare("""
            SELECT AVG(finished_at - started_at) FROM (SELECT finished_at, started_at FROM jobs
            WHERE status IN ('succeeded', 'failed') AND started_at IS NOT NULL AND finished_at IS NOT NULL
            ORDER BY finished_at DESC LIMIT 20)
            """)
        guard try statement.step(), let mean = statement.optionalDouble(0), mean.isFinite else { return 10 }
        return Int(min(300, max(1, mean.rounded(.up))))
    }
}
