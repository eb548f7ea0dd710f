import Dispatch
import Foundation
import HTTPCore
public import Logging

/// The running service: job store, workers, routes and the HTTP server, started and stopped together.
public final class Service: Sendable {
    public let config: ServiceConfig
    private let store: any JobStore
    private let workers: WorkerPool
    private let waiters: JobWaiters
    private let routes: RequestRouter
    private let http: HTTPServer
    private let logger: Logger
    private let housekeeping = DispatchQueue(label: "deepresize.housekeeping")
    private let role: ServerRole
    /// PostgreSQL only: LISTEN for jobs queued and finished on other replicas.
    private let listener: PostgresListener?

    public init(config: ServiceConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        role = ServerRole(rawValue: config.role) ?? .all
        ClientPaths.register(directory: config.dataDirectory)
        ClientPaths.register(directory: (config.weightsPath as NSString).deletingLastPathComponent)
        ClientPaths.register(directory: FileManager.default.currentDirectoryPath)
        store = try Self.openStore(config)
        let recovered = try store.recoverInterruptedJobs()
        if recovered.requeued + recovered.failed > 0 {
            logger.notice("recovered jobs interrupted by a previous process",
                          metadata: ["requeued": "\(recovered.requeued)", "failed": "\(recovered.failed)"])
        }
        if !recovered.unclaimed.isEmpty {
            logger.error("""
                \(recovered.unclaimed.count) entries of the jobs directory have no row in the database (restored from an \
                older backup, or its WAL was lost): moved to \(config.dataDirectory)/\(SQLiteJobStore.unclaimedDirectoryName), \
                not deleted; their jobs are unknown to the API
                """, metadata: ["first": "\(recovered.unclaimed.prefix(5).joined(separator: ","))"])
        }
        let (network, networkProblem) = ResizePipeline.loadNetwork(config)
        if let networkProblem {
            logger.error("method=deep is unavailable until the weights load: \(networkProblem)")
        }
        // The weights' fingerprint is part of the result cache's keys: other weights, other results.
        let weights = network == nil ? nil : Self.fingerprint(path: config.weightsPath)
        if let network {
            let name = (config.weightsPath as NSString).lastPathComponent
            logger.notice("weights \(name) (fnv1a-64 \(weights ?? "unreadable")), \(network.engineDescription), \(config.engineThreads) engine threads")
        }
        let pipeline = ResizePipeline(config: config, network: network, networkProblem: networkProblem)
        // The Prometheus factory is bootstrapped into MetricsSystem once per process, on first use.
        let metrics = ServiceMetrics(factory: ServiceMetrics.processFactory)
        waiters = JobWaiters()
        // Measured now, with the weights loaded: what the process holds before any job.
        let (budget, origin) = MemoryBudget.configured(config, resident: ServiceMetrics.residentBytes() ?? 0)
        logger.notice("job memory budget \(formatBytes(budget.total)) (\(origin))")
        // The largest deep job the limits allow (square input and output at their caps): say so at start when
        // it cannot run, rather than only in the 422s.
        let side = { (pixels: Int) in max(1, Int(Double(pixels).squareRoot())) }
        let largest = pipeline.estimatedJobBytes(method: .deep, sourceWidth: side(config.maxDeepInputPixels),
                                                 sourceHeight: side(config.maxDeepInputPixels), sourceFormat: .jpeg, encodedBytes: 0,
                                                 width: side(config.maxDeepOutputPixels), height: side(config.maxDeepOutputPixels))
        if network != nil && largest > budget.total {
            logger.warning("a deep job at max_deep_input_pixels and max_deep_output_pixels needs about \(formatBytes(largest)), more than the job memory budget: such requests get 422 (raise the memory limit or job_memory_budget_bytes, or lower those limits)")
        }
        workers = WorkerPool(store: store, pipeline: pipeline, waiters: waiters, count: config.workers, logger: logger,
                             describeFailure: JobError.init(describing:),
                             metrics: metrics, budget: budget, jobTimeout: config.jobTimeout,
                             // A shared store's leases expire: beat well within them. SQLite's only carry cancels.
                             heartbeatInterval: store is PostgresJobStore ? config.leaseTimeout / 6 : 10)
        let jobs = JobCoordinator(store: store, workers: workers, waiters: waiters, metrics: metrics, logger: logger)
        if let shared = store as? PostgresJobStore {
            let (workers, waiters, store) = (workers, waiters, store)
            let runsJobs = role.runsJobs
            listener = shared.listener(
                queued: { if runsJobs { workers.jobQueued() } },
                finished: { id in waiters.finished(id: id) },
                connected: {
                    // Notifications sent while the listener was away are lost: look at the queue and at the
                    // waited-on jobs once.
                    if runsJobs { workers.jobQueued() }
                    for id in waiters.waitingIDs where (try? store.job(id: id))?.status.isFinished != false {
                        waiters.finished(id: id)
                    }
                })
        } else {
            listener = nil
        }
        routes = RequestRouter(config: config, pipeline: pipeline, jobs: jobs, logger: logger, metrics: metrics,
                               weightsFingerprint: weights)
        var http = HTTPServerConfiguration()
        http.host = config.host
        http.port = config.port
        http.maxConnections = config.maxConnections
        http.maxHeaderBytes = config.maxHeaderBytes
        http.maxBodyBytes = config.maxBodyBytes
        http.maxBodyBytesInFlight = config.maxBodyBytesInFlight
        http.headerTimeout = config.headerTimeout
        http.bodyTimeout = config.bodyTimeout
        http.keepAliveTimeout = config.keepAliveTimeout
        let accessLogger = logger
        self.http = HTTPServer(configuration: http, handler: routes, logger: logger) { entry in
            metrics.observeRequest(route: Route.label(path: entry.path), method: entry.method, status: entry.status,
                                   seconds: entry.durationMilliseconds / 1000)
            accessLogger.info("\(entry.method) \(entry.path) \(entry.status) \(entry.bodyBytesSent)B \(formatMilliseconds(entry.durationMilliseconds / 1000))ms")
        }
    }

    /// The job store `queue_url` names: the embedded SQLite in the data directory, or PostgreSQL.
    static func openStore(_ config: ServiceConfig) throws -> any JobStore {
        switch QueueBackend(url: config.queueURL) ?? .sqlite {
        case .sqlite:
            return try SQLiteJobStore(directory: config.dataDirectory, queueCapacity: config.queueCapacity,
                                      maxAttempts: config.maxAttempts, resultTTL: config.resultTTL, maxDataBytes: config.maxDataBytes)
        case .postgres(let url):
            return try PostgresJobStore(url: url, connections: PostgresJobStore.poolSize(config), queueCapacity: config.queueCapacity,
                                        maxAttempts: config.maxAttempts, resultTTL: config.resultTTL,
                                        maxDataBytes: config.maxDataBytes, leaseSeconds: config.leaseTimeout)
        }
    }

    /// A short content fingerprint of a file (`fnv1a64`, hex): enough to tell two weights files apart in
    /// a log, not a checksum against tampering (scripts/fetch-weights checks sha256).
    static func fingerprint(path: String) -> String? {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else { return nil }
        return hex16(data.withUnsafeBytes { fnv1a64($0) })
    }

    /// Starts workers, housekeeping and the listener; returns the bound port.
    public func start() throws -> Int {
        if role.runsJobs { workers.start() }
        listener?.start()
        scheduleExpiry()
        let port = try http.start()
        let queue = QueueBackend(url: config.queueURL) ?? .sqlite
        let placement = queue.isShared ? "role \(config.role), queue \(queue)" : "data \(config.dataDirectory)"
        logger.notice("deepresize listening on http://\(config.host):\(port) (workers \(config.workers), \(placement))")
        return port
    }

    /// SIGTERM: refuse new work, let requests in flight finish, stop workers (running jobs go back to the
    /// queue for the next start), answer waiting requests with 202, then call `completion`.
    public func shutdown(completion: @escaping @Sendable () -> Void) {
        logger.notice("shutting down", metadata: ["grace_seconds": "\(config.shutdownGrace)"])
        routes.beginShutdown()
        let grace = config.shutdownGrace
        DispatchQueue.global().async { [self] in
            if !workers.stop(timeout: grace) {
                logger.warning("workers did not stop within the grace period; their jobs rerun at the next start")
            }
            waiters.releaseAll()
            listener?.stop()
            http.shutdown(gracePeriod: grace) { [self] in
                // jobs.sqlite3 alone then holds every commit (a copy of it is a backup; the WAL is empty).
                do { try store.checkpoint() } catch { logger.warning("checkpointing the job database failed: \(error)") }
                completion()
            }
        }
    }

    /// Finished jobs older than `result_ttl` are deleted with their files, a second after start and then
    /// every minute; job ends the database would not take are written again; every fifth round the
    /// database gets a `PRAGMA quick_check` (damage makes /readyz answer 503).
    private func scheduleExpiry(after delay: Double = 1, round: Int = 0) {
        housekeeping.asyncAfter(deadline: .now() + delay) { [self] in
            do {
                let removed = try store.expire()
                if removed > 0 { logger.info("expired finished jobs", metadata: ["count": "\(removed)"]) }
            } catch {
                logger.warning("expiring old jobs failed: \(error)")
            }
            let unwritten = store.retryUnrecorded()
            if unwritten > 0 { logger.error("\(unwritten) finished jobs are not recorded in the job database yet (it does not take writes)") }
            Allocator.trim()
            if round % 5 == 4 {
                do { try store.verifyIntegrity() } catch { logger.warning("checking the job database failed: \(error)") }
            }
            scheduleExpiry(after: 60, round: round + 1)
        }
    }
}
