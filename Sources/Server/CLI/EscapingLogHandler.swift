import Logging

/// Every log line is one line of plain text whatever a client sends: control characters in messages and
/// metadata (a request path `…%0a2026-… critical …%1b[31m` decodes to a newline and an ANSI escape) are
/// written as escapes (`\n`, `\r`, `\t`, `\u{1b}`), so nobody can forge a log line or recolour a terminal.
/// Wraps the stream handler, so it covers every logger of the process, the access log included.
struct EscapingLogHandler: LogHandler {
    var inner: StreamLogHandler

    var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }
    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }
    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        event.message = Logger.Message(stringLiteral: Self.escape(event.message.description))
        event.metadata = event.metadata.map(Self.escape)
        inner.log(event: event)
    }

    static func escape(_ metadata: Logger.Metadata) -> Logger.Metadata {
        metadata.reduce(into: [:]) { result, entry in result[escape(entry.key)] = escape(entry.value) }
    }

    static func escape(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text): .string(escape(text))
        case .stringConvertible(let item): .string(escape(item.description))
        case .array(let items): .array(items.map(escape))
        case .dictionary(let items): .dictionary(escape(items))
        }
    }

    /// C0 and C1 controls, DEL, and the Unicode line and paragraph separators, as escapes.
    static func escape(_ text: String) -> String {
        func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
            scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
        }
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where needsEscape(scalar): out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
