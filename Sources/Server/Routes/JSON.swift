import HTTPCore

/// A JSON value with ordered object keys, so bodies read in the order docs/api.md documents them, and `null`
/// written where a field is absent (clients can rely on every documented key being present).
indirect enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    static func == (lhs: JSON, rhs: JSON) -> Bool { lhs.serialized() == rhs.serialized() }

    static func optional(_ value: String?) -> JSON { value.map(JSON.string) ?? .null }
    static func optional(_ value: Double?) -> JSON { value.map(JSON.double) ?? .null }

    func serialized() -> String {
        var out = ""
        write(to: &out)
        return out
    }

    var bytes: [UInt8] { Array(serialized().utf8) }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            // JSON has no NaN or infinity; a loss that diverged is reported as null.
            if d.isFinite { out += d.rounded() == d && abs(d) < 1e15 ? String(Int(d)) : String(d) } else { out += "null" }
        case .string(let s): out += jsonString(s)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, (key, value)) in fields.enumerated() {
                if i > 0 { out += "," }
                out += jsonString(key)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }
}

extension HTTPResponse {
    /// A JSON body.
    static func json(_ status: Int, _ body: JSON) -> HTTPResponse {
        var response = HTTPResponse(status: status, body: body.bytes)
        response.headers.set("Content-Type", "application/json")
        return response
    }

    /// 200 with `body` as `contentType`.
    static func content(_ body: [UInt8], type contentType: String) -> HTTPResponse {
        var response = HTTPResponse(status: 200, body: body)
        response.headers.set("Content-Type", contentType)
        return response
    }
}
