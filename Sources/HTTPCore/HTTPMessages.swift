import Synchronization
/// A request line plus header fields, with the framing and connection decisions already made by the parser.
public struct HTTPRequestHead: Sendable {
    public var method: String
    /// The request-target exactly as sent (e.g. `/resize?w=400`).
    public var target: String
    /// The percent-decoded path (no query). `*` for `OPTIONS *`.
    public var path: String
    /// Query parameters in order, percent-decoded, `+` as space.
    public var query: [(name: String, value: String)]
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    /// Whether the connection may serve another request after this one (before the response has its say).
    public var keepAlive: Bool
    /// The declared body length; nil when the body is chunked or absent.
    public var contentLength: Int?
    public var isChunked: Bool
    /// `Expect: 100-continue` on an HTTP/1.1 request that has a body.
    public var expectsContinue: Bool
    /// `ip:port` of the peer; empty when the head did not come from a socket.
    public var remoteAddress: String

    public init(method: String, target: String, path: String, query: [(name: String, value: String)] = [],
                version: HTTPVersion = .http1_1, headers: HTTPHeaders = HTTPHeaders(), keepAlive: Bool = true,
                contentLength: Int? = nil, isChunked: Bool = false, expectsContinue: Bool = false,
                remoteAddress: String = "") {
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.keepAlive = keepAlive
        self.contentLength = contentLength
        self.isChunked = isChunked
        self.expectsContinue = expectsContinue
        self.remoteAddress = remoteAddress
    }

    /// Whether a body follows the head (a declared length above zero, or chunked).
    public var hasBody: Bool { isChunked || (contentLength ?? 0) > 0 }
}

public struct HTTPRequest: Sendable {
    public var head: HTTPRequestHead
    public var body: [UInt8]
    /// Tells a handler that answers later that the client went away before its answer.
    public let disconnect: ClientDisconnect

    public init(head: HTTPRequestHead, body: [UInt8] = [], disconnect: ClientDisconnect = ClientDisconnect()) {
        self.head = head
        self.body = body
        self.disconnect = disconnect
    }
}

/// The client of a request being handled went away: while a handler holds a request (before `respond`), the
/// connection watches for the peer's close (EPOLLRDHUP: a FIN, or a reset) and fires this once, so that work
/// nobody will receive can stop. A client that half-closes its side after the request counts as gone too
/// (as nginx takes it); its answer is still written if the socket takes it.
public final class ClientDisconnect: Sendable {
    private let state = Mutex<(gone: Bool, retired: Bool, actions: [@Sendable () -> Void])>((false, false, []))

    public init() {}

    /// Calls `action` once when the client goes away before the answer (at once, here, when it is gone
    /// already); never once the answer has been handed to the connection.
    public func onDisconnect(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.retired { return false }
            if state.gone { return true }
            state.actions.append(action)
            return false
        }
        if now { action() }
    }

    /// Whether the client went away while the request was handled.
    public var isGone: Bool { state.withLock { $0.gone } }

    /// The connection saw the peer close.
    func fire() {
        let actions = state.withLock { state -> [@Sendable () -> Void] in
            guard !state.gone, !state.retired else { return [] }
            state.gone = true
            defer { state.actions = [] }
            return state.actions
        }
        for action in actions { action() }
    }

    /// The answer was handed over: later closes are no one's concern, and the actions are released.
    func retire() {
        state.withLock { state in
            state.retired = true
            state.actions = []
        }
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Handler headers. The writer owns `Content-Length`, `Transfer-Encoding`, `Date`, `Connection` and
    /// `X-Content-Type-Options` and replaces whatever is here; `Connection: close` from a handler is honoured.
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// An RFC 9457 `application/problem+json` response.
    public static func problem(status: Int, title: String, detail: String, type: String = "about:blank") -> HTTPResponse {
        let json = "{\"type\":\(jsonString(type)),\"title\":\(jsonString(title)),\"status\":\(status),\"detail\":\(jsonString(detail))}"
        return HTTPResponse(status: status,
                            headers: HTTPHeaders([("Content-Type", "application/problem+json")]),
                            body: Array(json.utf8))
    }

    /// The standard reason phrase, or a generic one for unknown codes.
    public static func reasonPhrase(for status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 203: "Non-Authoritative Information"
        case 204: "No Content"
        case 206: "Partial Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"
        case 417: "Expectation Failed"
        case 422: "Unprocessable Content"
        case 428: "Precondition Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        case 507: "Insufficient Storage"
        default:
            switch status {
            case 100..<200: "Informational"
            case 200..<300: "Success"
            case 300..<400: "Redirection"
            case 400..<500: "Client Error"
            default: "Server Error"
            }
        }
    }
}

/// A request HTTPCore refuses while parsing it. `status` is the HTTP status the server answers with.
public struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var detail: String

    public init(status: Int, detail: String) {
        self.status = status
        self.detail = detail
    }

    public var description: String { "\(status) \(HTTPResponse.reasonPhrase(for: status)): \(detail)" }

    /// The problem+json response the server sends for this error.
    public var response: HTTPResponse {
        HTTPResponse.problem(status: status, title: HTTPResponse.reasonPhrase(for: status), detail: detail)
    }

    static func badRequest(_ detail: String) -> HTTPParseError { HTTPParseError(status: 400, detail: detail) }
}

/// A JSON string literal (quotes included) with the escapes RFC 8259 requires. Public so the routes
/// above write JSON strings exactly as the problem bodies of this module do.
public func jsonString(_ s: String) -> String {
    var out = "\""
    out.reserveCapacity(s.utf8.count + 2)
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
