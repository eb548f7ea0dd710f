import Engine
import HTTPCore
import ImageCodecs
import Logging

/// An RFC 9457 problem: what every error answer of the service carries.
public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var title: String
    public var detail: String
    /// Extra response headers, e.g. `Retry-After` for 429.
    var headers: [(String, String)] = []

    public static func == (lhs: Problem, rhs: Problem) -> Bool {
        lhs.status == rhs.status && lhs.title == rhs.title && lhs.detail == rhs.detail
    }

    public var description: String { "\(status) \(title): \(detail)" }

    var json: JSON {
        .object([("type", .string("about:blank")), ("title", .string(title)), ("status", .int(status)),
                 ("detail", .string(ClientPaths.redact(detail)))])
    }

    var response: HTTPResponse {
        var response = HTTPResponse(status: status, body: json.bytes)
        response.headers.set("Content-Type", "application/problem+json")
        for (name, value) in headers { response.headers.add(name, value) }
        return response
    }

    static func badRequest(_ detail: String) -> Problem { Problem(status: 400, title: "Bad Request", detail: detail) }
    static func notFound(_ detail: String) -> Problem { Problem(status: 404, title: "Not Found", detail: detail) }
    static func unprocessable(_ detail: String) -> Problem {
        Problem(status: 422, title: "Unprocessable Content", detail: detail)
    }
    static func unsupportedMedia(_ detail: String) -> Problem {
        Problem(status: 415, title: "Unsupported Media Type", detail: detail)
    }
    static func unavailable(_ detail: String, retryAfter: Int? = nil) -> Problem {
        Problem(status: 503, title: "Service Unavailable", detail: detail,
                headers: retryAfter.map { [("Retry-After", String($0))] } ?? [])
    }
    static func `internal`(_ detail: String) -> Problem {
        Problem(status: 500, title: "Internal Server Error", detail: detail)
    }

    /// The answer to a request that failed with `error`; a 5xx is logged with the request, since it is the
    /// server's fault (a 4xx is the client's, and the access log has it).
    static func response(to error: any Error, for head: HTTPRequestHead, logger: Logger) -> HTTPResponse {
        let problem = Problem(error)
        if problem.status >= 500 {
            logger.error("\(head.method) \(head.path): \(problem)")
        }
        return problem.response
    }
}

extension Problem {
    /// The problem a failure anywhere below the routes becomes. Unknown errors are 500s with their text,
    /// so a bug is visible to the client and in the log rather than a dropped connection.
    public init(_ error: any Error) {
        switch error {
        case let problem as Problem:
            self = problem
        case let stored as JobError:
            self = Problem(status: stored.status, title: stored.title, detail: stored.detail)
        case let refusal as ResizeRefusal:
            switch refusal {
            case .outsideLimits(let reason): self = .unprocessable(reason)
            case .unavailable(let reason): self = .unavailable(reason)
            }
        case let codec as ImageCodecError:
            switch codec {
            case .unrecognizedFormat:
                self = .unsupportedMedia("the image is not a \(ImageFormat.acceptedNames) (checked by its content, not its name)")
            case .unsupported(let what):
                self = .unsupportedMedia("\(what) is not supported; send a \(ImageFormat.acceptedNames) (checked by its content, not its name)")
            case .exceedsLimits(let message):
                self = .unprocessable(message)
            case .corrupt(let format, let message):
                self = .badRequest("the \(format.displayName) image cannot be decoded: \(message)")
            case .encodeFailed(let message):
                self = .internal("encoding the result failed: \(message)")
            }
        case let engine as SeamCarvingError:
            self = .unprocessable(engine.description)
        case let engine as DeepResizeError:
            self = .unprocessable(engine.description)
        case JobStoreError.queueFull(let retryAfter):
            self = Problem(status: 429, title: "Too Many Requests",
                           detail: "the job queue is full; try again in \(retryAfter) s",
                           headers: [("Retry-After", String(retryAfter))])
        case let full as JobStoreError where full.neverFits:
            // Larger than the whole quota: no amount of waiting makes room, so no Retry-After.
            self = .unprocessable(full.description)
        case JobStoreError.storeFull(_, _, _, let retryAfter):
            self = Problem(status: 507, title: "Insufficient Storage", detail: (error as? JobStoreError)?.description ?? "",
                           headers: [("Retry-After", String(retryAfter))])
        case JobStoreError.resultLost:
            self = Problem(status: 410, title: "Gone", detail: (error as? JobStoreError)?.description ?? "")
        case JobStoreError.notFound(let id):
            self = JobRoutes.unknownJob(id)
        case let failure as any JobStoreFailure:
            self = failure.isStorageUnavailable
                ? .unavailable("the job store is unavailable: \(failure.clientDescription)", retryAfter: 5)
                : .internal("the job store failed: \(failure.clientDescription)")
        default:
            self = .internal(String(describing: error))
        }
    }
}

extension JobError {
    /// How a job that failed with `error` is stored: the problem `Problem.init(_:)` makes of it, so a
    /// failed job and a refused request say the same. The worker pool is given this (it knows no statuses).
    public init(describing error: any Error) {
        let problem = Problem(error)
        self.init(status: problem.status, title: problem.title, detail: problem.detail)
    }
}
