import Testing
import Glibc
import Dispatch
import Logging
import Synchronization
import HTTPCore

/// Echoes what it got; a few paths exercise timing:
/// `/slow?ms=N` answers from another thread after N ms, `/big?bytes=N` sends N bytes,
/// `/never` never answers, `/twice` answers twice, `/form` summarises a multipart body, `/accepted` answers
/// with what preflight accepted its head with; preflight refuses `/reject` with 415.
final class TestHandler: HTTPHandler {
    let handled = Atomic<Int>(0)
    let started = DispatchSemaphore(value: 0)
    /// Requests of /watch whose client went away before the answer.
    let disconnects = Atomic<Int>(0)

    func preflight(_ head: HTTPRequestHead) -> HTTPPreflight<String> {
        head.path == "/reject"
            ? .respond(.problem(status: 415, title: "Unsupported Media Type", detail: "rejected in preflight"))
            : .accept("preflight saw \(head.method) \(head.target)")
    }

    func handle(_ request: HTTPRequest, accepted: String, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        handled.add(1, ordering: .relaxed)
        started.signal()
        let head = request.head
        func value(_ name: String) -> Int { head.query.first { $0.name == name }.flatMap { Int($0.value) } ?? 0 }
        switch head.path {
        case "/slow":
            let ms = value("ms")
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(ms)) {
                respond(HTTPResponse(status: 200, headers: ["Content-Type": "text/plain"], body: Array("slow \(ms)".utf8)))
            }
        case "/watch":
            // Answers after `ms` (never with 0), counting a client that goes away first.
            request.disconnect.onDisconnect { self.disconnects.add(1, ordering: .relaxed) }
            let ms = value("ms")
            if ms > 0 {
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(ms)) {
                    respond(HTTPResponse(status: 200, body: Array("watched \(ms)".utf8)))
                }
            }
        case "/big":
            respond(HTTPResponse(status: 200, body: patternBytes(value("bytes"))))
        case "/never":
            break
        case "/accepted":
            respond(HTTPResponse(status: 200, body: Array(accepted.utf8)))
        case "/form":
            do {
                let parts = try Multipart.parse(body: request.body, contentType: head.headers["Content-Type"] ?? "")
                let summary = parts.map { "\($0.name):\($0.filename ?? "-"):\($0.contentType ?? "-"):\($0.body.count)" }
                respond(HTTPResponse(status: 200, body: Array(summary.joined(separator: ",").utf8)))
            } catch {
                respond(error.response)
            }
        case "/twice":
            respond(HTTPResponse(status: 201, body: Array("first".utf8)))
            respond(HTTPResponse(status: 500, body: Array("second".utf8)))
        default:
            let sum = request.body.reduce(0) { $0 &+ Int($1) }
            let query = head.query.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
            let text = "\(head.method) \(head.path) q=\(query) body=\(request.body.count) sum=\(sum) from=\(head.remoteAddress.hasPrefix("127.0.0.1:"))"
            respond(HTTPResponse(status: 200, headers: ["Content-Type": "text/plain"], body: Array(text.utf8)))
        }
    }
}

let quietLogger = Logger(label: "HTTPCoreTests", factory: { _ in SwiftLogNoOpLogHandler() })

func testConfiguration(_ change: (inout HTTPServerConfiguration) -> Void = { _ in }) -> HTTPServerConfiguration {
    var c = HTTPServerConfiguration(host: "127.0.0.1", port: 0, headerTimeout: 2, bodyTimeout: 2,
                                    keepAliveTimeout: 2, writeTimeout: 2)
    change(&c)
    return c
}

/// Starts a server on an ephemeral port, runs `body`, then shuts it down and waits for the completion.
func withServer(_ configuration: HTTPServerConfiguration = testConfiguration(), handler: TestHandler = TestHandler(),
                accessLog: (@Sendable (AccessLogEntry) -> Void)? = nil,
                _ body: (HTTPServer, Int) throws -> Void) throws {
    let server = HTTPServer(configuration: configuration, handler: handler, logger: quietLogger, accessLog: accessLog)
    let port = try server.start()
    defer {
        let done = DispatchSemaphore(value: 0)
        server.shutdown(gracePeriod: 0.5) { done.signal() }
        let finished = done.wait(timeout: .now() + 5) == .success
        #expect(finished, "server shutdown completion not called")
    }
    try body(server, port)
}

func waitUntil(_ seconds: Double = 3, _ condition: () -> Bool) -> Bool {
    let deadline = monotonicSeconds() + seconds
    while monotonicSeconds() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

func monotonicSeconds() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}

final class Box<T: Sendable>: Sendable {
    let value: Mutex<T>
    init(_ value: T) { self.value = Mutex(value) }
}

/// `count` bytes of the repeating pattern 0, 1, …, 250 (built by copying, fast even in debug builds).
func patternBytes(_ count: Int) -> [UInt8] {
    let period = (0..<251).map { UInt8($0) }
    var out: [UInt8] = []
    out.reserveCapacity(count)
    while out.count < count { out.append(contentsOf: period.prefix(count - out.count)) }
    return out
}
