import Glibc

// Serialises responses. The writer, not the handler, decides the framing headers so a handler cannot
// produce a response that desynchronises the connection: Content-Length is always the body size
// (for HEAD with an empty body, the handler's own Content-Length is kept)
// (except 1xx/204/304, which have no body and, per RFC 9110, no Content-Length for 1xx/204), Transfer-Encoding
// is never sent, Date is the current time, Connection reflects the keep-alive decision.

enum ResponseWriter {
    /// Header names the writer owns; handler values for them are dropped.
    private static let owned = ["content-length", "transfer-encoding", "date", "connection", "x-content-type-options"]

    /// The status line and header block (ending in the empty line), and whether a body follows.
    static func head(for response: HTTPResponse, isHEAD: Bool, keepAlive: Bool, requestVersion: HTTPVersion,
                     now: time_t = time(nil)) -> (head: [UInt8], sendsBody: Bool) {
        let status = response.status
        var text = "HTTP/1.1 \(status) \(HTTPResponse.reasonPhrase(for: status))\r\n"
        for (name, value) in response.headers where !owned.contains(asciiLowercased(name)) {
            // Header injection guard: a handler value with CR/LF would split the response.
            // (Scalars, not Characters: "\r\n" is a single Character.)
            let safeValue = value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" })
                ? String(String.UnicodeScalarView(value.unicodeScalars.filter { $0 != "\r" && $0 != "\n" && $0 != "\0" }))
                : value
            guard isToken(name) else { continue }
            text += "\(name): \(safeValue)\r\n"
        }
        let bodyless = (100..<200).contains(status) || status == 204 || status == 304
        if !bodyless {
            var length = response.body.count
            // HEAD: a handler may skip building the body and state its length itself.
            if isHEAD, response.body.isEmpty, let declared = response.headers["Content-Length"],
               !declared.isEmpty, declared.utf8.allSatisfy({ decimalDigit($0) != nil }), declared.count <= 18,
               let value = Int(declared) {
                length = value
            }
            text += "Content-Length: \(length)\r\n"
        }
        text += "Date: \(httpDate(now))\r\n"
        text += "X-Content-Type-Options: nosniff\r\n"
        if !keepAlive {
            text += "Connection: close\r\n"
        } else if requestVersion == .http1_0 {
            text += "Connection: keep-alive\r\n"
        }
        text += "\r\n"
        return (Array(text.utf8), !bodyless && !isHEAD && !response.body.isEmpty)
    }

    /// True when the handler asked for the connection to close.
    static func handlerWantsClose(_ response: HTTPResponse) -> Bool {
        response.headers.tokens("Connection").contains("close")
    }

    static let continueLine: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
}

/// IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
func httpDate(_ t: time_t) -> String {
    var seconds = t
    var parts = tm()
    gmtime_r(&seconds, &parts)
    let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
        + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
}
