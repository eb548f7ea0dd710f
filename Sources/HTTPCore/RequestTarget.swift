// Request-target parsing: the path and the query string.
//
// Rules: the path is percent-decoded once and must decode to valid UTF-8 without NUL; it is not
// normalised (no `..` resolution) because routes match exact paths. An encoded slash (`%2F`, `%2f`) stays
// encoded (as `%2F`): it is data inside a segment, never a separator, so `/jobs/ID%2fresult` is not
// `/jobs/ID/result`. A query name or value follows
// application/x-www-form-urlencoded: `+` is a space, `%XX` a byte; invalid escapes, NUL and invalid
// UTF-8 are errors (400) rather than silently repaired, so the Server never sees a value the client
// did not send.

/// Splits a request-target into its decoded path and query.
/// Accepts origin-form (`/p?q`), absolute-form (`http://host/p?q`, the authority is ignored) and `*`.
public func parseRequestTarget(_ target: String) throws(HTTPParseError) -> (path: String, query: [(name: String, value: String)]) {
    if target == "*" { return ("*", []) }
    var rest = Substring(target)
    if !target.hasPrefix("/") {
        let lower = asciiLowercased(target.prefix(8))
        let schemeLength = lower.hasPrefix("http://") ? 7 : lower.hasPrefix("https://") ? 8 : 0
        guard schemeLength > 0 else {
            throw .badRequest("request-target must start with '/' (origin-form) or 'http://' or 'https://' (absolute-form)")
        }
        rest = rest.dropFirst(schemeLength)
        if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) {
            rest = rest[slash...]
        } else {
            rest = "/"
        }
        if rest.first == "?" { rest = "/" + rest }
    }
    if rest.contains("#") { throw .badRequest("request-target must not contain a fragment ('#')") }
    let rawPath: Substring
    let rawQuery: Substring?
    if let q = rest.firstIndex(of: "?") {
        rawPath = rest[..<q]
        rawQuery = rest[rest.index(after: q)...]
    } else {
        rawPath = rest
        rawQuery = nil
    }
    let path: String
    do {
        path = try percentDecode(rawPath, plusIsSpace: false, keepEncodedSlash: true)
    } catch {
        throw .badRequest("path: \(error)")
    }
    guard let rawQuery else { return (path, []) }
    return (path, try parseQueryString(String(rawQuery)))
}

/// Parses `a=1&b=two+words&c` into `[("a","1"), ("b","two words"), ("c","")]`, in order, repeats kept.
/// Empty segments (`a=1&&b=2`) are skipped. Throws a 400 `HTTPParseError` naming the bad parameter.
public func parseQueryString(_ query: String) throws(HTTPParseError) -> [(name: String, value: String)] {
    var result: [(name: String, value: String)] = []
    for segment in query.split(separator: "&", omittingEmptySubsequences: true) {
        let rawName: Substring
        let rawValue: Substring
        if let eq = segment.firstIndex(of: "=") {
            rawName = segment[..<eq]
            rawValue = segment[segment.index(after: eq)...]
        } else {
            rawName = segment
            rawValue = ""
        }
        let name: String
        do {
            name = try percentDecode(rawName, plusIsSpace: true)
        } catch {
            throw .badRequest("query parameter name '\(rawName.prefix(64))': \(error)")
        }
        do {
            result.append((name: name, value: try percentDecode(rawValue, plusIsSpace: true)))
        } catch {
            throw .badRequest("query parameter '\(name.prefix(64))': \(error)")
        }
    }
    return result
}

struct PercentDecodingError: Error, CustomStringConvertible {
    var description: String
}

/// Decodes `%XX` escapes (and `+` when asked). Rejects bad escapes, NUL, and bytes that are not UTF-8.
func percentDecode(_ s: Substring, plusIsSpace: Bool, keepEncodedSlash: Bool = false) throws(PercentDecodingError) -> String {
    let utf8 = s.utf8
    if !utf8.contains(UInt8(ascii: "%")) && !(plusIsSpace && utf8.contains(UInt8(ascii: "+"))) {
        if utf8.contains(0) { throw PercentDecodingError(description: "contains NUL") }
        return String(s)
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(utf8.count)
    var i = utf8.startIndex
    while i != utf8.endIndex {
        let byte = utf8[i]
        if byte == UInt8(ascii: "%") {
            let h = utf8.index(after: i)
            guard h != utf8.endIndex, let hi = hexValue(utf8[h]) else {
                throw PercentDecodingError(description: "invalid percent-escape")
            }
            let l = utf8.index(after: h)
            guard l != utf8.endIndex, let lo = hexValue(utf8[l]) else {
                throw PercentDecodingError(description: "invalid percent-escape")
            }
            if keepEncodedSlash && hi << 4 | lo == UInt8(ascii: "/") {
                bytes += Array("%2F".utf8)
            } else {
                bytes.append(hi << 4 | lo)
            }
            i = utf8.index(after: l)
        } else {
            bytes.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
            i = utf8.index(after: i)
        }
    }
    if bytes.contains(0) { throw PercentDecodingError(description: "contains NUL (%00)") }
    guard let decoded = String(validating: bytes, as: UTF8.self) else {
        throw PercentDecodingError(description: "percent-escapes do not decode to UTF-8")
    }
    return decoded
}

@inline(__always) func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
