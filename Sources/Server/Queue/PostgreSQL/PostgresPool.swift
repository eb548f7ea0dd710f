// A small pool of libpq connections: at most `size` open, handed to one caller at a time. A broken connection
// is dropped, not reused; while the database is unreachable, new connections are tried with a growing pause
// (0.1 s doubling to 5 s), and calls in between fail at once with the last connection error (503), so a
// database outage costs requests a fast answer instead of a pile of blocked threads.
import Dispatch
import Glibc
import Synchronization

final class PostgresPool: Sendable {
    let url: String
    let size: Int
    /// Longest wait for a free connection when all `size` are busy.
    let acquireTimeout: Double

    private struct State {
        var idle: [PostgresConnection] = []
        /// Reconnect backoff: no new connection before this monotonic time; the error that started it.
        var retryAt = 0.0
        var pause = 0.0
        var lastError: PostgresError?
    }
    private let state = Mutex(State())
    /// Counts free slots (idle or not yet opened), so a caller past `size` waits instead of spinning.
    private let slots: DispatchSemaphoreBox

    init(url: String, size: Int, acquireTimeout: Double = 10) {
        self.url = url
        self.size = max(1, size)
        self.acquireTimeout = acquireTimeout
        slots = DispatchSemaphoreBox(max(1, size))
    }

    /// Runs `body` with a connection of the pool. A connection that broke during `body` is closed. When an
    /// idle connection turns out dead before any statement of `body` ran on it (the server restarted, or
    /// ended it, while it sat in the pool), it is closed with every other idle one (they sat through the
    /// same restart) and `body` runs again on a new connection: nothing of it reached the database, so the
    /// retry cannot do anything twice. (Retried only once, a pool of several connections answered a
    /// request right after a restart with a 503: the second idle connection was as dead as the first.)
    @discardableResult
    func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        guard slots.wait(seconds: acquireTimeout) else {
            throw PostgresError(sqlState: "53300", message: "all \(size) connections to the job database are busy",
                                context: "waiting for a connection")
        }
        defer { slots.signal() }
        // Each pass that retries has closed a dead connection and every idle one; other callers may put
        // connections back meanwhile, so the passes are bounded too.
        for pass in 0...size {
            let (connection, reused) = try take()
            let before = connection.completed
            do {
                let value = try body(connection)
                giveBack(connection)
                return value
            } catch let error as PostgresError where error.connectionLost && reused && connection.completed == before && pass < size {
                giveBack(connection, lost: true)
                closeIdle()
            } catch let error as PostgresError where error.connectionLost {
                giveBack(connection, lost: true)
                throw error
            } catch {
                giveBack(connection)
                throw error
            }
        }
        preconditionFailure("the last pass returns or throws")
    }

    /// `lost`: the connection failed as one the server ended (an 08 error or `sessionEnded`); it is closed even where
    /// libpq has not noticed yet, so it is never handed out again.
    private func giveBack(_ connection: PostgresConnection, lost: Bool = false) {
        state.withLock { state in
            if !lost && !connection.isBroken { state.idle.append(connection) }
        }
    }

    /// Runs `body` in a transaction on a connection of the pool.
    @discardableResult
    func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try withConnection { connection in try connection.transaction { try body(connection) } }
    }

    /// `run` again while the database is unreachable (restarting, failing over), pausing 0.1 s doubling to
    /// 2 s, until `seconds` have passed; then its error is thrown. Only for calls whose repetition is harmless
    /// even when an earlier try committed before its connection broke (the lease checks make a worker's
    /// calls so); never for enqueue, which would store a job twice.
    func retrying<T>(for seconds: Double, _ run: () throws -> T) throws -> T {
        let deadline = monotonicSeconds() + seconds
        var pause = 0.1
        while true {
            do {
                return try run()
            } catch let error as PostgresError where error.isStorageUnavailable && monotonicSeconds() + pause < deadline {
                usleep(UInt32(pause * 1_000_000))
                pause = min(2, pause * 2)
            }
        }
    }

    /// An idle connection (reused: true) or a new one.
    private func take() throws -> (PostgresConnection, reused: Bool) {
        enum Next { case reuse(PostgresConnection), open, backoff(PostgresError) }
        let next: Next = state.withLock { state in
            if let idle = state.idle.popLast() { return .reuse(idle) }
            if let error = state.lastError, monotonicSeconds() < state.retryAt { return .backoff(error) }
            return .open
        }
        switch next {
        case .reuse(let connection):
            return (connection, true)
        case .backoff(let error):
            throw error
        case .open:
            do {
                let connection = try PostgresConnection(url: url)
                state.withLock { state in
                    state.lastError = nil
                    state.pause = 0
                }
                return (connection, false)
            } catch let error as PostgresError {
                state.withLock { state in
                    state.pause = min(5, max(0.1, state.pause * 2))
                    state.retryAt = monotonicSeconds() + state.pause
                    state.lastError = error
                }
                throw error
            }
        }
    }

    /// Closes the idle connections (the busy ones close when given back broken, or at deinit).
    func closeIdle() {
        let idle = state.withLock { state in
            let idle = state.idle
            state.idle = []
            return idle
        }
        _ = idle
    }
}

/// A counting semaphore with a timeout in seconds (Dispatch's, boxed so it reads plainly above).
final class DispatchSemaphoreBox: Sendable {
    private let semaphore: DispatchSemaphore
    init(_ value: Int) { semaphore = DispatchSemaphore(value: value) }
    func wait(seconds: Double) -> Bool { semaphore.wait(timeout: .now() + seconds) == .success }
    func signal() { semaphore.signal() }
}
