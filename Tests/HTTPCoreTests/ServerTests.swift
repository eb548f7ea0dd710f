import Testing
import TestSupport
import Glibc
import Dispatch
import Synchronization
import HTTPCore

@Suite("HTTP server over 127.0.0.1", .serialized)
struct ServerTests {
    @Test func simpleGet() throws {
        let log = Box<[AccessLogEntry]>([])
        try withServer(accessLog: { entry in log.value.withLock { $0.append(entry) } }) { _, port in
            let client = try RawClient(port: port)
            try client.send("GET /hello?a=1&b=x+y HTTP/1.1\r\nHost: localhost\r\n\r\n")
            let r = try client.readResponse()
            #expect(r.status == 200)
            #expect(r.text == "GET /hello q=a=1,b=x y body=0 sum=0 from=true")
            #expect(r.headers["Content-Length"] == "\(r.body.count)")
            #expect(r.headers["X-Content-Type-Options"] == "nosniff")
            #expect(r.headers["Date"]?.hasSuffix(" GMT") == true)
            #expect(r.headers["Connection"] == nil)
            #expect(waitUntil { log.value.withLock { $0.count } == 1 })
            let entry = try #require(log.value.withLock { $0.first })
            #expect(entry.method == "GET")
            #expect(entry.path == "/hello")
            #expect(entry.status == 200)
            #expect(entry.bodyBytesSent == r.body.count)
            #expect(entry.remoteAddress.hasPrefix("127.0.0.1:"))
            #expect(entry.durationMilliseconds >= 0)
        }
    }

    @Test func keepAliveServesSeveralRequestsOnOneConnection() throws {
        try withServer { server, port in
            let client = try RawClient(port: port)
            for i in 0..<5 {
                try client.send("POST /n/\(i) HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
                let r = try client.readResponse()
                #expect(r.status == 200)
                #expect(r.text.hasPrefix("POST /n/\(i) q= body=3 sum=294"))
            }
            #expect(server.activeConnections == 1)
        }
    }

    @Test func threePipelinedRequestsInOneWriteAnswerInOrder() throws {
        let handler = TestHandler()
        try withServer(handler: handler) { _, port in
            let client = try RawClient(port: port)
            try client.send("GET /slow?ms=150 HTTP/1.1\r\nHost: x\r\n\r\n"
                + "POST /second HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
                + "GET /third HTTP/1.1\r\nHost: x\r\n\r\n")
            let texts = try (0..<3).map { _ in try client.readResponse().text }
            #expect(texts[0] == "slow 150")
            #expect(texts[1].hasPrefix("POST /second q= body=2"))
            #expect(texts[2].hasPrefix("GET /third"))
            #expect(handler.handled.load(ordering: .relaxed) == 3)
        }
    }

    /// A request refused from its head (404/405/401/400/415 in the server; the test handler's preflight
    /// here), followed by another in the same write: the second is answered at once. It used to wait for
    /// header_timeout and get 408, because the refused request's end was read as the next request's.
    @Test func requestAfterAPreflightRefusalInTheSameWriteIsAnsweredAtOnce() throws {
        try withServer(testConfiguration { $0.headerTimeout = 3; $0.keepAliveTimeout = 0.5 }) { server, port in
            let client = try RawClient(port: port)
            let began = monotonicSeconds()
            try client.send("GET /reject HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().status == 415)
            let second = try client.readResponse()
            #expect(second.status == 200 && second.text.hasPrefix("GET /after"))
            #expect(monotonicSeconds() - began < 1)
            // Then idle: the connection closes at keep_alive_timeout, quietly (no unsolicited 408).
            #expect(client.closesWithoutData())
            #expect(waitUntil { server.activeConnections == 0 })
        }
    }

    @Test func idleConnectionAfterAPreflightRefusalClosesQuietly() throws {
        try withServer(testConfiguration { $0.headerTimeout = 3; $0.keepAliveTimeout = 0.3 }) { server, port in
            let client = try RawClient(port: port)
            try client.send("GET /reject HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().status == 415)
            let began = monotonicSeconds()
            #expect(client.closesWithoutData())
            #expect(monotonicSeconds() - began < 2)
            #expect(waitUntil { server.activeConnections == 0 })
        }
    }

    @Test func chunkedUploadInPieces() throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            try client.send("PUT /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            let payload = (0..<5000).map { UInt8(truncatingIfNeeded: $0) }
            var expectedSum = 0
            for start in stride(from: 0, to: payload.count, by: 1700) {
                let piece = Array(payload[start..<min(start + 1700, payload.count)])
                expectedSum += piece.reduce(0) { $0 + Int($1) }
                try client.send(Array("\(String(piece.count, radix: 16));x=y\r\n".utf8) + piece + Array("\r\n".utf8))
                usleep(20_000)
            }
            try client.send("0\r\nX-Trailer: t\r\n\r\n")
            let r = try client.readResponse()
            #expect(r.status == 200)
            #expect(r.text.hasPrefix("PUT /up q= body=5000 sum=\(expectedSum)"))
        }
    }

    @Test func expectContinueWithTwoMegabytes() throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            let size = 2 * 1024 * 1024
            try client.send("POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: \(size)\r\n\r\n")
            let interim = try client.readResponse()
            #expect(interim.status == 100)
            let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            try client.send(body)
            let r = try client.readResponse()
            #expect(r.status == 200)
            #expect(r.text.hasPrefix("POST /upload q= body=\(size) sum=\(body.reduce(0) { $0 + Int($1) })"))
        }
    }

    @Test func multipartUploadThroughTheServer() throws {
        try withServer { _, port in
            let file = patternBytes(300_000)
            let body = formBody(boundary: "XyZ", parts: [
                (["Content-Disposition: form-data; name=\"image\"; filename=\"a.png\"", "Content-Type: image/png"], file),
                (["Content-Disposition: form-data; name=\"w\""], Array("400".utf8)),
            ])
            let client = try RawClient(port: port)
            try client.send("POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=\"XyZ\"\r\n"
                + "Content-Length: \(body.count)\r\n\r\n")
            try client.send(body)
            let r = try client.readResponse()
            #expect(r.status == 200)
            #expect(r.text == "image:a.png:image/png:300000,w:-:-:3")
            // A broken form: the handler answers with the parser's problem+json.
            let truncated = Array(body.dropLast(20))
            try client.send("POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
                + "Content-Length: \(truncated.count)\r\n\r\n")
            try client.send(truncated)
            let bad = try client.readResponse()
            #expect(bad.status == 400)
            #expect(bad.headers["Content-Type"] == "application/problem+json")
            #expect(bad.text.contains("truncated"))
        }
    }

    @Test func preflightRejectionWithExpectSkipsContinueAndCloses() throws {
        let handler = TestHandler()
        try withServer(handler: handler) { _, port in
            let client = try RawClient(port: port)
            try client.send("POST /reject HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2097152\r\n\r\n")
            let r = try client.readResponse()
            #expect(r.status == 415)
            #expect(r.headers["Content-Type"] == "application/problem+json")
            #expect(r.headers["Connection"] == "close")
            #expect(client.closesWithoutData())
            #expect(handler.handled.load(ordering: .relaxed) == 0)
        }
    }

    /// What preflight accepted a head with reaches `handle` for that request, also on a keep-alive connection
    /// with a pipelined second request and one whose body came after `100 Continue`.
    @Test func preflightHandsWhatItAcceptedToHandle() throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            try client.send("GET /accepted?n=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /accepted?n=2 HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().text == "preflight saw GET /accepted?n=1")
            #expect(try client.readResponse().text == "preflight saw GET /accepted?n=2")
            try client.send("POST /accepted?n=3 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
            #expect(try client.readResponse().status == 100)
            try client.send("ok")
            #expect(try client.readResponse().text == "preflight saw POST /accepted?n=3")
        }
    }

    @Test func contentLengthOverLimitIs413BeforeContinue() throws {
        try withServer(testConfiguration { $0.maxBodyBytes = 1000 }) { _, port in
            let client = try RawClient(port: port)
            try client.send("POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1001\r\n\r\n")
            let r = try client.readResponse()
            #expect(r.status == 413)
            #expect(r.text.contains("\"status\":413"))
            #expect(client.closesWithoutData())
        }
    }

    @Test func headerTimeoutIsNotExtendedByATrickle() throws {
        try withServer(testConfiguration { $0.headerTimeout = 0.4 }) { _, port in
            let client = try RawClient(port: port)
            let began = monotonicSeconds()
            try client.send("GET / HTTP/1.1\r\n")
            var sawResponse = false
            for _ in 0..<40 {
                try? client.send("X-Slow: y\r\n")
                if client.readable(within: 0.05) { sawResponse = true; break }
            }
            #expect(sawResponse)
            let r = try client.readResponse()
            let elapsed = monotonicSeconds() - began
            #expect(r.status == 408)
            #expect(r.headers["Content-Type"] == "application/problem+json")
            #expect(elapsed < 1.5, "408 after \(elapsed) s, header timeout 0.4 s")
            #expect(client.closesWithoutData())
        }
    }

    @Test func silentConnectionIsClosedQuietlyAfterTheHeaderTimeout() throws {
        try withServer(testConfiguration { $0.headerTimeout = 0.3 }) { server, port in
            let client = try RawClient(port: port)
            let began = monotonicSeconds()
            #expect(client.closesWithoutData())
            #expect(monotonicSeconds() - began < 1.5)
            #expect(waitUntil { server.activeConnections == 0 })
        }
    }

    @Test func bodyTimeoutIs408() throws {
        try withServer(testConfiguration { $0.bodyTimeout = 0.3 }) { _, port in
            let client = try RawClient(port: port)
            let began = monotonicSeconds()
            try client.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
            let r = try client.readResponse()
            #expect(r.status == 408)
            #expect(r.text.contains("body"))
            #expect(monotonicSeconds() - began < 1.5)
        }
    }

    @Test func idleKeepAliveConnectionClosesQuietly() throws {
        try withServer(testConfiguration { $0.keepAliveTimeout = 0.3 }) { server, port in
            let client = try RawClient(port: port)
            try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().status == 200)
            let began = monotonicSeconds()
            #expect(client.closesWithoutData())
            #expect(monotonicSeconds() - began < 1.5)
            #expect(waitUntil { server.activeConnections == 0 })
        }
    }

    @Test func overMaxConnectionsGets503WhileOthersKeepWorking() throws {
        try withServer(testConfiguration { $0.maxConnections = 2 }) { server, port in
            let a = try RawClient(port: port)
            let b = try RawClient(port: port)
            for c in [a, b] {
                try c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try c.readResponse().status == 200)
            }
            #expect(server.activeConnections == 2)
            let extra = try RawClient(port: port)
            try? extra.send("GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
            let refused = try extra.readResponse()
            #expect(refused.status == 503)
            #expect(refused.headers["Content-Type"] == "application/problem+json")
            #expect(refused.headers["Retry-After"] == "1")
            #expect(extra.closesWithoutData())
            for c in [a, b] {
                try c.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try c.readResponse().status == 200)
            }
            // A slot frees up when a client leaves.
            try a.send("GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(try a.readResponse().headers["Connection"] == "close")
            #expect(waitUntil { server.activeConnections == 1 })
            let later = try RawClient(port: port)
            try later.send("GET /later HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try later.readResponse().status == 200)
        }
    }

    @Test func headGetsHeadersOnly() throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            try client.send("HEAD /big?bytes=1234 HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try client.readResponse(isHEAD: true)
            #expect(head.status == 200)
            #expect(head.headers["Content-Length"] == "1234")
            // The next response on the connection starts right away: no stray body bytes in between.
            try client.send("GET /big?bytes=10 HTTP/1.1\r\nHost: x\r\n\r\n")
            let get = try client.readResponse()
            #expect(get.body == (0..<10).map { UInt8($0) })
        }
    }

    @Test func handlerAnsweringLaterFromAnotherThreadAndOnlyOnce() throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            let began = monotonicSeconds()
            try client.send("GET /slow?ms=400 HTTP/1.1\r\nHost: x\r\n\r\n")
            let r = try client.readResponse()
            #expect(r.text == "slow 400")
            #expect(monotonicSeconds() - began >= 0.39)
            try client.send("GET /twice HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
            let first = try client.readResponse()
            #expect(first.status == 201)
            let next = try client.readResponse()
            #expect(next.status == 200)
            #expect(next.text.hasPrefix("GET /after"))
        }
    }

    @Test func largeResponseIsWrittenFullyWhileOtherClientsAreServed() throws {
        try withServer { _, port in
            let slowReader = try RawClient(port: port, receiveBuffer: 8192)
            let size = 4 * 1024 * 1024
            try slowReader.send("GET /big?bytes=\(size) HTTP/1.1\r\nHost: x\r\n\r\n")
            // While the big response is stuck in full socket buffers, another client is served.
            usleep(200_000)
            let other = try RawClient(port: port)
            try other.send("GET /quick HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try other.readResponse().status == 200)
            let r = try slowReader.readResponse()
            #expect(r.body.count == size)
            #expect(r.body == patternBytes(size))
        }
    }

    @Test func clientThatStopsReadingIsDroppedAfterWriteTimeout() throws {
        try withServer(testConfiguration { $0.writeTimeout = 0.3 }) { server, port in
            let stuck = try RawClient(port: port, receiveBuffer: 8192)
            try stuck.send("GET /big?bytes=\(4 * 1024 * 1024) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(waitUntil { server.activeConnections == 1 })
            #expect(waitUntil(3) { server.activeConnections == 0 }, "stalled writer still open")
            let other = try RawClient(port: port)
            try other.send("GET /fine HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try other.readResponse().status == 200)
        }
    }

    @Test func malformedRequestGets400ProblemAndClose() throws {
        try withServer { _, port in
            let client = try RawClient(port: port)
            try client.send("GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n")
            let r = try client.readResponse()
            #expect(r.status == 400)
            #expect(r.headers["Content-Type"] == "application/problem+json")
            #expect(r.headers["Connection"] == "close")
            #expect(r.text.contains("\"title\":\"Bad Request\""))
            #expect(client.closesWithoutData())
        }
    }

    @Test func oversizedHeadersAre431AndLongTargetsAre414() throws {
        try withServer(testConfiguration { $0.maxHeaderBytes = 512; $0.maxRequestLineBytes = 256 }) { _, port in
            let a = try RawClient(port: port)
            try a.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "b", count: 600))\r\n\r\n")
            #expect(try a.readResponse().status == 431)
            let b = try RawClient(port: port)
            try b.send("GET /\(String(repeating: "p", count: 300)) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try b.readResponse().status == 414)
        }
    }

    @Test func http10ClosesUnlessKeepAlive() throws {
        try withServer { _, port in
            let plain = try RawClient(port: port)
            try plain.send("GET /old HTTP/1.0\r\n\r\n")
            #expect(try plain.readResponse().headers["Connection"] == "close")
            #expect(plain.closesWithoutData())
            let kept = try RawClient(port: port)
            try kept.send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(try kept.readResponse().headers["Connection"] == "keep-alive")
            try kept.send("GET /old2 HTTP/1.0\r\n\r\n")
            #expect(try kept.readResponse().text.hasPrefix("GET /old2"))
        }
    }

    @Test func gracefulShutdownFinishesInFlightRequestAndClosesIdleOnes() throws {
        let handler = TestHandler()
        let server = HTTPServer(configuration: testConfiguration(), handler: handler, logger: quietLogger)
        let port = try server.start()
        let idle = try RawClient(port: port)
        try idle.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try idle.readResponse().status == 200)
        let busy = try RawClient(port: port)
        try busy.send("GET /slow?ms=500 HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = handler.started.wait(timeout: .now() + 2)   // /first
        #expect(handler.started.wait(timeout: .now() + 2) == .success)

        let done = DispatchSemaphore(value: 0)
        let began = monotonicSeconds()
        server.shutdown(gracePeriod: 5) { done.signal() }
        #expect(idle.closesWithoutData())
        #expect(waitUntil(1) { (try? RawClient(port: port)) == nil }, "still accepting after shutdown")
        let r = try busy.readResponse()
        #expect(r.text == "slow 500")
        #expect(r.headers["Connection"] == "close")
        #expect(done.wait(timeout: .now() + 3) == .success)
        #expect(monotonicSeconds() - began < 2, "completion should not wait for the grace period")
        #expect(server.activeConnections == 0)
    }

    /// A server with `path` in its handler, shut down with `gracePeriod` (so the request is force-closed);
    /// returns the client and the seconds the shutdown took to complete.
    func shutDownDuring(_ path: String, gracePeriod: Double) throws -> (client: RawClient, seconds: Double) {
        let handler = TestHandler()
        let server = HTTPServer(configuration: testConfiguration(), handler: handler, logger: quietLogger)
        let port = try server.start()
        let client = try RawClient(port: port)
        try client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(handler.started.wait(timeout: .now() + 2) == .success)
        let done = DispatchSemaphore(value: 0)
        let began = monotonicSeconds()
        server.shutdown(gracePeriod: gracePeriod) { done.signal() }
        #expect(done.wait(timeout: .now() + 3) == .success)
        return (client, monotonicSeconds() - began)
    }

    @Test func shutdownForceClosesAfterTheGracePeriod() throws {
        let (client, elapsed) = try shutDownDuring("/never", gracePeriod: 0.3)
        #expect(elapsed >= 0.29 && elapsed < 2)
        #expect(client.closesWithoutData())
    }

    @Test func aLateAnswerAfterTheServerStoppedWritesToNoDescriptor() throws {
        let (client, _) = try shutDownDuring("/slow?ms=700", gracePeriod: 0.1)
        usleep(200_000)   // the loops' threads leave and close their epoll and eventfd descriptors
        // Socket pairs take the lowest free numbers, those among them: a late wake-up written to a closed
        // eventfd's number lands in one of them, and its other end reads it.
        var pairs: [[Int32]] = []
        for _ in 0..<24 {
            var sv: [Int32] = [0, 0]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &sv) == 0 else { break }
            pairs.append(sv)
        }
        defer { for sv in pairs { close(sv[0]); close(sv[1]) } }
        usleep(900_000)   // the handler answers the force-closed connection
        for sv in pairs {
            for end in sv {
                var p = pollfd(fd: end, events: Int16(POLLIN), revents: 0)
                #expect(poll(&p, 1, 0) == 0, "descriptor \(end) received bytes after the server stopped")
            }
        }
        #expect(client.closesWithoutData())
    }

    @Test func startReportsAddressInUse() throws {
        try withServer { _, port in
            let second = HTTPServer(configuration: testConfiguration { $0.port = port }, handler: TestHandler(), logger: quietLogger)
            do {
                _ = try second.start()
                Issue.record("second server bound a port in use")
            } catch {
                #expect("\(error)".contains("Address already in use"))
            }
        }
    }
}

@Suite("HTTP server under stress", .serialized)
struct ServerStressTests {
    @Test func manyConcurrentKeepAliveClients() throws {
        let handler = TestHandler()
        try withServer(handler: handler) { server, port in
            // 48 open connections, each with a request in flight at the same time, 10 rounds; half of the
            // requests are answered later from other threads.
            let clients = try (0..<48).map { _ in try RawClient(port: port) }
            for round in 0..<10 {
                for (i, client) in clients.enumerated() {
                    let path = i % 2 == 0 ? "/slow?ms=\(i % 7)" : "/c\(i)/\(round)"
                    try client.send("POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz")
                }
                for (i, client) in clients.enumerated() {
                    let r = try client.readResponse()
                    #expect(r.status == 200)
                    #expect(i % 2 == 0 ? r.text == "slow \(i % 7)" : r.text.hasPrefix("POST /c\(i)/\(round) q= body=1"))
                }
            }
            #expect(handler.handled.load(ordering: .relaxed) == 480)
            #expect(server.activeConnections == 48)
        }
    }

    @Test func aHandlerLearnsThatItsClientWentAway() throws {
        let handler = TestHandler()
        try withServer(handler: handler) { _, port in
            // A client that stays is answered, and nothing fires.
            let staying = try RawClient(port: port)
            try staying.send("GET /watch?ms=100 HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try staying.readResponse().text == "watched 100")
            // Pipelined bytes while the handler works are no hang-up.
            try staying.send("GET /watch?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n")
            usleep(50_000)
            try staying.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try staying.readResponse().text == "watched 200")
            #expect(try staying.readResponse().text.hasPrefix("GET /after"))
            #expect(handler.disconnects.load(ordering: .relaxed) == 0)

            // A client that closes while its request is handled: the handler hears it at once.
            do {
                let leaving = try RawClient(port: port)
                try leaving.send("GET /watch?ms=0 HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(waitUntil { handler.handled.load(ordering: .relaxed) == 4 })
            }
            let closed = monotonicSeconds()
            #expect(waitUntil(2) { handler.disconnects.load(ordering: .relaxed) == 1 })
            #expect(monotonicSeconds() - closed < 0.5)

            // A half-close counts as gone, and the answer is still written.
            let half = try RawClient(port: port)
            try half.send("GET /watch?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n")
            usleep(50_000)
            half.shutdownWrite()
            #expect(waitUntil(2) { handler.disconnects.load(ordering: .relaxed) == 2 })
            #expect(try half.readResponse().text == "watched 300")
        }
    }

    @Test func clientsVanishingMidRequestAreCleanedUp() throws {
        try withServer { server, port in
            do {
                let midHead = try RawClient(port: port)
                try midHead.send("GET / HTTP/1.1\r\nHos")
                let midBody = try RawClient(port: port)
                try midBody.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
                let midHandler = try RawClient(port: port)
                try midHandler.send("GET /slow?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n")
                let midResponse = try RawClient(port: port, receiveBuffer: 4096)
                try midResponse.send("GET /big?bytes=3000000 HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(waitUntil { server.activeConnections == 4 })
                usleep(50_000)
            } // all four close here
            #expect(waitUntil(3) { server.activeConnections == 0 })
            let client = try RawClient(port: port)
            try client.send("GET /still-fine HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().status == 200)
        }
    }

    @Test func connectionFloodIsRefusedWithoutHurtingServedClients() throws {
        try withServer(testConfiguration { $0.maxConnections = 2 }) { server, port in
            let served = try (0..<2).map { _ in try RawClient(port: port) }
            for c in served {
                try c.send("GET /in HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try c.readResponse().status == 200)
            }
            var refused503 = 0
            var closed = 0
            do {
                let flood = try (0..<60).map { _ in try RawClient(port: port, receiveTimeout: 2) }
                for c in flood {
                    if let r = try? c.readResponse() {
                        #expect(r.status == 503)
                        refused503 += 1
                    } else {
                        closed += 1
                    }
                }
                for c in served {
                    try c.send("GET /still HTTP/1.1\r\nHost: x\r\n\r\n")
                    #expect(try c.readResponse().status == 200)
                }
            }
            #expect(refused503 >= 16)
            #expect(refused503 + closed == 60)
            #expect(server.activeConnections == 2)
        }
    }

    @Test func garbageNeverCrashesTheServer() throws {
        try withServer { server, port in
            var generator = SeededRandom(seed: 7)
            for _ in 0..<30 {
                let client = try RawClient(port: port, receiveTimeout: 2)
                let junk = (0..<Int(generator.next() % 3000)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                try? client.send(junk + Array("\r\n\r\n".utf8))
                if let r = try? client.readResponse() {
                    #expect([400, 414, 431, 501, 505].contains(r.status), "status \(r.status)")
                }
            }
            #expect(waitUntil(3) { server.activeConnections == 0 })
        }
    }
}
