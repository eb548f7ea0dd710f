import ImageCodecs
import Logging

/// The jobs side of the routes: it queues a submission in the store and wakes a worker, cancels a job
/// everywhere it lives (the store, the worker running it, the requests waiting on it, the metrics), and
/// lets a request wait for a job's end. The routes turn what it answers into HTTP; the store (`JobStore`)
/// and the workers (`WorkerPool`) are below it.
final class JobCoordinator: Sendable {
    /// For what the routes only read (a job, its position, its files, the counts).
    let store: any JobStore
    let workers: WorkerPool
    private let waiters: JobWaiters
    private let metrics: ServiceMetrics
    private let logger: Logger

    init(store: any JobStore, workers: WorkerPool, waiters: JobWaiters, metrics: ServiceMetrics, logger: Logger) {
        self.store = store
        self.workers = workers
        self.waiters = waiters
        self.metrics = metrics
        self.logger = logger
    }

    /// The job memory budget the workers run within.
    var budget: MemoryBudget { workers.budget }

    /// Queues a checked submission (its input decoded once already): the store keeps the input and the
    /// job, and an idle worker is woken. `width`×`height` is the output size worked out from the source.
    /// `cacheKey` (`ResultCache.key`): once the job succeeded, equal submissions are answered from it.
    func submit(_ options: ResizeOptions, width: Int, height: Int, input: [UInt8], header: ImageHeader,
                cacheKey: String? = nil) throws -> JobRecord {
        let job = try store.enqueue(method: options.method.rawValue, params: JobParams(options, width: width, height: height),
                                    input: input, inputFormat: header.format.rawValue,
                                    inputWidth: header.width, inputHeight: header.height, cacheKey: cacheKey)
        // A miss is a submission the cache did not answer and that was queued (a refusal is neither).
        if cacheKey != nil { metrics.resultCacheLookup(method: options.method.rawValue, hit: false) }
        workers.jobQueued()
        logger.info("job queued", metadata: ["job": "\(job.id)", "method": "\(job.method)", "size": "\(width)x\(height)"])
        return job
    }

    /// The result cache: a new job, already succeeded, with a copy of the stored result of a live job with
    /// `cacheKey`; nil on a miss. A hit is counted here, a miss once its submission is queued (`submit`).
    func reuseCachedResult(cacheKey: String, _ options: ResizeOptions, width: Int, height: Int,
                           header: ImageHeader) throws -> JobRecord? {
        let job = try store.reuseCachedResult(cacheKey: cacheKey, method: options.method.rawValue,
                                              params: JobParams(options, width: width, height: height),
                                              inputFormat: header.format.rawValue, inputWidth: header.width,
                                              inputHeight: header.height)
        if let job {
            metrics.resultCacheLookup(method: options.method.rawValue, hit: true)
            logger.info("job answered from the result cache", metadata: ["job": "\(job.id)", "method": "\(job.method)"])
        }
        return job
    }

    /// DELETE /jobs/{id} of a finished job: its row and files are deleted (`JobStore.purge`). Nil when
    /// unknown; a job that has not finished is returned as it is.
    func purge(id: String) throws -> JobRecord? {
        try store.purge(id: id)
    }

    /// DELETE /jobs/{id}: a queued job is canceled at once (and counted as such), a running one is stopped by
    /// its worker at its next step; requests waiting on a job that ended are answered. Nil when unknown.
    func cancel(id: String) throws -> JobRecord? {
        let before = try store.job(id: id)?.status
        guard let job = try store.cancel(id: id) else { return nil }
        if before == .queued && job.status == .canceled {
            metrics.jobFinished(method: job.method, status: .canceled, queueWait: nil, processing: nil)
        }
        if job.status == .running { workers.cancel(id: id) }
        if job.status.isFinished { waiters.finished(id: id) }
        return job
    }

    /// Calls `then` once: when job `id` ends, or after `timeout` seconds, whichever comes first.
    func waitForEnd(of id: String, timeout: Double, then: @escaping @Sendable () -> Void) {
        waiters.wait(for: id, timeout: timeout) { _ in then() }
        // The job may have ended before the waiter was registered.
        if let job = try? store.job(id: id), job.status.isFinished { waiters.finished(id: id) }
    }
}
