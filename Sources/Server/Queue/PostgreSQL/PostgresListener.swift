// LISTEN on the store's channels from a connection of its own, on a thread of its own: a job queued on any
// replica wakes an idle worker here, and a job finished on any replica answers the requests waiting for it
// here (the synchronous `wait` across replicas). Notifications are a shortcut, not the record: the workers
// still poll every second and the waiters time out into a 202, so a lost one costs latency, never a job.
// After every (re)connect `connected` runs, so the owner can look again at what it may have missed.
import CPostgreSQL
import Foundation
import Glibc
import Synchronization

final class PostgresListener: Sendable {
    private let url: String
    private let handler: @Sendable (_ channel: String, _ payload: String) -> Void
    private let connected: @Sendable () -> Void
    private let stopping = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)

    init(url: String, handler: @escaping @Sendable (_ channel: String, _ payload: String) -> Void,
         connected: @escaping @Sendable () -> Void) {
        self.url = url
        self.handler = handler
        self.connected = connected
    }

    func start() {
        let thread = Thread { [self] in
            run()
            done.signal()
        }
        thread.name = "deepresize-listen"
        thread.start()
    }

    /// Ends the loop within about a second.
    func stop() {
        stopping.store(true, ordering: .relaxed)
        _ = done.wait(timeout: .now() + 2)
    }

    private func run() {
        var pause = 0.1
        while !stopping.load(ordering: .relaxed) {
            do {
                let db = try PostgresConnection(url: url)
                try db.execute("LISTEN \(PostgresNotifications.queuedChannel); LISTEN \(PostgresNotifications.finishedChannel)")
                pause = 0.1
                connected()
                listen(db)
            } catch {
                // The database is away: try again with a growing pause, as the pool does.
            }
            guard !stopping.load(ordering: .relaxed) else { break }
            usleep(UInt32(pause * 1_000_000))
            pause = min(5, pause * 2)
        }
    }

    /// Waits on the connection's socket (1 s slices, to notice `stop`) and hands every notification over,
    /// until the connection breaks.
    private func listen(_ db: PostgresConnection) {
        guard let handle = db.handle else { return }
        while !stopping.load(ordering: .relaxed) {
            var poller = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 1000)
            if ready < 0 && errno != EINTR { return }
            guard PQconsumeInput(handle) == 1, PQstatus(handle) == CONNECTION_OK else { return }
            while let notification = PQnotifies(handle) {
                let channel = String(cString: notification.pointee.relname)
                let payload = String(cString: notification.pointee.extra)
                PQfreemem(notification)
                handler(channel, payload)
            }
        }
    }
}

extension PostgresJobStore {
    /// A listener on this store's database: `queued` for every job queued (or put back) on any replica,
    /// `finished(id)` for every job that ended, `connected` after each (re)connect. Not started yet.
    func listener(queued: @escaping @Sendable () -> Void, finished: @escaping @Sendable (String) -> Void,
                  connected: @escaping @Sendable () -> Void) -> PostgresListener {
        PostgresListener(url: pool.url, handler: { channel, payload in
            switch channel {
            case PostgresNotifications.queuedChannel: queued()
            case PostgresNotifications.finishedChannel: finished(payload)
            default: break
            }
        }, connected: connected)
    }
}
