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
        #expect(problem.status == 507 && problem.detail.contains("max_data_bytes"))
        #expect(problem.headers.contains { $0.0 == "Retry-After" })
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/jobs") == [first.id])  // nothing written

        // The first job ends: its input goes at once, its result takes what it takes.
        let claim = try #require(try store.claimNext())
        #expect(try store.succeed(claim, result: [UInt8](repeating: 1, count: 500), format: "png"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/jobs/" + first.id) == ["result.png"])
        #expect(store.dataUsage.bytes == 500 && store.dataUsage.reservedForResults == 0)
        _ = try store.enqueue(method: "seam", params: params, input: input, inputFormat: "png", inputWidth: 64, inputHeight: 48)
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

    /// Over HTTP: 507 with Retry-After, before the upload is stored.
    @Test func theServerAnswers507WhenTheStoreIsFull() throws {
        let server = try ServerProcess(settings: ["max_data_bytes": "60000"])
        let png = try ImageEncoder.png(TestImages.noise(width: 64, height: 48))  // about 9 KB
        var statuses: [Int] = []
        var last: RawResponse?
        for _ in 0..<8 {
            last = postImage(port: server.port, query: "w=40&h=48&method=seam&wait=0", png: png)
            statuses.append(last?.status ?? 0)
        }
        #expect(statuses.contains(202) && statuses.last == 507, "\(statuses)")
        #expect(last?.headers["retry-after"] != nil)
        let detail = String(decoding: last?.body ?? [], as: UTF8.self)
        #expect(detail.contains("max_data_bytes"), "\(detail)")
    }
}
