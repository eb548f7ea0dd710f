import Dispatch
import Synchronization

/// Runs closures with at most `limit` at once; the rest wait in FIFO order without holding a thread.
/// Bounds the memory and CPU of the synchronous `scale` path under a burst of uploads.
///
/// `ownThreads`: each of the `limit` slots is a serial queue of its own. A serial queue without a target
/// runs on libdispatch's overcommit pool, so its work starts even while CPU-bound work on concurrent queues
/// (the inline resizes) holds every thread of the default pool; the job submissions use it, or a backlog
/// of inline resizes would hold them back until a default-pool thread freed (measured: 4.8 s behind six
/// large `scale` requests on 2 cores).
final class WorkLimiter: Sendable {
    private let limit: Int
    private let queue = DispatchQueue(label: "deepresize.inline-work", attributes: .concurrent)
    private let slots: [DispatchQueue]
    private let state: Mutex<(free: [Int], pending: [@Sendable () -> Void])>

    init(limit: Int, ownThreads: Bool = false) {
        self.limit = max(1, limit)
        slots = ownThreads ? (0..<max(1, limit)).map { DispatchQueue(label: "deepresize.work-slot.\($0)") } : []
        state = Mutex((Array(0..<max(1, limit)), []))
    }

    func run(_ work: @escaping @Sendable () -> Void) {
        let slot = state.withLock { state -> Int? in
            if let slot = state.free.popLast() { return slot }
            state.pending.append(work)
            return nil
        }
        if let slot { launch(work, slot: slot) }
    }

    private func launch(_ work: @escaping @Sendable () -> Void, slot: Int) {
        (slots.isEmpty ? queue : slots[slot]).async { [self] in
            work()
            let next = state.withLock { state -> (@Sendable () -> Void)? in
                if state.pending.isEmpty {
                    state.free.append(slot)
                    return nil
                }
                return state.pending.removeFirst()
            }
            if let next { launch(next, slot: slot) }
        }
    }
}
