import Foundation
import ImageCodecs
import Logging
import Testing
@testable import Server
import TestSupport

/// A DELETE reaches `WorkerPool.cancel` for every job the store calls running, also those another replica
/// runs (on an api replica, every one) and those that ended here a moment before. The pool must not keep
/// those ids: a long-lived replica would grow by one per DELETE.
@Suite(.serialized) struct WorkerCancelTests {
    /// As `Service` builds it: `workers` workers, started only where the role runs jobs.
    static func pool(directory: String) throws -> (SQLiteJobStore, WorkerPool) {
        let store = try SQLiteJobStore(directory: directory, queueCapacity: 8, maxAttempts: 3, resultTTL: 3600)
        let workers = WorkerPool(store: store, pipeline: ResizePipeline(config: ServiceConfig()), waiters: JobWaiters(),
                                 count: ServiceConfig().workers, logger: Logger(label: "test"),
                                 describeFailure: JobError.init(describing:), metrics: .standalone())
        return (store, workers)
    }

    @Test func aPoolThatRunsNothingKeepsNoCancels() throws {
        let dir = try ServerProcess.temporaryDirectory("worker-cancel-api")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (_, workers) = try Self.pool(directory: dir)  // the api role: never started
        for i in 0..<100 { workers.cancel(id: "elsewhere-\(i)") }
        #expect(workers.pendingCancels == 0)
    }

    @Test func cancelsOfJobsNotRunningHereAreNotKeptAndJobsStillRun() throws {
        let dir = try ServerProcess.temporaryDirectory("worker-cancel")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (store, workers) = try Self.pool(directory: dir)
        workers.start()
        defer { _ = workers.stop(timeout: 10) }
        for i in 0..<50 { workers.cancel(id: "elsewhere-\(i)") }
        #expect(workers.pendingCancels == 0)
        let png = try ImageEncoder.png(TestImages.scene(width: 64, height: 48))
        let id = try store.enqueue(method: "seam", params: JobParams(width: 48, height: 48, format: "png"),
                                   input: png, inputFormat: "png", inputWidth: 64, inputHeight: 48).id
        let job = try #require(try store.waitUntilFinished([id], timeout: 60).first)
        #expect(job.status == .succeeded, "\(job.status) \(String(describing: job.error))")
        #expect(workers.pendingCancels == 0)
    }

    @Test func aDeleteStopsTheJobRunningHere() throws {
        let dir = try ServerProcess.temporaryDirectory("worker-cancel-running")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // No heartbeat within the test: only the pool's own cancel can stop the job.
        let (store, workers) = try deepWorkerPool(directory: dir, earlyStop: false, heartbeatInterval: 1000)
        // Long enough that only the cancel ends it early: 2,000 iterations, no early stop.
        let id = try enqueueDeepLinear(store, from: (160, 120), to: (120, 120), iterations: 2000)
        workers.start()
        defer { _ = workers.stop(timeout: 10) }
        let deadline = Date().addingTimeInterval(60)
        while try store.job(id: id)?.progressStep ?? 0 < 2 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        // As JobCoordinator.cancel: the store first, then the pool.
        let requested = try #require(try store.cancel(id: id))
        #expect(requested.status == .running)
        workers.cancel(id: id)
        let started = Date()
        let job = try #require(try store.waitUntilFinished([id], timeout: 60).first)
        #expect(job.status == .canceled)
        #expect(Date().timeIntervalSince(started) < 5, "the job ran on for \(Date().timeIntervalSince(started)) s")
        #expect(job.progressStep < 2000)
        // The worker forgets the cancel just after it records the end: give it that moment.
        let forgotten = Date().addingTimeInterval(5)
        while workers.pendingCancels > 0 && Date() < forgotten { Thread.sleep(forTimeInterval: 0.01) }
        #expect(workers.pendingCancels == 0)
    }
}
