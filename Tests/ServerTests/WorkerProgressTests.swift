import Foundation
import ImageCodecs
import Logging
import Testing
@testable import Server
import TestSupport

/// What a finished job says about its progress: the store is written at most every `progressInterval`, so
/// a run that ends between two writes — a deep run stopped early on stalled progress, short of
/// `iterations` — must still leave its last iteration and loss in the job.
@Suite(.serialized) struct WorkerProgressTests {
    @Test func anEarlyStoppedDeepJobShowsItsLastIteration() throws {
        let dir = try ServerProcess.temporaryDirectory("worker-progress")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // An interval no run reaches: only the first report and the final flush can be written.
        let (store, workers) = try deepWorkerPool(directory: dir, progressInterval: 1e6)
        // A tiny problem converges long before 400 iterations, so the early stop ends it.
        let id = try enqueueDeepLinear(store, from: (48, 32), to: (40, 32), iterations: 400)
        workers.start()
        defer { _ = workers.stop(timeout: 10) }
        let job = try #require(try store.waitUntilFinished([id], timeout: 180).first)
        #expect(job.status == .succeeded, "\(job.status) \(String(describing: job.error))")
        #expect(job.progressTotal == 400)
        #expect(job.progressStep > 1 && job.progressStep < 400,
                "the job shows iteration \(job.progressStep) of 400: its last report was not stored")
        #expect(job.loss.map { $0 > 0 && $0.isFinite } == true)
    }
}
