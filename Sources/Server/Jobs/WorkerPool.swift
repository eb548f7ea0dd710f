import Dispatch
import Engine
import Foundation
import Logging
import Synchronization

/// `workers` threads that claim queued jobs from the store and run them through the pipeline. Progress is
/// written to the store at most every `progressInterval` seconds; cancellation (DELETE) and shutdown are
/// noticed between two steps of a method.
///
/// Memory: before claiming the oldest queued job a worker reserves its estimated peak from `budget`
/// (`ResizePipeline.estimatedJobBytes`); while that does not fit next to the running jobs the job stays
/// queued (no claim, no lease, no attempt used; DELETE cancels it as any queued job) and the worker waits
/// for a release. The queue stays first in, first out: later jobs wait behind it. The reservation is
/// released when the run ends, whatever the outcome (succeeded, failed, canceled, requeued at shutdown).
///
/// Leases: every `heartbeatInterval` seconds the pool heartbeats the jobs it runs (`JobStore.heartbeat`). A
/// job whose cancel the store reports (a DELETE answered by another server sharing the store) stops like one
/// canceled here, and a job whose lease was lost stops without recording anything.
final class WorkerPool: Sendable {
    private let store: any JobStore
    private let pipeline: ResizePipeline
    private let waiters: JobWaiters
    private let logger: Logger
    private let count: Int
    private let progressInterval: Double
    /// `job_timeout`: a run longer than this stops at its next step and fails.
    private let jobTimeout: Double
    private let metrics: ServiceMetrics
    /// What a failure is stored as: the HTTP edge's problem for it (`JobError.init(describing:)`); the
    /// pool itself knows no status codes.
    private let describeFailure: @Sendable (any Error) -> JobError
    let budget: MemoryBudget
    private let heartbeatInterval: Double
    private let heartbeats = DispatchQueue(label: "deepresize.heartbeats")
    private let wakeup = DispatchSemaphore(value: 0)
    private let state = Mutex<State>(State())
    private let stopped = DispatchGroup()

    private struct State {
        var stopping = false
        /// Cancels of jobs claimed or running here (DELETE), until the job's run ends.
        var canceled: Set<String> = []
        /// Jobs this pool is claiming from the store, not yet running: a DELETE may come in between.
        var claiming: Set<String> = []
        /// Running jobs stopped because they passed `jobTimeout`.
        var timedOut: Set<String> = []
        /// Running jobs whose lease the store says is lost.
        var lost: Set<String> = []
        /// The claims running now, by job id (heartbeats).
        var running: [String: JobClaim] = [:]
        var busy = 0
    }

    init(store: any JobStore, pipeline: ResizePipeline, waiters: JobWaiters, count: Int, logger: Logger,
         describeFailure: @escaping @Sendable (any Error) -> JobError,
         progressInterval: Double = 0.25, metrics: ServiceMetrics = ServiceMetrics(), budget: MemoryBudget = .unlimited,
         jobTimeout: Double = .infinity, heartbeatInterval: Double = 10) {
        self.store = store
        self.pipeline = pipeline
        self.waiters = waiters
        self.count = count
        self.logger = logger
        self.progressInterval = progressInterval
        self.metrics = metrics
        self.budget = budget
        self.jobTimeout = jobTimeout
        self.heartbeatInterval = heartbeatInterval
        self.describeFailure = describeFailure
    }

    func start() {
        for index in 0..<count {
            stopped.enter()
            let thread = Thread { [self] in
                defer { stopped.leave() }
                run(worker: index)
            }
            thread.name = "deepresize-worker-\(index)"
            thread.stackSize = 8 << 20
            thread.start()
        }
        scheduleHeartbeat()
    }

    /// Heartbeats the running jobs every `heartbeatInterval` until the pool stops.
    private func scheduleHeartbeat() {
        heartbeats.asyncAfter(deadline: .now() + heartbeatInterval) { [self] in
            guard !isStopping else { return }
            for claim in state.withLock({ Array($0.running.values) }) {
                let lease: LeaseState
                do { lease = try store.heartbeat(claim) } catch {
                    logger.warning("heartbeat of job \(claim.id) failed: \(error)")
                    continue
                }
                switch lease {
                case .held: break
                case .cancelRequested: cancel(id: claim.id)
                case .lost: state.withLock { _ = $0.lost.insert(claim.id) }
                }
            }
            scheduleHeartbeat()
        }
    }

    /// A job was queued: wake one idle worker (the others poll every second anyway).
    func jobQueued() { wakeup.signal() }

    /// DELETE on a running job: its worker stops at the next step. Only a job claimed or running here is
    /// remembered: a job another replica runs (every DELETE on an api replica) is that replica's to stop, at
    /// its next heartbeat, and would otherwise stay in the set for good. The store records the cancel before
    /// this is called, so a job claimed after that is not claimable and one claimed before is in `claiming`.
    func cancel(id: String) {
        state.withLock { state in
            if state.running[id] != nil || state.claiming.contains(id) { state.canceled.insert(id) }
        }
    }

    /// Cancels kept for jobs this pool may be running (for tests: the set stays bounded).
    var pendingCancels: Int { state.withLock { $0.canceled.count } }

    var busyWorkers: Int { state.withLock { $0.busy } }

    /// Stops claiming; running jobs stop at their next step and go back to the queue (a clean stop does
    /// not use up an attempt). Returns false if they did not stop within `timeout`.
    func stop(timeout: Double) -> Bool {
        state.withLock { $0.stopping = true }
        for _ in 0..<count { wakeup.signal() }
        budget.interrupt()
        return stopped.wait(timeout: .now() + timeout) == .success
    }

    private var isStopping: Bool { state.withLock { $0.stopping } }

    private func run(worker: Int) {
        while !isStopping {
            guard let admitted = admitNext(worker: worker) else { continue }
            state.withLock { state in
                state.busy += 1
                state.running[admitted.claim.id] = admitted.claim
                state.claiming.remove(admitted.claim.id)
            }
            process(admitted.claim, worker: worker)
            state.withLock { state in
                state.busy -= 1
                state.running[admitted.claim.id] = nil
            }
            budget.release(admitted.bytes)
        }
    }

    /// The oldest queued job, claimed with its estimated peak reserved from the budget. Nil when there is
    /// nothing to run now: the queue stayed empty for a second, the store failed, or the pool is stopping.
    /// While the job's estimate does not fit, it stays queued and this waits for releases (re-reading the
    /// queue every second, so a job canceled or taken meanwhile is noticed).
    private func admitNext(worker: Int) -> (claim: JobClaim, bytes: Int)? {
        var announced: String?
        while !isStopping {
            let next: JobRecord?
            do {
                next = try store.nextQueued()
            } catch {
                logger.error("worker \(worker): cannot read the queue: \(error)")
                _ = wakeup.wait(timeout: .now() + 1)
                return nil
            }
            guard let next else {
                _ = wakeup.wait(timeout: .now() + 1)
                return nil
            }
            let bytes = pipeline.estimatedJobBytes(for: next, encodedBytes: store.inputByteCount(next) ?? 0)
            if let refusal = budget.refusal(for: bytes) {
                // Accepted under a larger budget (or an older estimate); it would wait forever.
                refuse(next, refusal)
                continue
            }
            guard budget.reserve(bytes, timeout: 1) else {
                if announced != next.id {
                    announced = next.id
                    logger.info("job waits for memory", metadata: [
                        "job": "\(next.id)", "needs": "\(formatBytes(bytes))",
                        "reserved": "\(formatBytes(budget.reservedBytes))", "budget": "\(formatBytes(budget.total))"])
                }
                continue
            }
            if isStopping {
                budget.release(bytes)
                return nil
            }
            state.withLock { _ = $0.claiming.insert(next.id) }
            let claim: JobClaim?
            do {
                claim = try store.claim(id: next.id)
            } catch {
                notClaimed(next.id)
                budget.release(bytes)
                logger.error("worker \(worker): cannot claim a job: \(error)")
                _ = wakeup.wait(timeout: .now() + 1)
                return nil
            }
            if let claim { return (claim, bytes) }  // `run` moves it from `claiming` to `running`
            notClaimed(next.id)
            budget.release(bytes)  // another worker took it, or it was canceled: look again
        }
        return nil
    }

    private func notClaimed(_ id: String) {
        state.withLock { state in
            state.claiming.remove(id)
            state.canceled.remove(id)
        }
    }

    /// Fails a queued job whose estimate exceeds the whole budget.
    private func refuse(_ job: JobRecord, _ refusal: ResizeRefusal) {
        do {
            guard let claim = try store.claim(id: job.id) else { return }
            logger.warning("job refused: larger than the memory budget", metadata: ["job": "\(job.id)", "error": "\(refusal)"])
            if try store.finish(claim, as: .failed(describeFailure(refusal))) {
                recordFinish(claim, .failed, started: monotonicSeconds())
            }
            waiters.finished(id: job.id)
        } catch {
            logger.error("cannot refuse job \(job.id): \(error)")
            _ = wakeup.wait(timeout: .now() + 1)
        }
    }

    private func process(_ claim: JobClaim, worker: Int) {
        let job = claim.job
        let started = monotonicSeconds()
        let lastStep = Mutex<(step: Int, at: Double)?>(nil)
        // When the store last took a report, and the latest report it does not have: a run that ends between
        // two writes (deep's early stop) or after a failed write still leaves its last iteration and loss.
        let progressWrites = Mutex<(at: Double, unwritten: StepProgress?)>((0, nil))
        let isDeep = job.method == ResizeMethod.deep.rawValue
        let context = RunContext(
            report: { [store, progressInterval, metrics] progress in
                let now = monotonicSeconds()
                // For deep, a step is one optimiser iteration: time per iteration between two reports (the
                // first report is the baseline, so the network's setup is not counted as an iteration).
                if isDeep, let timing = lastStep.withLock({ last -> (steps: Int, seconds: Double)? in
                    defer { last = (progress.step, now) }
                    guard let last, progress.step > last.step else { return nil }
                    return (progress.step - last.step, now - last.at)
                }) {
                    for _ in 0..<timing.steps { metrics.optimizerIteration(seconds: timing.seconds / Double(timing.steps)) }
                }
                let due = progressWrites.withLock { writes -> Bool in
                    writes.unwritten = progress
                    guard now - writes.at >= progressInterval || progress.step >= progress.total else { return false }
                    writes.at = now
                    return true
                }
                if due, (try? store.updateProgress(claim, step: progress.step, total: progress.total,
                                                   loss: progress.loss)) == true {
                    progressWrites.withLock { $0.unwritten = nil }
                }
            },
            isCancelled: { [self, jobTimeout] in
                let overdue = monotonicSeconds() - started > jobTimeout
                return state.withLock { state in
                    if overdue { state.timedOut.insert(job.id) }
                    return overdue || state.stopping || state.canceled.contains(job.id) || state.lost.contains(job.id)
                }
            })
        logger.info("job started", metadata: ["job": "\(job.id)", "method": "\(job.method)", "attempt": "\(claim.attempt)"])
        do {
            let options = try job.resizeOptions()
            let input = try store.inputBytes(id: job.id)
            let run = try pipeline.run(input, options: options, width: job.params.width,
                                       height: job.params.height, context: context)
            if let last = progressWrites.withLock({ $0.unwritten }) {
                _ = try? store.updateProgress(claim, step: last.step, total: last.total, loss: last.loss)
            }
            let stored = try store.succeed(claim, result: run.output, format: options.format.rawValue,
                                           attachments: run.mask.map { [.mask: $0] } ?? [:], summary: run.summary)
            if stored {
                recordFinish(claim, .succeeded, started: started)
            } else if (try? store.job(id: job.id))?.status == .canceled {
                recordFinish(claim, .canceled, started: started)
            }
            logger.info("job \(stored ? "succeeded" : "finished after it was canceled")",
                        metadata: ["job": "\(job.id)", "seconds": "\(formatSeconds(monotonicSeconds() - started, decimals: 3))"])
        } catch is OperationCancelled {
            finishInterrupted(claim, started: started)
        } catch {
            let failure = describeFailure(error)
            logger.warning("job failed", metadata: ["job": "\(job.id)", "error": "\(failure.status) \(failure.title): \(failure.detail)"])
            do {
                if try store.finish(claim, as: .failed(failure)) {
                    recordFinish(claim, .failed, started: started)
                }
            } catch {
                logger.error("cannot record the failure of job \(job.id): \(error)")
            }
        }
        state.withLock { state in
            state.canceled.remove(job.id)
            state.timedOut.remove(job.id)
            state.lost.remove(job.id)
        }
        waiters.finished(id: job.id)
    }

    /// Canceled by DELETE → `canceled`; past `job_timeout` → `failed` with the reason; interrupted by
    /// shutdown → back to the queue; lease lost → nothing to record (the job is another holder's, or over).
    private func finishInterrupted(_ claim: JobClaim, started: Double) {
        let (byShutdown, timedOut, lost) = state.withLock { state in
            (state.stopping && !state.canceled.contains(claim.job.id), state.timedOut.contains(claim.job.id),
             state.lost.contains(claim.job.id))
        }
        do {
            if lost {
                logger.warning("job stopped: its lease was lost", metadata: ["job": "\(claim.job.id)"])
            } else if timedOut && !state.withLock({ $0.canceled.contains(claim.job.id) }) {
                let refusal = ResizeRefusal.outsideLimits("the job ran longer than job_timeout (\(formatSeconds(jobTimeout)) s) and was stopped; ask for a smaller size or fewer iterations")
                logger.warning("job timed out", metadata: ["job": "\(claim.job.id)", "seconds": "\(formatSeconds(monotonicSeconds() - started, decimals: 3))"])
                if try store.finish(claim, as: .failed(describeFailure(refusal))) {
                    recordFinish(claim, .failed, started: started)
                }
            } else if byShutdown {
                try store.requeue(claim)
                logger.info("job requeued for shutdown", metadata: ["job": "\(claim.job.id)"])
            } else {
                if try store.finish(claim, as: .canceled) { recordFinish(claim, .canceled, started: started) }
                logger.info("job canceled", metadata: ["job": "\(claim.job.id)"])
            }
        } catch {
            logger.error("cannot record the interruption of job \(claim.job.id): \(error)")
        }
    }
}

extension WorkerPool {
    /// Metrics of a job that reached a final status on this worker: the wait is from submission to the
    /// claim (wall clock, as stored), the processing from the claim to now (monotonic).
    fileprivate func recordFinish(_ claim: JobClaim, _ status: JobStatus, started: Double) {
        let job = claim.job
        metrics.jobFinished(method: job.method, status: status, queueWait: (job.startedAt ?? job.createdAt) - job.createdAt,
                            processing: monotonicSeconds() - started)
    }
}

