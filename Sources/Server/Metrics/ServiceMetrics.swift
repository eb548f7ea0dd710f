import CoreMetrics
import Foundation
import Metrics
import Prometheus

/// The service's metrics (docs/api.md "Operations endpoints"), recorded through swift-metrics and rendered by
/// swift-prometheus. Series:
/// - `deepresize_http_requests_total{route,method,status}` and `deepresize_http_request_duration_seconds{…}`
///   (histogram): every answered request, `route` being the template (`/jobs/{id}`), never the raw path.
/// - `deepresize_queue_depth` (queued jobs) and `deepresize_jobs_running`: the store's counts, read at scrape.
/// - `deepresize_jobs_finished_total{method,status}`: jobs that reached succeeded, failed or canceled.
/// - `deepresize_job_queue_wait_seconds{method}`, `deepresize_job_processing_seconds{method}` (histograms).
/// - `deepresize_result_cache_hits_total{method}`, `deepresize_result_cache_misses_total{method}`: `seam` and
///   `deep` submissions answered from a stored result, and those that were queued (docs/api.md "Result cache").
/// - `deepresize_optimizer_iteration_seconds` (histogram): one L-BFGS iteration of `deep`.
/// - `deepresize_workers_busy`, `deepresize_workers`: workers running a job, and all workers.
/// - `process_resident_memory_bytes`: resident set size from /proc/self/statm.
/// - `deepresize_job_memory_reserved_bytes`, `deepresize_job_memory_budget_bytes`: the estimated peaks the
///   running jobs reserved, and the budget they share (`MemoryBudget`).
final class ServiceMetrics: Sendable {
    /// What the scrape reads from the running service; nil fields are skipped.
    struct Snapshot: Sendable {
        var queued: Int?
        var running: Int?
        var busyWorkers: Int?
        var workers: Int?
        var jobMemoryReserved: Int?
        var jobMemoryBudget: Int?
    }

    static let requestsTotal = "deepresize_http_requests_total"
    static let requestDuration = "deepresize_http_request_duration_seconds"
    static let queueDepth = "deepresize_queue_depth"
    static let jobsRunning = "deepresize_jobs_running"
    static let jobsFinished = "deepresize_jobs_finished_total"
    static let jobQueueWait = "deepresize_job_queue_wait_seconds"
    static let jobProcessing = "deepresize_job_processing_seconds"
    static let optimizerIteration = "deepresize_optimizer_iteration_seconds"
    static let resultCacheHits = "deepresize_result_cache_hits_total"
    static let resultCacheMisses = "deepresize_result_cache_misses_total"
    static let workersBusy = "deepresize_workers_busy"
    static let workersTotal = "deepresize_workers"
    static let residentMemory = "process_resident_memory_bytes"
    static let jobMemoryReserved = "deepresize_job_memory_reserved_bytes"
    static let jobMemoryBudget = "deepresize_job_memory_budget_bytes"

    /// The process-wide Prometheus factory, bootstrapped into `MetricsSystem` the first time it is used
    /// (the bootstrap may happen only once per process; a static let runs its initialiser exactly once).
    static let processFactory: PrometheusMetricsFactory = {
        let factory = makeFactory(registry: PrometheusCollectorRegistry())
        MetricsSystem.bootstrap(factory)
        return factory
    }()

    /// A factory with bucket layouts that fit each series: requests take milliseconds, jobs take seconds
    /// to minutes (a `deep` job at its default 20 iterations takes seconds to tens of seconds on two cores).
    static func makeFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        let jobBuckets: [Duration] = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800].map(seconds)
        factory.durationHistogramBuckets = [
            requestDuration: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60].map(seconds),
            jobQueueWait: jobBuckets,
            jobProcessing: jobBuckets,
            optimizerIteration: [0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5].map(seconds),
        ]
        return factory
    }

    /// Metrics with a registry of their own, not bootstrapped: for tests and tools in a process that may
    /// already have bootstrapped `MetricsSystem`.
    static func standalone() -> ServiceMetrics {
        ServiceMetrics(factory: makeFactory(registry: PrometheusCollectorRegistry()))
    }

    private static func seconds(_ value: Double) -> Duration { .nanoseconds(Int64((value * 1e9).rounded())) }

    private let factory: any MetricsFactory
    private let registry: PrometheusCollectorRegistry?
    private let queueDepthGauge: CoreMetrics.Gauge
    private let runningGauge: CoreMetrics.Gauge
    private let busyGauge: CoreMetrics.Gauge
    private let workersGauge: CoreMetrics.Gauge
    private let memoryGauge: CoreMetrics.Gauge
    private let reservedGauge: CoreMetrics.Gauge
    private let budgetGauge: CoreMetrics.Gauge
    private let iterationTimer: CoreMetrics.Timer
    /// The request series by "route method status": made once each, then looked up (making them through
    /// the factory on every request cost a registry lookup under its lock and a dozen allocations).
    private let requestSeries = ReadMostly<[String: (count: CoreMetrics.Counter, duration: CoreMetrics.Timer)]>([:])

    /// - Parameter factory: where the series go; the Prometheus one renders `/metrics`. With any other
    ///   factory (or none bootstrapped) recording still works and `render` answers nil.
    init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        registry = (factory as? PrometheusMetricsFactory)?.registry
        queueDepthGauge = CoreMetrics.Gauge(label: Self.queueDepth, factory: factory)
        runningGauge = CoreMetrics.Gauge(label: Self.jobsRunning, factory: factory)
        busyGauge = CoreMetrics.Gauge(label: Self.workersBusy, factory: factory)
        workersGauge = CoreMetrics.Gauge(label: Self.workersTotal, factory: factory)
        memoryGauge = CoreMetrics.Gauge(label: Self.residentMemory, factory: factory)
        reservedGauge = CoreMetrics.Gauge(label: Self.jobMemoryReserved, factory: factory)
        budgetGauge = CoreMetrics.Gauge(label: Self.jobMemoryBudget, factory: factory)
        // Registered now so the series exists (with zero counts) before the first deep job runs.
        iterationTimer = CoreMetrics.Timer(label: Self.optimizerIteration, factory: factory)
        for method in ResizeMethod.allCases where method.isQueued {
            for status in ["succeeded", "failed", "canceled"] {
                _ = CoreMetrics.Counter(label: Self.jobsFinished, dimensions: [("method", method.rawValue), ("status", status)], factory: factory)
            }
            _ = CoreMetrics.Timer(label: Self.jobQueueWait, dimensions: [("method", method.rawValue)], factory: factory)
            _ = CoreMetrics.Timer(label: Self.jobProcessing, dimensions: [("method", method.rawValue)], factory: factory)
            _ = CoreMetrics.Counter(label: Self.resultCacheHits, dimensions: [("method", method.rawValue)], factory: factory)
            _ = CoreMetrics.Counter(label: Self.resultCacheMisses, dimensions: [("method", method.rawValue)], factory: factory)
        }
    }

    // MARK: recording

    /// One answered request, from the access log (also the answers HTTPCore gives itself: 408, 413, 431,
    /// 503). `route` is the route's template or another bounded label (`Route.label(path:)`), never a raw path.
    func observeRequest(route: String, method: String, status: Int, seconds: Double) {
        let methodLabel = Self.methodLabel(method)
        let key = route + " " + methodLabel + " " + String(status)
        if let series = requestSeries.read({ $0[key] }) {
            series.count.increment()
            series.duration.recordNanoseconds(Self.nanoseconds(seconds))
            return
        }
        let series = requestSeries.write { cache in
            if let series = cache[key] { return series }
            let dimensions = [("route", route), ("method", methodLabel), ("status", String(status))]
            let series = (CoreMetrics.Counter(label: Self.requestsTotal, dimensions: dimensions, factory: factory),
                          CoreMetrics.Timer(label: Self.requestDuration, dimensions: dimensions, factory: factory))
            cache[key] = series
            return series
        }
        series.count.increment()
        series.duration.recordNanoseconds(Self.nanoseconds(seconds))
    }

    /// A job reached a final status. `queueWait` and `processing` are nil for a job canceled while queued
    /// (it was never processed).
    func jobFinished(method: String, status: JobStatus, queueWait: Double?, processing: Double?) {
        let methodLabel = ResizeMethod(rawValue: method)?.rawValue ?? "other"
        CoreMetrics.Counter(label: Self.jobsFinished, dimensions: [("method", methodLabel), ("status", status.rawValue)], factory: factory).increment()
        if let queueWait {
            CoreMetrics.Timer(label: Self.jobQueueWait, dimensions: [("method", methodLabel)], factory: factory)
                .recordNanoseconds(Self.nanoseconds(queueWait))
        }
        if let processing {
            CoreMetrics.Timer(label: Self.jobProcessing, dimensions: [("method", methodLabel)], factory: factory)
                .recordNanoseconds(Self.nanoseconds(processing))
        }
    }

    /// A `seam` or `deep` submission was looked up in the result cache.
    func resultCacheLookup(method: String, hit: Bool) {
        let methodLabel = ResizeMethod(rawValue: method)?.rawValue ?? "other"
        CoreMetrics.Counter(label: hit ? Self.resultCacheHits : Self.resultCacheMisses, dimensions: [("method", methodLabel)],
                            factory: factory).increment()
    }

    /// One optimiser iteration of `deep` took `seconds`.
    func optimizerIteration(seconds: Double) { iterationTimer.recordNanoseconds(Self.nanoseconds(seconds)) }

    // MARK: scrape

    /// Refreshes the gauges from `snapshot` and the process, then renders the Prometheus text format.
    /// Nil when the factory is not Prometheus (nothing to render).
    func render(_ snapshot: Snapshot) -> [UInt8]? {
        if let queued = snapshot.queued { queueDepthGauge.record(queued) }
        if let running = snapshot.running { runningGauge.record(running) }
        if let busy = snapshot.busyWorkers { busyGauge.record(busy) }
        if let workers = snapshot.workers { workersGauge.record(workers) }
        if let reserved = snapshot.jobMemoryReserved { reservedGauge.record(reserved) }
        if let budget = snapshot.jobMemoryBudget { budgetGauge.record(budget) }
        if let rss = Self.residentBytes() { memoryGauge.record(rss) }
        return registry?.emitToBuffer()
    }

    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Resident set size: pages from /proc/self/statm (second field) times the page size. Nil where
    /// /proc is not mounted.
    static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    // MARK: labels

    static func methodLabel(_ method: String) -> String {
        ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"].contains(method) ? method : "other"
    }

    private static func nanoseconds(_ seconds: Double) -> Int64 {
        guard seconds.isFinite, seconds > 0 else { return 0 }
        return Int64(min(seconds, 1e9) * 1e9)
    }
}

/// A value read on every request and written rarely (a new series): readers share a pthread read-write
/// lock, which never enters the kernel while nobody writes (Synchronization's Mutex is a priority-
/// inheriting futex on Linux, and every contended lock is a system call: 8 % of the server's CPU under
/// wrk -c64 went into it here).
final class ReadMostly<Value>: @unchecked Sendable {  // the value is only touched under `lock`
    private var value: Value
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init(_ value: Value) {
        self.value = value
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func read<T>(_ body: (Value) -> T) -> T {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return body(value)
    }

    func write<T>(_ body: (inout Value) -> T) -> T {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return body(&value)
    }
}
