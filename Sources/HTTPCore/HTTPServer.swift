import Glibc
import Dispatch
public import Logging
import Synchronization

/// Server limits and timeouts. Times are seconds (Double).
public struct HTTPServerConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port; `start()` returns the bound one.
    public var port: Int
    public var backlog: Int32
    /// Open connections served at once; a connection beyond this gets `503` problem+json and is closed.
    public var maxConnections: Int
    public var maxRequestLineBytes: Int
    public var maxHeaderBytes: Int
    public var maxHeaderCount: Int
    public var maxBodyBytes: Int
    /// From the first byte of a request until its head is complete; then 408 and close.
    public var headerTimeout: Double
    /// From the end of the head (or the 100 Continue) until the body is complete; then 408 and close.
    public var bodyTimeout: Double
    /// How long an idle keep-alive connection waits for the next request; then it closes quietly.
    public var keepAliveTimeout: Double
    /// How long a response write may make no progress (client not reading); then the connection closes.
    public var writeTimeout: Double
    /// I/O threads (`EventLoop`s, each with its own epoll set); connections are spread over them. Handlers
    /// run there too, so a handler that blocks holds up the connections of its loop only.
    public var eventLoops: Int
    /// Request body bytes all connections together may hold, from the head (its Content-Length is reserved
    /// before `100 Continue`) until the response; a request that does not fit gets 503 with `Retry-After`
    /// and is not read. 0: no budget.
    public var maxBodyBytesInFlight: Int

    public init(host: String = "0.0.0.0", port: Int = 8080, backlog: Int32 = 256, maxConnections: Int = 512,
                maxRequestLineBytes: Int = 8192, maxHeaderBytes: Int = 16384, maxHeaderCount: Int = 100,
                maxBodyBytes: Int = 25 * 1024 * 1024, headerTimeout: Double = 10, bodyTimeout: Double = 60,
                keepAliveTimeout: Double = 5, writeTimeout: Double = 30, maxBodyBytesInFlight: Int = 0,
                eventLoops: Int = HTTPServerConfiguration.defaultEventLoops) {
        self.host = host
        self.port = port
        self.backlog = backlog
        self.maxConnections = maxConnections
        self.maxRequestLineBytes = maxRequestLineBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.keepAliveTimeout = keepAliveTimeout
        self.writeTimeout = writeTimeout
        self.maxBodyBytesInFlight = maxBodyBytesInFlight
        self.eventLoops = max(1, eventLoops)
    }

    /// One per core, at least 4: enough that a handler blocked for a moment (a locked database) holds up
    /// a quarter of the connections at most, few enough that under load the loops are not switched among.
    public static var defaultEventLoops: Int { max(4, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    var parserLimits: HTTPParserLimits {
        HTTPParserLimits(maxRequestLineBytes: maxRequestLineBytes, maxHeaderBytes: maxHeaderBytes,
                         maxHeaderCount: maxHeaderCount, maxBodyBytes: maxBodyBytes)
    }
}

/// What `HTTPHandler.preflight` decided from a request's head.
public enum HTTPPreflight<Accepted: Sendable>: Sendable {
    /// Read the body, then call `handle` with this value.
    case accept(Accepted)
    /// Answer now: the body is not read (and `100 Continue` not sent).
    case respond(HTTPResponse)
}

public protocol HTTPHandler: Sendable {
    /// What `preflight` learned from the head and `handle` needs (the matched route, parsed parameters), so
    /// nothing is worked out twice. `Void` for a handler that carries nothing.
    associatedtype Accepted: Sendable = Void
    /// After the head, before the body is read and before 100 Continue: refuse from the head alone, or
    /// accept with what `handle` will need. Runs on the connection's I/O thread: keep it quick.
    func preflight(_ head: HTTPRequestHead) -> HTTPPreflight<Accepted>
    /// Call `respond` exactly once, from any thread, possibly later. `accepted` is what `preflight` accepted
    /// this request's head with. Runs on the connection's I/O thread: do slow work elsewhere. Later calls of
    /// `respond` are ignored. HEAD requests arrive as HEAD: answer as for GET (the writer sends the headers
    /// and the body's Content-Length, not the body), or with an empty body and your own `Content-Length`.
    func handle(_ request: HTTPRequest, accepted: Accepted, respond: @escaping @Sendable (HTTPResponse) -> Void)
}

extension HTTPHandler where Accepted == Void {
    public func preflight(_ head: HTTPRequestHead) -> HTTPPreflight<Void> { .accept(()) }
}

extension HTTPHandler {
    /// `preflight` for the connection, which holds handlers of any `Accepted`: the accepted value boxed.
    func preflightBoxed(_ head: HTTPRequestHead) -> HTTPPreflight<any Sendable> {
        switch preflight(head) {
        case .accept(let accepted): .accept(accepted)
        case .respond(let response): .respond(response)
        }
    }

    /// `handle` with the value `preflightBoxed` accepted (always this handler's `Accepted`).
    func handleBoxed(_ request: HTTPRequest, accepted: any Sendable, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        handle(request, accepted: accepted as! Accepted, respond: respond)
    }
}

/// One line per finished response (also for errors HTTPCore answers itself; method/path "-" when unknown).
public struct AccessLogEntry: Sendable {
    public var method: String
    public var path: String
    public var status: Int
    public var bodyBytesSent: Int
    /// From the first byte of the request to the last byte of the response written.
    public var durationMilliseconds: Double
    public var remoteAddress: String

    public init(method: String, path: String, status: Int, bodyBytesSent: Int, durationMilliseconds: Double,
                remoteAddress: String) {
        self.method = method
        self.path = path
        self.status = status
        self.bodyBytesSent = bodyBytesSent
        self.durationMilliseconds = durationMilliseconds
        self.remoteAddress = remoteAddress
    }
}

public struct HTTPServerError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

public final class HTTPServer: Sendable {
    private enum Phase { case notStarted, running, shuttingDown, stopped }

    private struct State: ~Copyable {
        var phase: Phase = .notStarted
        var listener: Listener?
        var connections: [ObjectIdentifier: Connection] = [:]
        var rejecting = 0
        var completions: [@Sendable () -> Void] = []
        var nextID = 0
        var refusedSinceWarning = 0
        var lastLimitWarning: UInt64 = 0
    }

    let configuration: HTTPServerConfiguration
    let handler: any HTTPHandler
    let logger: Logger
    let accessLog: (@Sendable (AccessLogEntry) -> Void)?
    private let state = Mutex(State())
    /// Set once `shutdown` begins: every response from then on closes its connection. An atomic, not the
    /// state's lock: every response reads it, and a lock here was contended by all the lanes under load.
    private let stopping = Atomic<Bool>(false)
    /// Body bytes reserved by the connections (see `maxBodyBytesInFlight`).
    private let bodyBytes = Mutex(0)
    private let acceptQueue = DispatchQueue(label: "HTTPServer.accept")
    /// The I/O threads, made at `start` and stopped when the server has stopped. They are plain threads,
    /// so CPU-bound work on the Dispatch pools (the service's inline resizing) never starves the I/O.
    /// (Found by Tests/ServerTests/HostileClientTests: with connections on one concurrent Dispatch queue,
    /// two large `scale` requests froze /healthz for 4 s on 2 cores.)
    private let loops = Mutex<[EventLoop]>([])

    public init(configuration: HTTPServerConfiguration, handler: any HTTPHandler, logger: Logger,
                accessLog: (@Sendable (AccessLogEntry) -> Void)? = nil) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        self.accessLog = accessLog
    }

    /// Reserves `count` body bytes from `maxBodyBytesInFlight`; false when they do not fit next to the
    /// bodies in flight.
    func reserveBodyBytes(_ count: Int) -> Bool {
        let limit = configuration.maxBodyBytesInFlight
        return bodyBytes.withLock { held in
            guard limit <= 0 || held + count <= limit else { return false }
            held += count
            return true
        }
    }

    func releaseBodyBytes(_ count: Int) {
        guard count > 0 else { return }
        bodyBytes.withLock { $0 = max(0, $0 - count) }
    }

    /// Body bytes the connections hold now.
    public var bodyBytesInFlight: Int { bodyBytes.withLock { $0 } }

    /// Open connections being served (not counting ones being refused with 503).
    public var activeConnections: Int {
        state.withLock { $0.connections.count - $0.rejecting }
    }

    /// Binds, listens and starts accepting. Returns the bound port. Throws `HTTPServerError` with the
    /// errno text (e.g. "bind 0.0.0.0:8080: Address already in use").
    public func start() throws -> Int {
        try state.withLock { state in
            guard case .notStarted = state.phase else { throw HTTPServerError(description: "server already started") }
            signal(SIGPIPE, SIG_IGN)
            let (fd, port) = try Self.listen(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
            loops.withLock { loops in
                loops = (0..<configuration.eventLoops).map { EventLoop(name: "HTTPServer.loop.\($0)") }
            }
            let listener = Listener(fd: fd, queue: acceptQueue)
            listener.source.setEventHandler { [weak self, listener] in self?.acceptAll(listener) }
            listener.source.activate()
            state.listener = listener
            state.phase = .running
            logger.info("HTTP server listening", metadata: ["address": "\(configuration.host):\(port)"])
            return port
        }
    }

    /// Stops accepting, closes idle connections, lets in-flight requests finish (their responses carry
    /// `Connection: close`), force-closes whatever is left after `gracePeriod` seconds, then calls `completion`.
    public func shutdown(gracePeriod: Double, completion: @escaping @Sendable () -> Void) {
        stopping.store(true, ordering: .releasing)
        let (listener, connections, finishedAlready) = state.withLock { state -> (Listener?, [Connection], Bool) in
            switch state.phase {
            case .notStarted, .stopped:
                state.phase = .stopped
                return (nil, [], true)
            case .shuttingDown:
                state.completions.append(completion)
                return (nil, [], false)
            case .running:
                state.phase = .shuttingDown
                state.completions.append(completion)
                let listener = state.listener
                state.listener = nil
                return (listener, Array(state.connections.values), false)
            }
        }
        if finishedAlready {
            completion()
            return
        }
        guard let listener else { return }
        acceptQueue.async { listener.cancel() }
        logger.info("HTTP server shutting down", metadata: ["connections": "\(connections.count)"])
        for connection in connections { connection.beginShutdown() }
        acceptQueue.asyncAfter(deadline: .now() + max(0, gracePeriod)) { [self] in
            let left = state.withLock { Array($0.connections.values) }
            if !left.isEmpty {
                logger.warning("grace period over, closing connections", metadata: ["connections": "\(left.count)"])
            }
            for connection in left { connection.forceClose() }
        }
        finishShutdownIfIdle()
    }

    // MARK: - Accepting

    private func acceptAll(_ listener: Listener) {
        while true {
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept(listener.fd, $0, &length)
                }
            }
            if fd < 0 {
                let code = errno
                switch code {
                case EAGAIN, EWOULDBLOCK: return
                case EINTR, ECONNABORTED, EPROTO: continue
                default:
                    // EMFILE/ENFILE/ENOBUFS/ENOMEM: the pending connection stays queued and the level-triggered
                    // source would spin; pause accepting briefly instead.
                    logger.error("accept failed", metadata: ["error": "\(errnoText(code))"])
                    listener.pause(for: 0.1)
                    return
                }
            }
            // accept4 is not imported from Glibc; set the flags by hand.
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let remote = formatAddress(address)

            let now = DispatchTime.now().uptimeNanoseconds
            var refusedToReport = 0
            let loops = self.loops.withLock { $0 }
            let admitted = state.withLock { state -> (Connection?, reject: Bool) in
                guard case .running = state.phase else { return (nil, false) }
                let serving = state.connections.count - state.rejecting
                let reject = serving >= configuration.maxConnections
                if reject {
                    // At most one warning a second, however hard the server is flooded.
                    state.refusedSinceWarning += 1
                    if now - state.lastLimitWarning > 1_000_000_000 {
                        refusedToReport = state.refusedSinceWarning
                        state.refusedSinceWarning = 0
                        state.lastLimitWarning = now
                    }
                }
                // Refusing politely holds a socket for a moment; bound how many do so at once.
                if reject && state.rejecting >= max(16, configuration.maxConnections / 8) { return (nil, true) }
                state.nextID += 1
                let connection = Connection(fd: fd, remoteAddress: remote, server: self,
                                            loop: loops[state.nextID % loops.count], rejecting: reject)
                state.connections[ObjectIdentifier(connection)] = connection
                if reject { state.rejecting += 1 }
                return (connection, reject)
            }
            if refusedToReport > 0 {
                logger.warning("connection limit reached, refusing with 503",
                               metadata: ["limit": "\(configuration.maxConnections)", "refused": "\(refusedToReport)"])
            }
            guard let connection = admitted.0 else {
                Glibc.close(fd)
                continue
            }
            if admitted.reject {
                connection.startRejecting(maxConnections: configuration.maxConnections)
            } else {
                connection.start()
            }
        }
    }

    func connectionClosed(_ connection: Connection, wasRejecting: Bool) {
        state.withLock { state in
            if state.connections.removeValue(forKey: ObjectIdentifier(connection)) != nil, wasRejecting {
                state.rejecting -= 1
            }
        }
        finishShutdownIfIdle()
    }

    var isShuttingDown: Bool { stopping.load(ordering: .acquiring) }

    private func finishShutdownIfIdle() {
        let completions = state.withLock { state -> [@Sendable () -> Void] in
            guard case .shuttingDown = state.phase, state.connections.isEmpty else { return [] }
            state.phase = .stopped
            defer { state.completions = [] }
            return state.completions
        }
        if !completions.isEmpty {
            logger.info("HTTP server stopped")
            for loop in loops.withLock({ loops in defer { loops = [] }; return loops }) { loop.stop() }
        }
        for completion in completions { completion() }
    }

    // MARK: - Socket setup

    private static func listen(host: String, port: Int, backlog: Int32) throws -> (Int32, Int) {
        guard (0...65535).contains(port) else { throw HTTPServerError(description: "port \(port) out of range 0...65535") }
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw HTTPServerError(description: "resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family,
                            info.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                            info.pointee.ai_protocol)
            guard fd >= 0 else { lastError = "socket: \(errnoText(errno))"; continue }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
                lastError = "bind \(host):\(port): \(errnoText(errno))"
                Glibc.close(fd)
                continue
            }
            guard Glibc.listen(fd, backlog) == 0 else {
                lastError = "listen \(host):\(port): \(errnoText(errno))"
                Glibc.close(fd)
                continue
            }
            var bound = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            _ = withUnsafeMutablePointer(to: &bound) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            return (fd, boundPort(bound))
        }
        throw HTTPServerError(description: lastError)
    }
}

/// The listening socket and its accept source; used only on the accept queue.
private final class Listener: @unchecked Sendable { // mutable state touched only on `queue`
    let fd: Int32
    let source: any DispatchSourceRead
    private let queue: DispatchQueue
    private var paused = false
    private var cancelled = false

    init(fd: Int32, queue: DispatchQueue) {
        self.fd = fd
        self.queue = queue
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setCancelHandler { Glibc.close(fd) }
    }

    func pause(for seconds: Double) {
        guard !paused, !cancelled else { return }
        paused = true
        source.suspend()
        queue.asyncAfter(deadline: .now() + seconds) { [self] in
            if paused { paused = false; source.resume() }
        }
    }

    func cancel() {
        guard !cancelled else { return }
        cancelled = true
        source.cancel()
        if paused { paused = false; source.resume() }
    }
}

// MARK: - Address helpers

func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}

private func boundPort(_ storage: sockaddr_storage) -> Int {
    let family = Int32(storage.ss_family)
    return withUnsafePointer(to: storage) { pointer in
        if family == AF_INET6 {
            return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
        }
        return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
    }
}

private func cText(_ chars: [CChar]) -> String {
    String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

private func formatAddress(_ storage: sockaddr_storage) -> String {
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
    let family = Int32(storage.ss_family)
    return withUnsafePointer(to: storage) { pointer -> String in
        switch family {
        case AF_INET:
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin -> String in
                var addr = sin.pointee.sin_addr
                inet_ntop(AF_INET, &addr, &text, socklen_t(text.count))
                return "\(cText(text)):\(UInt16(bigEndian: sin.pointee.sin_port))"
            }
        case AF_INET6:
            return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 -> String in
                var addr = sin6.pointee.sin6_addr
                inet_ntop(AF_INET6, &addr, &text, socklen_t(text.count))
                return "[\(cText(text))]:\(UInt16(bigEndian: sin6.pointee.sin6_port))"
            }
        default:
            return "unknown"
        }
    }
}
