// Which job store `queue_url` selects, and the role a process plays with it.

/// The job store `queue_url` names.
public enum QueueBackend: Equatable, Sendable, CustomStringConvertible {
    /// The embedded SQLite in the data directory: one server per directory.
    case sqlite
    /// PostgreSQL at this URL or libpq keyword string: replicas share it.
    case postgres(String)

    /// Nil for a value that is neither empty, a postgres URL, nor libpq keywords.
    public init?(url: String) {
        let trimmed = url.trimmingCharacters(in: " \t")
        if trimmed.isEmpty {
            self = .sqlite
        } else if trimmed.hasPrefix("postgres://") || trimmed.hasPrefix("postgresql://") {
            self = .postgres(trimmed)
        } else if trimmed.contains("=") && !trimmed.contains("://") {
            // libpq's own "host=… port=… dbname=…"; libpq itself judges the keywords when connecting.
            self = .postgres(trimmed)
        } else {
            return nil
        }
    }

    public var isShared: Bool { self != .sqlite }

    /// For logs and `get`: the password never shows.
    public var description: String {
        switch self {
        case .sqlite: return "sqlite"
        case .postgres(let url): return "postgres " + Self.redacted(url)
        }
    }

    /// `url` with the password (URL userinfo, or the `password=` keyword) replaced by `***`.
    static func redacted(_ url: String) -> String {
        if let scheme = url.range(of: "://") {
            let rest = url[scheme.upperBound...]
            guard let at = rest.firstIndex(of: "@") else { return url }
            let userinfo = rest[..<at]
            guard let colon = userinfo.firstIndex(of: ":") else { return url }
            return String(url[..<scheme.upperBound]) + userinfo[..<colon] + ":***" + rest[at...]
        }
        return url.split(separator: " ").map { $0.hasPrefix("password=") ? "password=***" : String($0) }.joined(separator: " ")
    }
}

/// What one `deepresize serve` process does (`role`).
public enum ServerRole: String, Sendable, CaseIterable {
    /// Requests and workers in one process (the only role with SQLite).
    case all
    /// Requests (submit, status, results, inline scale); runs no queued jobs.
    case api
    /// Runs queued jobs; answers only /healthz, /readyz and /metrics.
    case worker

    public var runsJobs: Bool { self != .api }
    public var servesRequests: Bool { self != .worker }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        String(drop(while: { set.contains($0) }).reversed().drop(while: { set.contains($0) }).reversed())
    }
}
