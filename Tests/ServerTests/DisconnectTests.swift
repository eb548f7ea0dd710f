import Foundation
import ImageCodecs
import Testing
import TestSupport

/// Issue 16, item 1: a synchronous `POST /resize` whose client goes away before the answer cancels its job
/// (nobody else has its id); a client that asked for async (`wait=0`, `Prefer: respond-async`) keeps it.
@Suite(.serialized) struct DisconnectTests {
    /// A raw `POST /resize` of a PNG, sent whole; the answer is not read.
    static func submit(_ client: RawClient, _ query: String, _ png: [UInt8], headers: String = "") throws {
        try client.send("POST /resize?\(query) HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n\(headers)"
                        + "Content-Length: \(png.count)\r\n\r\n")
        try client.send(png)
    }

    static func scrape(_ server: ServerProcess) throws -> OpsMetricsTests.Scrape {
        try OpsMetricsTests.Scrape(try curl([], "\(server.baseURL)/metrics").text)
    }

    /// Waits (up to `seconds`) until `condition` holds for a scrape; returns it and when it held.
    static func waitFor(_ server: ServerProcess, seconds: Double = 30,
                        _ condition: (OpsMetricsTests.Scrape) -> Bool) throws -> (OpsMetricsTests.Scrape, Date) {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let scrape = try scrape(server)
            if condition(scrape) || Date() > deadline { return (scrape, Date()) }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    @Test func aClientThatLeavesMidWaitCancelsItsJobAndFreesTheWorker() throws {
        let server = try ServerProcess()
        // A seam job of many seconds: it is certainly still running when the client leaves.
        let png = try ImageEncoder.png(TestImages.scene(width: 1600, height: 1000))
        do {
            let client = try RawClient(port: server.port)
            try Self.submit(client, "w=1000&h=1000&method=seam&wait=120", png)
            let (busy, _) = try Self.waitFor(server) { $0.value("deepresize_workers_busy") == 1 }
            #expect(busy.value("deepresize_workers_busy") == 1)
        }  // the socket closes here, mid-wait
        let left = Date()
        let (after, freed) = try Self.waitFor(server, seconds: 10) {
            $0.value("deepresize_workers_busy") == 0
                && $0.value("deepresize_jobs_finished_total", ["method": "seam", "status": "canceled"]) == 1
        }
        #expect(after.value("deepresize_jobs_finished_total", ["method": "seam", "status": "canceled"]) == 1)
        #expect(after.value("deepresize_jobs_finished_total", ["method": "seam", "status": "succeeded"]) == 0)
        #expect(after.value("deepresize_workers_busy") == 0)
        #expect(freed.timeIntervalSince(left) < 1.0, "the worker was freed \(freed.timeIntervalSince(left)) s after the client left")
        print("cancel on disconnect: the worker was free \(String(format: "%.3f", freed.timeIntervalSince(left))) s after the client left")
        let id = try #require(server.output.firstMatch(of: /job=([0-9a-f-]{36})[^\n]*job queued/).map { String($0.1) },
                              "\(server.output)")
        #expect(try curl([], "\(server.baseURL)/jobs/\(id)").json()["status"] as? String == "canceled")
        #expect(server.output.contains("client went away before its answer: job canceled"))

        // The worker takes the next job at once.
        let small = try TestImages.file(TestImages.scene(width: 96, height: 64))
        let next = try curl(["-F", "image=@\(small)"], "\(server.baseURL)/resize?w=70&h=64&method=seam&wait=60")
        #expect(next.status == 200 && next.seconds < 5)
    }

    @Test func anAsyncClientThatLeavesKeepsItsJob() throws {
        let server = try ServerProcess()
        let png = try ImageEncoder.png(TestImages.scene(width: 400, height: 300))
        for (query, headers) in [("w=300&h=300&method=seam&wait=0", ""), ("w=300&h=299&method=seam", "Prefer: respond-async\r\n")] {
            let client = try RawClient(port: server.port)
            try Self.submit(client, query, png, headers: headers)
            let answer = try client.readResponse()
            #expect(answer.status == 202)
            let id = try #require(answer.headers["X-Job-Id"])
            client.shutdownWrite()
            _ = client  // closes at the end of the iteration
            #expect(try pollJob(server, id: id, timeout: 60)["status"] as? String == "succeeded")
        }
        #expect(!server.output.contains("client went away"))
    }
}
