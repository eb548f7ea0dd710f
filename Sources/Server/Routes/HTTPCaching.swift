import HTTPCore

/// HTTP caching of image answers (docs/api.md "Caching"): a strong entity tag derived from the bytes, the
/// `If-None-Match` precondition (RFC 9110 §13.1.2) and the `Cache-Control` of stored results.
enum HTTPCaching {
    /// The strong entity tag of a representation: `fnv1a64` of its bytes, hex, quoted (`"0123456789abcdef"`).
    /// Equal bytes give equal tags, whichever job or request produced them.
    static func entityTag(_ bytes: [UInt8]) -> String { "\"" + fnv1a64Hex(bytes) + "\"" }

    /// Whether the `If-None-Match` field lines `values` match the current representation tagged `etag`, so
    /// a GET or HEAD is answered 304. RFC 9110 §13.1.2: `*` matches any current representation; otherwise the
    /// field is a comma-separated list of entity tags (optional whitespace, empty elements allowed), compared
    /// weakly: `W/"x"` matches `"x"`. A malformed field (a bare token, an unterminated quote, a character an
    /// entity tag cannot hold, `*` inside a list) matches nothing: the request is answered as if it had none.
    static func ifNoneMatch(_ values: [String], matches etag: String) -> Bool {
        guard !values.isEmpty, let tags = parseEntityTags(values.joined(separator: ",")) else { return false }
        switch tags {
        case .any: return true
        case .list(let opaque): return opaque.contains(opaqueTag(etag))
        }
    }

    enum Precondition: Equatable {
        case any
        /// The opaque tags (quotes included, `W/` removed) of the list, in order.
        case list([[UInt8]])
    }

    /// `If-None-Match = "*" / #entity-tag`, `entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE`,
    /// `etagc = %x21 / %x23-7E / obs-text`. Nil when malformed.
    static func parseEntityTags(_ field: String) -> Precondition? {
        let bytes = Substring(field).utf8
        let isWhitespace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        var index = bytes.startIndex
        var tags: [[UInt8]] = []
        var sawStar = false
        var elements = 0
        while true {
            // Empty list elements and whitespace before an element.
            while index < bytes.endIndex, isWhitespace(bytes[index]) || bytes[index] == UInt8(ascii: ",") {
                index = bytes.index(after: index)
            }
            guard index < bytes.endIndex else { break }
            elements += 1
            if bytes[index] == UInt8(ascii: "*") {
                sawStar = true
                index = bytes.index(after: index)
            } else {
                if bytes[index] == UInt8(ascii: "W") {
                    index = bytes.index(after: index)
                    guard index < bytes.endIndex, bytes[index] == UInt8(ascii: "/") else { return nil }
                    index = bytes.index(after: index)
                }
                guard index < bytes.endIndex, bytes[index] == UInt8(ascii: "\"") else { return nil }
                let start = index
                index = bytes.index(after: index)
                while index < bytes.endIndex, bytes[index] != UInt8(ascii: "\"") {
                    let byte = bytes[index]
                    guard byte == 0x21 || (0x23...0x7E).contains(byte) || byte >= 0x80 else { return nil }
                    index = bytes.index(after: index)
                }
                guard index < bytes.endIndex else { return nil }
                index = bytes.index(after: index)
                tags.append(Array(bytes[start..<index]))
            }
            // After an element: whitespace, then a comma or the end.
            while index < bytes.endIndex, isWhitespace(bytes[index]) { index = bytes.index(after: index) }
            guard index == bytes.endIndex || bytes[index] == UInt8(ascii: ",") else { return nil }
        }
        if sawStar { return elements == 1 ? .any : nil }
        return tags.isEmpty ? nil : .list(tags)
    }

    /// `etag` without a `W/` prefix: what weak comparison compares.
    private static func opaqueTag(_ etag: String) -> [UInt8] {
        Array(etag.hasPrefix("W/") ? etag.utf8.dropFirst(2) : etag.utf8[...])
    }

    /// `Cache-Control` of a stored result or mask: private (it is one client's photo), fresh until the job
    /// expires (`result_ttl` after it finished; never negative), and immutable: a job's result never changes.
    static func storedResultCacheControl(finishedAt: Double?, resultTTL: Double, now: Double = wallClockSeconds()) -> String {
        let remaining = ((finishedAt ?? now) + resultTTL - now).rounded(.down)
        let maxAge = remaining.isFinite ? Int(min(max(remaining, 0), Double(Int32.max))) : 0
        return "private, max-age=\(maxAge), immutable"
    }

    /// `Cache-Control` of an image answered to `POST /resize`: a POST answer is not for caches to store.
    static let postAnswerCacheControl = "no-store"
}
