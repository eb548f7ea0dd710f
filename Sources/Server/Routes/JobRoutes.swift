import HTTPCore

/// `GET`/`DELETE /jobs/{id}`, `GET /jobs/{id}/result` and `/jobs/{id}/mask`, and the answer a waiting
/// `POST /resize` gets: jobs as HTTP (docs/api.md "Jobs").
struct JobRoutes: Sendable {
    let jobs: JobCoordinator
    /// How long a finished job lives (`result_ttl`): the freshness lifetime of its result and mask.
    let resultTTL: Double

    private var store: any JobStore { jobs.store }

    /// GET shows the job. DELETE of a queued or running job cancels it (`JobCoordinator.cancel`) and shows
    /// what became of it; DELETE of a finished job purges it (its input, result and mask are deleted with it)
    /// and answers 204: from then on the job and its files are 404, as an unknown job's.
    func job(id: String, method: String) throws -> HTTPResponse {
        guard method == "DELETE" else {
            guard let job = try store.job(id: id) else { throw Self.unknownJob(id) }
            return .json(200, try jobJSON(job))
        }
        guard let found = try store.job(id: id) else { throw Self.unknownJob(id) }
        if found.status.isFinished {
            guard try jobs.purge(id: id) != nil else { throw Self.unknownJob(id) }
            return HTTPResponse(status: 204)
        }
        // Not finished: canceled. (A job that ends meanwhile is shown as it ended; a second DELETE purges it.)
        guard let job = try jobs.cancel(id: id) else { throw Self.unknownJob(id) }
        return .json(200, try jobJSON(job))
    }

    /// The result of a succeeded job, 304 for a matching `If-None-Match` (`ifNoneMatch`: its field lines);
    /// 409 before it succeeded; 410 when its file is lost.
    func result(id: String, ifNoneMatch: [String]) throws -> HTTPResponse {
        guard let job = try store.job(id: id) else { throw Self.unknownJob(id) }
        guard job.status == .succeeded else { return try notSucceeded(job) }
        if store.isResultLost(job) { throw JobStoreError.resultLost(id: job.id, file: "result." + (job.resultFormat ?? "")) }
        return try storedImage(job, resultBytes(job), type: contentType(job), ifNoneMatch: ifNoneMatch)
    }

    /// The `deep` job's semantic mask drawn over its (dimmed) working image; 304 as for the result.
    func mask(id: String, ifNoneMatch: [String]) throws -> HTTPResponse {
        guard let job = try store.job(id: id) else { throw Self.unknownJob(id) }
        guard job.status == .succeeded else { return try notSucceeded(job) }
        guard let bytes = try store.attachmentBytes(id: id, .mask) else {
            if job.method == "deep" {
                throw Problem.notFound("job \(id) has no mask: it kept the aspect ratio, so deep only scaled the image and protected nothing")
            }
            throw Problem.notFound("job \(id) has no mask: only method=deep computes one")
        }
        return storedImage(job, bytes, type: "image/png", ifNoneMatch: ifNoneMatch)
    }

    /// A stored image of a succeeded job with its validator and freshness (docs/api.md "Caching"): 200 with
    /// the bytes, or 304 without them when `If-None-Match` matches their `ETag`.
    private func storedImage(_ job: JobRecord, _ bytes: [UInt8], type: String, ifNoneMatch: [String]) -> HTTPResponse {
        let etag = HTTPCaching.entityTag(bytes)
        var response = HTTPCaching.ifNoneMatch(ifNoneMatch, matches: etag)
            ? HTTPResponse(status: 304) : HTTPResponse.content(bytes, type: type)
        response.headers.set("ETag", etag)
        response.headers.set("Cache-Control", HTTPCaching.storedResultCacheControl(finishedAt: job.finishedAt, resultTTL: resultTTL))
        response.headers.set("X-Job-Id", job.id)
        return response
    }

    /// What a waiting `POST /resize` answers once its job ended or its wait ran out: the image, the job's
    /// problem, or 202 while it is not done.
    func finalAnswer(id: String) throws -> HTTPResponse {
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

    /// 202 with the job, where to find it, and when to look again while it may still change.
    func accepted(_ job: JobRecord) throws -> HTTPResponse {
        var response = HTTPResponse.json(202, try jobJSON(job))
        response.headers.set("Location", "/jobs/\(job.id)")
        if !job.status.isFinished { response.headers.set("Retry-After", "2") }
        response.headers.set("X-Job-Id", job.id)
        return response
    }

    /// 409 with the job body. `Retry-After` only while the job is queued or running: it may still succeed,
    /// and the header says when to look again. A failed or canceled job never will, so its 409 has none
    /// (the body's `status` and `error` say why); retrying means submitting again.
    private func notSucceeded(_ job: JobRecord) throws -> HTTPResponse {
        var response = HTTPResponse.json(409, try jobJSON(job))
        if !job.status.isFinished { response.headers.set("Retry-After", "2") }
        return response
    }

    /// The image a waiting `POST /resize` answers: tagged, but not for caches to store (a POST answer).
    private func imageResponse(_ job: JobRecord) throws -> HTTPResponse {
        let bytes = try resultBytes(job)
        var response = HTTPResponse.content(bytes, type: contentType(job))
        response.headers.set("ETag", HTTPCaching.entityTag(bytes))
        response.headers.set("Cache-Control", HTTPCaching.postAnswerCacheControl)
        response.headers.set("X-Job-Id", job.id)
        return response
    }

    private func resultBytes(_ job: JobRecord) throws -> [UInt8] {
        guard let bytes = try store.resultBytes(id: job.id) else { throw Problem.notFound("job \(job.id) has no result") }
        return bytes
    }

    private func contentType(_ job: JobRecord) -> String {
        OutputFormat(rawValue: job.resultFormat ?? job.params.format)?.contentType ?? "application/octet-stream"
    }

    /// The job body. A succeeded job whose result file is lost shows as failed, with the 410 problem that
    /// `GET /jobs/{id}/result` answers, so the two agree.
    private func jobJSON(_ job: JobRecord) throws -> JSON {
        var job = job
        if store.isResultLost(job) {
            job.status = .failed
            job.error = JobError(describing: JobStoreError.resultLost(id: job.id, file: "result." + (job.resultFormat ?? "")))
        }
        return job.json(queuePosition: job.status == .queued ? try store.queuePosition(id: job.id) : nil)
    }

    static func unknownJob(_ id: String) -> Problem { .notFound("no job \(id) (unknown, purged, or expired after its result_ttl)") }
}
