import Foundation
import ImageCodecs
import Testing
import TestSupport

/// Clients that misbehave on purpose, against the real server over 127.0.0.1: slow heads, readers that
/// stop reading, uploads cut off, bodies that disagree with their Content-Length, very long keep-alive
/// sessions, more connections than allowed. The server must keep serving everyone else, lose nothing
/// and leak nothing. (Load and numbers: docs/reliability.md.)
@Suite(.serialized) struct HostileClientTests {
    /// 300 slowloris connections, each trickling one header byte a second, while 100 `/healthz` requests
    /// are timed: p99 stays under 50 ms, and the slow heads are cut off by `header_timeout` (408), which
    /// later bytes never extend.
    @Test func slowlorisNeitherDelaysHealthzNorStaysConnected() throws {
        let server = try ServerProcess(settings: ["header_timeout": "6"])
        let start = Date()
        var loris: [RawClient] = []
        for _ in 0..<300 {
            let client = try RawClient(port: server.port, receiveTimeout: 10)
            try? client.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            loris.append(client)
        }
        var latencies: [Double] = []
        var lastTrickle = Date()
        for _ in 0..<100 {
            if Date().timeIntervalSince(lastTrickle) >= 1 {
                for client in loris { try? client.send("X") }   // one more header byte each, never a full line
                lastTrickle = Date()
            }
            let answer = try timedGet(port: server.port)
            #expect(answer.status == 200)
            latencies.append(answer.seconds)
            Thread.sleep(forTimeInterval: 0.03)
        }
        let p50 = quantile(latencies, 0.5) * 1000, p99 = quantile(latencies, 0.99) * 1000
        print("slowloris: 300 connections, /healthz p50 \(String(format: "%.2f", p50)) ms, p99 \(String(format: "%.2f", p99)) ms")
        #expect(p99 < 50, "healthz p99 \(p99) ms under slowloris")

        // Keep trickling until past the header timeout: every slow connection gets 408 and is closed.
        while Date().timeIntervalSince(start) < 5 {
            for client in loris { try? client.send("X") }
            Thread.sleep(forTimeInterval: 1)
        }
        var timedOut = 0
        for client in loris {
            if let answer = try? client.readResponse(), answer.status == 408, client.waitForClose() { timedOut += 1 }
        }
        #expect(timedOut == loris.count, "\(timedOut) of \(loris.count) slow heads were cut off with 408")
        #expect(try timedGet(port: server.port).status == 200)
    }

    /// Clients that request a large result and never read it: their writes stall, nobody else's do. The
    /// CPU-bound resizing before that must not starve the server's I/O either (it did: HTTPCore ran
    /// connections on the same Dispatch pool threads as the inline resizing, and /healthz waited ~3.5 s).
    @Test func readersThatStopReadingBlockNobody() throws {
        let server = try ServerProcess()
        let input = try ImageEncoder.png(TestImages.noise(width: 200, height: 200))
        let request = "POST /resize?w=2400&h=2400&method=scale HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            + "Content-Length: \(input.count)\r\n\r\n"
        var stalled: [RawClient] = []
        for _ in 0..<4 {
            let client = try RawClient(port: server.port, receiveBuffer: 4096)
            try? client.send(Array(request.utf8) + input)
            stalled.append(client)
        }
        // Timed while the four results are computed (CPU-bound, on both cores) and then stuck in their
        // sockets: neither phase may hold up anyone's I/O.
        var latencies: [Double] = []
        let started = Date()
        while Date().timeIntervalSince(started) < 5 {
            let answer = try timedGet(port: server.port)
            #expect(answer.status == 200)
            latencies.append(answer.seconds)
            Thread.sleep(forTimeInterval: 0.03)
        }
        let p99 = quantile(latencies, 0.99) * 1000
        print("stalled readers: 4 clients computing and not reading ~9 MB responses, /healthz p99 \(String(format: "%.2f", p99)) ms, max \(String(format: "%.2f", (latencies.max() ?? 0) * 1000)) ms over \(latencies.count) requests")
        // The bound is looser than slowloris's 50 ms: the server computes four 2400x2400 resizes on the
        // same cores meanwhile (and CI runs other suites in parallel). Starved I/O measured 3,500 ms.
        #expect(p99 < 250)
        // A client that does read gets the same large result in full meanwhile.
        let reader = try RawClient(port: server.port, receiveTimeout: 60)
        try? reader.send(Array(request.utf8) + input)
        let answer = try #require(try? reader.readResponse())
        #expect(answer.status == 200)
        let header = try ImageDecoder.readHeader(answer.body)
        #expect(header.width == 2400 && header.height == 2400)
        print("stalled readers: full result \(answer.body.count) bytes")
        #expect(answer.body.count > 1_000_000, "the response must be larger than the socket buffers")
        #expect(server.isRunning)
    }

    /// Uploads cut off in the middle (plain, after 100 Continue, chunked): no job, no file, no leaked socket.
    @Test func clientsDisconnectingMidUploadLeaveNothingBehind() throws {
        let server = try ServerProcess()
        #expect(try timedGet(port: server.port).status == 200)
        Thread.sleep(forTimeInterval: 0.2)
        let baseline = openDescriptorCount(pid: server.pid)
        let partial = [UInt8](repeating: 0x89, count: 200_000)
        for round in 0..<30 {
            let client = try RawClient(port: server.port)
            switch round % 3 {
            case 0:
                try? client.send("POST /resize?w=50&method=seam&wait=0 HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 2000000\r\n\r\n")
                try? client.send(partial)
            case 1:
                try? client.send("POST /resize?w=50&method=seam&wait=0 HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n")
                var scratch = [UInt8](repeating: 0, count: 64)
                _ = recv(client.fd, &scratch, scratch.count, 0)   // "HTTP/1.1 100 Continue"
                try? client.send(partial)
            default:
                try? client.send("POST /resize?w=50&method=seam&wait=0 HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n30d40\r\n")
                try? client.send(partial)
            }
            // deinit closes the socket mid-body
        }
        Thread.sleep(forTimeInterval: 0.5)
        #expect(try timedGet(port: server.port).status == 200)
        Thread.sleep(forTimeInterval: 0.2)
        #expect(openDescriptorCount(pid: server.pid) <= baseline, "descriptors: \(baseline) before, \(openDescriptorCount(pid: server.pid)) after")
        let jobs = (try? FileManager.default.contentsOfDirectory(atPath: server.dataDirectory + "/jobs")) ?? []
        #expect(jobs.isEmpty, "job directories after aborted uploads: \(jobs)")
    }

    /// Content-Length is the only truth about where a body ends: bytes beyond it are the next request
    /// (never part of the image), too few bytes end in 408 after `body_timeout`.
    @Test func bodiesLongerOrShorterThanTheirContentLength() throws {
        let server = try ServerProcess(settings: ["body_timeout": "2"])
        let png = try ImageEncoder.png(TestImages.scene(width: 64, height: 48))
        func head(_ length: Int) -> [UInt8] {
            Array("POST /resize?w=32&method=scale HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: \(length)\r\n\r\n".utf8)
        }
        // Exact length followed by a pipelined request: both are answered, in order.
        let exact = try RawClient(port: server.port)
        try? exact.send(head(png.count) + png + Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let first = try #require(try? exact.readResponse())
        #expect(first.status == 200)
        #expect(try ImageDecoder.readHeader(first.body).width == 32)
        #expect((try? exact.readResponse())?.status == 200)

        // Declared 100 bytes short: the truncated image is a 400, the rest (ended by a blank line so it
        // is judged at once) is a malformed next request: 400 and the connection closes.
        let long = try RawClient(port: server.port)
        try? long.send(head(png.count - 100) + png + Array("\r\n\r\n".utf8))
        let truncated = try #require(try? long.readResponse())
        #expect(truncated.status == 400, "\(String(decoding: truncated.body, as: UTF8.self))")
        let garbage = try? long.readResponse()
        #expect(garbage?.status == 400 && garbage?.headers["connection"] == "close")
        #expect(long.waitForClose())

        // Declared 1000 bytes more than sent: 408 after body_timeout, then closed.
        let short = try RawClient(port: server.port)
        let started = Date()
        try? short.send(head(png.count + 1000) + png)
        let timeout = try #require(try? short.readResponse())
        #expect(timeout.status == 408)
        #expect(Date().timeIntervalSince(started) >= 1.9 && Date().timeIntervalSince(started) < 6)
        #expect(short.waitForClose())
        #expect(try timedGet(port: server.port).status == 200)
    }

    /// 10,000 requests one after another on one keep-alive connection, then 1,000 pipelined in one write.
    @Test func tenThousandRequestsOnOneConnection() throws {
        let server = try ServerProcess()
        let client = try RawClient(port: server.port)
        let request = Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        let started = Date()
        var ok = 0
        for _ in 0..<10_000 {
            try? client.send(request)
            guard let answer = try? client.readResponse() else { break }
            if answer.status == 200 && answer.headers["connection"] == nil { ok += 1 }
        }
        let seconds = Date().timeIntervalSince(started)
        print("keep-alive: 10000 sequential requests on one connection in \(String(format: "%.2f", seconds)) s")
        #expect(ok == 10_000)
        try? client.send(Array([[UInt8]](repeating: request, count: 1000).joined()))
        var pipelined = 0
        for _ in 0..<1000 where (try? client.readResponse())?.status == 200 { pipelined += 1 }
        #expect(pipelined == 1000)
    }

    /// Past `max_connections`, new connections get a 503 (or are closed when even the polite refusals are
    /// at their bound), never a crash; when the crowd leaves the server serves again.
    @Test func moreConnectionsThanAllowedAreRefusedNotFatal() throws {
        let server = try ServerProcess(settings: ["max_connections": "20", "header_timeout": "30"])
        var idle: [RawClient] = []
        for _ in 0..<20 { idle.append(try RawClient(port: server.port)) }
        Thread.sleep(forTimeInterval: 0.3)
        var refused = 0, served = 0
        var extra: [RawClient] = []
        for _ in 0..<60 {
            guard let client = try? RawClient(port: server.port, receiveTimeout: 5) else { refused += 1; continue }
            try? client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            extra.append(client)
        }
        for client in extra {
            switch (try? client.readResponse())?.status {
            case 503?: refused += 1
            case nil: refused += 1          // closed without an answer: the refusal bound was reached
            case 200?: served += 1
            default: break
            }
        }
        #expect(served == 0 && refused == 60, "served \(served), refused \(refused)")
        idle.removeAll()
        extra.removeAll()
        Thread.sleep(forTimeInterval: 0.3)
        #expect(server.isRunning)
        for _ in 0..<10 { #expect(try timedGet(port: server.port).status == 200) }
    }
}
