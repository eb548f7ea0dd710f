import Dispatch
import Synchronization

/// Runs closures on a concurrent queue with at most `limit` at once; the rest wait in FIFO order without
/// holding a thread. Bounds the memory and CPU of the synchronous `scale` path under a burst of uploads.
final class WorkLimiter: Sendable {
    private let limit: Int
    private let queue = DispatchQueue(label: "deepresize.inline-work", attributes: .concurrent)
    private let state = Mutex<(running: Int, pending: [@Sendable () -> Void])>((0, []))

    init(limit: Int) { self.limit = max(1, limit) }

    func run(_ work: @escaping @Sendable () -> Void) {
        let startNow = state.withLock { state -> Bool in
            if state.running < limit {
                state.running += 1
                return true
            }
            state.pending.append(work)
            return false
        }
        if startNow { launch(work) }
    }

    private func launch(_ work: @escaping @Sendable () -> Void) {
        queue.async { [self] in
            work()
            let next = state.withLock { state -> (@Sendable () -> Void)? in
                if state.pending.isEmpty {
                    state.running -= 1
                    return nil
                }
                return state.pending.removeFirst()
            }
            if let next { launch(next) }
        }
    }
}
