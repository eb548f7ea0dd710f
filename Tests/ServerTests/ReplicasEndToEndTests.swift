import Foundation
import Glibc
import ImageCodecs
import Synchronization
import Testing
import TestSupport

@testable import Server

/// Three `deepresize serve` processes (one api, two workers) on one PostgreSQL database, as in deploy/:
/// jobs submitted to the api run on the workers, a worker killed with SIGKILL mid-job and a database restart
/// lose nothing, and nothing runs to success twice. The test restarts its database, so it runs on a cluster
/// of its own (scripts/pg-cluster), not the shared one; it runs whenever DEEPRESIZE_TEST_POSTGRES_URL says a
/// PostgreSQL is there to test with (CI always).
@Suite("Replicas on PostgreSQL", .enabled(if: StoreBackend.postgresURL != nil, "DEEPRESIZE_TEST_POSTGRES_URL is not set"))
struct ReplicasEndToEndTests {
    /// A private throwaway cluster.
    final class Cluster: Sendable {
        let directory: String
        let url: String

        init() throws {
            directory = try ServerProcess.temporaryDirectory("pg")
            url = try Self.script(["start", directory]).split(separator: "\n").last { $0.hasPrefix("postgres://") }.map(String.init) ?? ""
        }

        func restart() throws { _ = try Self.script(["restart", directory]) }
        func stop() throws { _ = try Self.script(["stop", directory]) }
        /// Starts it again on the same port.
        func start() throws {
            let port = url.split(separator: ":").last?.split(separator: "/").first.map(String.init) ?? ""
            _ = try Self.script(["start", directory, port])
        }

        deinit {
            _ = try? Self.script(["stop", directory])
            try? FileManager.default.removeItem(atPath: directory)
        }

        /// Runs scripts/pg-cluster. Its output goes through a file, not a pipe: the server it starts inherits
        /// the script's descriptors and would hold a pipe open for ever.
        @discardableResult
        static func script(_ arguments: [String]) throws -> String {
            let log = NSTemporaryDirectory() + "pg-cluster-\(UUID().uuidString.prefix(8)).log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            defer { try? FileManager.default.removeItem(atPath: log) }
            let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            let process = Process()
            process.executableURL = ServerProcess.packageRoot.appendingPathComponent("scripts/pg-cluster")
            process.arguments = arguments
            process.standardOutput = output
            process.standardError = output
            process.standardInput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            try output.close()
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            guard process.terminationStatus == 0 else { throw ServerTestError("scripts/pg-cluster \(arguments[0]): \(text)") }
            return text
        }
    }

    /// GET /jobs/{id} until it ends, tolerating 503s (the database restarting) on the way.
    private func finished(_ server: ServerProcess, _ id: String, until deadline: Date) throws -> [String: Any] {
        while true {
            let answer = try curl([], "\(server.baseURL)/jobs/\(id)")
            if answer.status == 200 {
                let job = try answer.json()
                if ["succeeded", "failed", "canceled"].contains(job["status"] as? String ?? "") { return job }
                if Date() > deadline { return job }
            } else if answer.status != 503 || Date() > deadline {
                throw ServerTestError("GET /jobs/\(id) answered \(answer.status): \(answer.text)")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// Waits until job `id` is running (a worker claimed it). Generous: the whole suite runs beside this test.
    private func running(_ server: ServerProcess, _ id: String, within seconds: Double = 60) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try curl([], "\(server.baseURL)/jobs/\(id)").json()["status"] as? String == "running" { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw ServerTestError("job \(id) did not start within \(seconds) s")
    }

    /// What a worker makes of `file` for `w=100&h=80&method=seam`: the same pipeline, run here.
    private func expectedSeam(_ file: String) throws -> [UInt8] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        return try ResizePipeline(config: ServiceConfig())
            .run(bytes, options: ResizeOptions(width: 100, height: 80, method: .seam, format: .png), width: 100, height: 80).output
    }

    private func submit(_ api: ServerProcess, _ file: String, _ query: String) throws -> String {
        let answer = try curl(["-F", "image=@\(file)"], "\(api.baseURL)/resize?\(query)&method=seam&wait=0")
        guard answer.status == 202, let id = try answer.json()["id"] as? String else {
            throw ServerTestError("submit answered \(answer.status): \(answer.text)")
        }
        return id
    }

    @Test(.timeLimit(.minutes(8)))
    func oneAPITwoWorkersSurviveAKilledWorkerAndADatabaseRestart() throws {
        let cluster = try Cluster()
        // Short leases, so the killed worker's job is back within seconds; heartbeats (and cancels from the api)
        // every 0.5 s.
        let shared = ["queue_url": cluster.url, "lease_timeout": "3", "max_attempts": "5", "queue_capacity": "500"]
        let api = try ServerProcess(settings: shared.merging(["role": "api"]) { $1 })
        let workers = try (0..<2).map { _ in try ServerProcess(settings: shared.merging(["role": "worker"]) { $1 }) }

        // A worker serves only the probes and the metrics.
        #expect(try curl([], "\(workers[0].baseURL)/jobs/\(JobID.generate())").status == 404)
        #expect(try curl([], "\(workers[0].baseURL)/readyz").status == 200)
        #expect(try curl([], "\(workers[0].baseURL)/metrics").status == 200)
        // The api runs inline scale itself.
        let small = try TestImages.file(TestImages.scene(width: 120, height: 80))
        let scaled = try curl(["-F", "image=@\(small)"], "\(api.baseURL)/resize?w=60&method=scale")
        #expect(scaled.status == 200)
        #expect(try ImageDecoder.readHeader(scaled.body).width == 60)

        // A synchronous request on the api answers with the image a worker made (woken by NOTIFY).
        let sync = try curl(["-F", "image=@\(small)"], "\(api.baseURL)/resize?w=100&h=80&method=seam&wait=60")
        #expect(sync.status == 200, "\(sync.text)")
        #expect(sync.body == (try expectedSeam(small)), "the worker's image is the pipeline's")
        let syncRuns = workers.map { $0.output.components(separatedBy: "job succeeded").count - 1 }.reduce(0, +)
        #expect(syncRuns == 1, "one worker ran the synchronous job")

        // Two slow jobs (about 4 s each on an idle machine; images of their own, so the result cache cannot
        // answer one from the other), one on each worker; then one worker is killed mid-job.
        let slowIDs = try (0..<2).map {
            try submit(api, try TestImages.file(TestImages.scene(width: 900, height: 600, seed: UInt64(500 + $0)), name: "slow\($0)"),
                       "w=450&h=600")
        }
        for id in slowIDs { try running(api, id) }
        workers[0].kill9()
        // A replacement starts (as a Deployment would); the killed one's job comes back after its lease.
        let replacement = try ServerProcess(settings: shared.merging(["role": "worker"]) { $1 })

        // 100 small jobs on the api, each of its own image (the same one would be answered by the result
        // cache instead of a worker); the database restarts while the workers run them: every replica
        // reconnects, and the jobs in flight finish.
        let inputs = try (0..<100).map { try TestImages.file(TestImages.scene(width: 120, height: 80, seed: UInt64(10 + $0)), name: "e2e\($0)") }
        let ids = try inputs.map { try submit(api, $0, "w=100&h=80") }
        try cluster.restart()

        // A DELETE on the api stops a job running on a worker.
        // Four seconds of work on an idle machine: still running when the DELETE arrives.
        let slow = try TestImages.file(TestImages.scene(width: 900, height: 600))
        let doomed = try submit(api, slow, "w=450&h=600")
        // It waits behind the 100 jobs and the killed worker's rerun.
        try running(api, doomed, within: 180)
        let cancelDeadline = Date().addingTimeInterval(60)
        let deleted = try curl(["-X", "DELETE"], "\(api.baseURL)/jobs/\(doomed)")
        #expect(deleted.status == 200)
        let canceled = try finished(api, doomed, until: cancelDeadline)
        #expect(canceled["status"] as? String == "canceled", "\(canceled)")

        let deadline = Date().addingTimeInterval(180)
        var outputs: [String: [UInt8]] = [:]
        for id in ids + slowIDs {
            let job = try finished(api, id, until: deadline)
            #expect(job["status"] as? String == "succeeded", "\(id): \(job)")
            let result = try curl([], "\(api.baseURL)/jobs/\(id)/result")
            #expect(result.status == 200, "\(id): \(result.status)")
            outputs[id] = result.body
        }
        // Same input, same parameters, a deterministic method: every small job's result is the synchronous one.
        for (id, input) in zip(ids, inputs) {
            #expect(outputs[id] == (try expectedSeam(input)), "job \(id): wrong result bytes")
        }
        #expect(slowIDs.allSatisfy { (try? ImageDecoder.readHeader(outputs[$0] ?? []).width) == 450 })
        // The job API does not show attempts: the database does.
        let db = try PostgresConnection(url: cluster.url)
        let attempts = try slowIDs.map { id in
            try db.query("SELECT attempts FROM jobs WHERE id = $1", [.text(id)]).int(0, "attempts")
        }
        #expect(attempts.sorted() == [1, 2], "the killed worker's job ran again, once: \(attempts)")
        let results = try db.query("SELECT COUNT(*) AS n FROM job_files WHERE name LIKE 'result.%'").int(0, "n")
        #expect(results == ids.count + slowIDs.count + 1, "one result per succeeded job (the synchronous one included)")

        // Exactly once: each job's success was recorded by one worker (a stale holder's succeed changes nothing
        // and logs no success).
        let logs = (workers + [replacement]).map(\.output).joined(separator: "\n")
        for id in ids + slowIDs {
            let successes = logs.components(separatedBy: "\n").filter { $0.contains(id) && $0.contains("job succeeded") }.count
            #expect(successes == 1, "job \(id) succeeded \(successes) times")
        }
        // And the replicas are ready again after the restart.
        let replicas = [api, workers[1], replacement]
        for server in replicas {
            #expect(try curl([], "\(server.baseURL)/readyz").status == 200)
        }
        // The database gone: every replica says so on /readyz (503), submissions get 503; back, they are ready.
        try cluster.stop()
        for server in replicas {
            let probe = try curl([], "\(server.baseURL)/readyz")
            #expect(probe.status == 503 && probe.text.contains("queue database"), "\(probe.status) \(probe.text)")
        }
        #expect(try curl(["-F", "image=@\(small)"], "\(api.baseURL)/resize?w=90&h=80&method=seam&wait=0").status == 503)
        try cluster.start()
        let readyDeadline = Date().addingTimeInterval(20)
        for server in replicas {
            while try curl([], "\(server.baseURL)/readyz").status != 200 && Date() < readyDeadline { Thread.sleep(forTimeInterval: 0.2) }
            #expect(try curl([], "\(server.baseURL)/readyz").status == 200)
        }
    }
}
