import Foundation
import ImageCodecs
import Logging
import Testing
@testable import Server
import TestSupport

/// Issue 11, item 3: a page of the database goes bad while the server runs. /readyz must stop saying ready,
/// and a job whose end the database will not take must not look running forever.
@Suite(.serialized) struct DamagedStoreTests {
    /// Overwrites the `jobs` table's root page (everything checkpointed into the main file first, and the
    /// connection's cache dropped, so the next statement reads the damage).
    static func damageJobsTable(_ store: SQLiteJobStore, directory: String) throws {
        let root: Int
        do {
            let raw = try SQLiteConnection(path: directory + "/jobs.sqlite3", readOnly: true)
            root = try #require(try raw.queryInt("SELECT rootpage FROM sqlite_master WHERE name = 'jobs'"))
        }
        // Under the store's lock: no progress write can put a newer copy of the page in the WAL meanwhile.
        try store.damageForTests { path in
            let handle = try #require(FileHandle(forUpdatingAtPath: path))
            try handle.seek(toOffset: UInt64((root - 1) * 4096))
            try handle.write(contentsOf: Data(repeating: 0xFF, count: 4096))
            try handle.close()
        }
    }

    @Test func aJobWhoseEndCannotBeRecordedEndsAnywayAndReadinessFails() throws {
        let dir = try ServerProcess.temporaryDirectory("damaged")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteJobStore(directory: dir, queueCapacity: 4, maxAttempts: 3, resultTTL: 3600)
        try store.checkWritable()
        let workers = WorkerPool(store: store, pipeline: ResizePipeline(config: ServiceConfig()), waiters: JobWaiters(),
                                 count: 1, logger: Logger(label: "test"), describeFailure: JobError.init(describing:),
                                 progressInterval: 0.05, metrics: .standalone())
        // A seam job long enough (hundreds of seams through a noisy image) to damage the file while it runs.
        let png = try ImageEncoder.png(TestImages.noise(width: 900, height: 300))
        let id = try store.enqueue(method: "seam", params: JobParams(width: 300, height: 300, format: "png"),
                                   input: png, inputFormat: "png", inputWidth: 900, inputHeight: 300).id
        workers.start()
        defer { _ = workers.stop(timeout: 10) }
        let deadline = Date().addingTimeInterval(60)
        while (try store.job(id: id))?.progressStep ?? 0 == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        try #require(try store.job(id: id)?.status == .running)
        try Self.damageJobsTable(store, directory: dir)

        var job: JobRecord?
        let end = Date().addingTimeInterval(180)  // the rest of the seams, on a machine as loaded as CI
        while Date() < end {
            job = try? store.job(id: id)
            if job?.status.isFinished == true { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(job?.status == .failed, "the job looks \(String(describing: job?.status))")
        #expect(job?.error?.detail.contains("could not record") == true, "\(String(describing: job?.error))")
        #expect(job?.error?.detail.contains("/") == false, "a server path in \(String(describing: job?.error))")
        let probe = try #require(throws: (any Error).self) { try store.checkWritable() }
        #expect(JobStoreError.clientText(probe).contains("damaged"), "\(probe)")
        #expect(try store.cancel(id: id)?.status == .failed)
        #expect(store.retryUnrecorded() == 1)  // still damaged: the end stays in memory
    }
}
