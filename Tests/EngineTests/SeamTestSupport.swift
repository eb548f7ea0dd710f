import Synchronization
import Engine

/// Collects progress reports from a `@Sendable` callback.
final class ProgressLog: Sendable {
    private let log = Mutex<[StepProgress]>([])
    func append(_ p: StepProgress) { log.withLock { $0.append(p) } }
    var steps: [StepProgress] { log.withLock { $0 } }
}
