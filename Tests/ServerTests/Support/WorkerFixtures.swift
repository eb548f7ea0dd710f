import ImageCodecs
import Logging
import Testing
@testable import Server
import TestSupport

/// One worker over a SQLite store in `directory`, with the real weights loaded (deep jobs).
func deepWorkerPool(directory: String, earlyStop: Bool = true, progressInterval: Double = 0.25,
                    heartbeatInterval: Double = 10) throws -> (SQLiteJobStore, WorkerPool) {
    var config = ServiceConfig()
    config.weightsPath = ServerProcess.weightsPath
    config.engineThreads = 2
    config.deepEarlyStop = earlyStop
    let (network, problem) = ResizePipeline.loadNetwork(config)
    let vgg = try #require(network, "weights: \(problem ?? "?")")
    let store = try SQLiteJobStore(directory: directory, queueCapacity: 4, maxAttempts: 3, resultTTL: 3600)
    let workers = WorkerPool(store: store, pipeline: ResizePipeline(config: config, network: vgg), waiters: JobWaiters(),
                             count: 1, logger: Logger(label: "test"), describeFailure: JobError.init(describing:),
                             progressInterval: progressInterval, metrics: .standalone(), heartbeatInterval: heartbeatInterval)
    return (store, workers)
}

/// Queues a deep `linear` job (no mask) that resizes a synthetic scene of `from` to `to` in `iterations`.
func enqueueDeepLinear(_ store: SQLiteJobStore, from: (Int, Int), to: (Int, Int), iterations: Int) throws -> String {
    let png = try ImageEncoder.png(TestImages.scene(width: from.0, height: from.1))
    return try store.enqueue(method: "deep",
                             params: JobParams(width: to.0, height: to.1, op: "linear", protect: false,
                                               iterations: iterations, format: "png"),
                             input: png, inputFormat: "png", inputWidth: from.0, inputHeight: from.1).id
}
