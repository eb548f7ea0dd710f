import Dispatch
import Foundation
import Glibc
import Synchronization
import Testing

@testable import Server

/// A temp data directory per test, removed afterwards.
private final class TempDir {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/jobstore-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw JobFiles.fail("mkdtemp", "tmp") }
        path = String(cString: made)
    }

    deinit { try? JobFiles.removeTree(path) }

    func jobDir(_ id: String) -> String { path + "/jobs/" + id }
    var jobEntries: [String] { ((try? JobFiles.list(path + "/jobs")) ?? []).sorted() }
}

/// A clock the test moves by hand.
private final class ManualClock: Sendable {
    private let time: Mutex<Double>
    init(_ start: Double) { time = Mutex(start) }
    func set(_ value: Double) { time.withLock { $0 = value } }
    var now: @Sendable () -> Double { { self.time.withLock { $0 } } }
}

private let params = JobParams(width: 40, height: 30, op: "seam", protect: true, iterations: 100, format: "png")
private let pngBytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 1, 2, 3, 4, 5]

private func makeStore(_ dir: StoreFixture, capacity: Int = 100, maxAttempts: Int = 3, ttl: Double = 86_400,
                       clock: (@Sendable () -> Double)? = nil) throws -> any JobStore {
    try dir.makeStore(capacity: capacity, maxAttempts: maxAttempts, ttl: ttl, clock: clock)
}

private func makeStore(_ dir: TempDir, capacity: Int = 100, maxAttempts: Int = 3, ttl: Double = 86_400,
                       clock: @escaping @Sendable () -> Double = SQLiteJobStore.systemClock,
                       readOnly: Bool = false) throws -> SQLiteJobStore {
    try SQLiteJobStore(directory: dir.path, queueCapacity: capacity, maxAttempts: maxAttempts, resultTTL: ttl,
                 clock: clock, sqliteReadOnly: readOnly)
}

@discardableResult
private func enqueue(_ store: any JobStore, input: [UInt8] = pngBytes, method: String = "deep") throws -> JobRecord {
    try store.enqueue(method: method, params: params, input: input, inputFormat: "png", inputWidth: 64, inputHeight: 48)
}

/// Another connection (as a backup or the sqlite3 shell would) holding the database's write lock for
/// `seconds`, from a thread of its own; `init` returns once the lock is held.
private final class LockHolder: Sendable {
    private let released = DispatchSemaphore(value: 0)
    private let failure = Mutex<String?>(nil)

    init(database: String, seconds: Double) throws {
        let locked = DispatchSemaphore(value: 0)
        Thread { [self] in
            do {
                let other = try SQLiteConnection(path: database)
                try other.execute("BEGIN IMMEDIATE")
                locked.signal()
                usleep(UInt32(seconds * 1_000_000))
                try other.execute("COMMIT")
            } catch {
                failure.withLock { $0 = "\(error)" }
                locked.signal()
            }
            released.signal()
        }.start()
        locked.wait()
        if let failure = failure.withLock({ $0 }) { throw JobStoreTestError(failure) }
    }

    /// Waits until the lock is released; the error of the locking connection, if any.
    func waitForRelease() -> String? {
        released.wait()
        return failure.withLock { $0 }
    }
}

private struct JobStoreTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

@Suite("JobStore")
struct JobStoreTests {
    @Test(arguments: StoreBackend.available)
    func enqueueClaimSucceedRoundTrip(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let clock = ManualClock(1_000)
        let store = try makeStore(dir, clock: clock.now)
        let input = (0..<5000).map { UInt8($0 % 251) }
        let job = try enqueue(store, input: input)

        #expect(JobID.isValid(job.id))
        #expect(job.status == .queued && job.method == "deep" && job.params == params)
        #expect(job.inputWidth == 64 && job.inputHeight == 48 && job.inputFormat == "png")
        #expect(job.attempts == 0 && job.createdAt == 1_000 && job.startedAt == nil)
        #expect(try store.queuePosition(id: job.id) == 1)
        #expect(try store.inputBytes(id: job.id) == input)
        #expect(try store.resultBytes(id: job.id) == nil)

        clock.set(1_005)
        let claim = try #require(try store.claimNext())
        #expect(claim.job.id == job.id && claim.job.status == .running && claim.attempt == 1)
        #expect(claim.job.startedAt == 1_005)
        #expect(try store.queuePosition(id: job.id) == nil)
        #expect(try store.claimNext() == nil)

        #expect(try store.updateProgress(claim, step: 37, total: 100, loss: 0.0123))
        let running = try #require(try store.job(id: job.id))
        #expect(running.progressStep == 37 && running.progressTotal == 100 && running.loss == 0.0123)

        clock.set(1_010)
        let result: [UInt8] = [9, 8, 7, 6]
        #expect(try store.succeed(claim, result: result, format: "png"))
        let done = try #require(try store.job(id: job.id))
        #expect(done.status == .succeeded && done.resultFormat == "png" && done.finishedAt == 1_010)
        #expect(try store.resultBytes(id: job.id) == result)
        #expect(try dir.jobEntries(store) == [job.id])
        #expect(try dir.files(job.id, in: store) == ["result.png"])  // a finished job keeps no input
        #expect(try store.counts() == [.queued: 0, .running: 0, .succeeded: 1, .failed: 0, .canceled: 0])
    }

    @Test(arguments: StoreBackend.available)
    func attachmentsArePublishedWithTheResultAndSurviveARestart(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        var store: (any JobStore)? = try makeStore(dir)
        let job = try enqueue(store!)
        let claim = try #require(try store!.claimNext())
        #expect(try store!.attachmentBytes(id: job.id, .mask) == nil)
        #expect(try store!.succeed(claim, result: [1], format: "png", attachments: [.mask: [4, 5]]))
        #expect(try store!.attachmentBytes(id: job.id, .mask) == [4, 5])
        // The start-up sweep keeps a succeeded job's attachments.
        store = nil
        let reopened = try makeStore(dir)
        _ = try reopened.recoverInterruptedJobs()
        #expect(try reopened.attachmentBytes(id: job.id, .mask) == [4, 5])
        #expect(try dir.files(job.id, in: reopened) == ["mask.png", "result.png"])
    }

    /// A job records what it stored beside its result: a deep job that only scaled (no mask) answers "none",
    /// one whose stored mask is gone answers "lost", and a copy made by the result cache keeps the record.
    @Test(arguments: StoreBackend.available)
    func aJobKnowsWhichAttachmentsItStored(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let store = try makeStore(dir)
        let scaled = try enqueue(store)
        #expect(try store.succeed(try #require(try store.claimNext()), result: [1], format: "png", attachments: [:],
                                  summary: "uniform scale"))
        #expect(try store.job(id: scaled.id)?.attachments == [])
        #expect(try store.attachmentBytes(id: scaled.id, .mask) == nil)

        let key = String(repeating: "ab", count: 32)
        let carved = try store.enqueue(method: "deep", params: params, input: pngBytes, inputFormat: "png",
                                       inputWidth: 64, inputHeight: 48, cacheKey: key)
        #expect(try store.succeed(try #require(try store.claimNext()), result: [2], format: "png",
                                  attachments: [.mask: [7]], summary: "reconstructed"))
        #expect(try store.job(id: carved.id)?.attachments == [.mask])
        let copy = try #require(try store.reuseCachedResult(cacheKey: key, method: "deep", params: params,
                                                            inputFormat: "png", inputWidth: 64, inputHeight: 48))
        #expect(copy.attachments == [.mask])
        #expect(try store.attachmentBytes(id: copy.id, .mask) == [7])
        try dir.removeFile(JobAttachment.mask.rawValue, of: carved.id, in: store)
        #expect(throws: JobStoreError.resultLost(id: carved.id, file: JobAttachment.mask.rawValue)) {
            try store.attachmentBytes(id: carved.id, .mask)
        }
        // A source missing a recorded attachment is no cache source: never copied without it.
        _ = try store.purge(id: copy.id)
        #expect(try store.reuseCachedResult(cacheKey: key, method: "deep", params: params, inputFormat: "png",
                                            inputWidth: 64, inputHeight: 48) == nil)
    }

    @Test(arguments: StoreBackend.available)
    func claimsComeOutInCreationOrder(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let store = try makeStore(dir)
        let ids = try (0..<5).map { _ in try enqueue(store).id }
        for (index, id) in ids.enumerated() {
            #expect(try store.queuePosition(id: id) == index + 1)
        }
        for id in ids {
            #expect(try store.claimNext()?.job.id == id)
        }
        #expect(try store.claimNext() == nil)
    }

    @Test(arguments: StoreBackend.available)
    func fullQueueRefusesWithRetryAfterAndLeavesNoFiles(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let store = try makeStore(dir, capacity: 2)
        try enqueue(store)
        try enqueue(store)
        #expect(throws: JobStoreError.self) { try enqueue(store) }
        do {
            try enqueue(store)
        } catch JobStoreError.queueFull(let seconds) {
            #expect((1...300).contains(seconds))
        }
        #expect(try dir.jobEntries(store).count == 2)
        // Running jobs do not count against the queue.
        _ = try store.claimNext()
        try enqueue(store)
        #expect(try store.counts()[.queued] == 2)
    }

    @Test(arguments: StoreBackend.available)
    func eightThreadsClaimEachJobExactlyOnce(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let store = try makeStore(dir, capacity: 500)
        let ids = Set(try (0..<200).map { _ in try enqueue(store, input: [1]).id })
        let claimed = Mutex<[String]>([])
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            do {
                while let claim = try store.claimNext() {
                    claimed.withLock { $0.append(claim.id) }
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
        let all = claimed.withLock { $0 }
        #expect(all.count == 200)
        #expect(Set(all) == ids)
        #expect(try store.counts()[.running] == 200)
    }

    @Test(arguments: StoreBackend.available)
    func cancelRacingSucceedNeverLeavesAHalfState(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let store = try makeStore(dir)
        for _ in 0..<40 { try enqueue(store, input: [1]) }
        var claims: [JobClaim] = []
        while let claim = try store.claimNext() { claims.append(claim) }
        let succeeded = Mutex<Set<String>>([])
        let finishedClaims = claims
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            if worker == 0 {
                for claim in finishedClaims where (try? store.succeed(claim, result: [2], format: "png")) == true {
                    succeeded.withLock { _ = $0.insert(claim.id) }
                }
            } else {
                for claim in finishedClaims.reversed() { _ = try? store.cancel(id: claim.id) }
            }
        }
        let won = succeeded.withLock { $0 }
        for claim in claims {
            let job = try #require(try store.job(id: claim.id))
            let files = try dir.files(claim.id, in: store)
            if won.contains(claim.id) {
                #expect(job.status == .succeeded && files == ["result.png"])
            } else {
                #expect(job.status == .canceled && files == [])
            }
        }
        #expect(try store.counts()[.running] == 0)
    }

    @Test func waitsForAnotherConnectionsWriteLock() throws {
        let dir = try TempDir()
        let store = try makeStore(dir)
        let dbPath = dir.path + "/jobs.sqlite3"
        let locked = DispatchSemaphore(value: 0)
        let released = DispatchSemaphore(value: 0)
        let lockFailure = Mutex<String?>(nil)
        // Another connection (as a second process or the sqlite3 CLI would) holds the write lock 0.3 s.
        DispatchQueue.global().async {
            do {
                let other = try SQLiteConnection(path: dbPath)
                try other.execute("BEGIN IMMEDIATE")
                locked.signal()
                usleep(300_000)
                try other.execute("COMMIT")
            } catch {
                lockFailure.withLock { $0 = "\(error)" }
                locked.signal()
            }
            released.signal()
        }
        locked.wait()
        let start = SQLiteJobStore.systemClock()
        // Blocks on the busy timeout until the other writer commits, then succeeds.
        let job = try enqueue(store)
        #expect(SQLiteJobStore.systemClock() - start >= 0.25)
        released.wait()
        #expect(lockFailure.withLock { $0 } == nil)
        #expect(try store.job(id: job.id)?.status == .queued)
    }

    /// A lock held longer than a request may wait (a backup, a sqlite3 shell): request-path calls give
    /// up after `LockWait.request`, not after the worker's longer wait that runs beside them (it never
    /// holds the Mutex for long), and leave nothing behind; reads still answer; the waiting claim takes
    /// its job, once, when the lock goes.
    @Test func requestsGiveUpQuicklyWhileAWorkerWaitsForTheLock() throws {
        let dir = try TempDir()
        let store = try makeStore(dir)
        let queued = try enqueue(store)
        let holder = try LockHolder(database: dir.path + "/jobs.sqlite3", seconds: 5)
        let claimed = Mutex<(claim: JobClaim?, seconds: Double, error: String?)?>(nil)
        let claimDone = DispatchSemaphore(value: 0)
        Thread {
            let start = monotonicSeconds()
            do {
                let claim = try store.claimNext()
                claimed.withLock { $0 = (claim, monotonicSeconds() - start, nil) }
            } catch {
                claimed.withLock { $0 = (nil, monotonicSeconds() - start, "\(error)") }
            }
            claimDone.signal()
        }.start()
        usleep(200_000)  // the claim is waiting for the lock now

        var start = monotonicSeconds()
        let refused = try #require(throws: SQLiteError.self) { try enqueue(store) }
        let enqueueSeconds = monotonicSeconds() - start
        #expect(refused.isBusy && refused.isStorageUnavailable && refused.message.contains("locked"))
        #expect(enqueueSeconds >= SQLiteJobStore.LockWait.request - 0.05 && enqueueSeconds < 2.5, "enqueue gave up after \(enqueueSeconds) s")
        start = monotonicSeconds()
        #expect(throws: SQLiteError.self) { try store.cancel(id: queued.id) }
        let cancelSeconds = monotonicSeconds() - start
        #expect(cancelSeconds < 2.5, "cancel gave up after \(cancelSeconds) s")
        start = monotonicSeconds()
        #expect(try store.job(id: queued.id)?.status == .queued)  // WAL: reads need no write lock
        #expect(monotonicSeconds() - start < 0.5)
        #expect(dir.jobEntries == [queued.id])

        #expect(claimDone.wait(timeout: .now() + 30) == .success)
        let claim = try #require(claimed.withLock { $0 })
        #expect(claim.error == nil)
        #expect(claim.claim?.id == queued.id && claim.claim?.attempt == 1)
        #expect(claim.seconds >= 4.5, "the claim returned after \(claim.seconds) s, before the lock was released")
        #expect(holder.waitForRelease() == nil)
        #expect(try store.job(id: queued.id)?.status == .running)
        #expect(try store.claimNext() == nil)
    }

    /// A finishing worker outlasts a lock longer than a request's wait: progress is skipped at once
    /// (best effort, the job keeps computing), and succeed retries with its files intact and publishes
    /// the result when the lock goes.
    @Test func succeedWaitsOutALockedDatabase() throws {
        let dir = try TempDir()
        let store = try makeStore(dir)
        let job = try enqueue(store)
        let claim = try #require(try store.claimNext())
        let holder = try LockHolder(database: dir.path + "/jobs.sqlite3", seconds: 1.5)
        var start = monotonicSeconds()
        #expect(throws: SQLiteError.self) { try store.updateProgress(claim, step: 1, total: 2, loss: nil) }
        #expect(monotonicSeconds() - start < 0.5)
        start = monotonicSeconds()
        #expect(try store.succeed(claim, result: [9, 9], format: "png", attachments: [.mask: [4]]))
        #expect(monotonicSeconds() - start >= 1.2)
        #expect(holder.waitForRelease() == nil)
        #expect(try store.job(id: job.id)?.status == .succeeded)
        #expect(try store.resultBytes(id: job.id) == [9, 9])
        #expect(try store.attachmentBytes(id: job.id, .mask) == [4])
        #expect(try JobFiles.list(dir.jobDir(job.id)).sorted() == ["mask.png", "result.png"])
    }

    @Test(arguments: StoreBackend.available)
    func cancelQueuedRunningAndFinished(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let store = try makeStore(dir)
        let queued = try enqueue(store)
        let running = try enqueue(store)
        let finished = try enqueue(store)

        let canceled = try #require(try store.cancel(id: queued.id))
        #expect(canceled.status == .canceled && canceled.finishedAt != nil)

        // The canceled job is skipped: the next claim is the second job.
        let runClaim = try #require(try store.claimNext())
        #expect(runClaim.id == running.id)
        let finClaim = try #require(try store.claimNext())
        #expect(try store.succeed(finClaim, result: [1], format: "png"))

        let requested = try #require(try store.cancel(id: running.id))
        #expect(requested.status == .running && requested.cancelRequested)
        #expect(try store.job(id: running.id)?.cancelRequested == true)
        #expect(try store.heartbeat(runClaim) == .cancelRequested)
        #expect(try store.finish(runClaim, as: .canceled))
        #expect(try store.heartbeat(runClaim) == .lost)
        #expect(try store.job(id: running.id)?.status == .canceled)

        let unchanged = try #require(try store.cancel(id: finished.id))
        #expect(unchanged.status == .succeeded && !unchanged.cancelRequested)
        #expect(try store.resultBytes(id: finished.id) == [1])
        #expect(try store.claimNext() == nil)
    }

    @Test(arguments: StoreBackend.available)
    func succeedAfterCancelReturnsFalseAndKeepsNoResult(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let store = try makeStore(dir)
        let job = try enqueue(store)
        let claim = try #require(try store.claimNext())
        _ = try store.cancel(id: job.id)
        #expect(try store.succeed(claim, result: [1, 2, 3], format: "png") == false)
        let after = try #require(try store.job(id: job.id))
        #expect(after.status == .canceled && after.resultFormat == nil)
        #expect(try store.resultBytes(id: job.id) == nil)
        #expect(try dir.files(job.id, in: store) == [])
    }

    @Test(arguments: StoreBackend.available)
    func staleLeaseCannotTouchTheJob(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let store = try makeStore(dir)
        let job = try enqueue(store)
        let first = try #require(try store.claimNext())
        #expect(try store.requeue(first))
        let requeued = try #require(try store.job(id: job.id))
        #expect(requeued.status == .queued && requeued.attempts == 0)  // a clean stop burns no attempt

        let second = try #require(try store.claimNext())
        #expect(second.attempt == 1 && second.lease != first.lease)
        #expect(try store.updateProgress(first, step: 5, total: 10, loss: nil) == false)
        #expect(try store.succeed(first, result: [6, 6, 6], format: "png") == false)
        #expect(try store.finish(first, as: .failed(JobError(status: 500, title: "x", detail: "y"))) == false)
        #expect(try store.finish(first, as: .canceled) == false)
        #expect(try store.heartbeat(first) == .lost)
        #expect(try store.heartbeat(second) == .held)
        #expect(try store.job(id: job.id)?.status == .running)

        #expect(try store.succeed(second, result: [7], format: "png"))
        #expect(try store.resultBytes(id: job.id) == [7])
    }

    @Test(arguments: StoreBackend.available)
    func failRecordsTheProblem(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let store = try makeStore(dir)
        let job = try enqueue(store)
        let claim = try #require(try store.claimNext())
        let problem = JobError(status: 422, title: "Unprocessable", detail: "output too large")
        #expect(try store.finish(claim, as: .failed(problem)))
        let failed = try #require(try store.job(id: job.id))
        #expect(failed.status == .failed && failed.error == problem && failed.finishedAt != nil)
        #expect(try store.resultBytes(id: job.id) == nil)
    }

    @Test(arguments: StoreBackend.available)
    func crashedRunIsQueuedAgainAfterRestart(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let id: String
        do {
            let store = try makeStore(dir)
            id = try enqueue(store).id
            let claim = try #require(try store.claimNext())
            try store.updateProgress(claim, step: 3, total: 10, loss: 1.5)
            // Simulated crash: the store goes away without finishing the job (PostgreSQL: its lease expires),
            // and the worker had already published a result file but not the row (crash between file and
            // UPDATE; a store with files in its rows publishes both in one transaction).
            if backend == .sqlite {
                let jobDir = dir.path + "/jobs/" + id
                try JobFiles.writeAtomically([6, 6], to: jobDir + "/result.png", directory: jobDir)
                _ = try JobFiles.writeTemp([1], in: jobDir)
            }
        }
        let store = try makeStore(dir)
        let report = try store.recoverInterruptedJobs()
        #expect(report.requeued == 1 && report.failed == 0 && report.removedFiles == (backend == .sqlite ? 2 : 0))
        let job = try #require(try store.job(id: id))
        #expect(job.status == .queued && job.attempts == 1 && job.progressStep == 0 && job.startedAt == nil)
        #expect(try dir.files(id, in: store) == ["input.png"])

        let rerun = try #require(try store.claimNext())
        #expect(rerun.attempt == 2)
        #expect(try store.succeed(rerun, result: [4, 2], format: "png"))
        #expect(try store.resultBytes(id: id) == [4, 2])
    }

    @Test(arguments: StoreBackend.available)
    func interruptedTooOftenFailsWithAReason(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let id: String
        do {
            let store = try makeStore(dir, maxAttempts: 2)
            id = try enqueue(store).id
            _ = try store.claimNext()
        }
        do {
            let store = try makeStore(dir, maxAttempts: 2)
            #expect(try store.recoverInterruptedJobs().requeued == 1)
            #expect(try store.claimNext()?.attempt == 2)
        }
        let store = try makeStore(dir, maxAttempts: 2)
        let report = try store.recoverInterruptedJobs()
        #expect(report.failed == 1 && report.requeued == 0)
        let job = try #require(try store.job(id: id))
        #expect(job.status == .failed && job.attempts == 2)
        let detail = try #require(job.error?.detail)
        #expect(detail.contains("interrupted 2 times") && detail.contains("max_attempts"))
        #expect(try store.claimNext() == nil)
    }

    @Test(arguments: StoreBackend.available)
    func cancelRequestedBeforeCrashEndsCanceled(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let id: String
        do {
            let store = try makeStore(dir)
            id = try enqueue(store).id
            _ = try store.claimNext()
            _ = try store.cancel(id: id)
        }
        let store = try makeStore(dir)
        #expect(try store.recoverInterruptedJobs().canceled == 1)
        #expect(try store.job(id: id)?.status == .canceled)
    }

    @Test func recoverySweepsOrphansAndStrayFiles() throws {
        let dir = try TempDir()
        let store = try makeStore(dir)
        let kept = try enqueue(store)
        // Crash between input write and INSERT: a directory with a valid id, no row, and its `.pending` marker.
        let orphan = JobID.generate()
        try JobFiles.makeDirectory(dir.jobDir(orphan), parent: dir.path + "/jobs")
        try JobFiles.writeAtomically([], to: dir.jobDir(orphan) + "/.pending", directory: dir.jobDir(orphan))
        try JobFiles.writeAtomically([1], to: dir.jobDir(orphan) + "/input.png", directory: dir.jobDir(orphan))
        // Crash between deleting an expired row and its files: marked `.expired`.
        let expired = JobID.generate()
        try JobFiles.makeDirectory(dir.jobDir(expired), parent: dir.path + "/jobs")
        try JobFiles.writeAtomically([], to: dir.jobDir(expired) + "/.expired", directory: dir.jobDir(expired))
        try JobFiles.writeAtomically([1], to: dir.jobDir(expired) + "/result.png", directory: dir.jobDir(expired))
        // Killed before even the marker was in place: a job directory with only the marker's temp file (seen
        // in the soak), and an empty one.
        let unmarked = JobID.generate(), empty = JobID.generate()
        try JobFiles.makeDirectory(dir.jobDir(unmarked), parent: dir.path + "/jobs")
        _ = try JobFiles.writeTemp([], in: dir.jobDir(unmarked))
        try JobFiles.makeDirectory(dir.jobDir(empty), parent: dir.path + "/jobs")
        // A stray temp file at the top level, and one and a leftover marker inside the live job's directory.
        _ = try JobFiles.writeTemp([1], in: dir.path + "/jobs")
        _ = try JobFiles.writeTemp([1], in: dir.jobDir(kept.id))
        try JobFiles.writeAtomically([], to: dir.jobDir(kept.id) + "/.pending", directory: dir.jobDir(kept.id))

        let report = try store.recoverInterruptedJobs()
        #expect(report.removedFiles == 7 && report.unclaimed.isEmpty)
        #expect(dir.jobEntries == [kept.id])
        #expect(try JobFiles.list(dir.jobDir(kept.id)) == ["input.png"])
        #expect(try store.inputBytes(id: kept.id) == pngBytes)
    }

    /// What the database does not know and nothing marks as never acknowledged (a job whose row a restored
    /// backup or a lost WAL took away, or a file someone put there) is moved aside, never deleted.
    @Test func recoveryMovesUnknownDirectoriesAsideInsteadOfDeletingThem() throws {
        let dir = try TempDir()
        let store = try makeStore(dir)
        let kept = try enqueue(store)
        let lost = JobID.generate()
        try JobFiles.makeDirectory(dir.jobDir(lost), parent: dir.path + "/jobs")
        try JobFiles.writeAtomically([7, 7], to: dir.jobDir(lost) + "/input.png", directory: dir.jobDir(lost))
        try JobFiles.writeAtomically([1], to: dir.path + "/jobs/not-a-job", directory: dir.path + "/jobs")

        let report = try store.recoverInterruptedJobs()
        #expect(report.removedFiles == 0 && Set(report.unclaimed) == [lost, "not-a-job"])
        #expect(dir.jobEntries == [kept.id])
        #expect(try JobFiles.read(dir.path + "/unclaimed/" + lost + "/input.png") == [7, 7])
        #expect(JobFiles.exists(dir.path + "/unclaimed/not-a-job"))
    }

    @Test(arguments: StoreBackend.available)
    func expireRemovesRowsAndFilesAfterTheTTL(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let clock = ManualClock(1_000)
        let store = try makeStore(dir, ttl: 60, clock: clock.now)
        let done = try enqueue(store)
        let waiting = try enqueue(store)
        let claim = try #require(try store.claimNext())
        #expect(try store.succeed(claim, result: [1], format: "png"))

        clock.set(1_059)
        #expect(try store.expire() == 0)
        #expect(try store.resultBytes(id: done.id) == [1])

        clock.set(1_061)
        #expect(try store.job(id: done.id) == nil)  // expired even before the sweep runs
        #expect(throws: JobStoreError.notFound(id: done.id)) { try store.resultBytes(id: done.id) }
        #expect(try store.expire() == 1)
        #expect(try dir.jobEntries(store) == [waiting.id])  // queued jobs never expire
        #expect(try store.counts()[.succeeded] == 0)
        #expect(try store.job(id: waiting.id)?.status == .queued)
    }

    @Test(arguments: StoreBackend.available, ["../etc", "", "ABCDEFAB-CDEF-4BCD-8BCD-ABCDEFABCDEF", "../../jobs.sqlite3",
                      "00000000-0000-4000-8000-00000000000/", "00000000-0000-4000-8000-000000000000/..",
                      "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"])
    func invalidIdsAreNotFound(backend: StoreBackend, id: String) throws {
        let dir = try StoreFixture(backend)
        let store = try makeStore(dir)
        try enqueue(store)
        #expect(try store.job(id: id) == nil)
        #expect(try store.queuePosition(id: id) == nil)
        #expect(try store.cancel(id: id) == nil)
        #expect(throws: JobStoreError.notFound(id: id)) { try store.inputBytes(id: id) }
        #expect(throws: JobStoreError.notFound(id: id)) { try store.resultBytes(id: id) }
    }

    @Test(arguments: StoreBackend.available)
    func unknownValidIdIsNotFound(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let store = try makeStore(dir)
        let id = JobID.generate()
        #expect(try store.job(id: id) == nil)
        #expect(try store.cancel(id: id) == nil)
        #expect(throws: JobStoreError.notFound(id: id)) { try store.inputBytes(id: id) }
    }

    @Test(arguments: StoreBackend.available)
    func formatNamesCannotBecomePaths(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let store = try makeStore(dir)
        #expect(throws: JobStoreError.invalidFormat("../x")) {
            try store.enqueue(method: "deep", params: params, input: [1], inputFormat: "../x", inputWidth: 1, inputHeight: 1)
        }
        var bad = params
        bad.format = "png/"
        #expect(throws: JobStoreError.invalidFormat("png/")) {
            try store.enqueue(method: "deep", params: bad, input: [1], inputFormat: "png", inputWidth: 1, inputHeight: 1)
        }
        try enqueue(store)
        let claim = try #require(try store.claimNext())
        #expect(throws: JobStoreError.invalidFormat("")) { try store.succeed(claim, result: [1], format: "") }
        #expect(try dir.jobEntries(store).count == 1)
    }

    @Test func idsAreRandomLowercaseUUIDs() {
        let ids = (0..<1000).map { _ in JobID.generate() }
        #expect(Set(ids).count == 1000)
        #expect(ids.allSatisfy { JobID.isValid($0) && $0 == $0.lowercased() })
        #expect(ids.allSatisfy { Array($0)[14] == "4" })
    }

    @Test(arguments: StoreBackend.available)
    func reopeningKeepsJobsAndResults(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let before: JobRecord
        do {
            let store = try makeStore(dir)
            let job = try enqueue(store)
            let claim = try #require(try store.claimNext())
            #expect(try store.succeed(claim, result: [5, 5], format: "jpeg"))
            before = try #require(try store.job(id: job.id))
            try enqueue(store)
        }
        let store = try makeStore(dir)
        let report = try store.recoverInterruptedJobs()
        #expect(report == JobRecoveryReport())
        #expect(try store.job(id: before.id) == before)
        #expect(try store.resultBytes(id: before.id) == [5, 5])
        #expect(try store.counts()[.queued] == 1)
    }

    @Test func databaseFromANewerBuildIsRefused() throws {
        let dir = try TempDir()
        _ = try makeStore(dir)
        do {
            let raw = try SQLiteConnection(path: dir.path + "/jobs.sqlite3")
            try raw.execute("PRAGMA user_version = 99")
        }
        #expect(throws: JobStoreError.unsupportedSchema(found: 99, supported: JobSchema.currentVersion)) {
            try makeStore(dir)
        }
        let message = JobStoreError.unsupportedSchema(found: 99, supported: 1).description
        #expect(message.contains("99") && message.contains("newer"))
    }

    @Test func readOnlyDatabaseFailsWithTheSQLiteCode() throws {
        let dir = try TempDir()
        let id: String
        do { id = try enqueue(try makeStore(dir)).id }
        let store = try makeStore(dir, readOnly: true)
        #expect(try store.job(id: id)?.status == .queued)  // reads still work

        let error = try #require(throws: SQLiteError.self) { try enqueue(store) }
        #expect(error.primaryCode == 8)  // SQLITE_READONLY
        #expect(error.description.contains("readonly"))
        #expect(JobStoreError.isStorageUnavailable(error))
        #expect(dir.jobEntries == [id])  // the input written before the failed INSERT is gone

        let probe = try #require(throws: SQLiteError.self) { try store.checkWritable() }
        #expect(probe.primaryCode == 8)
        #expect(throws: SQLiteError.self) { try store.claimNext() }
    }

    @Test(arguments: StoreBackend.available)
    func writableStorePassesTheProbe(_ backend: StoreBackend) throws {
        let dir = try StoreFixture(backend)
        let store = try makeStore(dir)
        try store.checkWritable()
        try store.checkWritable()
        #expect(try dir.jobEntries(store).isEmpty)
    }

    @Test func secondStoreOnTheSameDirectoryIsRefused() throws {
        let dir = try TempDir()
        let first = try makeStore(dir)
        #expect(throws: JobStoreError.directoryInUse(path: dir.path)) { try makeStore(dir) }
        try enqueue(first)
        #expect(try first.counts()[.queued] == 1)
    }

    @Test func createsMissingDataDirectories() throws {
        let dir = try TempDir()
        let nested = dir.path + "/a/b/data"
        let store = try SQLiteJobStore(directory: nested, queueCapacity: 1, maxAttempts: 1, resultTTL: 1)
        try store.checkWritable()
        #expect(JobFiles.exists(nested + "/jobs.sqlite3") && JobFiles.isDirectory(nested + "/jobs"))
    }
}
