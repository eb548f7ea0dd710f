import CEpoll
import Glibc
import Synchronization

/// What an event loop calls for a registered socket, always on the loop's thread.
protocol EventLoopHandler: AnyObject {
    func readable()
    func writable()
    /// A deadline may have passed (`now`: uptime nanoseconds). Returns the handler's next deadline, if any.
    func tick(now: UInt64) -> UInt64?
}

/// One I/O thread with its own epoll set (level-triggered) and an eventfd to be woken for tasks from
/// other threads. Connections are confined to their loop's thread; a response from elsewhere comes back as
/// a task.
///
/// Why not Dispatch sources: each event of a Dispatch read source is re-armed through libdispatch's manager
/// thread (an eventfd write and a context switch per request: `_dispatch_mgr_queue_push` and
/// `eventfd_write` took 20 % of the server's CPU under `wrk -c64` on /healthz). A loop waits in
/// `epoll_wait` itself and runs the handlers where the events arrive. Its thread is a plain thread, so
/// CPU-bound work on the Dispatch pools never starves the I/O (what the overcommit "lanes" were for).
final class EventLoop: @unchecked Sendable { // `handlers`, `nextCheck` and the buffer: only on the loop thread
    private let epollFD: Int32
    private let wakeFD: Int32
    /// Tasks for the loop's thread; `ended` once the thread has left its loop and is closing its descriptors.
    private let queue = Mutex<(tasks: [@Sendable () -> Void], ended: Bool)>(([], false))
    private let wakePending = Atomic<Bool>(false)
    private let thread = Atomic<UInt>(0)
    private var handlers: [Int32: any EventLoopHandler] = [:]
    /// When `tick` is due next (uptime nanoseconds; 0: nothing waits).
    private var nextCheck: UInt64 = 0
    private var running = true
    /// The read buffer the loop's connections share (one read at a time on this thread).
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)

    init(name: String) {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        precondition(epollFD >= 0 && wakeFD >= 0, "epoll/eventfd: \(errnoText(errno))")
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = wakeFD
        epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event)
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        var handle = pthread_t()
        let box = Unmanaged.passRetained(self)
        let created = pthread_create(&handle, &attributes, { argument in
            let loop = Unmanaged<EventLoop>.fromOpaque(argument!).takeRetainedValue()
            loop.run()
            return nil
        }, box.toOpaque())
        precondition(created == 0, "pthread_create: \(errnoText(created))")
        pthread_detach(handle)
        _ = name
    }

    /// Ends the thread once its connections are gone (the server has stopped); its descriptors close.
    func stop() {
        execute { [self] in running = false }
    }

    /// True on the loop's own thread.
    var inLoop: Bool { thread.load(ordering: .relaxed) == UInt(pthread_self()) }

    /// Runs `task` on the loop's thread (after the current event when called from it). Once the loop has
    /// ended (the server stopped) the task is dropped: a handler that answers a force-closed connection
    /// late has nobody to answer. The wake-up is written under the queue's lock, so it never reaches the
    /// eventfd after the thread closed it: by then its number may be another file's (a job's, the database's).
    func execute(_ task: @escaping @Sendable () -> Void) {
        queue.withLock { queue in
            guard !queue.ended else { return }
            queue.tasks.append(task)
            if !wakePending.exchange(true, ordering: .acquiringAndReleasing) {
                var one: UInt64 = 1
                _ = write(wakeFD, &one, 8)
            }
        }
    }

    // MARK: on the loop thread

    func register(_ fd: Int32, _ handler: any EventLoopHandler, reading: Bool, writing: Bool) {
        handlers[fd] = handler
        var event = epoll_event()
        event.events = Self.mask(reading: reading, writing: writing)
        event.data.fd = fd
        epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event)
    }

    /// `hangup`: without `reading`, wake only for the peer's close (EPOLLRDHUP), not for its data.
    func update(_ fd: Int32, reading: Bool, writing: Bool, hangup: Bool = false) {
        var event = epoll_event()
        event.events = Self.mask(reading: reading, writing: writing) | (hangup ? EPOLLRDHUP.rawValue : 0)
        event.data.fd = fd
        epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event)
    }

    func unregister(_ fd: Int32) {
        handlers[fd] = nil
        epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
    }

    /// A handler's deadline: the loop ticks no later than this.
    func deadline(_ due: UInt64) {
        if nextCheck == 0 || due < nextCheck { nextCheck = due }
    }

    private static func mask(reading: Bool, writing: Bool) -> UInt32 {
        (reading ? EPOLLIN.rawValue | EPOLLRDHUP.rawValue : 0) | (writing ? EPOLLOUT.rawValue : 0)
    }

    private func run() {
        thread.store(UInt(pthread_self()), ordering: .relaxed)
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: 128)
        defer {
            // No task is queued or woken for after this (`execute`); the dropped ones release what they hold.
            let dropped = queue.withLock { queue in
                queue.ended = true
                defer { queue.tasks = [] }
                return queue.tasks
            }
            _ = dropped  // released here, outside the lock
            events.deallocate()
            readBuffer.deallocate()
            close(epollFD)
            close(wakeFD)
        }
        while running {
            var timeout: Int32 = -1
            if nextCheck > 0 {
                let now = Self.now()
                timeout = nextCheck <= now ? 0 : Int32(min(60_000, (nextCheck - now) / 1_000_000 + 1))
            }
            let count = epoll_wait(epollFD, events, 128, timeout)
            if count < 0 {
                if errno == EINTR { continue }
                preconditionFailure("epoll_wait: \(errnoText(errno))")
            }
            for index in 0..<Int(count) {
                let event = events[index]
                let fd = event.data.fd
                if fd == wakeFD {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                    continue
                }
                let flags = event.events
                if flags & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
                    handlers[fd]?.readable()
                }
                if flags & (EPOLLOUT.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
                    handlers[fd]?.writable()
                }
            }
            runTasks()
            if nextCheck > 0 && Self.now() >= nextCheck {
                let now = Self.now()
                nextCheck = 0
                for handler in Array(handlers.values) {
                    if let due = handler.tick(now: now) { deadline(due) }
                }
            }
        }
    }

    private func runTasks() {
        wakePending.store(false, ordering: .releasing)
        let pending = queue.withLock { queue -> [@Sendable () -> Void] in
            defer { queue.tasks = [] }
            return queue.tasks
        }
        for task in pending { task() }
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
