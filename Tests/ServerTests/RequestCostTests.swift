import Foundation
import Glibc
import ImageCodecs
import Testing
import TestSupport
@testable import Server

/// What one request may cost the server (issue 11): nothing a request asks for may kill the process, and
/// its CPU, memory and disk are bounded by its work.
@Suite(.serialized) struct RequestCostTests {
    /// The reproductions of the SIGFPE: each was one request that killed the server. Now each is a
    /// 422 with a reason, and the server keeps serving (another client's job included).
    @Test func deepRequestsTooSmallForTheNetworkAre422AndKillNothing() throws {
        let server = try ServerProcess()
        let other = try ImageEncoder.png(TestImages.scene(width: 64, height: 48))
        let job = try #require(postImage(port: server.port, query: "w=40&method=seam&wait=0", png: other))
        #expect(job.status == 202)
        let cases: [((Int, Int), String)] = [
            ((1, 1), "w=100&h=100"), ((160, 120), "w=7&h=100"), ((160, 120), "w=1&h=1"), ((15, 200), "w=15&h=200"),
            ((1, 20000), "h=1"),
        ]
        for ((width, height), query) in cases {
            let png = try ImageEncoder.png(TestImages.scene(width: width, height: height))
            let answer = try #require(postImage(port: server.port, query: query + "&method=deep", png: png),
                                      "\(width)×\(height) \(query): no answer, server alive: \(server.isRunning)")
            #expect(answer.status == 422, "\(width)×\(height) \(query): \(answer.status) \(String(decoding: answer.body, as: UTF8.self))")
            #expect(String(decoding: answer.body, as: UTF8.self).contains("method=deep"))
        }
        #expect(server.isRunning)
        #expect(request(port: server.port, "/healthz")?.status == 200)
        let id = try #require(jsonObject(job.body)["id"] as? String)
        #expect(try pollJob(server, id: id)["status"] as? String == "succeeded")
    }
}
