// The job queue (SQLiteJobStore in a temporary data directory): a job's whole life (enqueue a 20 kB input,
// claim, report progress, succeed with a 20 kB result: every file written with fsync, every transition a
// transaction), and what a client's poll costs (GET /jobs/{id}: the job and its queue position).
import Benchmark
import Foundation
import Server

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(metrics: [.wallClock, .mallocCountTotal, .syscalls],
                                                warmupIterations: 5, maxDuration: .seconds(10), maxIterations: 2000)
    let input = [UInt8](repeating: 7, count: 20_000)
    let params = JobParams(width: 300, height: 200, format: "png")

    Benchmark("queue job life: enqueue, claim, progress, succeed", configuration: configuration) { benchmark in
        let (store, directory) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let job = try store.enqueue(method: "seam", params: params, input: input, inputFormat: "png",
                                        inputWidth: 400, inputHeight: 300)
            guard let claim = try store.claim(id: job.id) else { fatalError("job \(job.id) not claimed") }
            try store.updateProgress(claim, step: 50, total: 100, loss: nil)
            blackHole(try store.succeed(claim, result: input, format: "png"))
        }
        benchmark.stopMeasurement()
    }

    Benchmark("queue poll: job and queue position", configuration: configuration) { benchmark in
        let (store, directory) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var ids: [String] = []
        for _ in 0..<50 {
            ids.append(try store.enqueue(method: "seam", params: params, input: input, inputFormat: "png",
                                         inputWidth: 400, inputHeight: 300).id)
        }
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            let id = ids[index % ids.count]
            blackHole(try store.job(id: id))
            blackHole(try store.queuePosition(id: id))
        }
        benchmark.stopMeasurement()
    }
}

/// A new store in a directory of its own under the temporary directory.
func temporaryStore() throws -> (SQLiteJobStore, String) {
    let directory = NSTemporaryDirectory() + "deepresize-bench-queue-" + UUID().uuidString
    let store = try SQLiteJobStore(directory: directory, queueCapacity: 1_000_000, maxAttempts: 3, resultTTL: 86_400)
    return (store, directory)
}
