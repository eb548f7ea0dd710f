import Foundation
import Glibc
import ImageCodecs
import Testing
import TestSupport
@testable import Server

/// Issue 11, item 6: the job files have a quota (`max_data_bytes`), and a finished job keeps only its result.
@Suite(.serialized) struct DataQuotaTests {
    static func temp() throws -> String {
        var template = Array((NSTemporaryDirectory() + "/quota-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw JobFiles.fail("mkdtemp", "tmp") }
        return String(cString: made)
    }

    @Test func aFullStoreRefusesWith507AndTakesJobsAgainOnceSpaceFrees() throws {
        let dir = try Self.temp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let params = JobParams(width: 40, height: 30, format: "png")  // allowance 4 × 1200 + 4096 = 8896
        let store = try SQLiteJobStore(directory: dir, queueCapacity: 100, maxAttempts: 3, resultTTL: 3600, maxDataBytes: 25_000)
        let input = [UInt8](repeating: 7, count: 6_000)
        let first = try store.enqueue(method: "seam", params: params, input: input, inputFormat: "png", inputWidth: 64, inputHeight: 48)
        // 6,000 + 8,896 held; another 14,896 does not fit in 25,000.
        let error = try #require(throws: JobStoreError.self) {
            try store.enqueue(method: "seam", params: params, input: input, inputFormat: "png", inputWidth: 64, inputHeight: 48)
        }
        guard case .storeFull(let used, let needed, let limit, let retryAfter) = error else { Issue.record("\(error)"); return }
        #expect(used == 14_896 && needed == 14_896 && limit == 25_000 && retryAfter >= 1)
        let problem = Problem(error)
        #expect(problem.status == 507 && problem.detail.contains("max_data_bytes") && problem.detail.contains("retry after \(retryAfter) s"))
        #expect(problem.headers.contains { $0.0 == "Retry-After" })
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/jobs") == [first.id])  // nothing written

        // The first job ends: its input goes at once, its result takes what it takes.
        let claim = try #require(try store.claimNext())
        #expect(try store.succeed(claim, result: [UInt8](repeating: 1, count: 500), format: "png"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/jobs/" + first.id) == ["result.png"])
        #expect(store.dataUsage.bytes == 500 && store.dataUsage.reservedForResults == 0)
        _ = try store.enqueue(method: "seam", params: params, input: input, inputFormat: "png", inputWidth: 64, inputHeight: 48)
    }

    /// A job larger than the whole quota can never be stored: a 422 without Retry-After, not a 507 that a
    /// client would retry for ever.
    @Test func aJobLargerThanTheWholeQuotaIsUnprocessable() throws {
        let dir = try Self.temp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteJobStore(directory: dir, queueCapacity: 100, maxAttempts: 3, resultTTL: 3600, maxDataBytes: 25_000)
        let error = try #require(throws: JobStoreError.self) {
            try store.enqueue(method: "seam", params: JobParams(width: 100, height: 100, format: "png"),
                              input: [UInt8](repeating: 7, count: 6_000), inputFormat: "png", inputWidth: 64, inputHeight: 48)
        }
        let problem = Problem(error)
        #expect(problem.status == 422 && problem.detail.contains("can never be stored"), "\(problem)")
        #expect(!problem.headers.contains { $0.0 == "Retry-After" })
    }

    @Test func theQuotaCountsTheFilesOnDiskAtStart() throws {
        let dir = try Self.temp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let params = JobParams(width: 4, height: 4, format: "png")
        do {
            let store = try SQLiteJobStore(directory: dir, queueCapacity: 100, maxAttempts: 3, resultTTL: 3600)
            for _ in 0..<3 {
                _ = try store.enqueue(method: "seam", params: params, input: [UInt8](repeating: 1, count: 10_000),
                                      inputFormat: "png", inputWidth: 4, inputHeight: 4)
            }
        }
        let store = try SQLiteJobStore(directory: dir, queueCapacity: 100, maxAttempts: 3, resultTTL: 3600, maxDataBytes: 40_000)
        #expect(store.dataUsage.bytes == 30_000 && store.dataUsage.reservedForResults == 3 * (64 + 4096))
        #expect(throws: JobStoreError.self) {
            try store.enqueue(method: "seam", params: params, input: [UInt8](repeating: 1, count: 10_000),
                              inputFormat: "png", inputWidth: 4, inputHeight: 4)
        }
    }

    /// Over HTTP: 507 with Retry-After, before the upload is stored. A seam job through a noisy image keeps
    /// the one worker busy for seconds, so its input and result room stay counted while a second one asks.
    @Test func theServerAnswers507WhenTheStoreIsFull() throws {
        let png = try ImageEncoder.png(TestImages.noise(width: 900, height: 300))
        let room = png.count + 4 * 300 * 300 + 4096  // input + result allowance of one job
        let server = try ServerProcess(settings: ["max_data_bytes": String(room + room / 2)])
        let first = try #require(postImage(port: server.port, query: "w=300&h=300&method=seam&wait=0", png: png))
        #expect(first.status == 202)
        let second = try #require(postImage(port: server.port, query: "w=300&h=300&method=seam&wait=0", png: png))
        #expect(second.status == 507, "\(second.status)")
        #expect(second.headers["retry-after"] != nil)
        let detail = String(decoding: second.body, as: UTF8.self)
        #expect(detail.contains("max_data_bytes"), "\(detail)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: server.dataDirectory + "/jobs").count == 1)
    }
}
