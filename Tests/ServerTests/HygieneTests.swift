import Foundation
import Glibc
import ImageCodecs
import Testing
import TestSupport
@testable import Server

/// Issue 11, items 8–12: what the server writes to its log and shows its clients.
@Suite(.serialized) struct HygieneTests {
    /// A path that decodes to a newline, a forged log line and an ANSI escape: the log stays one line per
    /// entry, with the controls escaped.
    @Test func controlBytesInRequestsCannotForgeLogLines() throws {
        let server = try ServerProcess()
        let client = try RawClient(port: server.port)
        try client.send("GET /nope%0a2026-12-06T00:00:00+0000%20critical%20deepresize%20:%20FORGED%1b[31m HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().status == 404)
        Thread.sleep(forTimeInterval: 0.3)
        let log = server.output
        #expect(log.contains("FORGED"), "the request was not logged: \(log)")
        #expect(!log.contains("\u{1b}"), "a raw escape character in the log")
        for line in log.split(separator: "\n") where line.contains("FORGED") {
            #expect(!line.hasPrefix("2026-12-06T00:00:00+0000 critical"), "a forged line: \(line)")
            #expect(line.contains("\\n2026-12-06") && line.contains("\\u{1b}[31m"), "\(line)")
        }
    }

    /// No answer names a server path: a job whose input vanished fails with the file's name relative to
    /// the data directory, and a missing weights file is named by its file name in /readyz and in the 503.
    @Test func clientsSeeNoServerPaths() throws {
        let weights = try ServerProcess.temporaryDirectory("no-weights") + "/vgg16-missing.safetensors"
        let server = try ServerProcess(weights: weights)
        let ready = try curl([], "\(server.baseURL)/readyz")
        #expect(ready.status == 503 && ready.text.contains("vgg16-missing.safetensors"), "\(ready.text)")
        let small = try ImageEncoder.png(TestImages.scene(width: 64, height: 48))
        let deep = try #require(postImage(port: server.port, query: "w=40&h=40&method=deep", png: small))
        #expect(deep.status == 503)
        // A long job holds the worker while the next one's input disappears.
        let long = try ImageEncoder.png(TestImages.noise(width: 900, height: 300))
        _ = try #require(postImage(port: server.port, query: "w=300&h=300&method=seam&wait=0", png: long))
        let doomed = try #require(postImage(port: server.port, query: "w=40&method=seam&wait=0", png: small))
        let id = try #require(jsonObject(doomed.body)["id"] as? String)
        try FileManager.default.removeItem(atPath: server.dataDirectory + "/jobs/\(id)/input.png")
        let job = try pollJob(server, id: id)
        let detail = ((job["error"] as? [String: Any])?["detail"] as? String) ?? ""
        #expect(job["status"] as? String == "failed" && detail.contains("input.png"), "\(job)")
        for text in [ready.text, String(decoding: deep.body, as: UTF8.self), detail] {
            #expect(!text.contains(server.dataDirectory) && !text.contains(weights) && !text.contains("/tmp/"), "a server path in: \(text)")
        }
    }

    @Test func escapingCoversControlsAndSeparators() {
        #expect(EscapingLogHandler.escape("a\nb\r\tc\u{1b}[0m\u{7f}\u{85}\u{2028}ü") == "a\\nb\\r\\tc\\u{1b}[0m\\u{7f}\\u{85}\\u{2028}ü")
        #expect(EscapingLogHandler.escape("plain text") == "plain text")
    }
}

/// Issue 11, item 10: a succeeded job whose result file is missing. `GET /jobs/{id}/result` used to say 404
/// "no job … unknown" while `GET /jobs/{id}` said succeeded; now the result is 410 Gone with the reason and
/// the job shows failed with the same problem.
@Suite(.serialized) struct LostResultTests {
    @Test func aMissingResultFileIs410AndTheJobSaysSo() throws {
        let server = try ServerProcess()
        let png = try ImageEncoder.png(TestImages.scene(width: 64, height: 48))
        let answer = try #require(postImage(port: server.port, query: "w=40&method=seam&wait=30", png: png))
        #expect(answer.status == 200)
        let id = try #require(answer.headers["x-job-id"])
        try FileManager.default.removeItem(atPath: server.dataDirectory + "/jobs/\(id)/result.png")
        let result = try curl([], "\(server.baseURL)/jobs/\(id)/result")
        #expect(result.status == 410, "\(result.status) \(result.text)")
        #expect(result.text.contains("lost"))
        let revalidated = try curl(["-H", "If-None-Match: \"\(id)\""], "\(server.baseURL)/jobs/\(id)/result")
        #expect(revalidated.status == 410)
        let job = try curl([], "\(server.baseURL)/jobs/\(id)").json()
        #expect(job["status"] as? String == "failed")
        #expect((job["error"] as? [String: Any])?["status"] as? Int == 410)
    }
}

/// Issue 11, item 12: smaller protocol points.
@Suite(.serialized) struct ProtocolDetailTests {
    /// A compressed body is refused from the head (415, before 100 Continue), not decoded as an image.
    @Test func aBodyWithAContentEncodingIs415() throws {
        let server = try ServerProcess()
        let client = try RawClient(port: server.port)
        try client.send("POST /resize?w=10&method=scale HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Encoding: gzip\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
        let answer = try client.readResponse()
        #expect(answer.status == 415)
        #expect(String(decoding: answer.body, as: UTF8.self).contains("Content-Encoding"))
        let png = try ImageEncoder.png(TestImages.scene(width: 64, height: 48))
        #expect(postImage(port: server.port, query: "w=32&method=scale", png: png, headers: ["Content-Encoding: identity"])?.status == 200)
    }

    /// Two Content-Type headers name two media types for one body: a 400 from the head, as two Host or
    /// Content-Length headers are (the first one used to win).
    @Test func twoContentTypesAre400() throws {
        let server = try ServerProcess()
        let png = try ImageEncoder.png(TestImages.scene(width: 64, height: 48))
        let answer = try #require(postImage(port: server.port, query: "w=32&method=scale", png: png, headers: ["Content-Type: text/plain"]))
        #expect(answer.status == 400 && answer.text.contains("more than one Content-Type"), "\(answer.status) \(answer.text)")
        #expect(postImage(port: server.port, query: "w=32&method=scale", png: png)?.status == 200)
    }

    /// `%2f` is data, not a separator: `/jobs/ID%2fresult` is the job route with an id that names nothing.
    @Test func anEncodedSlashIsNotASeparator() throws {
        let server = try ServerProcess()
        let png = try ImageEncoder.png(TestImages.scene(width: 64, height: 48))
        let answer = try #require(postImage(port: server.port, query: "w=40&method=seam&wait=30", png: png))
        let id = try #require(answer.headers["x-job-id"])
        #expect(try curl([], "\(server.baseURL)/jobs/\(id)/result").status == 200)
        for encoded in ["\(id)%2fresult", "\(id)%2Fresult"] {
            let routed = try curl([], "\(server.baseURL)/jobs/\(encoded)")
            #expect(routed.status == 404, "\(encoded): \(routed.status)")
            #expect(routed.headers["content-type"] == "application/problem+json")
        }
        #expect(try curl([], "\(server.baseURL)/jobs%2F\(id)").status == 404)
    }

    /// 409 says "look again later" (Retry-After) only for a job that may still succeed.
    @Test func retryAfterOnlyForJobsThatMayStillSucceed() throws {
        let server = try ServerProcess()
        let long = try ImageEncoder.png(TestImages.noise(width: 900, height: 300))
        let small = try ImageEncoder.png(TestImages.scene(width: 64, height: 48))
        let running = try #require(postImage(port: server.port, query: "w=300&h=300&method=seam&wait=0", png: long))
        let queued = try #require(postImage(port: server.port, query: "w=40&method=seam&wait=0", png: small))
        let runningID = try #require(jsonObject(running.body)["id"] as? String)
        let queuedID = try #require(jsonObject(queued.body)["id"] as? String)
        let waiting = try curl([], "\(server.baseURL)/jobs/\(queuedID)/result")
        #expect(waiting.status == 409 && waiting.headers["retry-after"] == "2")
        #expect(try curl(["-X", "DELETE"], "\(server.baseURL)/jobs/\(queuedID)").status == 200)
        let canceled = try curl([], "\(server.baseURL)/jobs/\(queuedID)/result")
        #expect(canceled.status == 409 && canceled.headers["retry-after"] == nil, "\(canceled.headers)")
        #expect(try canceled.json()["status"] as? String == "canceled")
        _ = try curl(["-X", "DELETE"], "\(server.baseURL)/jobs/\(runningID)")
        _ = try pollJob(server, id: runningID)
    }
}
