import Glibc

/// A deliberately dumb, blocking HTTP/1.1 client on a raw POSIX socket to 127.0.0.1, shared by the test
/// suites. It sends exactly the bytes it is given (partial heads, lies about Content-Length, bodies cut off,
/// or nothing at all) so tests can behave the way curl won't, and it parses responses itself, strictly and
/// independently of HTTPCore's parser (the code under test): an `HTTP/1.1` status line, `name: value`
/// header lines, and a body of exactly Content-Length bytes (none for 1xx, 204, 304 and HEAD).
public final class RawClient {
    /// The socket, for tests that need a raw `recv`.
    public let fd: Int32
    private var buffer: [UInt8] = []

    /// Connects to 127.0.0.1:`port`. `receiveTimeout` bounds every read; `receiveBuffer` shrinks SO_RCVBUF
    /// so a client that stops reading stalls the server's writes quickly. TCP_NODELAY is on, so each
    /// `send` leaves at once as its own segment.
    public init(port: Int, receiveTimeout: Double = 10, receiveBuffer: Int32? = nil) throws {
        // The socket is stored only once connected: an init that throws after every property is set still
        // runs deinit, whose close would then be a second one, and by then the number may belong to another
        // test's socket (suites run in parallel).
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawClientError("socket: \(String(cString: strerror(errno)))") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let code = errno
            Glibc.close(fd)
            throw RawClientError("connect: \(String(cString: strerror(code))) (errno \(code))")
        }
        self.fd = fd
        setReceiveTimeout(receiveTimeout)
    }

    deinit { Glibc.close(fd) }

    public func setReceiveTimeout(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    // MARK: sending

    /// Sends all bytes; throws when the peer is gone (EPIPE, ECONNRESET: no SIGPIPE).
    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw RawClientError("send: errno \(errno)")
            }
            offset += n
        }
    }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Half-close: the server sees EOF after what was sent.
    public func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    // MARK: receiving

    /// True when data (or EOF) is ready within `seconds`.
    public func readable(within seconds: Double) -> Bool {
        if !buffer.isEmpty { return true }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, Int32(seconds * 1000)) > 0
    }

    /// Reads one response. An interim 1xx (100 Continue) is returned like any other response unless
    /// `skipInterim`, which reads on to the final one. Throws on EOF, timeout or a malformed response.
    public func readResponse(isHEAD: Bool = false, skipInterim: Bool = false) throws -> RawResponse {
        while true {
            let response = try readOneResponse(isHEAD: isHEAD)
            if skipInterim, (100..<200).contains(response.status) { continue }
            return response
        }
    }

    /// Whether the server closes the connection (EOF or reset) within the receive timeout, with no bytes first.
    public func closesWithoutData() -> Bool {
        guard buffer.isEmpty else { return false }
        do {
            return try !fill() && buffer.isEmpty
        } catch {
            return "\(error)".contains("errno \(ECONNRESET)")
        }
    }

    /// Whether the server closes the connection (EOF or reset) within the receive timeout, discarding
    /// whatever arrives first.
    public func waitForClose() -> Bool {
        buffer.removeAll()
        while true {
            var scratch = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &scratch, scratch.count, 0)
            if n == 0 { return true }
            if n < 0 {
                if errno == EINTR { continue }
                return errno == ECONNRESET
            }
        }
    }

    private func readOneResponse(isHEAD: Bool) throws -> RawResponse {
        var headEnd: Int?
        while headEnd == nil {
            headEnd = Self.find([13, 10, 13, 10], in: buffer)
            if headEnd == nil, try !fill() { throw RawClientError("connection closed before a response head") }
        }
        let end = headEnd!
        let headText = String(decoding: buffer[0..<end], as: UTF8.self)
        buffer.removeFirst(end + 4)
        var lines = Self.split(headText, by: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0] == "HTTP/1.1", let status = Int(statusLine[1]) else {
            throw RawClientError("bad status line in \(headText)")
        }
        var headers = RawHeaders()
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw RawClientError("bad header \(line)") }
            headers.add(String(line[..<colon]), Self.trimmed(line[line.index(after: colon)...]))
        }
        if (100..<200).contains(status) || status == 204 || status == 304 || isHEAD {
            return RawResponse(status: status, headers: headers, body: [])
        }
        guard let length = headers["Content-Length"].flatMap({ Int($0) }) else {
            throw RawClientError("response without Content-Length")
        }
        while buffer.count < length {
            guard try fill() else { throw RawClientError("connection closed inside a body") }
        }
        let body = Array(buffer[0..<length])
        buffer.removeFirst(length)
        return RawResponse(status: status, headers: headers, body: body)
    }

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
            throw RawClientError(errno == EAGAIN ? "receive timed out" : "recv: errno \(errno)")
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) {
            return i
        }
        return nil
    }

    private static func split(_ text: String, by separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(text)
        while let range = rest.firstRange(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }

    private static func trimmed(_ text: Substring) -> String {
        String(text.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}

/// One response as `RawClient` read it.
public struct RawResponse: Sendable {
    public var status: Int
    public var headers: RawHeaders
    public var body: [UInt8]

    public init(status: Int, headers: RawHeaders, body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// Response header fields in the order received; lookups ignore ASCII case.
public struct RawHeaders: Sendable, Sequence {
    public typealias Element = (name: String, value: String)
    private var fields: [Element] = []

    public init() {}

    public mutating func add(_ name: String, _ value: String) { fields.append((name, value)) }

    /// The first value of `name`, or nil.
    public subscript(_ name: String) -> String? {
        fields.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Every value of `name`, in order.
    public func values(_ name: String) -> [String] {
        fields.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    public var count: Int { fields.count }

    public func makeIterator() -> IndexingIterator<[Element]> { fields.makeIterator() }
}

public struct RawClientError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
