import Dispatch
import Engine
import Foundation
import Logging
import Synchronization

/// `workers` threads that claim queued jobs from the store and run them through the pipeline. Progress is
/// written to the store at most every `progressInterval` seconds; cancellation (DELETE) and shutdown are
/// noticed between two steps of a method.
final class WorkerPool: Sendable {
    private let store: JobStore
    private let pipeline: ResizePipeline
    private let waiters: JobWaiters
    private let logger: Logger
    private let count: Int
    private let progressInterval: Double
    private let metrics: ServiceMetrics
    private let wakeup = DispatchSemaphore(value: 0)
    private let state = Mutex<State>(State())
    private let stopped = DispatchGroup()

    private struct State {
        var stopping = false
        var canceled: Set<String> = []
        var busy = 0
    }

    init(store: JobStore, pipeline: ResizePipeline, waiters: JobWaiters, count: Int, logger: Logger,
         progressInterval: Double = 0.25, metrics: ServiceMetrics = ServiceMetrics()) {
        self.store = store
        self.pipeline = pipeline
        self.waiters = waiters
        self.count = count
        self.logger = logger
        self.progressInterval = progressInterval
        self.metrics = metrics
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
    }

    /// A job was queued: wake one idle worker (the others poll every second anyway).
    func jobQueued() { wakeup.signal() }

    /// DELETE on a running job: its worker stops at the next step.
    func cancel(id: String) { _ = state.withLock { $0.canceled.insert(id) } }

    var busyWorkers: Int { state.withLock { $0.busy } }

    /// Stops claiming; running jobs stop at their next step and go back to the queue (a clean stop does
    /// not use up an attempt). Returns false if they did not stop within `timeout`.
    func stop(timeout: Double) -> Bool {
        state.withLock { $0.stopping = true }
        for _ in 0..<count { wakeup.signal() }
        return stopped.wait(timeout: .now() + timeout) == .success
    }

    private var isStopping: Bool { state.withLock { $0.stopping } }

    private func run(worker: Int) {
        while !isStopping {
            let claim: JobClaim?
            do {
                claim = try store.claimNext()
            } catch {
                logger.error("worker \(worker): cannot claim a job: \(error)")
                _ = wakeup.wait(timeout: .now() + 1)
                continue
            }
            guard let claim else {
                _ = wakeup.wait(timeout: .now() + 1)
                continue
            }
            state.withLock { $0.busy += 1 }
            process(claim, worker: worker)
            state.withLock { $0.busy -= 1 }
        }
    }

    private func process(_ claim: JobClaim, worker: Int) {
        let job = claim.job
        let started = monotonicSeconds()
        let lastWrite = Mutex<Double>(0)
        let lastStep = Mutex<(step: Int, at: Double)?>(nil)
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
                let due = lastWrite.withLock { last -> Bool in
                    guard now - last >= progressInterval || progress.step >= progress.total else { return false }
                    last = now
                    return true
                }
                if due { _ = try? store.updateProgress(claim, step: progress.step, total: progress.total, loss: progress.loss) }
            },
            isCancelled: { [self] in state.withLock { $0.stopping || $0.canceled.contains(job.id) } })
        logger.info("job started", metadata: ["job": "\(job.id)", "method": "\(job.method)", "attempt": "\(claim.attempt)"])
        do {
            let options = try job.resizeOptions()
            let input = try store.inputBytes(id: job.id)
            let run = try pipeline.run(input, options: options, width: job.params.width,
                                       height: job.params.height, context: context)
            let stored = try store.succeed(claim, result: run.output, format: options.format.rawValue,
                                           attachments: run.attachments)
            if stored {
                recordFinish(claim, .succeeded, started: started)
            } else if (try? store.job(id: job.id))?.status == .canceled {
                recordFinish(claim, .canceled, started: started)
            }
            logger.info("job \(stored ? "succeeded" : "finished after it was canceled")",
                        metadata: ["job": "\(job.id)", "seconds": "\(rounded(monotonicSeconds() - started))"])
        } catch is OperationCancelled {
            finishInterrupted(claim, started: started)
        } catch {
            let problem = Problem(error)
            logger.warning("job failed", metadata: ["job": "\(job.id)", "error": "\(problem)"])
            do {
                if try store.fail(claim, error: JobError(status: problem.status, title: problem.title, detail: problem.detail)) {
                    recordFinish(claim, .failed, started: started)
                }
            } catch {
                logger.error("cannot record the failure of job \(job.id): \(error)")
            }
        }
        state.withLock { _ = $0.canceled.remove(job.id) }
        waiters.finished(id: job.id)
    }

    /// Canceled by DELETE → `canceled`; interrupted by shutdown → back to the queue.
    private func finishInterrupted(_ claim: JobClaim, started: Double) {
        let byShutdown = state.withLock { $0.stopping && !$0.canceled.contains(claim.job.id) }
        do {
            if byShutdown {
                try store.requeue(claim)
                logger.info("job requeued for shutdown", metadata: ["job": "\(claim.job.id)"])
            } else {
                if try store.finishCanceled(claim) { recordFinish(claim, .canceled, started: started) }
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

func rounded(_ seconds: Double) -> String { String((seconds * 1000).rounded() / 1000) }
