import Foundation
import ImageCodecs
import Logging
import Testing
@testable import Server
import TestSupport

/// A DELETE reaches `WorkerPool.cancel` for every job the store calls running, also those another replica
/// runs (the api role, PostgreSQL) and those that ended here a moment before. The pool must not keep those
/// ids for good: a long-lived replica would grow by one per DELETE.
@Suite(.serialized) struct WorkerCancelTests {
    static func pool(count: Int, directory: String) throws -> (SQLiteJobStore, WorkerPool) {
        let store = try SQLiteJobStore(directory: directory, queueCapacity: 8, maxAttempts: 3, resultTTL: 3600)
        let workers = WorkerPool(store: store, pipeline: ResizePipeline(config: ServiceConfig()), waiters: JobWaiters(),
                                 count: count, logger: Logger(label: "test"), describeFailure: JobError.init(describing:),
                                 metrics: .standalone())
        return (store, workers)
    }

    @Test func aPoolWithoutWorkersKeepsNoCancels() throws {
        let dir = try ServerProcess.temporaryDirectory("worker-cancel-api")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (_, workers) = try Self.pool(count: 0, directory: dir)
        for i in 0..<100 { workers.cancel(id: "elsewhere-\(i)") }
        #expect(workers.pendingCancels == 0)
    }

    @Test func cancelsOfJobsNotRunningHereAreDroppedWhenTheNextJobStarts() throws {
        let dir = try ServerProcess.temporaryDirectory("worker-cancel")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (store, workers) = try Self.pool(count: 1, directory: dir)
        for i in 0..<50 { workers.cancel(id: "elsewhere-\(i)") }
        #expect(workers.pendingCancels == 50)
        let png = try ImageEncoder.png(TestImages.scene(width: 64, height: 48))
        let id = try store.enqueue(method: "seam", params: JobParams(width: 48, height: 48, format: "png"),
                                   input: png, inputFormat: "png", inputWidth: 64, inputHeight: 48).id
        workers.start()
        defer { _ = workers.stop(timeout: 10) }
        let job = try #require(try store.waitUntilFinished([id], timeout: 60).first)
        // The job that started is not among the 50, so it ran to the end, and the 50 are gone.
        #expect(job.status == .succeeded, "\(job.status) \(String(describing: job.error))")
        #expect(workers.pendingCancels == 0)
    }
}
