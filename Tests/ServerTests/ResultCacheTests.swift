import Foundation
import Glibc
import Testing
import TestSupport
@testable import Server

/// Issue 16, items 3 and 4: the result cache (docs/api.md "Result cache") and purge (`DELETE /jobs/{id}` of
/// a finished job), in the store and end to end over 127.0.0.1.
@Suite struct SHA256Tests {  // the key's hex encoding and chunking over swift-crypto
    @Test func knownVectors() {
        #expect(sha256Hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(sha256Hex([Array("abc".utf8)]) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        #expect(sha256Hex([Array(two.utf8)]) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Parts of any length hash as their concatenation.
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        #expect(sha256Hex([million]) == expected)
        #expect(sha256Hex([Array(million[0..<63]), Array(million[63..<130]), Array(million[130...])]) == expected)
    }

    @Test func keysDependOnEveryInput() throws {
        let params = JobParams(width: 40, height: 30, format: "png")
        let key = try ResultCache.key(identity: "weights a", method: .seam, params: params, input: [1, 2, 3])
        #expect(key.count == 64)
        #expect(try ResultCache.key(identity: "weights a", method: .seam, params: params, input: [1, 2, 3]) == key)
        #expect(try ResultCache.key(identity: "weights b", method: .seam, params: params, input: [1, 2, 3]) != key)
        #expect(try ResultCache.key(identity: "weights a", method: .deep, params: params, input: [1, 2, 3]) != key)
        #expect(try ResultCache.key(identity: "weights a", method: .seam, params: JobParams(width: 41, height: 30, format: "png"),
                                    input: [1, 2, 3]) != key)
        #expect(try ResultCache.key(identity: "weights a", method: .seam, params: params, input: [1, 2, 4]) != key)
    }

    @Test func deepIdentitiesHoldEverySettingThatChangesItsBytes() throws {
        func identity(_ change: (inout ServiceConfig) -> Void, _ method: ResizeMethod = .deep) -> String {
            var config = ServiceConfig()
            change(&config)
            return ResizePipeline(config: config).cacheIdentity(for: method, weights: "w1")
        }
        let base = identity { _ in }
        #expect(identity { $0.deepEarlyStop.toggle() } != base)
        #expect(identity { $0.maxDeepInputPixels /= 2 } != base)
        #expect(identity { $0.engineThreads += 1 } != base)
        #expect(identity { $0.jpegQuality -= 1 } != base)
        #expect(ResizePipeline(config: ServiceConfig()).cacheIdentity(for: .deep, weights: "w2") != base)
        // seam needs no weights: its keys do not change with them, nor with deep's settings.
        #expect(identity({ $0.deepEarlyStop.toggle() }, .seam) == identity({ _ in }, .seam))
        #expect(ResizePipeline(config: ServiceConfig()).cacheIdentity(for: .seam, weights: "w2") == identity({ _ in }, .seam))
    }
}

@Suite struct ResultCacheStoreTests {
    private static let params = JobParams(width: 40, height: 30, format: "png")

    /// On every backend (StoreBackends.swift): SQLite, and PostgreSQL when a test database is given.
    @Test(arguments: StoreBackend.available)
    func aSucceededJobIsCopiedIntoANewJobAndPurgeRemovesItAsASource(_ backend: StoreBackend) throws {
        let fixture = try StoreFixture(backend)
        let store = try fixture.makeStore(capacity: 10, maxAttempts: 3, ttl: 600, clock: nil)
        #expect(try store.reuseCachedResult(cacheKey: "k", method: "deep", params: Self.params, inputFormat: "png",
                                            inputWidth: 64, inputHeight: 48) == nil)
        let job = try store.enqueue(method: "deep", params: Self.params, input: [1, 2, 3], inputFormat: "png",
                                    inputWidth: 64, inputHeight: 48, cacheKey: "k")
        // Not succeeded yet: no source.
        #expect(try store.reuseCachedResult(cacheKey: "k", method: "deep", params: Self.params, inputFormat: "png",
                                            inputWidth: 64, inputHeight: 48) == nil)
        let claim = try #require(try store.claimNext())
        _ = try store.updateProgress(claim, step: 7, total: 7, loss: 0.5)
        #expect(try store.succeed(claim, result: [9, 9], format: "png", attachments: [.mask: [8]], summary: "did it"))
        let copy = try #require(try store.reuseCachedResult(cacheKey: "k", method: "deep", params: Self.params, inputFormat: "png",
                                                            inputWidth: 64, inputHeight: 48))
        #expect(copy.id != job.id && copy.status == .succeeded && copy.summary == "did it")
        #expect(copy.progressStep == 7 && copy.loss == 0.5 && copy.resultFormat == "png")
        #expect(try store.resultBytes(id: copy.id) == [9, 9])
        #expect(try store.attachmentBytes(id: copy.id, .mask) == [8])
        #expect(try store.reuseCachedResult(cacheKey: "other", method: "deep", params: Self.params, inputFormat: "png",
                                            inputWidth: 64, inputHeight: 48) == nil)

        // Purge: a finished job's row and files go; an unfinished one is left as it is.
        let queued = try store.enqueue(method: "deep", params: Self.params, input: [1], inputFormat: "png",
                                       inputWidth: 64, inputHeight: 48)
        #expect(try store.purge(id: queued.id)?.status == .queued)
        #expect(try store.job(id: queued.id) != nil)
        #expect(try store.purge(id: job.id)?.id == job.id)
        #expect(try store.job(id: job.id) == nil)
        #expect(try !fixture.jobEntries(store).contains(job.id))
        #expect(throws: JobStoreError.notFound(id: job.id)) { try store.resultBytes(id: job.id) }
        #expect(try store.purge(id: job.id) == nil)
        // The copy lives on and is a source itself; once it is purged too, the key misses.
        #expect(try store.reuseCachedResult(cacheKey: "k", method: "deep", params: Self.params, inputFormat: "png",
                                            inputWidth: 64, inputHeight: 48) != nil)
        for id in try fixture.jobEntries(store) where id != queued.id { _ = try store.purge(id: id) }
        #expect(try store.reuseCachedResult(cacheKey: "k", method: "deep", params: Self.params, inputFormat: "png",
                                            inputWidth: 64, inputHeight: 48) == nil)
        #expect(try fixture.jobEntries(store) == [queued.id])
        // A restart finds nothing to repair.
        let report = try store.recoverInterruptedJobs()
        #expect(report.removedFiles == 0 && report.unclaimed.isEmpty)
    }
}

@Suite(.serialized) struct ResultCacheEndToEndTests {
    /// The value of a counter line `name{method="…"} N` in /metrics.
    static func counter(_ server: ServerProcess, _ name: String, method: String) throws -> Int {
        let text = try curl([], "\(server.baseURL)/metrics").text
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") && line.contains("method=\"\(method)\"") {
            return Int(Double(line.split(separator: " ").last ?? "") ?? -1)
        }
        return -1
    }

    @Test func theSameInputAndParametersAreAnsweredFromTheStoredResult() throws {
        let server = try ServerProcess(settings: ["engine_threads": "2"])
        let input = try TestImages.file(TestImages.scene(width: 96, height: 64))
        let url = "\(server.baseURL)/resize?w=70&h=64&method=seam&wait=60"
        #expect(try Self.counter(server, ServiceMetrics.resultCacheHits, method: "seam") == 0)
        let first = try curl(["-F", "image=@\(input)"], url)
        #expect(first.status == 200 && first.headers["x-cache"] == "miss", "\(first.status) \(first.headers)")
        let second = try curl(["-F", "image=@\(input)"], url)
        #expect(second.status == 200 && second.headers["x-cache"] == "hit", "\(second.status) \(second.headers)")
        #expect(second.body == first.body && second.headers["etag"] == first.headers["etag"])
        // A job of its own: its id, its result.
        let id = try #require(second.headers["x-job-id"])
        #expect(id != first.headers["x-job-id"])
        let job = try curl([], "\(server.baseURL)/jobs/\(id)").json()
        #expect(job["status"] as? String == "succeeded")
        #expect(try curl([], "\(server.baseURL)/jobs/\(id)/result").body == first.body)
        // Asynchronous: 202 with the finished job.
        let async = try curl(["-F", "image=@\(input)"], url.replacingOccurrences(of: "wait=60", with: "wait=0"))
        #expect(async.status == 202 && async.headers["x-cache"] == "hit")
        #expect(try async.json()["status"] as? String == "succeeded")
        // Other parameters, another method's result, other bytes: misses.
        let other = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=72&h=64&method=seam&wait=60")
        #expect(other.status == 200 && other.headers["x-cache"] == "miss")
        let otherInput = try TestImages.file(TestImages.scene(width: 96, height: 64, seed: 2), name: "other")
        let otherBytes = try curl(["-F", "image=@\(otherInput)"], url)
        #expect(otherBytes.status == 200 && otherBytes.headers["x-cache"] == "miss")
        #expect(try Self.counter(server, ServiceMetrics.resultCacheHits, method: "seam") == 2)
        #expect(try Self.counter(server, ServiceMetrics.resultCacheMisses, method: "seam") == 3)
        // scale is computed inline, never cached.
        let scale = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=70&h=64&method=scale")
        #expect(scale.status == 200 && scale.headers["x-cache"] == nil)
    }

    @Test func aDeepHitCarriesTheMaskToo() throws {
        let server = try ServerProcess(settings: ["engine_threads": "2"])
        let input = try TestImages.file(TestImages.scene(width: 96, height: 72))
        let url = "\(server.baseURL)/resize?w=64&h=72&method=deep&iterations=2&wait=120"
        let first = try curl(["-F", "image=@\(input)"], url)
        #expect(first.status == 200 && first.headers["x-cache"] == "miss", "\(first.text)")
        let second = try curl(["-F", "image=@\(input)"], url)
        #expect(second.status == 200 && second.headers["x-cache"] == "hit" && second.body == first.body)
        let firstMask = try curl([], "\(server.baseURL)/jobs/\(first.headers["x-job-id"] ?? "")/mask")
        let secondMask = try curl([], "\(server.baseURL)/jobs/\(second.headers["x-job-id"] ?? "")/mask")
        #expect(firstMask.status == 200 && secondMask.status == 200 && secondMask.body == firstMask.body)
        #expect(try Self.counter(server, ServiceMetrics.resultCacheHits, method: "deep") == 1)
    }

    @Test func tokensShareNothingAndASameAspectDeepJobIsASource() throws {
        let server = try ServerProcess(settings: ["engine_threads": "2", "auth_tokens": "alice-0123456789abcdef, bob-0123456789abcdef"])
        let input = try TestImages.file(TestImages.scene(width: 96, height: 64))
        let url = "\(server.baseURL)/resize?w=70&h=64&method=seam&wait=60"
        let alice = ["-H", "Authorization: Bearer alice-0123456789abcdef", "-F", "image=@\(input)"]
        let bob = ["-H", "Authorization: Bearer bob-0123456789abcdef", "-F", "image=@\(input)"]
        #expect(try curl(alice, url).headers["x-cache"] == "miss")
        // Another token's upload of the same photo is neither answered nor revealed by a fast answer.
        #expect(try curl(bob, url).headers["x-cache"] == "miss")
        #expect(try curl(alice, url).headers["x-cache"] == "hit")
        #expect(try curl(bob, url).headers["x-cache"] == "hit")
        // A deep request that keeps the aspect ratio is a uniform scale with no mask: still a source.
        let sameAspect = "\(server.baseURL)/resize?w=48&h=32&method=deep&wait=60"
        #expect(try curl(alice, sameAspect).headers["x-cache"] == "miss")
        let again = try curl(alice, sameAspect)
        #expect(again.status == 200 && again.headers["x-cache"] == "hit", "\(again.status) \(again.text)")
    }

    @Test func purgeDeletesAFinishedJobAndItsFiles() throws {
        let server = try ServerProcess()
        let input = try TestImages.file(TestImages.scene(width: 96, height: 64))
        let url = "\(server.baseURL)/resize?w=70&h=64&method=seam&wait=60"
        let answer = try curl(["-F", "image=@\(input)"], url)
        #expect(answer.status == 200)
        let id = try #require(answer.headers["x-job-id"])
        let directory = server.dataDirectory + "/jobs/" + id
        #expect(FileManager.default.fileExists(atPath: directory + "/result.png"))
        let purged = try curl(["-X", "DELETE"], "\(server.baseURL)/jobs/\(id)")
        #expect(purged.status == 204 && purged.body.isEmpty, "\(purged.status) \(purged.text)")
        #expect(!FileManager.default.fileExists(atPath: directory))
        for path in ["", "/result", "/mask"] {
            let gone = try curl([], "\(server.baseURL)/jobs/\(id)\(path)")
            #expect(gone.status == 404 && gone.headers["content-type"] == "application/problem+json", "\(path): \(gone.status)")
        }
        #expect(try curl(["-X", "DELETE"], "\(server.baseURL)/jobs/\(id)").status == 404)
        // A purged job is no cache source: the same submission is computed again.
        let again = try curl(["-F", "image=@\(input)"], url)
        #expect(again.status == 200 && again.headers["x-cache"] == "miss" && again.body == answer.body)
        // A queued job is still canceled by DELETE (200 with the job), and purged by a second one.
        let queued = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=60&h=64&method=deep&iterations=1000&wait=0")
        let queuedId = try #require(queued.headers["x-job-id"])
        let canceled = try curl(["-X", "DELETE"], "\(server.baseURL)/jobs/\(queuedId)")
        let canceledStatus = try canceled.json()["status"] as? String ?? ""
        #expect(canceled.status == 200 && ["canceled", "queued", "running"].contains(canceledStatus))
        #expect(try pollJob(server, id: queuedId)["status"] as? String == "canceled")
        #expect(try curl(["-X", "DELETE"], "\(server.baseURL)/jobs/\(queuedId)").status == 204)
        #expect(try curl([], "\(server.baseURL)/jobs/\(queuedId)").status == 404)
    }
}
