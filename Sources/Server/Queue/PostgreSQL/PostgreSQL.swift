// A thin layer over libpq (CPostgreSQL): one connection, statements prepared once per connection and run
// with text parameters (bytea in binary), results read by column name, and errors that keep the SQLSTATE so
// the server can tell "the database is unreachable" (503) from a bug in our SQL (500).
import CPostgreSQL
import Glibc

/// A PostgreSQL failure: its SQLSTATE (empty when the connection itself failed), libpq's message, and what
/// we were doing.
struct PostgresError: Error, CustomStringConvertible, Equatable, JobStoreFailure {
    let sqlState: String
    let message: String
    let context: String
    /// The connection broke (or never came up): the statement may not have run, and the connection is
    /// dropped rather than handed out again.
    let connectionLost: Bool

    init(sqlState: String = "", message: String, context: String, connectionLost: Bool = false) {
        self.sqlState = sqlState
        self.message = message
        self.context = context
        self.connectionLost = connectionLost
    }

    /// Unreachable, shutting down, out of resources, or a conflict worth retrying: 503, not 500.
    var isStorageUnavailable: Bool {
        if connectionLost { return true }
        // 08: connection exception; 53: insufficient resources; 57: operator intervention (shutdown, crash
        // recovery); 40: serialization failure or deadlock; 58: system error (I/O); 25006: read-only transaction
        // (a standby); 55P03: lock not available.
        return ["08", "53", "57", "40", "58"].contains(String(sqlState.prefix(2))) || sqlState == "25006" || sqlState == "55P03"
    }

    /// libpq's words: they hold no server paths.
    var clientDescription: String { "PostgreSQL: " + message }

    var description: String {
        "PostgreSQL error\(sqlState.isEmpty ? "" : " " + sqlState) while \(context): \(message)"
    }
}

/// A statement's parameter: text, or bytes sent in binary (bytea).
enum PostgresValue {
    case text(String)
    case bytes([UInt8])
    case null
}

extension PostgresValue {
    static func int(_ value: Int) -> PostgresValue { .text(String(value)) }
    static func double(_ value: Double) -> PostgresValue { .text(value.description) }
    static func optional(_ value: String?) -> PostgresValue { value.map { .text($0) } ?? .null }
    static func optional(_ value: Double?) -> PostgresValue { value.map { .double($0) } ?? .null }
}

/// The rows of one statement, read by column name (text format) or as raw bytes (binary format).
final class PostgresRows {
    private let result: OpaquePointer
    let count: Int
    private var columns: [String: Int32] = [:]

    init(_ result: OpaquePointer) {
        self.result = result
        count = Int(PQntuples(result))
        for index in 0..<PQnfields(result) { columns[String(cString: PQfname(result, index))] = index }
    }

    deinit { PQclear(result) }

    /// Rows changed by an UPDATE/DELETE/INSERT without RETURNING.
    var affected: Int { Int(String(cString: PQcmdTuples(result))) ?? 0 }

    private func column(_ name: String) throws -> Int32 {
        guard let index = columns[name] else {
            throw PostgresError(message: "no column \(name) in the result", context: "reading a row")
        }
        return index
    }

    func isNull(_ row: Int, _ name: String) throws -> Bool { PQgetisnull(result, Int32(row), try column(name)) == 1 }

    func optionalText(_ row: Int, _ name: String) throws -> String? {
        let index = try column(name)
        guard PQgetisnull(result, Int32(row), index) == 0 else { return nil }
        return String(cString: PQgetvalue(result, Int32(row), index))
    }

    func text(_ row: Int, _ name: String) throws -> String {
        guard let value = try optionalText(row, name) else {
            throw PostgresError(message: "column \(name) is NULL", context: "reading a row")
        }
        return value
    }

    func int(_ row: Int, _ name: String) throws -> Int {
        let value = try text(row, name)
        guard let number = Int(value) else { throw PostgresError(message: "column \(name) is not an integer: \(value)", context: "reading a row") }
        return number
    }

    func optionalDouble(_ row: Int, _ name: String) throws -> Double? {
        guard let value = try optionalText(row, name) else { return nil }
        guard let number = Double(value) else { throw PostgresError(message: "column \(name) is not a number: \(value)", context: "reading a row") }
        return number
    }

    func double(_ row: Int, _ name: String) throws -> Double {
        guard let value = try optionalDouble(row, name) else {
            throw PostgresError(message: "column \(name) is NULL", context: "reading a row")
        }
        return value
    }

    func bool(_ row: Int, _ name: String) throws -> Bool { try text(row, name) == "t" }

    /// A bytea column of a statement run with `binaryResults`: its bytes as stored.
    func bytes(_ row: Int, _ name: String) throws -> [UInt8]? {
        let index = try column(name)
        guard PQgetisnull(result, Int32(row), index) == 0 else { return nil }
        let length = Int(PQgetlength(result, Int32(row), index))
        guard length > 0, let value = PQgetvalue(result, Int32(row), index) else { return [] }
        return value.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
    }
}

/// One libpq connection. Used by one thread at a time: the pool hands it to a single caller, who gives it
/// back; @unchecked Sendable because it crosses threads only through the pool's Mutex.
final class PostgresConnection: @unchecked Sendable {
    private(set) var handle: OpaquePointer?
    /// Statements prepared on this connection, by the name derived from their SQL.
    private var prepared: Set<String> = []
    /// Commands that succeeded on this connection (the pool tells "dead before use" from "died in use").
    private(set) var completed = 0

    init(url: String) throws {
        let connection = PQconnectdb(url)
        guard let connection, PQstatus(connection) == CONNECTION_OK else {
            let message = connection.map { Self.lastMessage($0) } ?? "out of memory"
            PQfinish(connection)
            throw PostgresError(message: message, context: "connecting", connectionLost: true)
        }
        handle = connection
        // Notices (e.g. "relation already exists, skipping") would go to stderr otherwise.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
    }

    deinit { PQfinish(handle) }

    var isBroken: Bool { handle.map { PQstatus($0) != CONNECTION_OK } ?? true }

    static func lastMessage(_ connection: OpaquePointer) -> String {
        String(cString: PQerrorMessage(connection)).trimmingTrailingWhitespace()
    }

    /// Runs SQL without parameters (may hold several statements: migrations, BEGIN, COMMIT).
    func execute(_ sql: String) throws {
        let result = PQexec(handle, sql)
        _ = try check(result, context: String(sql.prefix(40)))
    }

    /// Runs `sql` with `params` ($1, $2, …) as a prepared statement (prepared on first use on this
    /// connection). `binaryResults`: columns come back in binary, for reading bytea without hex.
    @discardableResult
    func query(_ sql: String, _ params: [PostgresValue] = [], binaryResults: Bool = false) throws -> PostgresRows {
        let name = "s" + fnv1a64Hex(Array(sql.utf8))
        if !prepared.contains(name) {
            let result = PQprepare(handle, name, sql, Int32(params.count), nil)
            _ = try check(result, context: "preparing " + String(sql.prefix(60)))
            prepared.insert(name)
        }
        // The parameters' bytes must outlive PQexecPrepared: kept in one array of owned buffers.
        var buffers: [UnsafeMutablePointer<CChar>?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        defer { buffers.forEach { $0?.deallocate() } }
        for param in params {
            switch param {
            case .null:
                buffers.append(nil); lengths.append(0); formats.append(0)
            case .text(let text):
                let utf8 = Array(text.utf8CString)
                let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count)
                buffer.initialize(from: utf8, count: utf8.count)
                buffers.append(buffer); lengths.append(0); formats.append(0)
            case .bytes(let bytes):
                let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, bytes.count))
                bytes.withUnsafeBytes { raw in
                    if let base = raw.baseAddress { UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: bytes.count) }
                }
                buffers.append(buffer); lengths.append(Int32(bytes.count)); formats.append(1)
            }
        }
        let values = buffers.map { UnsafePointer<CChar>($0) }
        let result = PQexecPrepared(handle, name, Int32(params.count), values, lengths, formats, binaryResults ? 1 : 0)
        return try check(result, context: String(sql.prefix(60)))
    }

    private func check(_ result: OpaquePointer?, context: String) throws -> PostgresRows {
        guard let result else {
            throw PostgresError(message: handle.map(Self.lastMessage) ?? "no connection", context: context, connectionLost: isBroken)
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
            completed += 1
            return PostgresRows(result)
        default:
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) } ?? ""
            let message = String(cString: PQresultErrorMessage(result)).trimmingTrailingWhitespace()
            PQclear(result)
            throw PostgresError(sqlState: state, message: message, context: context,
                                connectionLost: isBroken || state.hasPrefix("08") || Self.sessionEnded.contains(state))
        }
    }

    /// The server ended the session: an administrator or a restart (57P01), a crash of another backend
    /// (57P02), `idle_session_timeout` (57P05, which ends exactly the connections that sit in a pool).
    static let sessionEnded: Set<String> = ["57P01", "57P02", "57P05"]

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            if !isBroken { try? execute("ROLLBACK") }
            throw error
        }
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var text = Substring(self)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
