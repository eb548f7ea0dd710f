import Testing
import Glibc
import Dispatch
import Logging
import Synchronization
import HTTPCore

struct ClientError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

struct TestResponse {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking POSIX-socket HTTP client, deliberately independent of HTTPCore's parser.
final class TestClient {
    let fd: Int32
    private var buffer: [UInt8] = []

    /// `receiveBuffer` shrinks the socket's receive window so a client that does not read stalls the server quickly.
    init(port: Int, receiveTimeout: Double = 5, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClientError("socket: \(errno)") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            let code = errno
            Glibc.close(fd)
            throw ClientError("connect: errno \(code)")
        }
        setReceiveTimeout(receiveTimeout)
    }

    deinit { Glibc.close(fd) }

    func setReceiveTimeout(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ClientError("send: errno \(errno)")
            }
            offset += n
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Reads once into the buffer; false at EOF. Throws on timeout or reset.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer += chunk[0..<n]
                return true
            }
            if n == 0 { return false }
            if errno == EINTR { continue }
            throw ClientError(errno == EAGAIN ? "receive timed out" : "recv: errno \(errno)")
        }
    }

    /// True when data (or EOF) is ready within `seconds`.
    func readable(within seconds: Double) -> Bool {
        if !buffer.isEmpty { return true }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, Int32(seconds * 1000)) > 0
    }

    func readResponse(isHEAD: Bool = false) throws -> TestResponse {
        var headEnd: Int?
        while true {
            if buffer.count >= 4 {
                for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
                    headEnd = i
                    break
                }
            }
            if headEnd != nil { break }
            guard try fill() else { throw ClientError("connection closed before a response head") }
        }
        let headText = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        buffer.removeFirst(headEnd! + 4)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else {
            throw ClientError("bad status line in \(headText)")
        }
        var headers = HTTPHeaders()
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw ClientError("bad header \(line)") }
            headers.add(String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingSpaces)
        }
        if (100..<200).contains(status) || status == 204 || status == 304 || isHEAD {
            return TestResponse(status: status, headers: headers, body: [])
        }
        guard let length = headers["Content-Length"].flatMap({ Int($0) }) else {
            throw ClientError("response without Content-Length")
        }
        while buffer.count < length {
            guard try fill() else { throw ClientError("connection closed inside a body") }
        }
        let body = Array(buffer[0..<length])
        buffer.removeFirst(length)
        return TestResponse(status: status, headers: headers, body: body)
    }

    /// Whether the server closes the connection (EOF or reset) within the receive timeout, with no bytes first.
    func closesWithoutData() -> Bool {
        guard buffer.isEmpty else { return false }
        do {
            return try !fill() && buffer.isEmpty
        } catch {
            return "\(error)".contains("errno \(ECONNRESET)")
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }

    func components(separatedBy separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while let range = rest.firstRange(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}

/// Echoes what it got; a few paths exercise timing:
/// `/slow?ms=N` answers from another thread after N ms, `/big?bytes=N` sends N bytes,
/// `/never` never answers, `/twice` answers twice, `/form` summarises a multipart body;
/// preflight refuses `/reject` with 415.
final class TestHandler: HTTPHandler {
    let handled = Atomic<Int>(0)
    let started = DispatchSemaphore(value: 0)

    func preflight(_ head: HTTPRequestHead) -> HTTPResponse? {
        head.path == "/reject"
            ? .problem(status: 415, title: "Unsupported Media Type", detail: "rejected in preflight")
            : nil
    }

    func handle(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) {
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
        case "/big":
            respond(HTTPResponse(status: 200, body: patternBytes(value("bytes"))))
        case "/never":
            break
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
