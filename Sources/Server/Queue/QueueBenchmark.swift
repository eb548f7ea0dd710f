// `deepresize bench queue` (scripts/bench-queue): the job store alone, without HTTP or methods. Jobs that do
// no work go through claim → succeed as fast as the store lets them, on SQLite or PostgreSQL; submit → claim
// latency with a waiting worker; and bytea against large objects for the files.
import CPostgreSQL
import Dispatch
import Foundation
import Glibc
import Synchronization

public enum QueueBenchmark {
    /// The store `queueURL` names (empty: SQLite in `directory`), as a benchmark uses it.
    public static func openStore(queueURL: String, directory: String, capacity: Int = 1_000_000,
                                 connections: Int = 8) throws -> any JobStore {
        switch QueueBackend(url: queueURL) ?? .sqlite {
        case .sqlite:
            return try SQLiteJobStore(directory: directory, queueCapacity: capacity, maxAttempts: 3, resultTTL: 86_400, maxDataBytes: 0)
        case .postgres(let url):
            return try PostgresJobStore(url: url, connections: connections, queueCapacity: capacity, maxAttempts: 3,
                                        resultTTL: 86_400, maxDataBytes: 0)
        }
    }

    static let params = JobParams(width: 8, height: 8, op: "seam", format: "png")
    static let input: [UInt8] = Array(repeating: 7, count: 100)

    /// Queues `count` jobs with a 100-byte input, from `threads` threads.
    public static func fill(_ store: any JobStore, count: Int, threads: Int = 4) throws {
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for _ in stride(from: thread, to: count, by: threads) {
                do {
                    _ = try store.enqueue(method: "seam", params: params, input: input, inputFormat: "png", inputWidth: 8, inputHeight: 8)
                } catch {
                    failures.withLock { $0.append("\(error)") }
                    return
                }
            }
        }
        if let first = failures.withLock({ $0.first }) { throw BenchmarkFailure(first) }
    }

    /// Claims and succeeds jobs from `threads` threads until the queue is empty; returns how many.
    public static func drain(_ store: any JobStore, threads: Int) throws -> Int {
        let done = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            do {
                while let claim = try store.claimNext() {
                    _ = try store.inputBytes(id: claim.id)
                    guard try store.succeed(claim, result: [1, 2, 3], format: "png") else { throw BenchmarkFailure("lease lost") }
                    done.add(1, ordering: .relaxed)
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        if let first = failures.withLock({ $0.first }) { throw BenchmarkFailure(first) }
        return done.load(ordering: .relaxed)
    }

    /// Submit → claim latency: one job every `interval` seconds, `count` of them, while a worker waits
    /// (PostgreSQL: woken by LISTEN from another connection; SQLite: woken in the process, as the worker pool
    /// is). Seconds from enqueue returned to claim returned, sorted.
    public static func latency(_ store: any JobStore, count: Int, interval: Double) throws -> [Double] {
        let wake = DispatchSemaphore(value: 0)
        let listener: PostgresListener? = (store as? PostgresJobStore).map { shared in
            shared.listener(queued: { wake.signal() }, finished: { _ in }, connected: { wake.signal() })
        }
        listener?.start()
        defer { listener?.stop() }
        usleep(300_000)  // the listener is connected
        while wake.wait(timeout: .now()) == .success {}
        let submitted = Mutex<[String: Double]>([:])
        let latencies = Mutex<[Double]>([])
        let consumer = Thread {
            var claimed = 0
            while claimed < count {
                _ = wake.wait(timeout: .now() + 1)
                while let claim = try? store.claimNext() {
                    let now = monotonicSeconds()
                    while submitted.withLock({ $0[claim.id] }) == nil { usleep(50) }
                    latencies.withLock { $0.append(now - submitted.withLock { $0[claim.id]! }) }
                    _ = try? store.succeed(claim, result: [1], format: "png")
                    claimed += 1
                }
            }
        }
        consumer.start()
        for _ in 0..<count {
            let start = monotonicSeconds()
            let job = try store.enqueue(method: "seam", params: params, input: input, inputFormat: "png", inputWidth: 8, inputHeight: 8)
            submitted.withLock { $0[job.id] = start }
            if listener == nil { wake.signal() }  // SQLite: the in-process wake-up (WorkerPool.jobQueued)
            usleep(UInt32(interval * 1_000_000))
        }
        let deadline = monotonicSeconds() + 30
        while latencies.withLock({ $0.count }) < count && monotonicSeconds() < deadline { usleep(10_000) }
        return latencies.withLock { $0 }.sorted()
    }

    /// bytea against large objects: `rounds` × (write `size` bytes in a transaction, read them back), on
    /// one connection; median seconds of each.
    public static func files(url: String, size: Int, rounds: Int) throws -> [(method: String, write: Double, read: Double)] {
        let db = try PostgresConnection(url: url)
        try db.execute("DROP TABLE IF EXISTS bench_bytea, bench_lo; CREATE TABLE bench_bytea (id INT PRIMARY KEY, data BYTEA); "
                       + "ALTER TABLE bench_bytea ALTER COLUMN data SET STORAGE EXTERNAL; CREATE TABLE bench_lo (id INT PRIMARY KEY, oid OID)")
        defer { try? db.execute("SELECT lo_unlink(oid) FROM bench_lo; DROP TABLE IF EXISTS bench_bytea, bench_lo") }
        var rng = SystemRandomNumberGenerator()
        let payload = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        var byteaWrite: [Double] = [], byteaRead: [Double] = [], loWrite: [Double] = [], loRead: [Double] = []
        for round in 0..<rounds {
            var start = monotonicSeconds()
            _ = try db.transaction {
                try db.query("INSERT INTO bench_bytea (id, data) VALUES ($1, $2)", [.int(round), .bytes(payload)])
            }
            byteaWrite.append(monotonicSeconds() - start)
            start = monotonicSeconds()
            let back = try db.query("SELECT data FROM bench_bytea WHERE id = $1", [.int(round)], binaryResults: true).bytes(0, "data")
            byteaRead.append(monotonicSeconds() - start)
            guard back == payload else { throw BenchmarkFailure("bytea round trip differs") }

            start = monotonicSeconds()
            let oid: Oid = try db.transaction {
                let oid = lo_creat(db.handle, 0x20000 | 0x40000)  // INV_WRITE | INV_READ
                let fd = lo_open(db.handle, oid, 0x20000)
                guard oid != 0, fd >= 0 else { throw BenchmarkFailure("lo_creat/lo_open failed") }
                var offset = 0
                while offset < payload.count {
                    let chunk = min(1 << 20, payload.count - offset)
                    let written = payload[offset..<(offset + chunk)].withUnsafeBytes {
                        lo_write(db.handle, fd, $0.baseAddress!.assumingMemoryBound(to: CChar.self), chunk)
                    }
                    guard written == chunk else { throw BenchmarkFailure("lo_write failed") }
                    offset += chunk
                }
                _ = lo_close(db.handle, fd)
                try db.query("INSERT INTO bench_lo (id, oid) VALUES ($1, $2)", [.int(round), .text(String(oid))])
                return oid
            }
            loWrite.append(monotonicSeconds() - start)
            start = monotonicSeconds()
            let read: [UInt8] = try db.transaction {
                _ = try db.query("SELECT oid FROM bench_lo WHERE id = $1", [.int(round)])
                let fd = lo_open(db.handle, oid, 0x40000)
                guard fd >= 0 else { throw BenchmarkFailure("lo_open failed") }
                var out = [UInt8](repeating: 0, count: size)
                var offset = 0
                while offset < size {
                    let got = out.withUnsafeMutableBytes {
                        lo_read(db.handle, fd, $0.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self), min(1 << 20, size - offset))
                    }
                    guard got > 0 else { throw BenchmarkFailure("lo_read failed") }
                    offset += Int(got)
                }
                _ = lo_close(db.handle, fd)
                return out
            }
            loRead.append(monotonicSeconds() - start)
            guard read == payload else { throw BenchmarkFailure("large object round trip differs") }
        }
        return [("bytea", median(byteaWrite), median(byteaRead)), ("large object", median(loWrite), median(loRead))]
    }

    /// Resident and peak resident bytes of this process (VmRSS, VmHWM).
    public static func memory() -> (resident: Int, peak: Int) {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
        func value(_ key: String) -> Int {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return 0 }
            return (Int(line.split(separator: " ").dropFirst().first { Int($0) != nil } ?? "") ?? 0) * 1024
        }
        return (value("VmRSS:"), value("VmHWM:"))
    }
}

public struct BenchmarkFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
