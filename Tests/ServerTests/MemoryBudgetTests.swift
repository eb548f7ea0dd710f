import Dispatch
import Foundation
import ImageCodecs
import Logging
import Synchronization
import Testing
@testable import Server
import TestSupport

/// The job memory budget: where its default comes from, how reservations wait and wake, how the worker
/// pool runs jobs that do not fit together one after the other, and the 422 for a job larger than it.
@Suite(.serialized) struct MemoryBudgetTests {
    // MARK: the limit and the default

    @Test func cgroupFilesAreParsedWithTheirNoLimitSpellings() {
        #expect(MemoryLimit.parseCgroupV2("max\n") == nil)
        #expect(MemoryLimit.parseCgroupV2("4294967296\n") == 4_294_967_296)
        #expect(MemoryLimit.parseCgroupV2("") == nil)
        #expect(MemoryLimit.parseCgroupV2("4G") == nil)
        #expect(MemoryLimit.parseCgroupV2("-1") == nil)
        // v1 says "no limit" with PAGE_COUNTER_MAX pages.
        #expect(MemoryLimit.parseCgroupV1("9223372036854771712\n") == nil)
        #expect(MemoryLimit.parseCgroupV1("2147483648\n") == 2_147_483_648)
        #expect(MemoryLimit.parseCgroupV1("unlimited") == nil)

        let files = MemoryLimit.candidateFiles(procSelfCgroup: "0::/kubepods/pod1/c2\n", root: "/r")
        #expect(files.map(\.path) == ["/r/kubepods/pod1/c2/memory.max", "/r/kubepods/pod1/memory.max",
                                      "/r/kubepods/memory.max", "/r/memory.max"])
        let v1 = MemoryLimit.candidateFiles(procSelfCgroup: "12:cpu,cpuacct:/x\n5:memory:/docker/abc\n", root: "/r")
        #expect(v1.map(\.path) == ["/r/memory/docker/abc/memory.limit_in_bytes", "/r/memory/docker/memory.limit_in_bytes",
                                   "/r/memory/memory.limit_in_bytes"])
        #expect(v1.allSatisfy { $0.version == 1 })
    }

    @Test func theTightestLimitOnTheCgroupPathWinsAndPhysicalMemoryCapsIt() throws {
        let root = try ServerProcess.temporaryDirectory("cgroup")
        defer { try? FileManager.default.removeItem(atPath: root) }
        func write(_ path: String, _ text: String) throws {
            try FileManager.default.createDirectory(atPath: root + path, withIntermediateDirectories: true)
            try text.write(toFile: root + path + "/" + (path.hasPrefix("/memory") ? "memory.limit_in_bytes" : "memory.max"),
                           atomically: true, encoding: .utf8)
        }
        try write("", "max\n")
        try write("/kubepods", "8589934592\n")
        try write("/kubepods/pod1", "4294967296\n")
        let v2 = MemoryLimit.detect(procSelfCgroup: "0::/kubepods/pod1\n", root: root, physical: 16 << 30)
        #expect(v2 == MemoryLimit(bytes: 4 << 30, source: root + "/kubepods/pod1/memory.max"))
        // A container sees its own cgroup as "/": only the root file, "max" here → physical memory.
        #expect(MemoryLimit.detect(procSelfCgroup: "0::/\n", root: root, physical: 16 << 30)
                == MemoryLimit(bytes: 16 << 30, source: "physical memory"))
        // A limit above physical memory does not count.
        #expect(MemoryLimit.detect(procSelfCgroup: "0::/kubepods/pod1\n", root: root, physical: 2 << 30).bytes == 2 << 30)
        // v1: the unlimited sentinel of the leaf, the parent's real limit.
        try write("/memory/docker/abc", "9223372036854771712\n")
        try write("/memory/docker", "1073741824\n")
        #expect(MemoryLimit.detect(procSelfCgroup: "5:memory:/docker/abc\n", root: root, physical: 16 << 30).bytes == 1 << 30)
        // Nothing readable: physical memory.
        #expect(MemoryLimit.detect(procSelfCgroup: nil, root: root + "/nothing", physical: 3 << 30).bytes == 3 << 30)
    }

    @Test func theDefaultIsAShareOfTheLimitLessTheResidentSize() {
        #expect(MemoryBudget.automaticTotal(limit: 4 << 30, resident: 170_000_000) == Int(Double(4 << 30) * 0.75) - 170_000_000)
        #expect(MemoryBudget.automaticTotal(limit: 256 << 20, resident: 250 << 20) == MemoryBudget.automaticMinimum)
        var config = ServiceConfig()
        let limit = MemoryLimit(bytes: 4 << 30, source: "test")
        #expect(MemoryBudget.configured(config, resident: 0, limit: limit).budget.total == 3 << 30)
        config.jobMemoryBudgetBytes = 2_000_000_000
        #expect(MemoryBudget.configured(config, resident: 0, limit: limit).budget.total == 2_000_000_000)
        #expect(formatBytes(2_900_000_000) == "2.9 GB")
        #expect(formatBytes(67_108_864) == "67.1 MB")
        #expect(formatBytes(350_000_000) == "350 MB" && formatBytes(3_000_000) == "3.0 MB" && formatBytes(12_000) == "12 kB")
        #expect(groupedBytes(1_440_000) == "1,440,000 bytes" && groupedBytes(999) == "999 bytes" && groupedBytes(0) == "0 bytes")
        // A size just over its limit: the rounded figures alone would read "40 MP exceeds 40 MP".
        #expect(megapixels(40_005_625, over: 40_000_000) == ("40 MP (40,005,625 pixels)", "40 MP (40,000,000 pixels)"))
        #expect(megapixels(41_000_000, over: 40_000_000) == ("41 MP", "40 MP"))
    }

    @Test func theConfigKeyTakesBytesOrZeroAndRefusesTheRest() async throws {
        #expect(ServiceConfig().jobMemoryBudgetBytes == 0)
        #expect(ServiceConfig.key(named: "job_memory_budget_bytes")?.get(ServiceConfig()) == "auto")
        let set = try await ConfigLoader.load(file: nil, overrides: ["job_memory_budget_bytes": "3000000000"], environment: [:])
        #expect(set.jobMemoryBudgetBytes == 3_000_000_000)
        let env = try await ConfigLoader.load(file: nil, overrides: [:], environment: ["DEEPRESIZE_JOB_MEMORY_BUDGET_BYTES": "0"])
        #expect(env.jobMemoryBudgetBytes == 0)
        for bad in ["lots", "2GB", "-1", "1000", "1.5", String(1 << 51)] {
            await #expect(throws: ConfigurationError.self, "\(bad)") {
                _ = try await ConfigLoader.load(file: nil, overrides: ["job_memory_budget_bytes": bad], environment: [:])
            }
        }
        let path = NSTemporaryDirectory() + "deepresize-budget-\(UUID().uuidString.prefix(8)).json"
        try #"{"job_memory_budget_bytes": "much"}"#.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        await #expect(throws: ConfigurationError.self) { _ = try await ConfigLoader.load(file: path, overrides: [:], environment: [:]) }
    }

    // MARK: reservations

    @Test func aReservationThatDoesNotFitWaitsForARelease() {
        let budget = MemoryBudget(total: 100)
        #expect(budget.reserve(60, timeout: 0))
        #expect(!budget.reserve(60, timeout: 0.05))
        #expect(!budget.reserve(101, timeout: 10), "more than the whole budget never waits")
        let got = Outcome()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            got.set(budget.reserve(60, timeout: 30))
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 0.2) == .timedOut, "it must wait while 60 of 100 are reserved")
        budget.release(60)
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(got.value == true)
        #expect(budget.reservedBytes == 60 && budget.peakReservedBytes == 60)
        #expect(budget.refusal(for: 100) == nil)
        #expect(budget.refusal(for: 101).map { Problem($0).status } == 422)
    }

    @Test func interruptWakesAWaiterWithFalse() {
        let budget = MemoryBudget(total: 100)
        #expect(budget.reserve(100, timeout: 0))
        let got = Outcome()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            got.set(budget.reserve(1, timeout: 30))
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 0.2) == .timedOut)
        budget.interrupt()
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(got.value == false)
        #expect(budget.reservedBytes == 100)
    }

    /// What a thread's `reserve` answered.
    private final class Outcome: Sendable {
        private let state = Mutex<Bool?>(nil)
        func set(_ value: Bool) { state.withLock { $0 = value } }
        var value: Bool? { state.withLock { $0 } }
    }

    // MARK: the worker pool

    private struct Pool {
        let dir: String
        let store: SQLiteJobStore
        let pipeline: ResizePipeline
        let budget: MemoryBudget
        let workers: WorkerPool

        init(name: String, workers count: Int, budget total: (ResizePipeline) -> Int) throws {
            dir = try ServerProcess.temporaryDirectory(name)
            store = try SQLiteJobStore(directory: dir, queueCapacity: 10, maxAttempts: 3, resultTTL: 3600)
            pipeline = ResizePipeline(config: ServiceConfig())
            budget = MemoryBudget(total: total(pipeline))
            workers = WorkerPool(store: store, pipeline: pipeline, waiters: JobWaiters(), count: count,
                                 logger: Logger(label: "test"), describeFailure: JobError.init(describing:),
                                 metrics: .standalone(), budget: budget)
        }

        func enqueueSeam(_ png: [UInt8], from source: (Int, Int), to target: (Int, Int)) throws -> String {
            try store.enqueue(method: "seam", params: JobParams(width: target.0, height: target.1, format: "png"), input: png,
                              inputFormat: "png", inputWidth: source.0, inputHeight: source.1).id
        }

        func estimate(_ png: [UInt8], from source: (Int, Int), to target: (Int, Int)) -> Int {
            pipeline.estimatedJobBytes(method: .seam, sourceWidth: source.0, sourceHeight: source.1, sourceFormat: .png,
                                       encodedBytes: png.count, width: target.0, height: target.1)
        }

        func waitFinished(_ ids: [String], timeout: Double = 120) throws -> [JobRecord] {
            try store.waitUntilFinished(ids, timeout: timeout)
        }

        func remove() { try? FileManager.default.removeItem(atPath: dir) }
    }

    @Test func twoJobsWithABudgetForOneRunOneAfterTheOther() throws {
        let png = try ImageEncoder.png(TestImages.scene(width: 640, height: 480))
        let source = (640, 480), target = (400, 480)
        var single = 0
        let pool = try Pool(name: "budget-two", workers: 2) { pipeline in
            single = pipeline.estimatedJobBytes(method: .seam, sourceWidth: 640, sourceHeight: 480, sourceFormat: .png,
                                                encodedBytes: png.count, width: 400, height: 480)
            return single * 3 / 2
        }
        defer { pool.remove() }
        #expect(single > 1_000_000)
        let ids = try (0..<2).map { _ in try pool.enqueueSeam(png, from: source, to: target) }
        pool.workers.start()
        let jobs = try pool.waitFinished(ids)
        #expect(pool.workers.stop(timeout: 10))
        #expect(jobs.map(\.status) == [.succeeded, .succeeded], "\(jobs)")
        // Two workers were free, but the second job was claimed only after the first had finished.
        let ordered = jobs.sorted { ($0.startedAt ?? 0) < ($1.startedAt ?? 0) }
        let firstEnd = try #require(ordered[0].finishedAt), secondStart = try #require(ordered[1].startedAt)
        #expect(firstEnd <= secondStart, "the runs overlapped: \(ordered)")
        #expect(jobs.allSatisfy { $0.attempts == 1 })
        #expect(pool.budget.peakReservedBytes == single)
        #expect(pool.budget.reservedBytes == 0)
    }

    @Test func aWaitingJobStaysQueuedAndShutdownDoesNotWaitForMemory() throws {
        // A long seam job holds the budget; the second waits unclaimed; stop() ends both promptly.
        let source = (2000, 1500), target = (800, 1500)
        let png = try ImageEncoder.png(TestImages.scene(width: source.0, height: source.1))
        let pool = try Pool(name: "budget-stop", workers: 2) { pipeline in
            pipeline.estimatedJobBytes(method: .seam, sourceWidth: source.0, sourceHeight: source.1, sourceFormat: .png,
                                       encodedBytes: png.count, width: target.0, height: target.1) * 3 / 2
        }
        defer { pool.remove() }
        let first = try pool.enqueueSeam(png, from: source, to: target)
        let second = try pool.enqueueSeam(png, from: source, to: target)
        pool.workers.start()
        let deadline = Date().addingTimeInterval(30)
        while try pool.workers.busyWorkers == 0 || pool.store.job(id: first)?.progressStep == 0, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        #expect(pool.workers.busyWorkers == 1)
        #expect(try pool.store.job(id: first)?.status == .running)
        #expect(try pool.store.job(id: second)?.status == .queued)
        #expect(try pool.store.queuePosition(id: second) == 1)
        let stopped = Date()
        #expect(pool.workers.stop(timeout: 20))
        #expect(Date().timeIntervalSince(stopped) < 10)
        let firstJob = try #require(try pool.store.job(id: first)), secondJob = try #require(try pool.store.job(id: second))
        #expect(firstJob.status == .queued && firstJob.attempts == 0, "requeued for shutdown: \(firstJob)")
        #expect(secondJob.status == .queued && secondJob.attempts == 0, "never claimed: \(secondJob)")
        #expect(pool.budget.reservedBytes == 0)
    }

    @Test func aQueuedJobLargerThanTheBudgetFailsWith422InsteadOfWaiting() throws {
        // Queued under a larger budget (say, before a restart with a smaller one).
        let png = try ImageEncoder.png(TestImages.scene(width: 320, height: 240))
        let pool = try Pool(name: "budget-refuse", workers: 1) { _ in 1 << 20 }
        defer { pool.remove() }
        let big = try pool.enqueueSeam(png, from: (320, 240), to: (1000, 1000))
        #expect(pool.estimate(png, from: (320, 240), to: (1000, 1000)) > 1 << 20)
        let small = try pool.enqueueSeam(png, from: (320, 240), to: (40, 30))
        pool.workers.start()
        let jobs = try pool.waitFinished([big, small])
        #expect(pool.workers.stop(timeout: 10))
        #expect(jobs[0].status == .failed && jobs[0].error?.status == 422, "\(jobs[0])")
        #expect(jobs[0].error?.detail.contains("job memory budget is 1.0 MB") == true, "\(String(describing: jobs[0].error))")
        #expect(jobs[1].status == .succeeded, "the job behind it runs: \(jobs[1])")
    }

    // MARK: HTTP

    @Test func aJobLargerThanTheBudgetIsRefusedWith422AtSubmission() throws {
        let budget = 64 << 20
        let server = try ServerProcess(settings: ["job_memory_budget_bytes": String(budget)])
        defer { server.terminate() }
        #expect(server.output.contains("job memory budget 67.1 MB (job_memory_budget_bytes)"), "\(server.output)")
        let input = try TestImages.file(TestImages.scene(width: 640, height: 480))
        // deep 640×480 → 400×480 (reconstructed on the whole 640×480) needs about 1 GB.
        let refused = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=400&h=480&method=deep&wait=0")
        #expect(refused.status == 422)
        #expect(refused.headers["content-type"] == "application/problem+json")
        let detail = try refused.json()["detail"] as? String ?? ""
        #expect(detail.contains("this resize needs about ") && detail.contains("the server's job memory budget is 67.1 MB"), "\(detail)")
        // A small seam job fits and runs.
        let small = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=600&h=480&method=seam&wait=60")
        #expect(small.status == 200, "\(small.text)")
        // The worker gives the reservation back just after it records the end of the job.
        var metrics = try OpsMetricsTests.Scrape(try curl([], "\(server.baseURL)/metrics").text)
        let deadline = Date().addingTimeInterval(10)
        while metrics.value("deepresize_job_memory_reserved_bytes") != 0, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
            metrics = try OpsMetricsTests.Scrape(try curl([], "\(server.baseURL)/metrics").text)
        }
        #expect(metrics.value("deepresize_job_memory_budget_bytes") == Double(budget))
        #expect(metrics.types["deepresize_job_memory_reserved_bytes"] == "gauge")
        #expect(metrics.value("deepresize_job_memory_reserved_bytes") == 0)
    }
}
