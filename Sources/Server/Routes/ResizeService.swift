import HTTPCore
import ImageCodecs
import Logging
import Synchronization

/// The HTTP face of deepresize (API.md): routes requests to the pipeline (`scale`, answered inline) or to
/// the job store and workers (`seam`, `deep`), and renders jobs and problems.
final class ResizeService: HTTPHandler {
    private let config: ServiceConfig
    private let store: any JobStore
    private let pipeline: ResizePipeline
    private let workers: WorkerPool
    private let waiters: JobWaiters
    /// Inline `scale` work, at most one request per core at once.
    private let inline: WorkLimiter
    /// Job submissions' checks (the validation decode, the input's write): a limiter of their own, so a
    /// backlog of inline resizes never delays a submission.
    private let submissions: WorkLimiter
    private let logger: Logger
    private let metrics: ServiceMetrics
    private let shuttingDown = Atomic<Bool>(false)

    init(config: ServiceConfig, store: any JobStore, pipeline: ResizePipeline, workers: WorkerPool,
         waiters: JobWaiters, logger: Logger, metrics: ServiceMetrics = ServiceMetrics()) {
        self.config = config
        self.store = store
        self.pipeline = pipeline
        self.workers = workers
        self.waiters = waiters
        self.logger = logger
        self.metrics = metrics
        inline = WorkLimiter(limit: ServiceConfig.cpuCount)
        submissions = WorkLimiter(limit: ServiceConfig.cpuCount, ownThreads: true)
    }

    func beginShutdown() { shuttingDown.store(true, ordering: .relaxed) }

    // MARK: HTTPHandler

    /// Everything that can be refused from the head alone is refused before the client uploads the body
    /// (and before `100 Continue`): unknown routes, bad parameters, shutdown.
    func preflight(_ head: HTTPRequestHead) -> HTTPResponse? {
        switch Route.match(method: head.method, path: head.path) {
        case .failure(let problem):
            return problem.response
        case .success(let route) where route.needsAuthorization:
            if let refusal = unauthorized(head) { return refusal }
            guard route == .resize else { return nil }
            if shuttingDown.load(ordering: .relaxed) { return Problem.unavailable("the service is shutting down", retryAfter: 5).response }
            do {
                _ = try ResizeRequest.parse(head.query, defaultWait: config.defaultWait, maxWait: config.maxWait)
                _ = try Self.uploadKind(contentType: head.headers["Content-Type"])
                try Self.checkContentEncoding(head)
            } catch {
                return Problem(error).response
            }
            return nil
        case .success:
            return nil
        }
    }

    func handle(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        do {
            let route = try Route.match(method: request.head.method, path: request.head.path).get()
            if route.needsAuthorization, let refusal = unauthorized(request.head) { return respond(refusal) }
            switch route {
            case .resize: try resize(request, respond: respond)
            case .job(let id): respond(try jobRoute(id: id, method: request.head.method))
            case .jobResult(let id): respond(try result(id: id, ifNoneMatch: request.head.headers["If-None-Match"]))
            case .jobMask(let id): respond(try mask(id: id))
            case .health: respond(jsonResponse(200, .object([("status", .string("ok"))])))
            case .ready: respond(readiness())
            case .metrics: respond(metricsResponse())
            case .openAPI: respond(staticResponse(OpenAPIDocument.json, contentType: "application/json"))
            case .page:
                var page = staticResponse(WebPage.html, contentType: "text/html; charset=utf-8")
                page.headers.set("Content-Security-Policy", WebPage.contentSecurityPolicy)
                respond(page)
            }
        } catch {
            respond(problemResponse(error, request: request.head))
        }
    }

    // MARK: Authorization (auth_tokens)

    /// nil when no tokens are configured or the request carries one of them as `Authorization: Bearer`;
    /// else the 401 with `WWW-Authenticate` (RFC 6750). Every configured token is compared in full, in
    /// constant time, so the answer's timing does not reveal how much of a guess was right.
    private func unauthorized(_ head: HTTPRequestHead) -> HTTPResponse? {
        guard !config.authTokens.isEmpty else { return nil }
        let values = head.headers.values("Authorization")
        var presented: [UInt8]?
        if values.count == 1, let space = values[0].firstIndex(of: " "),
           values[0][..<space].lowercased() == "bearer" {
            presented = Array(values[0][space...].drop(while: { $0 == " " }).utf8)
        }
        var matched = false
        if let presented {
            for token in config.authTokens { matched = constantTimeEquals(presented, Array(token.utf8)) || matched }
        }
        if matched { return nil }
        var problem = Problem(status: 401, title: "Unauthorized",
                              detail: presented == nil ? "this service needs an Authorization: Bearer <token> header"
                                                       : "the bearer token is not valid")
        problem.headers = [("WWW-Authenticate", presented == nil ? "Bearer realm=\"deepresize\""
                                                                 : "Bearer realm=\"deepresize\", error=\"invalid_token\"")]
        return problem.response
    }

    // MARK: POST /resize

    private func resize(_ request: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) throws {
        let parsed = try ResizeRequest.parse(request.head.query, accept: request.head.headers.values("Accept").joined(separator: ","),
                                              defaultQuality: config.jpegQuality, defaultWait: config.defaultWait, maxWait: config.maxWait)
        try Self.checkContentEncoding(request.head)
        // Without `format`, Accept chose the encoding: caches must key the answer on it.
        let options = parsed.options
        let respond = parsed.formatFromAccept ? Self.varyingOnAccept(respond) : respond
        let image = try Self.imageBytes(of: request)
        let (header, width, height) = try pipeline.inspect(image, options: options)
        if options.method.isQueued {
            // A job larger than the whole memory budget would wait in the queue forever.
            let bytes = pipeline.estimatedJobBytes(method: options.method, sourceWidth: header.width, sourceHeight: header.height,
                                                   sourceFormat: header.format, encodedBytes: image.count, width: width, height: height)
            if let problem = workers.budget.refusal(for: bytes) { throw problem }
        }
        let preferAsync = request.head.headers.values("Prefer").contains { $0.lowercased().contains("respond-async") }
        let head = request.head
        (options.method.isQueued ? submissions : inline).run { [self] in
            do {
                if options.method.isQueued {
                    try pipeline.checkAvailable(options.method)
                    // Decode once now so a broken file is a 400 to this request, never a failed job later.
                    let decoded = try pipeline.decodeDetailed(image, for: options.method, width: width, height: height)
                    logIgnoredProfile(decoded.colour)
                    let job = try store.enqueue(method: options.method.rawValue, params: JobParams(options, width: width, height: height),
                                                input: image, inputFormat: header.format.rawValue,
                                                inputWidth: header.width, inputHeight: header.height)
                    workers.jobQueued()
                    logger.info("job queued", metadata: ["job": "\(job.id)", "method": "\(job.method)", "size": "\(width)x\(height)"])
                    if preferAsync || parsed.wait == 0 {
                        respond(try accepted(job))
                    } else {
                        waitForJob(job.id, timeout: parsed.wait, request: head, respond: respond)
                    }
                } else {
                    let run = try pipeline.run(image, options: options, width: width, height: height)
                    logIgnoredProfile(run.colour)
                    var response = HTTPResponse(status: 200, body: run.output)
                    response.headers.set("Content-Type", options.format.contentType)
                    response.headers.set("Server-Timing", Self.serverTiming(queue: 0, run.timings))
                    respond(response)
                }
            } catch {
                respond(problemResponse(error, request: head))
            }
        }
    }

    static func varyingOnAccept(_ respond: @escaping @Sendable (HTTPResponse) -> Void) -> @Sendable (HTTPResponse) -> Void {
        { response in
            var response = response
            response.headers.add("Vary", "Accept")
            respond(response)
        }
    }

    /// An embedded ICC profile that could not be used: the image was taken as sRGB (docs/images.md).
    private func logIgnoredProfile(_ colour: ColourProfile) {
        if case .ignored(let reason) = colour { logger.notice("ICC profile ignored, input taken as sRGB: \(reason)") }
    }

    private func waitForJob(_ id: String, timeout: Double, request: HTTPRequestHead,
                            respond: @escaping @Sendable (HTTPResponse) -> Void) {
        waiters.wait(for: id, timeout: timeout) { [self] _ in
            do { respond(try finalAnswer(id: id)) } catch { respond(problemResponse(error, request: request)) }
        }
        // The job may have finished before the waiter was registered.
        if let job = try? store.job(id: id), job.status.isFinished { waiters.finished(id: id) }
    }

    /// What a waiting `POST /resize` answers: the image, the job's problem, or 202 while it is not done.
    private func finalAnswer(id: String) throws -> HTTPResponse {
        guard let job = try store.job(id: id) else { throw Problem.notFound("job \(id) expired") }
        switch job.status {
        case .succeeded:
            var response = try imageResponse(job)
            let queued = (job.startedAt ?? job.createdAt) - job.createdAt
            let processed = (job.finishedAt ?? job.createdAt) - (job.startedAt ?? job.createdAt)
            response.headers.set("Server-Timing", "queue;dur=\(formatMilliseconds(queued)), process;dur=\(formatMilliseconds(processed))")
            return response
        case .failed:
            var response = (job.error.map { Problem($0) } ?? Problem.internal("job \(id) failed")).response
            response.headers.set("X-Job-Id", id)
            return response
        case .queued, .running, .canceled:
            return try accepted(job)
        }
    }

    private func accepted(_ job: JobRecord) throws -> HTTPResponse {
        var response = jsonResponse(202, try jobJSON(job))
        response.headers.set("Location", "/jobs/\(job.id)")
        if !job.status.isFinished { response.headers.set("Retry-After", "2") }
        response.headers.set("X-Job-Id", job.id)
        return response
    }

    /// How the image arrives: as a multipart form or as the raw body. Anything else is refused from the
    /// head, before the client uploads (and before `100 Continue`).
    enum UploadKind { case multipart, raw }

    static func uploadKind(contentType: String?) throws -> UploadKind {
        let contentType = contentType ?? ""
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingSpaces.lowercased() } ?? ""
        switch mediaType {
        case "multipart/form-data": return .multipart
        case "image/jpeg", "image/png", "image/webp", "application/octet-stream": return .raw
        default:
            throw Problem.unsupportedMedia("send the image as multipart/form-data field 'image' (curl -F image=@photo.jpg) or as a raw image/jpeg, image/png or image/webp body, not '\(contentType)'")
        }
    }

    /// Bodies come as they are: a `Content-Encoding` (gzip, deflate, br …) would have to be undone before the
    /// image could be judged, so it is refused from the head with 415 (RFC 9110 §15.5.16), body unread.
    static func checkContentEncoding(_ head: HTTPRequestHead) throws {
        let codings = head.headers.values("Content-Encoding")
            .flatMap { $0.split(separator: ",") }.map { $0.trimmingSpaces.lowercased() }.filter { !$0.isEmpty }
        guard let coding = codings.first(where: { $0 != "identity" }) else { return }
        var problem = Problem.unsupportedMedia("Content-Encoding '\(coding)' is not accepted: send the image bytes as they are (JPEG and PNG are compressed already)")
        problem.headers = [("Accept-Encoding", "identity")]
        throw problem
    }

    /// The image of a multipart field `image`, or a raw `image/jpeg` / `image/png` body.
    static func imageBytes(of request: HTTPRequest) throws -> [UInt8] {
        let bytes: [UInt8]
        switch try uploadKind(contentType: request.head.headers["Content-Type"]) {
        case .multipart:
            let parts: [MultipartPart]
            do {
                parts = try Multipart.parse(body: request.body, contentType: request.head.headers["Content-Type"] ?? "")
            } catch {
                throw Problem(status: error.status, title: HTTPResponse.reasonPhrase(for: error.status),
                              detail: "malformed multipart body: \(error.detail)")
            }
            let images = parts.filter { $0.name == "image" }
            guard images.count == 1 else {
                throw Problem.badRequest(images.isEmpty ? "the multipart form has no field named 'image'"
                                                        : "the multipart form has \(images.count) fields named 'image'; send one")
            }
            bytes = images[0].body
        case .raw:
            bytes = request.body
        }
        guard !bytes.isEmpty else { throw Problem.badRequest("the image is empty") }
        return bytes
    }

    // MARK: /jobs

    private func jobRoute(id: String, method: String) throws -> HTTPResponse {
        if method == "DELETE" {
            let before = try store.job(id: id)?.status
            guard let job = try store.cancel(id: id) else { throw unknownJob(id) }
            if before == .queued && job.status == .canceled {
                metrics.jobFinished(method: job.method, status: .canceled, queueWait: nil, processing: nil)
            }
            if job.status == .running { workers.cancel(id: id) }
            if job.status.isFinished { waiters.finished(id: id) }
            return jsonResponse(200, try jobJSON(job))
        }
        guard let job = try store.job(id: id) else { throw unknownJob(id) }
        return jsonResponse(200, try jobJSON(job))
    }

    private func result(id: String, ifNoneMatch: String?) throws -> HTTPResponse {
        guard let job = try store.job(id: id) else { throw unknownJob(id) }
        guard job.status == .succeeded else { return try notSucceeded(job) }
        let etag = "\"\(job.id)\""
        if store.isResultLost(job) { throw JobStoreError.resultLost(id: job.id, file: "result." + (job.resultFormat ?? "")) }
        if let ifNoneMatch, ifNoneMatch == etag || ifNoneMatch == "*" {
            var response = HTTPResponse(status: 304)
            response.headers.set("ETag", etag)
            return response
        }
        return try imageResponse(job)
    }

    /// 409 with the job body. `Retry-After` only while the job is queued or running: it may still succeed,
    /// and the header says when to look again. A failed or canceled job never will, so its 409 has none
    /// (the body's `status` and `error` say why); retrying means submitting again.
    private func notSucceeded(_ job: JobRecord) throws -> HTTPResponse {
        var response = jsonResponse(409, try jobJSON(job))
        if !job.status.isFinished { response.headers.set("Retry-After", "2") }
        return response
    }

    /// The `deep` job's semantic mask drawn over its (dimmed) working image.
    private func mask(id: String) throws -> HTTPResponse {
        guard let job = try store.job(id: id) else { throw unknownJob(id) }
        guard job.status == .succeeded else { return try notSucceeded(job) }
        guard let bytes = try store.attachmentBytes(id: id, .mask) else {
            throw Problem.notFound("job \(id) has no mask: only method=deep computes one")
        }
        var response = HTTPResponse(status: 200, body: bytes)
        response.headers.set("Content-Type", "image/png")
        response.headers.set("X-Job-Id", id)
        return response
    }

    private func imageResponse(_ job: JobRecord) throws -> HTTPResponse {
        guard let bytes = try store.resultBytes(id: job.id) else { throw Problem.notFound("job \(job.id) has no result") }
        var response = HTTPResponse(status: 200, body: bytes)
        response.headers.set("Content-Type", OutputFormat(rawValue: job.resultFormat ?? job.params.format)?.contentType ?? "application/octet-stream")
        response.headers.set("ETag", "\"\(job.id)\"")
        response.headers.set("X-Job-Id", job.id)
        return response
    }

    /// The job body. A succeeded job whose result file is lost shows as failed, with the 410 problem that
    /// `GET /jobs/{id}/result` answers, so the two agree.
    private func jobJSON(_ job: JobRecord) throws -> JSON {
        var job = job
        if store.isResultLost(job) {
            let problem = Problem(JobStoreError.resultLost(id: job.id, file: "result." + (job.resultFormat ?? "")))
            job.status = .failed
            job.error = JobError(status: problem.status, title: problem.title, detail: problem.detail)
        }
        return job.json(queuePosition: job.status == .queued ? try store.queuePosition(id: job.id) : nil)
    }

    private func unknownJob(_ id: String) -> Problem { .notFound("no job \(id) (unknown, or expired after its result_ttl)") }

    // MARK: /readyz

    private func readiness() -> HTTPResponse {
        if shuttingDown.load(ordering: .relaxed) { return Problem.unavailable("the service is shutting down").response }
        do {
            try store.checkWritable()
        } catch {
            return Problem.unavailable("the queue database is not writable: \(JobStoreError.clientText(error))").response
        }
        if let problem = pipeline.networkProblem {
            return Problem.unavailable("the VGG-16 weights are not loaded: \(problem)").response
        }
        return jsonResponse(200, .object([("status", .string("ready")), ("workers", .int(config.workers))]))
    }

    // MARK: /metrics, /openapi.json, /

    private func metricsResponse() -> HTTPResponse {
        let counts = try? store.counts()
        let snapshot = ServiceMetrics.Snapshot(queued: counts?[.queued], running: counts?[.running],
                                               busyWorkers: workers.busyWorkers, workers: config.workers,
                                               jobMemoryReserved: workers.budget.reservedBytes,
                                               jobMemoryBudget: workers.budget.total)
        guard let text = metrics.render(snapshot) else { return Problem.notFound("metrics are not enabled in this process").response }
        return staticResponse(text, contentType: ServiceMetrics.contentType)
    }

    private func staticResponse(_ body: [UInt8], contentType: String) -> HTTPResponse {
        var response = HTTPResponse(status: 200, body: body)
        response.headers.set("Content-Type", contentType)
        return response
    }

    // MARK: helpers

    private func problemResponse(_ error: any Error, request: HTTPRequestHead) -> HTTPResponse {
        let problem = Problem(error)
        if problem.status >= 500 {
            logger.error("\(request.method) \(request.path): \(problem)")
        }
        return problem.response
    }

    private func jsonResponse(_ status: Int, _ body: JSON) -> HTTPResponse {
        var response = HTTPResponse(status: status, body: body.bytes)
        response.headers.set("Content-Type", "application/json")
        return response
    }

    static func serverTiming(queue: Double, _ timings: ResizePipeline.Timings) -> String {
        "queue;dur=\(formatMilliseconds(queue)), decode;dur=\(formatMilliseconds(timings.decode)), process;dur=\(formatMilliseconds(timings.process)), encode;dur=\(formatMilliseconds(timings.encode))"
    }
}

/// Compares every byte of `secret` whatever `guess` is, so the time taken does not depend on where they differ.
private func constantTimeEquals(_ guess: [UInt8], _ secret: [UInt8]) -> Bool {
    var difference: UInt8 = guess.count == secret.count ? 0 : 1
    for index in secret.indices {
        difference |= secret[index] ^ (index < guess.count ? guess[index] : 0)
    }
    return difference == 0
}

extension Route {
    /// Everything about images and jobs needs a token. The probes, the metrics (scraped by Prometheus,
    /// which sits inside the deployment), the OpenAPI document and the page (which holds no data) stay open.
    var needsAuthorization: Bool {
        switch self {
        case .resize, .job, .jobResult, .jobMask: true
        case .health, .ready, .metrics, .openAPI, .page: false
        }
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
