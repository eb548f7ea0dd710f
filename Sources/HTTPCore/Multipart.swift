import Glibc

// Streaming multipart/form-data (RFC 7578 over RFC 2046).
//
// The body is: preamble, then `--boundary` (at the very start or after CRLF), optional transport padding
// (SP/HTAB), CRLF, part headers, an empty line, part data, then CRLF `--boundary` again, until the close
// delimiter `--boundary--`, after which everything (the epilogue) is ignored. Part data is passed on as it
// arrives; only the last `delimiter.count - 1` bytes are held back in case a delimiter is split across
// reads. Part header lines must end in CRLF (bare LF is an error, as in the request parser); obs-fold is
// an error. Every part needs `Content-Disposition: form-data; name="..."`.

public struct MultipartLimits: Sendable, Equatable {
    /// Parts in one body; more is 413.
    public var maxParts: Int
    /// Header bytes of one part (CRLFs included); more is 400 (it is body content, not request headers).
    public var maxPartHeaderBytes: Int
    /// Header fields in one part; more is 400.
    public var maxPartHeaderCount: Int

    public init(maxParts: Int = 100, maxPartHeaderBytes: Int = 8192, maxPartHeaderCount: Int = 16) {
        self.maxParts = maxParts
        self.maxPartHeaderBytes = maxPartHeaderBytes
        self.maxPartHeaderCount = maxPartHeaderCount
    }
}

/// A malformed or over-limit multipart body. `status` is what the server should answer (400, 413 or 415).
public struct MultipartError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var detail: String

    public init(status: Int = 400, detail: String) {
        self.status = status
        self.detail = detail
    }

    public var description: String { "multipart: \(detail)" }

    public var response: HTTPResponse {
        HTTPResponse.problem(status: status, title: HTTPResponse.reasonPhrase(for: status), detail: "multipart/form-data: \(detail)")
    }
}

public struct MultipartPartHead: Sendable {
    /// The form field name (`name` in Content-Disposition).
    public var name: String
    /// The file name when the part is a file (`filename`, or `filename*` in RFC 8187 form).
    public var filename: String?
    /// The part's Content-Type; nil when absent (text/plain by default, RFC 7578 §4.4).
    public var contentType: String?
    public var headers: HTTPHeaders

    public init(name: String, filename: String? = nil, contentType: String? = nil, headers: HTTPHeaders = HTTPHeaders()) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.headers = headers
    }
}

public struct MultipartPart: Sendable {
    public var name: String
    public var filename: String?
    public var contentType: String?
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(name: String, filename: String? = nil, contentType: String? = nil, headers: HTTPHeaders = HTTPHeaders(),
                body: [UInt8] = []) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.headers = headers
        self.body = body
    }
}

public enum MultipartEvent: Sendable {
    case partBegin(MultipartPartHead)
    case partData([UInt8])
    case partEnd
}

public struct MultipartParser: Sendable {
    private enum State {
        case preamble
        case afterDelimiter
        case headers(bytes: Int, fields: [(String, String)])
        case data
        case epilogue
    }

    public let limits: MultipartLimits
    private let delimiter: [UInt8]     // CRLF "--" boundary
    private var buffer: [UInt8]
    private var state: State = .preamble
    private var partCount = 0

    /// `boundary` is the bare boundary (as from `Multipart.boundary(fromContentType:)`).
    public init(boundary: String, limits: MultipartLimits = MultipartLimits()) {
        self.limits = limits
        delimiter = [CR, LF, UInt8(ascii: "-"), UInt8(ascii: "-")] + Array(boundary.utf8)
        // A virtual CRLF lets the first delimiter sit at the very start of the body.
        buffer = [CR, LF]
    }

    /// True once the close delimiter has been seen.
    public var isComplete: Bool {
        if case .epilogue = state { return true }
        return false
    }

    public mutating func feed(_ bytes: some Collection<UInt8>) throws(MultipartError) -> [MultipartEvent] {
        if case .epilogue = state { return [] }
        buffer.append(contentsOf: bytes)
        var events: [MultipartEvent] = []
        var consumed = 0
        defer { buffer.removeSubrange(0..<consumed) }
        loop: while true {
            switch state {
            case .preamble:
                if let at = find(delimiter, in: buffer, from: consumed) {
                    consumed = at + delimiter.count
                    state = .afterDelimiter
                } else {
                    consumed = max(consumed, buffer.count - (delimiter.count - 1))
                    break loop
                }

            case .afterDelimiter:
                // "--" closes; otherwise optional padding then CRLF opens a part.
                var i = consumed
                guard i + 2 <= buffer.count else { break loop }
                if buffer[i] == UInt8(ascii: "-") && buffer[i + 1] == UInt8(ascii: "-") {
                    consumed = buffer.count
                    state = .epilogue
                    break loop
                }
                while i < buffer.count && (buffer[i] == SP || buffer[i] == HTAB) {
                    i += 1
                    if i - consumed > 256 { throw MultipartError(detail: "malformed boundary line (too much padding)") }
                }
                guard i + 2 <= buffer.count else { break loop }
                guard buffer[i] == CR && buffer[i + 1] == LF else {
                    throw MultipartError(detail: "boundary delimiter not followed by CRLF or '--'")
                }
                partCount += 1
                if partCount > limits.maxParts {
                    throw MultipartError(status: 413, detail: "more than \(limits.maxParts) parts")
                }
                consumed = i + 2
                state = .headers(bytes: 0, fields: [])

            case .headers(var bytes, var fields):
                guard let lf = buffer[consumed...].firstIndex(of: LF) else {
                    if bytes + (buffer.count - consumed) > limits.maxPartHeaderBytes {
                        throw MultipartError(detail: "part headers exceed \(limits.maxPartHeaderBytes) bytes")
                    }
                    break loop
                }
                guard lf > consumed, buffer[lf - 1] == CR else {
                    throw MultipartError(detail: "part header line ends in a bare LF (CRLF required)")
                }
                let line = buffer[consumed..<(lf - 1)]
                bytes += line.count + 2
                if bytes > limits.maxPartHeaderBytes {
                    throw MultipartError(detail: "part headers exceed \(limits.maxPartHeaderBytes) bytes")
                }
                consumed = lf + 1
                if line.isEmpty {
                    events.append(.partBegin(try makePartHead(fields)))
                    state = .data
                    continue
                }
                fields.append(try parsePartField(line))
                if fields.count > limits.maxPartHeaderCount {
                    throw MultipartError(detail: "more than \(limits.maxPartHeaderCount) header fields in a part")
                }
                state = .headers(bytes: bytes, fields: fields)

            case .data:
                if let at = find(delimiter, in: buffer, from: consumed) {
                    if at > consumed { events.append(.partData(Array(buffer[consumed..<at]))) }
                    events.append(.partEnd)
                    consumed = at + delimiter.count
                    state = .afterDelimiter
                } else {
                    // Hold back a possible delimiter prefix at the end.
                    let safeEnd = max(consumed, buffer.count - (delimiter.count - 1))
                    if safeEnd > consumed { events.append(.partData(Array(buffer[consumed..<safeEnd]))) }
                    consumed = safeEnd
                    break loop
                }

            case .epilogue:
                consumed = buffer.count
                break loop
            }
        }
        return events
    }

    /// Call at the end of the body: throws unless the close delimiter was seen.
    public mutating func finish() throws(MultipartError) {
        switch state {
        case .epilogue: return
        case .preamble: throw MultipartError(detail: "no boundary delimiter found in the body (wrong boundary?)")
        default: throw MultipartError(detail: "body ends before the closing boundary (truncated)")
        }
    }

    private func parsePartField(_ line: ArraySlice<UInt8>) throws(MultipartError) -> (String, String) {
        guard let first = line.first, first != SP, first != HTAB else {
            throw MultipartError(detail: "obsolete line folding in part headers is not accepted")
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw MultipartError(detail: "part header line without ':'") }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenChar) else { throw MultipartError(detail: "malformed part header name") }
        let rawValue = line[(colon + 1)...]
        guard rawValue.allSatisfy({ $0 == HTAB || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw MultipartError(detail: "control character in a part header")
        }
        return (String(decoding: name, as: UTF8.self), trimOWS(Substring(String(decoding: rawValue, as: UTF8.self))))
    }

    private func makePartHead(_ fields: [(String, String)]) throws(MultipartError) -> MultipartPartHead {
        let headers = HTTPHeaders(fields)
        guard let disposition = headers["Content-Disposition"] else {
            throw MultipartError(detail: "part \(partCount) has no Content-Disposition header")
        }
        let parsed: (value: String, parameters: [(name: String, value: String)])
        do {
            parsed = try parseHeaderParameters(disposition)
        } catch {
            throw MultipartError(detail: "part \(partCount): Content-Disposition: \(error.detail)")
        }
        guard asciiLowercased(parsed.value) == "form-data" else {
            throw MultipartError(detail: "part \(partCount): Content-Disposition is '\(parsed.value.prefix(32))', expected form-data")
        }
        func parameter(_ key: String) -> String? {
            parsed.parameters.first { asciiCaseInsensitiveEquals($0.name, key) }?.value
        }
        guard let name = parameter("name") else {
            throw MultipartError(detail: "part \(partCount): Content-Disposition has no name parameter")
        }
        var filename = parameter("filename")
        if let extended = parameter("filename*"), let decoded = decodeExtendedValue(extended) {
            filename = decoded
        }
        return MultipartPartHead(name: name, filename: filename, contentType: headers["Content-Type"], headers: headers)
    }
}

public enum Multipart {
    /// The `boundary` parameter of a `multipart/form-data` Content-Type (media type and parameter names
    /// case-insensitive, quoted values unquoted). Throws 415 for another media type, 400 for a missing,
    /// empty, too long (over 70) or ill-formed boundary.
    public static func boundary(fromContentType contentType: String) throws(MultipartError) -> String {
        let parsed: (value: String, parameters: [(name: String, value: String)])
        do {
            parsed = try parseHeaderParameters(contentType)
        } catch {
            throw MultipartError(detail: "Content-Type: \(error.detail)")
        }
        guard asciiLowercased(parsed.value) == "multipart/form-data" else {
            throw MultipartError(status: 415, detail: "Content-Type is '\(parsed.value.prefix(64))', expected multipart/form-data")
        }
        guard let boundary = parsed.parameters.first(where: { asciiCaseInsensitiveEquals($0.name, "boundary") })?.value else {
            throw MultipartError(detail: "Content-Type has no boundary parameter")
        }
        guard !boundary.isEmpty else { throw MultipartError(detail: "empty boundary") }
        guard boundary.utf8.count <= 70 else { throw MultipartError(detail: "boundary longer than 70 characters") }
        // RFC 2046 bchars; a space may not be last.
        let allowed = Set("'()+_,-./:=? ".utf8)
        guard boundary.utf8.allSatisfy({ isAlnum($0) || allowed.contains($0) }), boundary.utf8.last != SP else {
            throw MultipartError(detail: "boundary contains characters RFC 2046 does not allow")
        }
        return boundary
    }

    /// Parses a whole buffered body into its parts.
    public static func parse(body: [UInt8], contentType: String, limits: MultipartLimits = MultipartLimits()) throws(MultipartError) -> [MultipartPart] {
        var parser = MultipartParser(boundary: try boundary(fromContentType: contentType), limits: limits)
        var parts: [MultipartPart] = []
        for event in try parser.feed(body) {
            switch event {
            case .partBegin(let head):
                parts.append(MultipartPart(name: head.name, filename: head.filename, contentType: head.contentType,
                                           headers: head.headers, body: []))
            case .partData(let data):
                parts[parts.count - 1].body.append(contentsOf: data)
            case .partEnd:
                break
            }
        }
        try parser.finish()
        return parts
    }
}

// MARK: - Header parameters (Content-Type, Content-Disposition)

/// Splits `value; a=b; c="quoted \"x\""` into the value and its parameters (names as written).
func parseHeaderParameters(_ header: String) throws(HTTPParseError) -> (value: String, parameters: [(name: String, value: String)]) {
    let bytes = Array(header.utf8)
    var i = 0
    func skipOWS() { while i < bytes.count && (bytes[i] == SP || bytes[i] == HTAB) { i += 1 } }
    skipOWS()
    let valueStart = i
    while i < bytes.count && bytes[i] != UInt8(ascii: ";") { i += 1 }
    let value = trimOWS(Substring(String(decoding: bytes[valueStart..<i], as: UTF8.self)))
    guard !value.isEmpty else { throw .badRequest("empty header value") }
    var parameters: [(name: String, value: String)] = []
    while i < bytes.count {
        i += 1 // the ';'
        skipOWS()
        if i == bytes.count { break }                    // trailing ';'
        if bytes[i] == UInt8(ascii: ";") { continue }    // empty parameter
        let nameStart = i
        while i < bytes.count && isTokenChar(bytes[i]) { i += 1 }
        let name = String(decoding: bytes[nameStart..<i], as: UTF8.self)
        skipOWS()
        guard !name.isEmpty, i < bytes.count, bytes[i] == UInt8(ascii: "=") else {
            throw .badRequest("malformed parameter (expected name=value)")
        }
        i += 1
        skipOWS()
        var parameterValue: [UInt8] = []
        if i < bytes.count && bytes[i] == UInt8(ascii: "\"") {
            i += 1
            var closed = false
            while i < bytes.count {
                let b = bytes[i]
                if b == UInt8(ascii: "\"") { closed = true; i += 1; break }
                if b == UInt8(ascii: "\\") && i + 1 < bytes.count { parameterValue.append(bytes[i + 1]); i += 2; continue }
                parameterValue.append(b)
                i += 1
            }
            guard closed else { throw .badRequest("unterminated quoted string in parameter '\(name)'") }
        } else {
            while i < bytes.count && bytes[i] != UInt8(ascii: ";") && bytes[i] != SP && bytes[i] != HTAB {
                parameterValue.append(bytes[i])
                i += 1
            }
        }
        skipOWS()
        guard i == bytes.count || bytes[i] == UInt8(ascii: ";") else {
            throw .badRequest("unexpected characters after parameter '\(name)'")
        }
        parameters.append((name: name, value: String(decoding: parameterValue, as: UTF8.self)))
    }
    return (value, parameters)
}

/// RFC 8187 `charset'lang'percent-encoded` (UTF-8 or ISO-8859-1); nil when malformed.
private func decodeExtendedValue(_ s: String) -> String? {
    let pieces = s.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
    guard pieces.count == 3 else { return nil }
    let charset = asciiLowercased(pieces[0])
    guard let decoded = try? percentDecode(pieces[2], plusIsSpace: false) else {
        if charset == "iso-8859-1" {
            // Bytes that are not UTF-8: decode the escapes as Latin-1 code points instead.
            var out = ""
            var utf8 = Array(pieces[2].utf8)[...]
            while let b = utf8.popFirst() {
                if b == UInt8(ascii: "%"), utf8.count >= 2, let hi = hexValue(utf8[utf8.startIndex]),
                   let lo = hexValue(utf8[utf8.startIndex + 1]) {
                    out.unicodeScalars.append(Unicode.Scalar(hi << 4 | lo))
                    utf8 = utf8.dropFirst(2)
                } else {
                    out.unicodeScalars.append(Unicode.Scalar(b))
                }
            }
            return out
        }
        return nil
    }
    return charset == "utf-8" || charset == "iso-8859-1" ? decoded : nil
}

@inline(__always) private func isAlnum(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
}

/// First index of `needle` in `haystack` at or after `from`: memchr finds candidates for the first byte,
/// then the rest is compared.
func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
    guard !needle.isEmpty, haystack.count - from >= needle.count else { return nil }
    return haystack.withUnsafeBufferPointer { h -> Int? in
        needle.withUnsafeBufferPointer { n -> Int? in
            guard let base = h.baseAddress else { return nil }
            let first = Int32(n[0])
            let lastStart = h.count - n.count
            var i = from
            while i <= lastStart {
                guard let hit = memchr(base + i, first, lastStart - i + 1) else { return nil }
                i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                var j = 1
                while j < n.count && h[i + j] == n[j] { j += 1 }
                if j == n.count { return i }
                i += 1
            }
            return nil
        }
    }
}
