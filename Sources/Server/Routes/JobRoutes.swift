import HTTPCore

/// `GET`/`DELETE /jobs/{id}`, `GET /jobs/{id}/result` and `/jobs/{id}/mask`, and the answer a waiting
/// `POST /resize` gets: jobs as HTTP (docs/api.md "Jobs").
struct JobRoutes: Sendable {
    let jobs: JobCoordinator

    private var store: any JobStore { jobs.store }

    /// GET shows the job; DELETE cancels it (`JobCoordinator.cancel`) and shows what became of it.
    func job(id: String, method: String) throws -> HTTPResponse {
        let job = method == "DELETE" ? try jobs.cancel(id: id) : try store.job(id: id)
        guard let job else { throw Self.unknownJob(id) }
        return .json(200, try jobJSON(job))
    }

    /// The result of a succeeded job, 304 for a matching `If-None-Match`; 409 before it succeeded; 410 when
    /// its file is lost.
    func result(id: String, ifNoneMatch: String?) throws -> HTTPResponse {
        guard let job = try store.job(id: id) else { throw Self.unknownJob(id) }
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

    /// The `deep` job's semantic mask drawn over its (dimmed) working image.
    func mask(id: String) throws -> HTTPResponse {
        guard let job = try store.job(id: id) else { throw Self.unknownJob(id) }
        guard job.status == .succeeded else { return try notSucceeded(job) }
        guard let bytes = try store.attachmentBytes(id: id, .mask) else {
            throw Problem.notFound("job \(id) has no mask: only method=deep computes one")
        }
        var response = HTTPResponse.content(bytes, type: "image/png")
        response.headers.set("X-Job-Id", id)
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

    private func imageResponse(_ job: JobRecord) throws -> HTTPResponse {
        guard let bytes = try store.resultBytes(id: job.id) else { throw Problem.notFound("job \(job.id) has no result") }
        var response = HTTPResponse.content(
            bytes, type: OutputFormat(rawValue: job.resultFormat ?? job.params.format)?.contentType ?? "application/octet-stream")
        response.headers.set("ETag", "\"\(job.id)\"")
        response.headers.set("X-Job-Id", job.id)
        return response
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

    static func unknownJob(_ id: String) -> Problem { .notFound("no job \(id) (unknown, or expired after its result_ttl)") }
}
