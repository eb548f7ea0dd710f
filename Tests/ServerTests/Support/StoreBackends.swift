// The job-store backends the shared store suite runs against: SQLite always, PostgreSQL when
// DEEPRESIZE_TEST_POSTGRES_URL names a database (scripts/test starts a throwaway cluster and sets it; CI always
// does). Each PostgreSQL fixture works in a schema of its own, so suites and tests run side by side.
import Foundation
import Glibc
import Synchronization
import Testing

@testable import Server

enum StoreBackend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres

    /// The URL of the test database, when one is given.
    static var postgresURL: String? {
        ProcessInfo.processInfo.environment["DEEPRESIZE_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The backends this run can test: PostgreSQL is skipped only when no URL is given.
    static var available: [StoreBackend] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }

    var testDescription: String { rawValue }
}

/// A new, unique PostgreSQL schema name (lowercase, so it needs no quoting).
func uniqueTestSchema(_ prefix: String) -> String {
    prefix + "_" + JobID.generate().replacingOccurrences(of: "-", with: "").prefix(16)
}

/// Drops a test schema with everything in it (best effort: a test that failed may leave it to the cluster,
/// which scripts/test throws away).
func dropTestSchema(_ schema: String) {
    guard let url = StoreBackend.postgresURL, let db = try? PostgresConnection(url: url) else { return }
    try? db.execute("SET lock_timeout = '2s'; DROP SCHEMA IF EXISTS " + PostgresJobStore.quoted(schema) + " CASCADE")
}

/// Where one test's store lives: a temp data directory (SQLite) or a schema of its own (PostgreSQL); removed
/// afterwards. Stores made from the same fixture share their jobs, as a restart (or another replica) would.
final class StoreFixture: Sendable {
    let backend: StoreBackend
    let path: String
    let schema: String
    /// How many stores were made: each PostgreSQL store after the first runs its clock 120 s later than the one
    /// before, so the leases (60 s) of a "crashed" predecessor have expired, as after a replica died.
    private let generation = Mutex(0)

    init(_ backend: StoreBackend) throws {
        self.backend = backend
        var template = Array((NSTemporaryDirectory() + "/jobstore-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw JobFiles.fail("mkdtemp", "tmp") }
        path = String(cString: made)
        schema = uniqueTestSchema("jobstore")
    }

    deinit {
        try? JobFiles.removeTree(path)
        if backend == .postgres { dropTestSchema(schema) }
    }

    static let leaseSeconds = 60.0

    func makeStore(capacity: Int, maxAttempts: Int, ttl: Double, maxDataBytes: Int = 0,
                   clock: (@Sendable () -> Double)?) throws -> any JobStore {
        switch backend {
        case .sqlite:
            return try SQLiteJobStore(directory: path, queueCapacity: capacity, maxAttempts: maxAttempts, resultTTL: ttl,
                                      maxDataBytes: maxDataBytes, clock: clock ?? SQLiteJobStore.systemClock)
        case .postgres:
            guard let url = StoreBackend.postgresURL else { throw JobStoreError.notFound(id: "DEEPRESIZE_TEST_POSTGRES_URL") }
            let step = generation.withLock { value -> Int in
                value += 1
                return value - 1
            }
            let shift = Double(step) * 2 * Self.leaseSeconds
            let base: @Sendable () -> Double = SQLiteJobStore.systemClock
            let shifted: @Sendable () -> Double = { base() + shift }
            return try PostgresJobStore(url: url, connections: 8, queueCapacity: capacity, maxAttempts: maxAttempts,
                                        resultTTL: ttl, maxDataBytes: maxDataBytes, leaseSeconds: Self.leaseSeconds,
                                        schema: schema, clock: clock ?? shifted)
        }
    }

    /// A job's stored files by name: its directory (SQLite) or its `job_files` rows (PostgreSQL).
    func files(_ id: String, in store: any JobStore) throws -> [String] {
        switch backend {
        case .sqlite: return try JobFiles.list(path + "/jobs/" + id).sorted()
        case .postgres: return try (store as! PostgresJobStore).fileNames(id: id)
        }
    }

    /// Deletes one stored file of a job behind the store's back (a lost file): from its directory (SQLite) or
    /// its `job_files` row (PostgreSQL).
    func removeFile(_ name: String, of id: String, in store: any JobStore) throws {
        switch backend {
        case .sqlite:
            guard unlink(path + "/jobs/" + id + "/" + name) == 0 else { throw JobFiles.fail("unlink", name, errno) }
        case .postgres:
            try (store as! PostgresJobStore).pool.withConnection { db in
                try db.query("DELETE FROM job_files WHERE job_id = $1 AND name = $2", [.text(id), .text(name)])
            }
        }
    }

    /// The jobs that hold anything in the store: directories (SQLite) or rows (PostgreSQL), sorted.
    func jobEntries(_ store: any JobStore) throws -> [String] {
        switch backend {
        case .sqlite:
            return ((try? JobFiles.list(path + "/jobs")) ?? []).sorted()
        case .postgres:
            return try (store as! PostgresJobStore).pool.withConnection { db in
                let rows = try db.query("SELECT id FROM jobs UNION SELECT job_id FROM job_files ORDER BY 1")
                return try (0..<rows.count).map { try rows.text($0, "id") }
            }
        }
    }
}

extension JobStore {
    /// Polls until every job is final or `timeout` passes; the jobs as they are then (a job gone from the
    /// store is a test failure).
    func waitUntilFinished(_ ids: [String], timeout: Double = 120) throws -> [JobRecord] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let jobs = try ids.map { try #require(try job(id: $0)) }
            if jobs.allSatisfy({ $0.status.isFinished }) || Date() > deadline { return jobs }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }
}
