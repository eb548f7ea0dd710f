import Foundation
import Testing
@testable import Server
import TestSupport

/// `GET /metrics` of the real server: Prometheus text with the series README lists, and counters that move
/// with the requests and jobs a client makes.
@Suite(.serialized) struct OpsMetricsTests {
    /// Samples of one scrape: "name{labels}" → value; and the `# TYPE` of each family.
    struct Scrape {
        var samples: [String: Double] = [:]
        var types: [String: String] = [:]

        init(_ text: String) throws {
            for line in text.split(separator: "\n") {
                if line.hasPrefix("# TYPE ") {
                    let parts = line.split(separator: " ")
                    guard parts.count == 4 else { throw ServerTestError("malformed TYPE line: \(line)") }
                    types[String(parts[2])] = String(parts[3])
                } else if !line.hasPrefix("#") {
                    guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                        throw ServerTestError("malformed sample line: \(line)")
                    }
                    samples[String(line[..<space])] = value
                }
            }
        }

        /// The sum over every sample of `name` whose labels include all of `labels`.
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
            samples.filter { key, _ in
                let (sampleName, sampleLabels) = Scrape.split(key)
                return sampleName == name && labels.allSatisfy { sampleLabels[$0.key] == $0.value }
            }.values.reduce(0, +)
        }

        static func split(_ key: String) -> (String, [String: String]) {
            guard let brace = key.firstIndex(of: "{") else { return (key, [:]) }
            var labels: [String: String] = [:]
            let body = key[key.index(after: brace)..<key.index(before: key.endIndex)]
            // Label values here never contain `",` so a plain split is exact.
            for pair in body.components(separatedBy: "\",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                labels[String(parts[0])] = parts[1].replacingOccurrences(of: "\"", with: "")
            }
            return (String(key[..<brace]), labels)
        }
    }

    func scrape(_ server: ServerProcess) throws -> Scrape {
        let answer = try curl([], "\(server.baseURL)/metrics")
        #expect(answer.status == 200)
        #expect(answer.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        return try Scrape(answer.text)
    }

    @Test func labelsAreRouteTemplatesAndIterationsAreTimed() throws {
        #expect(Route.label(path: "/jobs/3f1c0000-0000-4000-8000-000000000000") == "/jobs/{id}")
        #expect(Route.label(path: "/jobs/x/result") == "/jobs/{id}/result")
        #expect(Route.label(path: "/") == "/")
        #expect(Route.label(path: "/resize") == "/resize")
        #expect(Route.label(path: "/wp-admin/../etc/passwd") == "unmatched")
        #expect(Route.label(path: "-") == "none")
        #expect(ServiceMetrics.methodLabel("BREW") == "other")

        let metrics = ServiceMetrics.standalone()
        for seconds in [0.04, 0.3, 0.3] { metrics.optimizerIteration(seconds: seconds) }
        metrics.jobFinished(method: "deep", status: .failed, queueWait: 2, processing: 40)
        metrics.observeRequest(route: Route.label(path: "/jobs/abc"), method: "GET", status: 404, seconds: 0.002)
        let scrape = try Scrape(String(decoding: try #require(metrics.render(.init(queued: 3, running: 1, busyWorkers: 1, workers: 2))),
                                       as: UTF8.self))
        #expect(scrape.value("deepresize_optimizer_iteration_seconds_count") == 3)
        #expect(abs(scrape.value("deepresize_optimizer_iteration_seconds_sum") - 0.64) < 1e-6)
        #expect(scrape.value("deepresize_optimizer_iteration_seconds_bucket", ["le": "0.05"]) == 1)
        #expect(scrape.value("deepresize_optimizer_iteration_seconds_bucket", ["le": "0.3"]) == 3)
        #expect(scrape.value("deepresize_jobs_finished_total", ["method": "deep", "status": "failed"]) == 1)
        #expect(scrape.value("deepresize_job_processing_seconds_bucket", ["method": "deep", "le": "30.0"]) == 0)
        #expect(scrape.value("deepresize_job_processing_seconds_bucket", ["method": "deep", "le": "60.0"]) == 1)
        #expect(scrape.value("deepresize_http_requests_total", ["route": "/jobs/{id}", "status": "404"]) == 1)
        #expect(scrape.value("deepresize_queue_depth") == 3)
        #expect(scrape.value("deepresize_workers") == 2)
    }

    @Test func seriesHaveTheirTypesAndMoveWithTraffic() throws {
        let server = try ServerProcess()
        let before = try scrape(server)
        let types = try scrape(server).types  // the first scrape is counted once answered: request series exist now
        for (name, type) in [("deepresize_http_requests_total", "counter"),
                             ("deepresize_http_request_duration_seconds", "histogram"),
                             ("deepresize_queue_depth", "gauge"), ("deepresize_jobs_running", "gauge"),
                             ("deepresize_jobs_finished_total", "counter"),
                             ("deepresize_job_queue_wait_seconds", "histogram"),
                             ("deepresize_job_processing_seconds", "histogram"),
                             ("deepresize_optimizer_iteration_seconds", "histogram"),
                             ("deepresize_workers_busy", "gauge"), ("deepresize_workers", "gauge"),
                             ("process_resident_memory_bytes", "gauge"),
                             ("deepresize_job_memory_reserved_bytes", "gauge"), ("deepresize_job_memory_budget_bytes", "gauge")] {
            #expect(types[name] == type, "\(name): \(types[name] ?? "missing")")
        }
        // README's Metrics table lists exactly the series the server exports.
        let readme = try String(contentsOf: ServerProcess.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "## Metrics").dropFirst().first?.components(separatedBy: "\n## ").first)
        let documented = section.split(separator: "\n").filter { $0.hasPrefix("| `") }.map {
            $0.split(separator: "|")[0].trimmingCharacters(in: CharacterSet(charactersIn: " `"))
        }
        #expect(Set(documented) == Set(types.keys))
        let rss = before.value("process_resident_memory_bytes")
        #expect(rss > 1_000_000 && rss < 4_000_000_000, "RSS \(rss)")
        #expect(before.value("deepresize_workers") == 1)

        // Two inline resizes, a seam job, a lookup of a job that does not exist, a wrong method.
        let input = try TestImages.file(TestImages.scene(width: 96, height: 64))
        for _ in 0..<2 {
            #expect(try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=48&method=scale").status == 200)
        }
        let job = try curl(["-F", "image=@\(input)"], "\(server.baseURL)/resize?w=80&method=seam&wait=0")
        #expect(job.status == 202)
        let id = try #require(try job.json()["id"] as? String)
        #expect(try pollJob(server, id: id, timeout: 60)["status"] as? String == "succeeded")
        let missing = "00000000-0000-4000-8000-000000000000"
        #expect(try curl([], "\(server.baseURL)/jobs/\(missing)").status == 404)
        #expect(try curl(["-X", "PUT"], "\(server.baseURL)/metrics").status == 405)

        let after = try scrape(server)
        func moved(_ labels: [String: String]) -> Double {
            after.value("deepresize_http_requests_total", labels) - before.value("deepresize_http_requests_total", labels)
        }
        #expect(moved(["route": "/resize", "method": "POST", "status": "200"]) == 2)
        #expect(moved(["route": "/resize", "method": "POST", "status": "202"]) == 1)
        #expect(moved(["route": "/jobs/{id}", "method": "GET", "status": "404"]) == 1)
        #expect(moved(["route": "/metrics", "method": "PUT", "status": "405"]) == 1)
        #expect(moved(["route": "/metrics", "method": "GET", "status": "200"]) == 2)
        // Route templates, never raw ids, so the label set stays bounded.
        #expect(!after.samples.keys.contains { $0.contains(id) || $0.contains(missing) })
        #expect(after.value("deepresize_http_request_duration_seconds_count", ["route": "/resize", "status": "200"]) == 2)
        #expect(after.value("deepresize_http_request_duration_seconds_sum", ["route": "/resize", "status": "200"]) > 0)

        #expect(after.value("deepresize_jobs_finished_total", ["method": "seam", "status": "succeeded"]) == 1)
        #expect(after.value("deepresize_job_processing_seconds_count", ["method": "seam"]) == 1)
        #expect(after.value("deepresize_job_processing_seconds_sum", ["method": "seam"]) > 0)
        #expect(after.value("deepresize_job_queue_wait_seconds_count", ["method": "seam"]) == 1)
        #expect(after.value("deepresize_queue_depth") == 0)
        #expect(after.value("deepresize_workers_busy") == 0)
        // Buckets are cumulative: +Inf holds every observation.
        #expect(after.value("deepresize_job_processing_seconds_bucket", ["method": "seam", "le": "+Inf"]) == 1)
    }

    @Test func aQueuedJobCanceledByDeleteIsCountedAndTheQueueDepthFollows() throws {
        // A long seam job keeps the only worker busy; the second job waits in the queue.
        let server = try ServerProcess()
        let big = try TestImages.file(TestImages.scene(width: 1600, height: 1000))
        let first = try curl(["-F", "image=@\(big)"], "\(server.baseURL)/resize?w=1000&h=1000&method=seam&wait=0")
        let second = try curl(["-F", "image=@\(big)"], "\(server.baseURL)/resize?w=1000&h=1000&method=seam&wait=0")
        let firstID = try #require(try first.json()["id"] as? String)
        let secondID = try #require(try second.json()["id"] as? String)
        // Wait until the first is running, so the second is certainly queued.
        let deadline = Date().addingTimeInterval(30)
        while try curl([], "\(server.baseURL)/jobs/\(firstID)").json()["status"] as? String == "queued", Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        // The store marks the job running a moment before the worker counts itself busy.
        var during = try scrape(server)
        while during.value("deepresize_workers_busy") == 0, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
            during = try scrape(server)
        }
        #expect(during.value("deepresize_workers_busy") == 1)
        #expect(during.value("deepresize_jobs_running") == 1)
        #expect(during.value("deepresize_queue_depth") == 1)
        // The running job holds its estimated peak of the budget (the default: from the machine's memory).
        #expect(during.value("deepresize_job_memory_reserved_bytes") > 0)
        #expect(during.value("deepresize_job_memory_budget_bytes") > during.value("deepresize_job_memory_reserved_bytes"))

        let canceled = try curl(["-X", "DELETE"], "\(server.baseURL)/jobs/\(secondID)")
        #expect(try canceled.json()["status"] as? String == "canceled")
        let stopping = try curl(["-X", "DELETE"], "\(server.baseURL)/jobs/\(firstID)")
        #expect(try stopping.json()["status"] as? String == "running", "the first job ended before it could be canceled")
        #expect(try pollJob(server, id: firstID, timeout: 60)["status"] as? String == "canceled")
        // The worker gives the reservation back just after it records the end of the job.
        var after = try scrape(server)
        while after.value("deepresize_job_memory_reserved_bytes") != 0, Date() < deadline.addingTimeInterval(30) {
            Thread.sleep(forTimeInterval: 0.02)
            after = try scrape(server)
        }
        #expect(after.value("deepresize_jobs_finished_total", ["method": "seam", "status": "canceled"]) == 2)
        #expect(after.value("deepresize_queue_depth") == 0)
        #expect(after.value("deepresize_job_memory_reserved_bytes") == 0)
        // Only the running one was processed; the queued one never reached a worker.
        #expect(after.value("deepresize_job_processing_seconds_count", ["method": "seam"]) == 1)
    }
}
