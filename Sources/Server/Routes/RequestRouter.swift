import HTTPCore
import Logging
import Synchronization

/// The service's HTTP handler (docs/api.md): matches each request's route once, from its head, and hands it to
/// the handler of that route: `ResizeRoute` (`POST /resize`), `JobRoutes` (`/jobs/…`) or `OpsRoutes` (probes,
/// metrics, the OpenAPI document, the page). Everything that can be refused from the head alone is refused
/// in `preflight`, before the client uploads the body (and before `100 Continue`): unknown routes and
/// methods, a missing token, a bad query or upload, shutdown. What it accepted is carried to `handle`.
final class RequestRouter: HTTPHandler {
    /// What `preflight` learned from a head.
    enum Matched: Sendable {
        /// `POST /resize` with its query parsed and its upload checked.
        indirect case resize(ResizeRequest, Upload)
        case route(Route)
    }

    private let config: ServiceConfig
    private let authorization: BearerAuthorization
    private let resize: ResizeRoute
    private let jobRoutes: JobRoutes
    private let ops: OpsRoutes
    private let logger: Logger
    private let shuttingDown = Atomic<Bool>(false)
    private let role: ServerRole

    /// `weightsFingerprint`: the loaded weights' (part of deep's result-cache keys, `ResultCache.key`).
    init(config: ServiceConfig, pipeline: ResizePipeline, jobs: JobCoordinator, logger: Logger,
         metrics: ServiceMetrics = ServiceMetrics(), weightsFingerprint: String? = nil) {
        self.config = config
        self.logger = logger
        role = ServerRole(rawValue: config.role) ?? .all
        authorization = BearerAuthorization(tokens: config.authTokens)
        resize = ResizeRoute(config: config, pipeline: pipeline, jobs: jobs, logger: logger,
                             weightsFingerprint: weightsFingerprint)
        jobRoutes = JobRoutes(jobs: jobs, resultTTL: config.resultTTL)
        ops = OpsRoutes(config: config, jobs: jobs, pipeline: pipeline, metrics: metrics)
    }

    /// New uploads get 503 and /readyz says so, from now on.
    func beginShutdown() { shuttingDown.store(true, ordering: .relaxed) }

    // MARK: HTTPHandler

    func preflight(_ head: HTTPRequestHead) -> HTTPPreflight<Matched> {
        do {
            let route = try Route.match(method: head.method, path: head.path).get()
            if !role.servesRequests && ![.health, .ready, .metrics].contains(route) {
                return .respond(Problem.notFound("this replica has role worker: it answers only /healthz, /readyz and /metrics; send requests to an api replica").response)
            }
            if route.needsAuthorization, let refusal = authorization.refusal(head) { return .respond(refusal.response) }
            guard route == .resize else { return .accept(.route(route)) }
            if shuttingDown.load(ordering: .relaxed) {
                return .respond(Problem.unavailable("the service is shutting down", retryAfter: 5).response)
            }
            let request = try ResizeRequest.parse(head.query, accept: head.headers.values("Accept").joined(separator: ","),
                                                  defaultQuality: config.jpegQuality, defaultWait: config.defaultWait,
                                                  maxWait: config.maxWait)
            do { return .accept(.resize(request, try Upload(head))) } catch {
                // The body's refusals answer a request whose Accept chose the format: they vary on it too.
                var response = Problem(error).response
                if request.formatFromAccept { response.headers.add("Vary", "Accept") }
                return .respond(response)
            }
        } catch {
            return .respond(Problem(error).response)
        }
    }

    func handle(_ request: HTTPRequest, accepted: Matched, respond: @escaping @Sendable (HTTPResponse) -> Void) {
        let head = request.head
        do {
            switch accepted {
            case .resize(let parsed, let upload):
                // Without `format`, Accept chose the encoding: caches must key every answer on it, the
                // refusals of the upload and the image's header included.
                let respond = parsed.formatFromAccept ? ResizeRoute.varyingOnAccept(respond) : respond
                do { try resize.handle(request, parsed, upload: upload, respond: respond) } catch {
                    respond(Problem.response(to: error, for: head, logger: logger))
                }
            case .route(.job(let id)): respond(try jobRoutes.job(id: id, method: head.method))
            case .route(.jobResult(let id)): respond(try jobRoutes.result(id: id, ifNoneMatch: head.headers.values("If-None-Match")))
            case .route(.jobMask(let id)): respond(try jobRoutes.mask(id: id, ifNoneMatch: head.headers.values("If-None-Match")))
            case .route(.health): respond(ops.health())
            case .route(.ready): respond(ops.readiness(shuttingDown: shuttingDown.load(ordering: .relaxed)))
            case .route(.metrics): respond(ops.metricsText())
            case .route(.openAPI): respond(ops.openAPI())
            case .route(.limits): respond(ops.limits())
            case .route(.page): respond(ops.page())
            case .route(.resize): respond(Problem.internal("POST /resize was not prepared by preflight").response)
            }
        } catch {
            respond(Problem.response(to: error, for: head, logger: logger))
        }
    }
}
