import HTTPCore
import ImageCodecs
import Logging

/// `POST /resize`: the image is inspected (header only), then resized inline (`scale`) or queued as a job
/// (`seam`, `deep`) that the request waits for up to `wait` seconds. Its query was parsed and its upload
/// checked from the head, in `RequestRouter.preflight`.
struct ResizeRoute: Sendable {
    let config: ServiceConfig
    let pipeline: ResizePipeline
    let jobs: JobCoordinator
    let jobRoutes: JobRoutes
    /// Inline `scale` work, at most one request per core at once.
    let inline: WorkLimiter
    /// Job submissions' checks (the validation decode, the input's write): a limiter of their own, so a
    /// backlog of inline resizes never delays a submission.
    let submissions: WorkLimiter
    let logger: Logger
    /// The loaded weights' fingerprint, part of deep's result-cache keys (`ResizePipeline.cacheIdentity`).
    let weightsFingerprint: String?

    init(config: ServiceConfig, pipeline: ResizePipeline, jobs: JobCoordinator, logger: Logger, weightsFingerprint: String?) {
        self.config = config
        self.weightsFingerprint = weightsFingerprint
        self.pipeline = pipeline
        self.jobs = jobs
        self.logger = logger
        jobRoutes = JobRoutes(jobs: jobs, resultTTL: config.resultTTL)
        inline = WorkLimiter(limit: ServiceConfig.cpuCount)
        submissions = WorkLimiter(limit: ServiceConfig.cpuCount, ownThreads: true)
    }

    func handle(_ request: HTTPRequest, _ parsed: ResizeRequest, upload: Upload,
                respond: @escaping @Sendable (HTTPResponse) -> Void) throws {
        let options = parsed.options
        let image = try upload.imageBytes(of: request)
        let (header, width, height) = try pipeline.inspect(image, options: options)
        if options.method.isQueued {
            // A job larger than the whole memory budget would wait in the queue forever.
            let bytes = pipeline.estimatedJobBytes(method: options.method, sourceWidth: header.width, sourceHeight: header.height,
                                                   sourceFormat: header.format, encodedBytes: image.count, width: width, height: height)
            if let refusal = jobs.budget.refusal(for: bytes) { throw refusal }
        }
        let preferAsync = request.head.headers.values("Prefer").contains { $0.lowercased().contains("respond-async") }
        let head = request.head
        // An inline scale waits for one of the cpu-count slots: that wait is its Server-Timing `queue`.
        let arrived = monotonicSeconds()
        (options.method.isQueued ? submissions : inline).run { [self] in
            do {
                if options.method.isQueued {
                    // Per bearer token: another client's upload of the same photo is neither answered nor revealed.
                    let identity = pipeline.cacheIdentity(for: options.method, weights: weightsFingerprint)
                        + "\ntenant " + (config.authTokens.isEmpty ? "" : BearerAuthorization.presentedToken(head) ?? "")
                    let cacheKey = try ResultCache.key(identity: identity, method: options.method,
                                                       params: JobParams(options, width: width, height: height), input: image)
                    // A hit is a job of its own, born succeeded: answered as a finished job is.
                    if let job = try jobs.reuseCachedResult(cacheKey: cacheKey, options, width: width, height: height, header: header) {
                        var response = try preferAsync || parsed.wait == 0 ? jobRoutes.accepted(job) : jobRoutes.finalAnswer(id: job.id)
                        response.headers.set("X-Cache", "hit")
                        respond(response)
                        return
                    }
                    let respond = Self.cacheMiss(respond)
                    try pipeline.checkAvailable(options.method)
                    // Decode once now so a broken file is a 400 to this request, never a failed job later.
                    let decoded = try pipeline.decodeDetailed(image, for: options.method, width: width, height: height)
                    logIgnoredProfile(decoded.colour)
                    let job = try jobs.submit(options, width: width, height: height, input: image, header: header, cacheKey: cacheKey)
                    if preferAsync || parsed.wait == 0 {
                        respond(try jobRoutes.accepted(job))
                    } else {
                        // Nobody else knows the id of a job whose client left before its answer: it is canceled
                        // (docs/api.md "Waiting"), so the worker is free for work someone will receive.
                        request.disconnect.onDisconnect { [jobs, logger] in
                            do {
                                if let ended = try jobs.cancel(id: job.id), !ended.status.isFinished || ended.status == .canceled {
                                    logger.info("client went away before its answer: job canceled", metadata: ["job": "\(job.id)"])
                                }
                            } catch {
                                logger.warning("canceling the job of a client that went away failed: \(error)", metadata: ["job": "\(job.id)"])
                            }
                        }
                        jobs.waitForEnd(of: job.id, timeout: parsed.wait) { [jobRoutes, logger] in
                            do { respond(try jobRoutes.finalAnswer(id: job.id)) } catch {
                                respond(Problem.response(to: error, for: head, logger: logger))
                            }
                        }
                    }
                } else {
                    let queued = monotonicSeconds() - arrived
                    let run = try pipeline.run(image, options: options, width: width, height: height)
                    logIgnoredProfile(run.colour)
                    var response = HTTPResponse.content(run.output, type: options.format.contentType)
                    response.headers.set("ETag", HTTPCaching.entityTag(run.output))
                    response.headers.set("Cache-Control", HTTPCaching.postAnswerCacheControl)
                    response.headers.set("Server-Timing", Self.serverTiming(queue: queued, run.timings))
                    respond(response)
                }
            } catch {
                respond(Problem.response(to: error, for: head, logger: logger))
            }
        }
    }

    /// Marks the answers of a submission the result cache did not answer: `X-Cache: miss` on its image or
    /// 202 (not on a refusal, which is no answer of the cache's).
    static func cacheMiss(_ respond: @escaping @Sendable (HTTPResponse) -> Void) -> @Sendable (HTTPResponse) -> Void {
        { response in
            var response = response
            if response.status == 200 || response.status == 202 { response.headers.set("X-Cache", "miss") }
            respond(response)
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

    static func serverTiming(queue: Double, _ timings: ResizePipeline.Timings) -> String {
        "queue;dur=\(formatMilliseconds(queue)), decode;dur=\(formatMilliseconds(timings.decode)), "
            + "process;dur=\(formatMilliseconds(timings.process)), encode;dur=\(formatMilliseconds(timings.encode))"
    }
}
