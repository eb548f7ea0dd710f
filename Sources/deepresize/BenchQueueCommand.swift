import ArgumentParser
import Foundation
import Server

/// `deepresize bench queue MODE`: the job store alone (scripts/bench-queue runs it across processes).
/// - fill: queue --jobs no-work jobs;
/// - drain: claim → succeed from --threads threads until the queue is empty; prints when it started and
///   ended (wall clock), so a script can add up several processes;
/// - latency: submit → claim latency with a waiting worker, --jobs jobs --interval apart;
/// - files: bytea against large objects, --size bytes written and read --rounds times (PostgreSQL only).
/// One JSON object per run on stdout.
struct BenchQueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Job store throughput (no-work jobs), submit → claim latency, and bytea against large objects.")

    enum Mode: String, ExpressibleByArgument, CaseIterable { case fill, drain, latency, files }

    @Argument(help: "fill, drain, latency or files.") var mode: Mode
    @Option(name: .customLong("queue-url"), help: "PostgreSQL URL; empty: SQLite in --data.") var queueURL = ""
    @Option(help: "SQLite's data directory.") var data = "./bench-out/queue-data"
    @Option(help: "Jobs to fill or to time for latency.") var jobs = 10_000
    @Option(help: "Threads of this process.") var threads = 1
    @Option(help: "Seconds between submissions (latency).") var interval = 0.01
    @Option(help: "Bytes of the file (files).") var size = 4 << 20
    @Option(help: "Rounds (files).") var rounds = 10

    func run() throws {
        let line: [String: Any]
        switch mode {
        case .files:
            let results = try QueueBenchmark.files(url: queueURL, size: size, rounds: rounds)
            line = ["mode": "files", "bytes": size, "rounds": rounds,
                    "results": results.map { ["method": $0.method, "write_ms": $0.write * 1000, "read_ms": $0.read * 1000] }]
        case .fill:
            let store = try QueueBenchmark.openStore(queueURL: queueURL, directory: data)
            try QueueBenchmark.fill(store, count: jobs)
            line = ["mode": "fill", "jobs": jobs]
        case .drain:
            let store = try QueueBenchmark.openStore(queueURL: queueURL, directory: data, connections: threads + 1)
            let started = Date().timeIntervalSince1970
            let done = try QueueBenchmark.drain(store, threads: threads)
            let ended = Date().timeIntervalSince1970
            let memory = QueueBenchmark.memory()
            line = ["mode": "drain", "jobs": done, "started": started, "ended": ended, "threads": threads,
                    "rss_bytes": memory.resident, "peak_rss_bytes": memory.peak]
        case .latency:
            let store = try QueueBenchmark.openStore(queueURL: queueURL, directory: data)
            let seconds = try QueueBenchmark.latency(store, count: jobs, interval: interval)
            guard !seconds.isEmpty else { throw ValidationError("no job was claimed") }
            func percentile(_ p: Double) -> Double { seconds[min(seconds.count - 1, Int(Double(seconds.count) * p))] * 1000 }
            line = ["mode": "latency", "jobs": seconds.count, "p50_ms": percentile(0.5), "p99_ms": percentile(0.99),
                    "max_ms": (seconds.last ?? 0) * 1000]
        }
        let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
