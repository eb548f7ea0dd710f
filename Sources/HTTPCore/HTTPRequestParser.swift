// Incremental HTTP/1.1 request parser.
//
// Framing rules (strict where request smuggling lives, lenient only where it is harmless):
// - Every line ends in CRLF. A bare LF or a CR not followed by LF anywhere in the request line, a header,
//   a chunk-size line or a trailer is 400: proxies disagree on bare-LF/CR line ends, which is what
//   smuggling exploits. Up to 8 empty lines before a request line are skipped (RFC 9112 §2.2 robustness).
// - The request line is `method SP target SP HTTP/x.y` with single spaces; the method is a token; the
//   target has no controls or spaces. HTTP/1.0 and HTTP/1.1 are served, other well-formed versions are 505.
// - Obsolete line folding (a header line starting with SP/HTAB) is 400, as is whitespace between a field
//   name and its colon, a name that is not a token, and NUL or other controls (HTAB allowed) in a value.
// - HTTP/1.1 needs exactly one Host header (RFC 9112 §3.2).
// - Content-Length must be one header holding plain digits: a second Content-Length header (even with
//   the same value), a comma list, signs or spaces inside are 400; a value above `maxBodyBytes` is 413
//   (known from the head, so it is answered before 100 Continue).
// - Transfer-Encoding must be exactly `chunked` (case-insensitive), on HTTP/1.1 only; both
//   Transfer-Encoding and Content-Length is 400; chunked not last is 400; other codings are 501.
// - Chunks: hex size (leading zeros allowed), optional BWS then `;extensions` which are ignored, CRLF;
//   the data must be followed by CRLF; a size line is at most `maxChunkLineBytes`; the running total above
//   `maxBodyBytes` is 413. Trailer fields are checked like headers, bounded by `maxHeaderBytes` (431),
//   then dropped.
// - Bytes after the end of one request are kept for the next one (pipelining).

public struct HTTPParserLimits: Sendable, Equatable {
    /// Request line without its CRLF; longer is 414.
    public var maxRequestLineBytes: Int
    /// All header lines together, CRLFs included; longer is 431. Trailers get the same bound.
    public var maxHeaderBytes: Int
    /// Header fields; more is 431.
    public var maxHeaderCount: Int
    /// Body bytes (declared or chunked total); more is 413.
    public var maxBodyBytes: Int
    /// One chunk-size line, extensions included; longer is 400.
    public var maxChunkLineBytes: Int

    public init(maxRequestLineBytes: Int = 8192, maxHeaderBytes: Int = 16384, maxHeaderCount: Int = 100,
                maxBodyBytes: Int = 25 * 1024 * 1024, maxChunkLineBytes: Int = 4096) {
        self.maxRequestLineBytes = maxRequestLineBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
        self.maxChunkLineBytes = maxChunkLineBytes
    }
}

public enum HTTPParserEvent: Sendable {
    case head(HTTPRequestHead)
    case body([UInt8])
    case end
}

/// Feed bytes with `append`, take events with `nextEvent` until it returns nil (needs more bytes).
/// After `.end` the parser is ready for the next request; bytes already buffered belong to it.
/// After a thrown error the parser stays failed and rethrows it.
public struct HTTPRequestParser: Sendable {
    private enum State: Sendable {
        case requestLine(emptyLinesSkipped: Int)
        case headers(RequestLine, fields: [(String, String)], bytes: Int)
        case fixedBody(remaining: Int)
        case chunkSize(total: Int)
        case chunkData(remaining: Int, total: Int)
        case chunkDataEnd(total: Int)
        case trailers(bytes: Int)
        case failed(HTTPParseError)
    }

    private struct RequestLine: Sendable {
        var method: String
        var target: String
        var version: HTTPVersion
    }

    public let limits: HTTPParserLimits
    private var buffer: [UInt8] = []
    private var start = 0          // first unconsumed byte
    private var searchFrom = 0     // where the LF search resumes (bytes before it hold no LF)
    private var state: State = .requestLine(emptyLinesSkipped: 0)

    public init(limits: HTTPParserLimits = HTTPParserLimits()) {
        self.limits = limits
    }

    /// Bytes received but not yet turned into events.
    public var bufferedByteCount: Int { buffer.count - start }

    /// True between requests with nothing buffered: no byte of a next request has arrived.
    public var isAwaitingRequest: Bool {
        if case .requestLine = state { return bufferedByteCount == 0 }
        return false
    }

    /// True while a head is still being received (the header timeout applies).
    public var isReadingHead: Bool {
        switch state {
        case .requestLine: bufferedByteCount > 0
        case .headers: true
        default: false
        }
    }

    public mutating func append(_ bytes: some Collection<UInt8>) {
        if start > 0 && (start == buffer.count || (start >= 65536 && start * 2 >= buffer.count)) {
            buffer.removeSubrange(0..<start)
            searchFrom = max(0, searchFrom - start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Appends `bytes` and returns every event they complete.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(HTTPParseError) -> [HTTPParserEvent] {
        append(bytes)
        var events: [HTTPParserEvent] = []
        while let event = try nextEvent() { events.append(event) }
        return events
    }

    public mutating func nextEvent() throws(HTTPParseError) -> HTTPParserEvent? {
        do {
            return try step()
        } catch {
            state = .failed(error)
            throw error
        }
    }

    private mutating func step() throws(HTTPParseError) -> HTTPParserEvent? {
        while true {
            switch state {
            case .failed(let error):
                throw error

            case .requestLine(let skipped):
                let tooLong = HTTPParseError(status: 414, detail: "request line exceeds \(limits.maxRequestLineBytes) bytes")
                guard let line = try nextLine(maxBytes: limits.maxRequestLineBytes, tooLong: tooLong) else { return nil }
                if line.isEmpty {
                    guard skipped < 8 else { throw .badRequest("too many empty lines before the request line") }
                    state = .requestLine(emptyLinesSkipped: skipped + 1)
                    continue
                }
                if line.count > limits.maxRequestLineBytes {
                    throw HTTPParseError(status: 414, detail: "request line exceeds \(limits.maxRequestLineBytes) bytes")
                }
                state = .headers(try parseRequestLine(line), fields: [], bytes: 0)

            case .headers(let requestLine, var fields, var bytes):
                let tooLong = HTTPParseError(status: 431, detail: "header fields exceed \(limits.maxHeaderBytes) bytes")
                guard let line = try nextLine(maxBytes: max(0, limits.maxHeaderBytes - bytes - 2), tooLong: tooLong) else { return nil }
                if line.isEmpty {
                    let head = try makeHead(requestLine, fields: fields)
                    if head.isChunked {
                        state = .chunkSize(total: 0)
                    } else {
                        state = .fixedBody(remaining: head.contentLength ?? 0)
                    }
                    return .head(head)
                }
                bytes += line.count + 2
                if bytes > limits.maxHeaderBytes {
                    throw HTTPParseError(status: 431, detail: "header fields exceed \(limits.maxHeaderBytes) bytes")
                }
                fields.append(try parseField(line, what: "header"))
                if fields.count > limits.maxHeaderCount {
                    throw HTTPParseError(status: 431, detail: "more than \(limits.maxHeaderCount) header fields")
                }
                state = .headers(requestLine, fields: fields, bytes: bytes)

            case .fixedBody(let remaining):
                if remaining == 0 {
                    state = .requestLine(emptyLinesSkipped: 0)
                    return .end
                }
                guard let chunk = takeBytes(upTo: remaining) else { return nil }
                state = .fixedBody(remaining: remaining - chunk.count)
                return .body(chunk)

            case .chunkSize(let total):
                let tooLong = HTTPParseError.badRequest("chunk size line exceeds \(limits.maxChunkLineBytes) bytes")
                guard let line = try nextLine(maxBytes: limits.maxChunkLineBytes, tooLong: tooLong) else { return nil }
                if line.count > limits.maxChunkLineBytes {
                    throw .badRequest("chunk size line exceeds \(limits.maxChunkLineBytes) bytes")
                }
                let size = try parseChunkSize(line, alreadyReceived: total)
                state = size == 0 ? .trailers(bytes: 0) : .chunkData(remaining: size, total: total + size)

            case .chunkData(let remaining, let total):
                guard let chunk = takeBytes(upTo: remaining) else { return nil }
                state = chunk.count == remaining ? .chunkDataEnd(total: total)
                                                 : .chunkData(remaining: remaining - chunk.count, total: total)
                return .body(chunk)

            case .chunkDataEnd(let total):
                guard bufferedByteCount >= 2 else {
                    if bufferedByteCount == 1 && buffer[start] != CR { throw .badRequest("chunk data not followed by CRLF") }
                    return nil
                }
                guard buffer[start] == CR && buffer[start + 1] == LF else {
                    throw .badRequest("chunk data not followed by CRLF (chunk longer than its size?)")
                }
                start += 2
                searchFrom = max(searchFrom, start)
                state = .chunkSize(total: total)

            case .trailers(var bytes):
                let tooLong = HTTPParseError(status: 431, detail: "trailer fields exceed \(limits.maxHeaderBytes) bytes")
                guard let line = try nextLine(maxBytes: max(0, limits.maxHeaderBytes - bytes - 2), tooLong: tooLong) else { return nil }
                if line.isEmpty {
                    state = .requestLine(emptyLinesSkipped: 0)
                    return .end
                }
                bytes += line.count + 2
                if bytes > limits.maxHeaderBytes {
                    throw HTTPParseError(status: 431, detail: "trailer fields exceed \(limits.maxHeaderBytes) bytes")
                }
                _ = try parseField(line, what: "trailer")
                state = .trailers(bytes: bytes)
            }
        }
    }

    // MARK: - Byte-level helpers

    /// The next CRLF-terminated line (without CRLF), or nil when no complete line is buffered.
    /// A line longer than `maxBytes` throws `tooLong`, checked before anything else about the line and
    /// whether or not its LF has arrived, so the answer does not depend on how the bytes were split
    /// (found by Fuzz/FuzzHTTPParser: a long line ending in a bare LF was 400 or 414 by packet timing).
    private mutating func nextLine(maxBytes: Int, tooLong: HTTPParseError) throws(HTTPParseError) -> ArraySlice<UInt8>? {
        var i = max(searchFrom, start)
        let end = buffer.count
        while i < end && buffer[i] != LF { i += 1 }
        // Bytes before the LF (or all buffered ones): the line plus its CR.
        if i - start > maxBytes + 1 { throw tooLong }
        guard i < end else {
            searchFrom = end
            return nil
        }
        guard i > start && buffer[i - 1] == CR else { throw .badRequest("line ends in a bare LF (CRLF required)") }
        let line = buffer[start..<(i - 1)]
        if line.contains(CR) { throw .badRequest("bare CR inside a line") }
        start = i + 1
        searchFrom = start
        return line
    }

    private mutating func takeBytes(upTo limit: Int) -> [UInt8]? {
        let n = min(limit, bufferedByteCount)
        guard n > 0 else { return nil }
        let chunk = Array(buffer[start..<(start + n)])
        start += n
        searchFrom = max(searchFrom, start)
        return chunk
    }

    // MARK: - Grammar

    private func parseRequestLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> RequestLine {
        let parts = line.split(separator: SP, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .badRequest("malformed request line (expected 'METHOD target HTTP/1.1')") }
        let method = parts[0], target = parts[1], version = parts[2]
        guard !method.isEmpty, method.allSatisfy(isTokenChar) else { throw .badRequest("malformed method") }
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else {
            throw .badRequest("malformed request-target (empty, or spaces or control characters)")
        }
        return RequestLine(method: String(decoding: method, as: UTF8.self),
                           target: String(decoding: target, as: UTF8.self),
                           version: try parseVersion(version))
    }

    private func parseVersion(_ v: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPVersion {
        let bytes = Array(v)
        guard bytes.count == 8, bytes.starts(with: Array("HTTP/".utf8)), bytes[6] == UInt8(ascii: "."),
              let major = decimalDigit(bytes[5]), let minor = decimalDigit(bytes[7]) else {
            throw .badRequest("malformed HTTP version")
        }
        guard major == 1 && (minor == 0 || minor == 1) else {
            throw HTTPParseError(status: 505, detail: "HTTP/\(major).\(minor) is not supported (HTTP/1.0 and HTTP/1.1 are)")
        }
        return HTTPVersion(major: major, minor: minor)
    }

    private func parseField(_ line: ArraySlice<UInt8>, what: String) throws(HTTPParseError) -> (String, String) {
        guard let first = line.first else { throw .badRequest("empty \(what) line") }
        if first == SP || first == HTAB { throw .badRequest("obsolete line folding in \(what) fields is not accepted") }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw .badRequest("\(what) line without ':'") }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenChar) else {
            throw .badRequest("malformed \(what) field name (not a token, or whitespace before ':')")
        }
        var value = line[(colon + 1)...]
        while let b = value.first, b == SP || b == HTAB { value = value.dropFirst() }
        while let b = value.last, b == SP || b == HTAB { value = value.dropLast() }
        guard value.allSatisfy({ $0 == HTAB || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw .badRequest("control character in \(what) field '\(String(decoding: name, as: UTF8.self))'")
        }
        return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    private func parseChunkSize(_ line: ArraySlice<UInt8>, alreadyReceived total: Int) throws(HTTPParseError) -> Int {
        var size = 0
        var digits = 0
        var i = line.startIndex
        while i < line.endIndex, let h = hexValue(line[i]) {
            if size > (Int.max - 15) / 16 || size > limits.maxBodyBytes {
                throw HTTPParseError(status: 413, detail: "chunk size overflows the body limit of \(limits.maxBodyBytes) bytes")
            }
            size = size * 16 + Int(h)
            digits += 1
            i += 1
        }
        guard digits > 0 else { throw .badRequest("malformed chunk size (not hexadecimal)") }
        while i < line.endIndex, line[i] == SP || line[i] == HTAB { i += 1 }
        guard i == line.endIndex || line[i] == UInt8(ascii: ";") else {
            throw .badRequest("malformed chunk size line (unexpected character after the size)")
        }
        if size > limits.maxBodyBytes - total {
            throw HTTPParseError(status: 413, detail: "chunked body exceeds \(limits.maxBodyBytes) bytes")
        }
        return size
    }

    private func makeHead(_ requestLine: RequestLine, fields: [(String, String)]) throws(HTTPParseError) -> HTTPRequestHead {
        let headers = HTTPHeaders(fields)
        let version = requestLine.version

        let hosts = headers.values("Host")
        if version == .http1_1 && hosts.count != 1 {
            throw .badRequest(hosts.isEmpty ? "HTTP/1.1 request without a Host header" : "more than one Host header")
        }
        if hosts.count > 1 { throw .badRequest("more than one Host header") }

        var isChunked = false
        if headers.contains("Transfer-Encoding") {
            guard version == .http1_1 else { throw .badRequest("Transfer-Encoding in an HTTP/1.0 request") }
            let codings = headers.tokens("Transfer-Encoding")
            guard codings.last == "chunked" else {
                if codings.contains("chunked") || codings.isEmpty {
                    throw .badRequest("Transfer-Encoding must end with 'chunked'")
                }
                throw HTTPParseError(status: 501, detail: "transfer coding '\(codings.joined(separator: ", "))' is not supported (only chunked)")
            }
            guard codings.count == 1 else {
                throw HTTPParseError(status: 501, detail: "transfer codings other than chunked are not supported")
            }
            isChunked = true
        }

        var contentLength: Int?
        let lengths = headers.values("Content-Length")
        if !lengths.isEmpty {
            guard !isChunked else { throw .badRequest("both Content-Length and Transfer-Encoding") }
            guard lengths.count == 1 else { throw .badRequest("more than one Content-Length header") }
            let text = lengths[0]
            guard !text.isEmpty, text.utf8.allSatisfy({ decimalDigit($0) != nil }) else {
                throw .badRequest("invalid Content-Length '\(text.prefix(32))'")
            }
            let significant = text.drop { $0 == "0" }
            guard significant.count <= 18, let value = Int(text), value <= limits.maxBodyBytes else {
                throw HTTPParseError(status: 413, detail: "body of \(text.prefix(32)) bytes exceeds the limit of \(limits.maxBodyBytes) bytes")
            }
            contentLength = value
        }

        let connection = headers.tokens("Connection")
        let keepAlive = version == .http1_1 ? !connection.contains("close")
                                            : connection.contains("keep-alive") && !connection.contains("close")
        let hasBody = isChunked || (contentLength ?? 0) > 0
        let expectsContinue = version == .http1_1 && hasBody
            && headers.values("Expect").contains { asciiCaseInsensitiveEquals(trimOWS(Substring($0)), "100-continue") }

        let (path, query) = try parseRequestTarget(requestLine.target)
        return HTTPRequestHead(method: requestLine.method, target: requestLine.target, path: path, query: query,
                               version: version, headers: headers, keepAlive: keepAlive,
                               contentLength: contentLength, isChunked: isChunked,
                               expectsContinue: expectsContinue)
    }
}

let CR: UInt8 = 0x0D
let LF: UInt8 = 0x0A
let SP: UInt8 = 0x20
let HTAB: UInt8 = 0x09

@inline(__always) func decimalDigit(_ byte: UInt8) -> Int? {
    byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? Int(byte - UInt8(ascii: "0")) : nil
}
