import Glibc
import Dispatch
import Synchronization

/// Closes the socket once both of its dispatch sources are cancelled (closing earlier could let a new
/// socket reuse the number while a source still watches it).
private final class SocketCloser: Sendable {
    let fd: Int32
    private let sourcesLeft = Atomic<Int>(2)

    init(fd: Int32) { self.fd = fd }

    func sourceCancelled() {
        if sourcesLeft.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            Glibc.close(fd)
        }
    }
}

/// One client connection. All mutable state is used only on `queue` (a serial queue), which is what makes
/// the class safe to share with the dispatch sources and the handler's `respond` closure.
final class Connection: @unchecked Sendable { // confined to `queue`, see above
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
    private let queue: DispatchQueue
    private let readSource: any DispatchSourceRead
    private let writeSource: any DispatchSourceWrite
    private let timer: any DispatchSourceTimer
    private var readPaused = true      // sources start inactive
    private var writePaused = true

    private var parser: HTTPRequestParser
    private var phase = Phase.idle
    private var shuttingDown = false
    /// Accepted over the connection limit: it only answers 503 and closes.
    private let rejecting: Bool
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    /// Body bytes this connection holds of the server's `maxBodyBytesInFlight`, until the response.
    private var reservedBodyBytes = 0
    private var requestStarted: UInt64 = 0
    private var generation = 0
    /// Set while `processInput` runs: a response written synchronously from inside it must not start a
    /// nested `processInput` (the running loop goes on with the next pipelined request).
    private var processingInput = false
    /// The handler's answer when it calls `respond` synchronously, on this queue, inside `handle`: sent when
    /// `handle` returns, without a hop through the queue (which made it wait behind every other connection
    /// on the lane).
    private var synchronousResponse: (response: HTTPResponse, generation: Int)?
    private var insideHandle = false
    /// When the current phase times out (uptime nanoseconds), and what the timer source is set to. The
    /// source is re-armed only when a deadline comes earlier than the armed one; a later deadline is
    /// noticed when the armed one fires, so a keep-alive request costs no timer reprogramming.
    private var deadline: UInt64?
    private var armedAt: UInt64?
    private static let queueKey = DispatchSpecificKey<ObjectIdentifier>()

    private var outbound: [[UInt8]] = []
    private var outboundOffset = 0
    private var closeAfterWrite = false
    private var pendingLog: AccessLogEntry?
    private var lingerDiscarded = 0

    /// How long a closing connection keeps draining input so the client reads the response instead of a reset.
    private static let lingerSeconds = 1.0
    private static let lingerMaxBytes = 8 << 20

    init(fd: Int32, remoteAddress: String, server: HTTPServer, queue: DispatchQueue, rejecting: Bool) {
        self.fd = fd
        self.rejecting = rejecting
        self.remoteAddress = remoteAddress
        self.server = server
        self.queue = queue
        parser = HTTPRequestParser(limits: server.configuration.parserLimits)
        readSource = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        writeSource = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
        timer = DispatchSource.makeTimerSource(queue: queue)
        let closer = SocketCloser(fd: fd)
        readSource.setCancelHandler { closer.sourceCancelled() }
        writeSource.setCancelHandler { closer.sourceCancelled() }
        readSource.setEventHandler { [weak self] in self?.onReadable() }
        writeSource.setEventHandler { [weak self] in self?.flush() }
        timer.setEventHandler { [weak self] in self?.onTimer() }
        timer.schedule(deadline: .distantFuture)
        timer.activate()
        queue.setSpecific(key: Self.queueKey, value: ObjectIdentifier(self))
    }

    // MARK: - Entry points (any thread)

    func start() {
        queue.async { [self] in
            guard phase != .closed else { return }
            // A fresh connection gets the header timeout to send its first byte; then it closes quietly.
            setTimer(server.configuration.headerTimeout)
            setReading(true)
        }
    }

    /// Over the connection limit: answer 503 and close.
    func startRejecting(maxConnections: Int) {
        queue.async { [self] in
            guard phase != .closed else { return }
            var response = HTTPResponse.problem(status: 503, title: "Service Unavailable",
                                                detail: "the server is at its limit of \(maxConnections) connections; retry shortly")
            response.headers.add("Retry-After", "1")
            send(response, keepAlive: false, method: "-", path: "-", isHEAD: false, version: .http1_1)
        }
    }

    func beginShutdown() {
        queue.async { [self] in
            shuttingDown = true
            if phase == .idle && parser.isAwaitingRequest { close() }
        }
    }

    func forceClose() {
        queue.async { [self] in close() }
    }

    // MARK: - Reading

    private func onReadable() {
        switch phase {
        case .idle, .readingHead, .readingBody, .lingering: break
        case .handling, .writing, .closed: return
        }
        let n = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 65536) { buffer -> Int in
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n > 0 {
                if phase == .lingering {
                    lingerDiscarded += n
                } else {
                    parser.append(UnsafeBufferPointer(rebasing: buffer[0..<n]))
                }
            }
            return n
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
                if let early = server.handler.preflight(newHead) {
                    // The body is skipped, so the connection can only continue when there is none; then the
                    // request's `.end` (due at once) is taken now, so the bytes after it are the next
                    // request, answered as soon as this response is written (it was left for later and
                    // read as the next request's end, which hung until header_timeout).
                    let keepAlive = newHead.keepAlive && !newHead.hasBody
                    if keepAlive { skipEnd() }
                    send(early, keepAlive: keepAlive, for: newHead)
                    continue  // written at once: the loop goes on with the next request (else it ends here)
                }
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
                let request = HTTPRequest(head: head, body: body)
                body = []
                insideHandle = true
                server.handler.handle(request) { [self] response in
                    if DispatchQueue.getSpecific(key: Self.queueKey) == ObjectIdentifier(self), insideHandle,
                       synchronousResponse == nil {
                        synchronousResponse = (response, myGeneration)
                    } else {
                        queue.async { self.respond(response, generation: myGeneration) }
                    }
                }
                insideHandle = false
                if let answer = synchronousResponse {
                    // Answered at once: written now; the loop goes on with any pipelined request.
                    synchronousResponse = nil
                    respond(answer.response, generation: answer.generation)
                    continue
                }
                // Answered later: pipelined bytes wait in the socket until then.
                setReading(false)
                return
            }
        }
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
        armedAt = nil
        guard let deadline else { return }
        if DispatchTime.now().uptimeNanoseconds < deadline {
            arm(deadline)
            return
        }
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

    /// The current phase times out `seconds` from now (nil: never).
    private func setTimer(_ seconds: Double?) {
        guard phase != .closed else { return }
        guard let seconds else {
            deadline = nil
            return
        }
        let due = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, seconds) * 1e9)
        deadline = due
        if armedAt.map({ due < $0 }) ?? true { arm(due) }
    }

    private func arm(_ due: UInt64) {
        armedAt = due
        timer.schedule(deadline: DispatchTime(uptimeNanoseconds: due))
    }

    // MARK: - Source bookkeeping

    private func setReading(_ on: Bool) {
        guard phase != .closed, on == readPaused else { return }
        readPaused = !on
        if on { readSource.resume() } else { readSource.suspend() }
    }

    private func setWriting(_ on: Bool) {
        guard phase != .closed, on == writePaused else { return }
        writePaused = !on
        if on { writeSource.resume() } else { writeSource.suspend() }
    }

    private func close() {
        guard phase != .closed else { return }
        phase = .closed
        outbound = []
        body = []
        releaseBody()
        // Cancelled sources must be resumed (or activated) so their cancel handlers run and close the fd.
        readSource.cancel()
        writeSource.cancel()
        timer.cancel()
        if readPaused { readPaused = false; readSource.resume() }
        if writePaused { writePaused = false; writeSource.resume() }
        server.connectionClosed(self, wasRejecting: rejecting)
    }
}
