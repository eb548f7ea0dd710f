import Engine
import HTTPCore
import ImageCodecs

/// What operators and browsers read: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/limits` and the page at `/`.
struct OpsRoutes: Sendable {
    let config: ServiceConfig
    let jobs: JobCoordinator
    let pipeline: ResizePipeline
    let metrics: ServiceMetrics

    func health() -> HTTPResponse { .json(200, .object([("status", .string("ok"))])) }

    /// 200 while the service takes work: not shutting down, the job store writable, the weights loaded.
    func readiness(shuttingDown: Bool) -> HTTPResponse {
        if shuttingDown { return Problem.unavailable("the service is shutting down").response }
        do {
            try jobs.store.checkWritable()
        } catch {
            return Problem.unavailable("the queue database is not writable: \(JobStoreError.clientText(error))").response
        }
        if let problem = pipeline.networkProblem {
            return Problem.unavailable("the VGG-16 weights are not loaded: \(problem)").response
        }
        let runsJobs = (ServerRole(rawValue: config.role) ?? .all).runsJobs
        return .json(200, .object([("status", .string("ready")), ("workers", .int(runsJobs ? config.workers : 0))]))
    }

    /// The Prometheus text, with the gauges that mirror state read now.
    func metricsText() -> HTTPResponse {
        let counts = try? jobs.store.counts()
        let snapshot = ServiceMetrics.Snapshot(queued: counts?[.queued], running: counts?[.running],
                                               busyWorkers: jobs.workers.busyWorkers, workers: config.workers,
                                               jobMemoryReserved: jobs.budget.reservedBytes,
                                               jobMemoryBudget: jobs.budget.total)
        guard let text = metrics.render(snapshot) else { return Problem.notFound("metrics are not enabled in this process").response }
        return .content(text, type: ServiceMetrics.contentType)
    }

    func openAPI() -> HTTPResponse { .content(OpenAPIDocument.json, type: "application/json") }

    /// The limits a request must fit (docs/api.md "Operations endpoints"), so a client (the page) can choose
    /// a size the server takes instead of learning it from a 422.
    func limits() -> HTTPResponse {
        let defaults = ResizeOptions()
        let outputPixels: [(String, JSON)] = ResizeMethod.allCases.map { method in
            (method.rawValue, .int(method == .scale ? config.maxScaleOutputPixels : config.maxDeepOutputPixels))
        }
        return .json(200, .object([
            ("default_method", .string(defaults.method.rawValue)),
            ("methods", .array(ResizeMethod.allCases.map { .string($0.rawValue) })),
            ("formats", .array(OutputFormat.allCases.map { .string($0.rawValue) })),
            ("max_body_bytes", .int(config.maxBodyBytes)),
            ("max_input_pixels", .int(config.maxInputPixels)),
            ("max_output_pixels", .object(outputPixels)),
            ("max_output_dimension", .int(config.maxOutputDimension)),
            ("max_deep_input_pixels", .int(config.maxDeepInputPixels)),
            ("max_seam_work", .int(config.maxSeamWork)),
            ("min_deep_output_side", .int(DeepResizer.minimumOutputSide)),
            ("max_webp_dimension", .int(ImageEncoder.webpMaxDimension)),
            ("max_jpeg_dimension", .int(ImageEncoder.jpegMaxDimension)),
            ("default_wait", .double(config.defaultWait)),
            ("max_wait", .double(config.maxWait)),
            ("iterations", .object([("default", .int(defaults.iterations)),
                                    ("min", .int(ResizeOptions.iterationRange.lowerBound)),
                                    ("max", .int(ResizeOptions.iterationRange.upperBound))])),
            ("quality", .object([("default", .int(config.jpegQuality)),
                                 ("min", .int(ResizeOptions.qualityRange.lowerBound)),
                                 ("max", .int(ResizeOptions.qualityRange.upperBound))])),
        ]))
    }

    func page() -> HTTPResponse {
        var page = HTTPResponse.content(WebPage.html, type: "text/html; charset=utf-8")
        page.headers.set("Content-Security-Policy", WebPage.contentSecurityPolicy)
        return page
    }
}
