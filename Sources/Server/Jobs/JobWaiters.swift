import Dispatch
import Synchronization

/// Requests waiting for a job to finish (`POST /resize` with `wait` > 0). A waiter is answered exactly
/// once: by `finished(id:)` when the worker is done, or by its timeout.
final class JobWaiters: Sendable {
    private struct Waiter {
        let token: UInt64
        let callback: @Sendable (Bool) -> Void
    }
    /// `released`: `releaseAll` ran (shutdown); later waiters are answered at once.
    private let waiters = Mutex<(next: UInt64, byJob: [String: [Waiter]], released: Bool)>((0, [:], false))
    private let timerQueue = DispatchQueue(label: "deepresize.waiters")

    /// Calls `callback(true)` when the job finishes within `timeout` seconds, else `callback(false)`.
    /// The caller re-reads the job after registering, so a job that finished just before is not missed.
    func wait(for id: String, timeout: Double, callback: @escaping @Sendable (Bool) -> Void) {
        let token = waiters.withLock { state -> UInt64? in
            // A submission that was still being checked when the shutdown released the waiters: nobody would
            // answer it before the HTTP server's grace period ran out, so it gets its 202 now.
            if state.released { return nil }
            state.next += 1
            state.byJob[id, default: []].append(Waiter(token: state.next, callback: callback))
            return state.next
        }
        guard let token else { return callback(false) }
        timerQueue.asyncAfter(deadline: .now() + timeout) { [self] in
            if let waiter = take(id: id, token: token) { waiter.callback(false) }
        }
    }

    func finished(id: String) {
        let all = waiters.withLock { $0.byJob.removeValue(forKey: id) } ?? []
        for waiter in all { waiter.callback(true) }
    }

    /// Answers every waiter now (shutdown): they get their 202 and can poll the restarted service.
    func releaseAll() {
        let all = waiters.withLock { state -> [Waiter] in
            defer { state.byJob.removeAll() }
            state.released = true
            return state.byJob.values.flatMap { $0 }
        }
        for waiter in all { waiter.callback(false) }
    }

    /// The jobs requests wait for now.
    var waitingIDs: [String] { waiters.withLock { Array($0.byJob.keys) } }

    var count: Int { waiters.withLock { $0.byJob.values.reduce(0) { $0 + $1.count } } }

    private func take(id: String, token: UInt64) -> Waiter? {
        waiters.withLock { state in
            guard var list = state.byJob[id], let index = list.firstIndex(where: { $0.token == token }) else { return nil }
            let waiter = list.remove(at: index)
            state.byJob[id] = list.isEmpty ? nil : list
            return waiter
        }
    }
}
