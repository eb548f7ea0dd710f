// The job store: the durable queue the service runs on. Everything above it (the workers, the routes, the
// app) holds an `any JobStore`: `SQLiteJobStore` (Queue/SQLite/), the default, for one server per data
// directory, or `PostgresJobStore` (Queue/PostgreSQL/), rows and files in one database that N replicas share.
//
// What every implementation promises:
// - A job moves queued → running → succeeded | failed | canceled, and running → queued again only through
//   `requeue` (a clean stop) or recovery (its holder died). A finished job never changes again.
// - Claims are leases: each claim of a job gives a token no earlier claim had (`JobClaim.lease`), and only the
//   current holder's progress, heartbeat, success, end and requeue change anything; a stale holder's calls
//   answer false (or `.lost`) and leave the job as it is. No job is ever handed to two holders at once.
// - Files: a job has its input until it ends, then only its result and attachments (`JobAttachment`) if it
//   succeeded. The protocol speaks bytes in and bytes out, so the files may live beside the rows (paths on a
//   file system, as SQLiteJobStore keeps them) or inside the database (blobs, large objects). A success
//   publishes its files and its row together or not at all.
// - Quota and capacity: `enqueue` refuses with `JobStoreError.queueFull` (429) and `.storeFull` (507; 422 when the job needs more than the whole quota).
// - Expiry: finished jobs are deleted with their files `result_ttl` after they finished, and a job past it
//   is not found even before `expire()` deleted it.
// - Result cache: `enqueue` keeps the job's `cacheKey` (SHA-256 of the engine version, the method, the
//   canonical parameters and the input bytes: `ResultCache.key`); `reuseCachedResult` finds a live succeeded
//   job with that key whose result is still stored and records a new job, born succeeded, with copies of its
//   result and attachments. A job answered from the cache is a job of its own: its id, its lifetime, its purge.
// - Purge: `purge` deletes a finished job's row and files at once (as expiry does later); the job is then
//   unknown (404), and never again a cache source.
// - Errors: the store's own conditions are `JobStoreError`s; a backend's failures conform to
//   `JobStoreFailure`, so the routes can tell a storage outage (503) from a bug (500) and word it without
//   server paths.

/// The durable queue of resize jobs and their files. See the comment above for the rules every
/// implementation keeps.
public protocol JobStore: AnyObject, Sendable {
    // MARK: submission

    /// Stores the input and a queued job. Throws `.queueFull` when `queue_capacity` jobs are queued,
    /// `.storeFull` past `max_data_bytes`; on any failure nothing of the job is left. `cacheKey`: kept with
    /// the job, so that once it succeeded `reuseCachedResult(cacheKey:…)` finds it (nil: never a cache source).
    func enqueue(method: String, params: JobParams, input: [UInt8], inputFormat: String,
                 inputWidth: Int, inputHeight: Int, cacheKey: String?) throws -> JobRecord
    /// The result cache: when a job with `cacheKey` succeeded, has not expired or been purged, and its result
    /// is still stored, records a new job already succeeded (created, started and finished now; no input;
    /// `method`, `params` and the input's description as given; the source's result format, summary and final
    /// progress and loss) with copies of the source's result and attachments, and the same `cacheKey`, and
    /// returns it. Nil when no job qualifies (a miss). The copies count against `max_data_bytes` (`.storeFull`);
    /// `queue_capacity` does not apply (nothing is queued).
    func reuseCachedResult(cacheKey: String, method: String, params: JobParams, inputFormat: String,
                           inputWidth: Int, inputHeight: Int) throws -> JobRecord?

    // MARK: what clients ask

    /// The job, or nil when the id is malformed, unknown or expired.
    func job(id: String) throws -> JobRecord?
    /// 1-based position among queued jobs (1 = next to run); nil unless the job is queued.
    func queuePosition(id: String) throws -> Int?
    /// DELETE /jobs/{id}: a queued job is canceled at once; a running one is marked (its holder learns it
    /// from `heartbeat`, or at once in the same process); a finished one stays as it is. Nil when unknown.
    func cancel(id: String) throws -> JobRecord?
    /// DELETE /jobs/{id} of a finished job (succeeded, failed or canceled): its row and all its files go
    /// now, as at expiry, and the job is unknown from then on. Returns the job as it was before; a job that
    /// has not finished is left as it is and returned (cancel it first); nil when unknown or expired.
    func purge(id: String) throws -> JobRecord?
    /// The result of a succeeded job; nil while it has not succeeded. Throws `.notFound` for an unknown or
    /// expired job, `.resultLost` when it succeeded but the result is gone.
    func resultBytes(id: String) throws -> [UInt8]?
    /// An attachment of a succeeded job; nil when it has not succeeded or never stored one (`JobRecord.attachments`).
    /// Throws `.notFound` for an unknown or expired job, `.resultLost` when the job stored it but it is gone.
    func attachmentBytes(id: String, _ attachment: JobAttachment) throws -> [UInt8]?
    /// True when `job` succeeded but its result is no longer in the store (a store that keeps files in its
    /// rows never loses one alone: always false there).
    func isResultLost(_ job: JobRecord) -> Bool

    // MARK: workers

    /// The oldest queued job, without claiming it (the worker pool reserves its memory first).
    func nextQueued() throws -> JobRecord?
    /// Claims job `id` if it is still queued: running, attempts + 1, a new lease. Nil when another worker
    /// took it or it was canceled meanwhile.
    func claim(id: String) throws -> JobClaim?
    /// Claims the oldest queued job, in one step.
    func claimNext() throws -> JobClaim?
    /// The stored input of a job that has not ended. Throws `.notFound` for an unknown or expired job.
    func inputBytes(id: String) throws -> [UInt8]
    /// Size of the stored input (the memory estimate counts it); nil when it is missing.
    func inputByteCount(_ job: JobRecord) -> Int?
    /// Records progress; false when `claim` no longer holds the lease. Best effort: it does not wait for a
    /// busy database (the next report overwrites it).
    @discardableResult
    func updateProgress(_ claim: JobClaim, step: Int, total: Int, loss: Double?) throws -> Bool
    /// Tells the store the holder of `claim` is alive, and the holder what became of its job: still held,
    /// cancel requested (by any server), or lost. A store shared by servers renews the lease's expiry here
    /// and recovers jobs whose leases were not renewed in time.
    func heartbeat(_ claim: JobClaim) throws -> LeaseState
    /// Publishes the result (and attachments) and marks the job succeeded, only while `claim` holds the
    /// lease and no cancel was requested; false otherwise, with no file left. A job whose cancel was
    /// requested becomes canceled here. `summary`: what the run did, in one line, for the job's JSON.
    func succeed(_ claim: JobClaim, result: [UInt8], format: String, attachments: [JobAttachment: [UInt8]],
                 summary: String?) throws -> Bool
    /// Ends the job without a result (failed with its error, or canceled), only while `claim` holds the
    /// lease; false otherwise. When the database will not take the end, this process answers with it all
    /// the same, `retryUnrecorded` writes it later, and the error is thrown.
    @discardableResult
    func finish(_ claim: JobClaim, as end: JobEnd) throws -> Bool
    /// A clean stop: the job goes back to its place in the queue and its attempt is given back (a job whose
    /// cancel was requested is canceled instead). False when the lease was lost.
    @discardableResult
    func requeue(_ claim: JobClaim) throws -> Bool

    // MARK: housekeeping

    /// Jobs whose holder is gone go back to the queue, or fail once interrupted `max_attempts` times; jobs
    /// whose cancel was requested are canceled; files no job accounts for are removed (or set aside when
    /// only a lost database could explain them). SQLiteJobStore: once at start, before workers and requests
    /// (every running job belongs to a process that died). A shared store: also periodically, for leases
    /// that expired.
    @discardableResult
    func recoverInterruptedJobs() throws -> JobRecoveryReport
    /// Deletes finished jobs past `result_ttl` with their files; returns how many.
    @discardableResult
    func expire() throws -> Int
    /// Writes the ends `finish` could not record; returns how many are still unwritten.
    @discardableResult
    func retryUnrecorded() -> Int
    /// Checks the store for damage now and then; damage found makes `checkWritable` throw.
    func verifyIntegrity() throws
    /// At a clean shutdown: the durable state made whole where a backup finds it (SQLite: the WAL copied into
    /// the main file).
    func checkpoint() throws

    // MARK: operations

    /// For /readyz: throws when the store cannot take a write now (or was found damaged).
    func checkWritable() throws
    /// Jobs per status, every status present.
    func counts() throws -> [JobStatus: Int]
    /// Bytes the job files take, and what the unfinished jobs' results will add (`max_data_bytes` counts both).
    var dataUsage: (bytes: Int, reservedForResults: Int) { get }
}

/// A failure of a store's backend (SQLite, PostgreSQL, the file system): what the routes need to answer it.
public protocol JobStoreFailure: Error {
    /// The storage itself is unavailable (full, read-only, failing, locked): 503, not 500.
    var isStorageUnavailable: Bool { get }
    /// The failure as clients may read it: no server paths.
    var clientDescription: String { get }
}

extension JobStoreError {
    /// `error`'s text for clients: a store failure without server paths, anything else as it describes itself.
    public static func clientText(_ error: any Error) -> String {
        (error as? any JobStoreFailure)?.clientDescription ?? String(describing: error)
    }

    /// Whether `error` (from any store call) means "storage unavailable": 503, not 500.
    public static func isStorageUnavailable(_ error: any Error) -> Bool {
        (error as? any JobStoreFailure)?.isStorageUnavailable ?? false
    }
}

extension JobStore {
    /// `enqueue` of a job that is no result-cache source (tests, benchmarks).
    public func enqueue(method: String, params: JobParams, input: [UInt8], inputFormat: String,
                        inputWidth: Int, inputHeight: Int) throws -> JobRecord {
        try enqueue(method: method, params: params, input: input, inputFormat: inputFormat,
                    inputWidth: inputWidth, inputHeight: inputHeight, cacheKey: nil)
    }

    /// `succeed` with no summary (and by default no attachments).
    public func succeed(_ claim: JobClaim, result: [UInt8], format: String,
                        attachments: [JobAttachment: [UInt8]] = [:]) throws -> Bool {
        try succeed(claim, result: result, format: format, attachments: attachments, summary: nil)
    }
}
