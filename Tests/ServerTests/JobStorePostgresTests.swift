import Foundation
import Glibc
import Synchronization
import Testing

@testable import Server

/// What only a store shared by replicas does: leases that expire, cancels and recovery across store
/// instances (each one stands for a replica), migrations under a lock, reconnects. Needs
/// DEEPRESIZE_TEST_POSTGRES_URL (skipped only without it; scripts/test always sets it).
@Suite("JobStore PostgreSQL", .enabled(if: StoreBackend.postgresURL != nil, "DEEPRESIZE_TEST_POSTGRES_URL is not set"))
struct JobStorePostgresTests {
    private final class Schema: Sendable {
        let name = uniqueTestSchema("pgstore")
        deinit { dropTestSchema(name) }
    }

    private final class ManualClock: Sendable {
        private let time: Mutex<Double>
        init(_ start: Double) { time = Mutex(start) }
        func set(_ value: Double) { time.withLock { $0 = value } }
        var now: @Sendable () -> Double { { self.time.withLock { $0 } } }
    }

    private func replica(_ schema: Schema, clock: ManualClock? = nil, maxAttempts: Int = 3, lease: Double = 30,
                         maxDataBytes: Int = 0, url: String? = nil) throws -> PostgresJobStore {
        try PostgresJobStore(url: url ?? StoreBackend.postgresURL!, connections: 4, queueCapacity: 100, maxAttempts: maxAttempts,
                             resultTTL: 3600, maxDataBytes: maxDataBytes, leaseSeconds: lease, schema: schema.name,
                             clock: clock?.now ?? SQLiteJobStore.systemClock)
    }

    private let params = JobParams(width: 40, height: 30, op: "seam", format: "png")

    private func enqueue(_ store: some JobStore, input: [UInt8] = [1, 2, 3]) throws -> JobRecord {
        try store.enqueue(method: "seam", params: params, input: input, inputFormat: "png", inputWidth: 64, inputHeight: 48)
    }

    /// A replica dies holding a job: once its lease expires another replica puts it back (attempt counted),
    /// a later claim reruns it, and the dead holder's calls change nothing.
    @Test func anExpiredLeaseIsRequeuedByAnotherReplica() throws {
        let schema = Schema()
        let clock = ManualClock(1_000)
        let first = try replica(schema, clock: clock), second = try replica(schema, clock: clock)
        let job = try enqueue(first)
        let held = try #require(try first.claimNext())
        clock.set(1_020)
        #expect(try second.recoverInterruptedJobs() == JobRecoveryReport())  // not expired yet
        #expect(try first.heartbeat(held) == .held)                         // renewed to 1_050
        clock.set(1_045)
        #expect(try second.recoverInterruptedJobs().requeued == 0)
        clock.set(1_051)
        #expect(try second.recoverInterruptedJobs().requeued == 1)
        #expect(try second.job(id: job.id)?.status == .queued)
        let rerun = try #require(try second.claimNext())
        #expect(rerun.attempt == 2 && rerun.lease != held.lease)
        #expect(try first.heartbeat(held) == .lost)
        #expect(try first.succeed(held, result: [6], format: "png") == false)
        #expect(try second.succeed(rerun, result: [7], format: "png"))
        #expect(try first.resultBytes(id: job.id) == [7])
    }

    /// Interrupted `max_attempts` times: failed with the reason, as in SQLite.
    @Test func leasesLostTooOftenFailTheJob() throws {
        let schema = Schema()
        let clock = ManualClock(1_000)
        let store = try replica(schema, clock: clock, maxAttempts: 2)
        let job = try enqueue(store)
        _ = try store.claimNext()
        clock.set(1_100)
        #expect(try store.recoverInterruptedJobs().requeued == 1)
        _ = try store.claimNext()
        clock.set(1_200)
        #expect(try store.recoverInterruptedJobs().failed == 1)
        let failed = try #require(try store.job(id: job.id))
        #expect(failed.status == .failed && failed.error?.detail.contains("max_attempts") == true)
        #expect(try store.fileNames(id: job.id) == [])
    }

    /// DELETE answered by one replica, the job running on another: its holder sees it at the next heartbeat.
    @Test func aCancelOnOneReplicaReachesTheHolderOnAnother() throws {
        let schema = Schema()
        let api = try replica(schema), worker = try replica(schema)
        let job = try enqueue(api)
        let claim = try #require(try worker.claimNext())
        #expect(try api.cancel(id: job.id)?.cancelRequested == true)
        #expect(try worker.heartbeat(claim) == .cancelRequested)
        #expect(try worker.finish(claim, as: .canceled))
        #expect(try api.job(id: job.id)?.status == .canceled)
    }

    /// Concurrent claims from several replicas: every job exactly once (FOR UPDATE SKIP LOCKED).
    @Test func replicasClaimEachJobExactlyOnce() throws {
        let schema = Schema()
        let replicas = try (0..<4).map { _ in try replica(schema) }
        let ids = Set(try (0..<90).map { _ in try enqueue(replicas[0]).id })
        let claimed = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { index in
            while let claim = try? replicas[index % 4].claimNext() { claimed.withLock { $0.append(claim.id) } }
        }
        let all = claimed.withLock { $0 }
        #expect(all.count == 90 && Set(all) == ids)
    }

    /// Files of a few MB go in and out byte for byte (bytea, binary both ways), and count against
    /// max_data_bytes (507 past it, nothing left of the refused job).
    @Test func largeFilesRoundTripAndCountAgainstTheQuota() throws {
        let schema = Schema()
        let store = try replica(schema, maxDataBytes: 8_000_000)
        var rng = SeededGenerator(seed: 7)
        let input = (0..<3_000_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let job = try enqueue(store, input: input)
        #expect(try store.inputBytes(id: job.id) == input)
        #expect(store.inputByteCount(job) == input.count)
        #expect(store.dataUsage.bytes == input.count)
        let refused = try #require(throws: JobStoreError.self) { try enqueue(store, input: input + input) }
        guard case .storeFull = refused else { Issue.record("expected storeFull, got \(refused)"); return }
        #expect(!refused.neverFits && Problem(refused).status == 507)
        // More than the whole quota: no expiry makes room, a 422.
        let tooLarge = try #require(throws: JobStoreError.self) { try enqueue(store, input: input + input + input) }
        #expect(tooLarge.neverFits && Problem(tooLarge).status == 422, "\(tooLarge)")
        #expect(try store.counts()[.queued] == 1)
        let claim = try #require(try store.claimNext())
        let result = Array(input.reversed())
        #expect(try store.succeed(claim, result: result, format: "png", attachments: [.mask: [1, 2]]))
        #expect(try store.resultBytes(id: job.id) == result)
        #expect(try store.fileNames(id: job.id) == ["mask.png", "result.png"])
    }

    /// Replicas starting together on an empty schema: one applies the migrations, the others find them done.
    @Test func replicasStartingTogetherMigrateOnce() throws {
        let schema = Schema()
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            do { _ = try replica(schema) } catch { failures.withLock { $0.append("\(error)") } }
        }
        #expect(failures.withLock { $0 } == [])
        let store = try replica(schema)
        let version = try store.pool.withConnection { db in
            try db.query("SELECT COUNT(*) AS n, MAX(version) AS v FROM deepresize_schema")
        }
        #expect(try version.int(0, "n") == 1 && version.int(0, "v") == PostgresSchema.currentVersion)
        try store.pool.withConnection { db in try db.execute("UPDATE deepresize_schema SET version = 99") }
        #expect(throws: JobStoreError.unsupportedSchema(found: 99, supported: PostgresSchema.currentVersion)) {
            try replica(schema)
        }
    }

    /// A schema from before `attachments` (version 2): succeeded deep jobs that reconstructed are recorded with
    /// their mask, the one that only scaled (its summary says so) with none.
    @Test func aVersion2SchemaRecordsTheMasksDeepJobsStored() throws {
        let schema = Schema()
        let carved = JobID.generate(), scaled = JobID.generate()
        let admin = try PostgresConnection(url: StoreBackend.postgresURL!)
        try admin.execute("CREATE SCHEMA " + PostgresJobStore.quoted(schema.name) + "; SET search_path TO " + PostgresJobStore.quoted(schema.name))
        for migration in PostgresSchema.migrations where migration.version <= 2 { try admin.execute(migration.sql) }
        try admin.execute("CREATE TABLE deepresize_schema (version INTEGER NOT NULL); INSERT INTO deepresize_schema VALUES (2)")
        try admin.query("""
            INSERT INTO jobs (id, status, method, params, input_width, input_height, input_format, created_at, finished_at,
                              result_format, summary)
            VALUES ($1, 'succeeded', 'deep', $3, 4, 3, 'png', $4, $4, 'png', 'reconstructed 4×3 → 3×3'),
                   ($2, 'succeeded', 'deep', $3, 4, 3, 'png', $4, $4, 'png',
                    'uniform scale 4×3 → 8×6: the aspect ratio is kept, nothing to reconstruct')
            """, [.text(carved), .text(scaled), .text(try JobRows.json(params)), .double(SQLiteJobStore.systemClock())])
        let store = try replica(schema)
        #expect(try store.job(id: carved)?.attachments == [.mask])
        #expect(try store.job(id: scaled)?.attachments == [])
        #expect(try store.attachmentBytes(id: scaled, .mask) == nil)
    }

    /// The database gone: calls fail as storage outages (503), /readyz's probe throws, and new connections
    /// are not hammered (the pool backs off); connections the server dropped are replaced on the next call.
    @Test func unreachableDatabaseIsAStorageOutageAndDroppedConnectionsReconnect() throws {
        let pool = PostgresPool(url: "postgresql://deepresize@127.0.0.1:1/none?connect_timeout=2", size: 2)
        let first = try #require(throws: PostgresError.self) { try pool.withConnection { _ in } }
        #expect(first.isStorageUnavailable && first.connectionLost && JobStoreError.isStorageUnavailable(first))
        let start = monotonicSeconds()
        #expect(throws: PostgresError.self) { try pool.withConnection { _ in } }
        #expect(monotonicSeconds() - start < 0.05)  // within the backoff: answered at once

        let schema = Schema()
        let store = try replica(schema)
        _ = try enqueue(store)
        try store.checkWritable()
        // Another session ends this store's (idle) connection, as a database restart would.
        let pid = try store.pool.withConnection { db in try db.query("SELECT pg_backend_pid() AS pid").int(0, "pid") }
        let admin = try PostgresConnection(url: StoreBackend.postgresURL!)
        try admin.query("SELECT pg_terminate_backend($1)", [.int(pid)])
        usleep(100_000)
        try store.checkWritable()  // the broken idle connection is replaced, the call not failed
        #expect(try store.counts()[.queued] == 1)
    }

    /// After a database restart every idle connection of the pool is dead, not only the first one taken:
    /// the next call still succeeds, on a new connection (it once retried once, and a pool of several
    /// connections answered the first request after a restart with a 503). A transaction whose BEGIN meets
    /// the dead connections is retried the same way, and no slot of the pool is lost to the retries.
    @Test func aCallAfterEveryIdleConnectionDiedSucceeds() throws {
        let pool = PostgresPool(url: StoreBackend.postgresURL!, size: 3, acquireTimeout: 5)
        let admin = try PostgresConnection(url: StoreBackend.postgresURL!)
        // Three connections open at once, back in the pool, idle; then their sessions ended as a restart ends
        // them, waiting until the server has let them go.
        func threeIdleThenEnded() throws -> [Int] {
            let pids = try pool.withConnection { a in
                try pool.withConnection { b in
                    try pool.withConnection { c in
                        try [a, b, c].map { try $0.query("SELECT pg_backend_pid() AS pid").int(0, "pid") }
                    }
                }
            }
            #expect(Set(pids).count == 3)
            for pid in pids { try admin.query("SELECT pg_terminate_backend($1)", [.int(pid)]) }
            let deadline = monotonicSeconds() + 10
            while try admin.query("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = ANY($1::int[])",
                                  [.text("{" + pids.map(String.init).joined(separator: ",") + "}")]).int(0, "n") > 0,
                  monotonicSeconds() < deadline {
                usleep(20_000)
            }
            return pids
        }
        let ended = try threeIdleThenEnded()
        let pid = try pool.withConnection { db in try db.query("SELECT pg_backend_pid() AS pid").int(0, "pid") }
        #expect(!ended.contains(pid))
        _ = try threeIdleThenEnded()
        #expect(try pool.transaction { db in try db.query("SELECT 1 AS one").int(0, "one") } == 1)
        _ = try threeIdleThenEnded()  // all three slots can be taken at once again
    }
}

/// A small deterministic generator (xorshift), so the big test file is the same every run.
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
