import Glibc
import Dispatch
import Synchronization

/// One client connection. All mutable state is used only on its event loop's thread, which is what makes
/// the class safe to share with the loop and the handler's `respond` closure.
final class Connection: @unchecked Sendable, EventLoopHandler { // confined to `loop`'s thread, see above
    private enum Phase {
        case idle          // between requests (or fresh): keep-alive timer, reading
        case readingHead   // header timer from the first byte, reading
        case readingBody   // body timer, reading
        case handling      // waiting for `respond`; reading paused (pipelined bytes wait in the parser)
        case writing       // writing the response; reading paused; write timer
        case lingering     // response sent, write side shut; discard input until EOF or a short timer
        case closed
    }

    private let fd: Int32
    private let remoteAddress: String
    private let server: HTTPServer
    private let loop: EventLoop
    private var registered = false
    private var reading = false
    private var writing = false
    /// While a handler holds the request: woken by the peer's close only (its pipelined bytes wait).
    private var watchingHangup = false
    /// The request being handled's disconnect signal, until its answer.
    private var disconnect: ClientDisconnect?

    private var parser: HTTPRequestParser
    private var phase = Phase.idle
    private var shuttingDown = false
    /// Accepted over the connection limit: it only answers 503 and closes.
    private let rejecting: Bool
    private var head: HTTPRequestHead?
    /// What the handler's `preflight` accepted `head` with, for its `handle`.
    private var accepted: (any Sendable)?
    private var body: [UInt8] = []
    /// Body bytes this connection holds of the server's `maxBodyBytesInFlight`, until the response.
    private var reservedBodyBytes = 0
    private var requestStarted: UInt64 = 0
    private var generation = 0
    /// Set while `processInput` runs: a response written synchronously from inside it must not start a
    /// nested `processInput` (the running loop goes on with the next pipelined request).
    private var processingInput = false
    /// The handler's answer when it calls `respond` synchronously, on the loop's thread, inside `handle`:
    /// sent when `handle` returns, without a task through the loop.
    private var synchronousResponse: (response: HTTPResponse, generation: Int)?
    private var insideHandle = false
    /// When the current phase times out (monotonic nanoseconds, `EventLoop.now()`); the loop ticks then.
    private var deadline: UInt64?

    private var outbound: [[UInt8]] = []
    private var outboundOffset = 0
    private var closeAfterWrite = false
    private var pendingLog: AccessLogEntry?
    private var lingerDiscarded = 0

    /// How long a closing connection keeps draining input so the client reads the response instead of a reset.
    private static let lingerSeconds = 1.0
    private static let lingerMaxBytes = 8 << 20

    init(fd: Int32, remoteAddress: String, server: HTTPServer, loop: EventLoop, rejecting: Bool) {
        self.fd = fd
        self.rejecting = rejecting
        self.remoteAddress = remoteAddress
        self.server = server
        self.loop = loop
        parser = HTTPRequestParser(limits: server.configuration.parserLimits)
    }

    // MARK: - Entry points (any thread)

    func start() {
        loop.execute { [self] in
            guard phase != .closed else { return }
            loop.register(fd, self, reading: false, writing: false)
            registered = true
            // A fresh connection gets the header timeout to send its first byte; then it closes quietly.
            setTimer(server.configuration.headerTimeout)
            setReading(true)
        }
    }

    /// Over the connection limit: answer 503 and close.
    func startRejecting(maxConnections: Int) {
        loop.execute { [self] in
            guard phase != .closed else { return }
            loop.register(fd, self, reading: false, writing: false)
            registered = true
            var response = HTTPResponse.problem(status: 503, title: "Service Unavailable",
                                                detail: "the server is at its limit of \(maxConnections) connections; retry shortly")
            response.headers.add("Retry-After", "1")
            send(response, keepAlive: false, method: "-", path: "-", isHEAD: false, version: .http1_1)
        }
    }

    func beginShutdown() {
        loop.execute { [self] in
            shuttingDown = true
            if phase == .idle && parser.isAwaitingRequest { close() }
        }
    }

    func forceClose() {
        loop.execute { [self] in close() }
    }

    // MARK: - EventLoopHandler (on the loop's thread)

    func readable() { onReadable() }

    func writable() { flush() }

    func tick(now: UInt64) -> UInt64? {
        guard phase != .closed, let due = deadline else { return nil }
        if now < due { return due }
        deadline = nil
        onTimer()
        return deadline
    }

    // MARK: - Reading

    private func onReadable() {
        switch phase {
        case .idle, .readingHead, .readingBody, .lingering: break
        case .handling:
            // Only a close wakes a handling connection: the peer shut its side or reset. Once that was seen,
            // a further wake is a hang-up or error that stays reported (level-triggered): the socket is dead.
            if watchingHangup { peerWentAway() } else { close() }
            return
        case .writing, .closed: return
        }
        let buffer = loop.readBuffer
        let n = read(fd, buffer.baseAddress, buffer.count)
        if n > 0 {
            if phase == .lingering {
                lingerDiscarded += n
            } else {
                parser.append(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            }
        }
        if n < 0 {
            let code = errno
            if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return }
            close()
            return
        }
        if n == 0 {
            // Peer closed. Nothing in flight can be answered without a request, so just close.
            close()
            return
        }
        if phase == .lingering {
            if lingerDiscarded > Self.lingerMaxBytes { close() }
            return
        }
        processInput()
    }

    /// Turns buffered bytes into requests until one is handed to the handler or more bytes are needed.
    private func processInput() {
        guard !processingInput else { return }
        processingInput = true
        defer { processingInput = false }
        while phase == .idle || phase == .readingHead || phase == .readingBody {
            if phase == .idle && !parser.isAwaitingRequest {
                phase = .readingHead
                requestStarted = DispatchTime.now().uptimeNanoseconds
                setTimer(server.configuration.headerTimeout)  // never extended by later bytes
            }
            let event: HTTPParserEvent?
            do {
                event = try parser.nextEvent()
            } catch {
                sendError(error)
                return
            }
            guard let event else { return }
            switch event {
            case .head(var newHead):
                newHead.remoteAddress = remoteAddress
                head = newHead
                body = []
                if let length = newHead.contentLength { body.reserveCapacity(min(length, 1 << 20)) }
                if shuttingDown {
                    send(.problem(status: 503, title: "Service Unavailable", detail: "the server is shutting down"),
                         keepAlive: false, for: newHead)
                    return
                }
                let decision = server.handler.preflightBoxed(newHead)
                if case .respond(let early) = decision {
                    // The body is skipped, so the connection can only continue when there is none; then the
                    // request's `.end` (due at once) is taken now, so the bytes after it are the next
                    // request, answered as soon as this response is written (it was left for later and
                    // read as the next request's end, which hung until header_timeout).
                    let keepAlive = newHead.keepAlive && !newHead.hasBody
                    if keepAlive { skipEnd() }
                    send(early, keepAlive: keepAlive, for: newHead)
                    continue  // written at once: the loop goes on with the next request (else it ends here)
                }
                if case .accept(let value) = decision { accepted = value }
                if let length = newHead.contentLength, length > 0, !reserveBody(length) {
                    sendBodyBudgetRefusal(for: newHead)
                    return
                }
                phase = .readingBody
                setTimer(server.configuration.bodyTimeout)
                if newHead.expectsContinue {
                    outbound.append(ResponseWriter.continueLine)
                    flush()
                }
            case .body(let chunk):
                // Chunked bodies reserve as they arrive (a Content-Length was reserved whole at the head).
                if head?.contentLength == nil && !reserveBody(chunk.count) {
                    if let head { sendBodyBudgetRefusal(for: head) }
                    return
                }
                body.append(contentsOf: chunk)
            case .end:
                guard let head else { continue }
                phase = .handling
                setTimer(nil)
                generation += 1
                let myGeneration = generation
                let signal = ClientDisconnect()
                disconnect = signal
                let request = HTTPRequest(head: head, body: body, disconnect: signal)
                body = []
                let accepted = self.accepted ?? ()
                self.accepted = nil
                insideHandle = true
                server.handler.handleBoxed(request, accepted: accepted) { [self] response in
                    // `insideHandle` is read only on the loop's thread (where it belongs).
                    if loop.inLoop, insideHandle, synchronousResponse == nil {
                        synchronousResponse = (response, myGeneration)
                    } else {
                        loop.execute { self.respond(response, generation: myGeneration) }
                    }
                }
                insideHandle = false
                if let answer = synchronousResponse {
                    // Answered at once: written now; the loop goes on with any pipelined request.
                    synchronousResponse = nil
                    respond(answer.response, generation: answer.generation)
                    continue
                }
                // Answered later: pipelined bytes wait in the socket until then; the peer's close is watched.
                setReading(false)
                setWatchingHangup(true)
                return
            }
        }
    }

    /// The peer closed (or reset) while its request was handled: the handler learns it off the loop (its
    /// actions may touch a database). A reset leaves nothing to answer to: the connection closes now; after
    /// a FIN the answer is still written, which a half-closed client reads.
    private func peerWentAway() {
        setWatchingHangup(false)
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        if let signal = disconnect {
            disconnect = nil
            DispatchQueue.global().async { signal.fire() }
        }
        if error != 0 { close() }
    }

    private func setWatchingHangup(_ on: Bool) {
        guard phase != .closed, on != watchingHangup else { return }
        watchingHangup = on
        if registered { loop.update(fd, reading: reading, writing: writing, hangup: on) }
    }

    /// Takes the `.end` of a bodyless request whose answer is sent without the handler.
    private func skipEnd() {
        if case .end? = try? parser.nextEvent() { return }
        server.logger.warning("a bodyless request did not end at its head")
    }

    private func reserveBody(_ count: Int) -> Bool {
        guard server.reserveBodyBytes(count) else { return false }
        reservedBodyBytes += count
        return true
    }

    private func releaseBody() {
        server.releaseBodyBytes(reservedBodyBytes)
        reservedBodyBytes = 0
    }

    /// Too many request bodies in flight: 503 before the body is read (and before `100 Continue`); the
    /// connection closes, since the body it will not read may be on its way.
    private func sendBodyBudgetRefusal(for head: HTTPRequestHead) {
        body = []
        releaseBody()
        var response = HTTPResponse.problem(status: 503, title: "Service Unavailable",
                                            detail: "the server is receiving too many request bodies at once; retry shortly")
        response.headers.add("Retry-After", "2")
        send(response, keepAlive: false, for: head)
    }

    private func respond(_ response: HTTPResponse, generation answered: Int) {
        guard phase == .handling, answered == generation, let head else {
            if phase != .closed {
                server.logger.warning("respond called more than once; extra response ignored")
            }
            return
        }
        releaseBody()
        send(response, keepAlive: head.keepAlive, for: head)
    }

    // MARK: - Writing

    private func sendError(_ error: HTTPParseError) {
        server.logger.debug("rejecting request", metadata: ["status": "\(error.status)", "detail": "\(error.detail)",
                                                          "remote": "\(remoteAddress)"])
        send(error.response, keepAlive: false, method: head?.method ?? "-", path: head?.path ?? "-",
             isHEAD: false, version: head?.version ?? .http1_1)
    }

    private func send(_ response: HTTPResponse, keepAlive: Bool, for head: HTTPRequestHead) {
        send(response, keepAlive: keepAlive, method: head.method, path: head.path, isHEAD: head.method == "HEAD",
             version: head.version)
    }

    private func send(_ response: HTTPResponse, keepAlive: Bool, method: String, path: String, isHEAD: Bool,
                      version: HTTPVersion) {
        guard phase != .closed else { return }
        releaseBody()  // whatever the answer, the body it answers is no longer held for the handler
        disconnect?.retire()
        disconnect = nil
        setWatchingHangup(false)
        if requestStarted == 0 { requestStarted = DispatchTime.now().uptimeNanoseconds }
        let keep = keepAlive && !shuttingDown && !ResponseWriter.handlerWantsClose(response) && !server.isShuttingDown
        let (headBytes, sendsBody) = ResponseWriter.head(for: response, isHEAD: isHEAD, keepAlive: keep,
                                                         requestVersion: version)
        if sendsBody && response.body.count <= 32 * 1024 {
            outbound.append(headBytes + response.body)  // one write() for small responses
        } else {
            outbound.append(headBytes)
            if sendsBody { outbound.append(response.body) }
        }
        closeAfterWrite = !keep
        pendingLog = AccessLogEntry(method: method, path: path, status: response.status,
                                    bodyBytesSent: sendsBody ? response.body.count : 0,
                                    durationMilliseconds: 0, remoteAddress: remoteAddress)
        phase = .writing
        setTimer(server.configuration.writeTimeout)
        flush()
    }

    /// Writes as much as the socket takes; on EAGAIN waits for the write source. Each bit of progress
    /// restarts the write timer, so a client that stops reading is dropped after `writeTimeout`.
    private func flush() {
        guard phase != .closed else { return }
        while let chunk = outbound.first {
            let remaining = chunk.count - outboundOffset
            if remaining == 0 {
                outbound.removeFirst()
                outboundOffset = 0
                continue
            }
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress! + outboundOffset, remaining) }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK {
                    // The client reads slower than we write: stop reading until the response is out.
                    if phase == .writing { setReading(false) }
                    setWriting(true)
                    return
                }
                close()  // EPIPE, ECONNRESET: the client is gone
                return
            }
            outboundOffset += n
            if phase == .writing { setTimer(server.configuration.writeTimeout) }
        }
        setWriting(false)
        if phase == .writing { writeFinished() }
    }

    private func writeFinished() {
        if var entry = pendingLog {
            entry.durationMilliseconds = Double(DispatchTime.now().uptimeNanoseconds - requestStarted) / 1e6
            pendingLog = nil
            server.accessLog?(entry)
        }
        requestStarted = 0
        head = nil
        accepted = nil
        if closeAfterWrite {
            Glibc.shutdown(fd, Int32(SHUT_WR))
            var pending: Int32 = 0
            _ = ioctl(fd, UInt(FIONREAD), &pending)
            if !rejecting && parser.isAwaitingRequest && pending == 0 {
                close()
                return
            }
            // Input may still be unread (refused request, body never read, or a client that had not sent
            // yet): closing now would send a reset that can destroy the response before the client reads
            // it, so drain until the client closes or a short timer ends.
            phase = .lingering
            setTimer(Self.lingerSeconds)
            setReading(true)
            return
        }
        phase = .idle
        if shuttingDown && parser.isAwaitingRequest {
            close()
            return
        }
        setTimer(server.configuration.keepAliveTimeout)
        setReading(true)
        processInput()  // pipelined bytes already buffered
    }

    // MARK: - Timers

    private func onTimer() {
        switch phase {
        case .idle, .writing, .lingering:
            close()
        case .readingHead:
            send(.problem(status: 408, title: "Request Timeout",
                          detail: "request head not received within \(server.configuration.headerTimeout) s"),
                 keepAlive: false, method: "-", path: "-", isHEAD: false, version: .http1_1)
        case .readingBody:
            send(.problem(status: 408, title: "Request Timeout",
                          detail: "request body not received within \(server.configuration.bodyTimeout) s"),
                 keepAlive: false, method: head?.method ?? "-", path: head?.path ?? "-", isHEAD: false,
                 version: head?.version ?? .http1_1)
        case .handling, .closed:
            break
        }
    }

    /// The current phase times out `seconds` from now (nil: never). The loop is told only the deadline;
    /// it ticks the connection when that passes (a later deadline set meanwhile makes the tick a no-op).
    private func setTimer(_ seconds: Double?) {
        guard phase != .closed else { return }
        guard let seconds else {
            deadline = nil
            return
        }
        let due = EventLoop.now() + UInt64(max(0, seconds) * 1e9)
        deadline = due
        loop.deadline(due)
    }

    // MARK: - Interest in the loop

    private func setReading(_ on: Bool) {
        guard phase != .closed, on != reading else { return }
        reading = on
        if registered { loop.update(fd, reading: reading, writing: writing, hangup: watchingHangup) }
    }

    private func setWriting(_ on: Bool) {
        guard phase != .closed, on != writing else { return }
        writing = on
        if registered { loop.update(fd, reading: reading, writing: writing, hangup: watchingHangup) }
    }

    private func close() {
        guard phase != .closed else { return }
        phase = .closed
        disconnect?.retire()
        disconnect = nil
        outbound = []
        body = []
        deadline = nil
        releaseBody()
        if registered { loop.unregister(fd) }
        Glibc.close(fd)
        server.connectionClosed(self, wasRejecting: rejecting)
    }
}
