/// The service's routes, matched on the path first, then the method: a known path with the wrong method is
/// a 405 that lists what it allows; an unknown path is a 404.
enum Route: Equatable, Sendable {
    case resize
    case job(String)
    case jobResult(String)
    case jobMask(String)
    case health
    case ready
    case metrics
    case openAPI
    case limits
    case page

    static func match(method: String, path: String) -> Result<Route, Problem> {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        let route: Route
        let allowed: [String]
        switch segments {
        case ["resize"]: (route, allowed) = (.resize, ["POST"])
        case ["healthz"]: (route, allowed) = (.health, ["GET", "HEAD"])
        case ["readyz"]: (route, allowed) = (.ready, ["GET", "HEAD"])
        case ["metrics"]: (route, allowed) = (.metrics, ["GET", "HEAD"])
        case ["openapi.json"]: (route, allowed) = (.openAPI, ["GET", "HEAD"])
        case ["limits"]: (route, allowed) = (.limits, ["GET", "HEAD"])
        case [""]: (route, allowed) = (.page, ["GET", "HEAD"])
        case let s where s.count == 2 && s[0] == "jobs": (route, allowed) = (.job(s[1]), ["GET", "HEAD", "DELETE"])
        case let s where s.count == 3 && s[0] == "jobs" && s[2] == "result": (route, allowed) = (.jobResult(s[1]), ["GET", "HEAD"])
        case let s where s.count == 3 && s[0] == "jobs" && s[2] == "mask": (route, allowed) = (.jobMask(s[1]), ["GET", "HEAD"])
        default: return .failure(.notFound("no route for \(path)"))
        }
        guard allowed.contains(method) else {
            return .failure(Problem(status: 405, title: "Method Not Allowed",
                                    detail: "\(path) allows \(allowed.joined(separator: ", ")), not \(method)",
                                    headers: [("Allow", allowed.joined(separator: ", "))]))
        }
        return .success(route)
    }
}

extension Route {
    /// The route template of a path, the `route` label of the request metrics: bounded values whatever
    /// clients send ("unmatched" for 404s, "none" when the request line could not be parsed).
    static func label(path: String) -> String {
        if path == "-" || path.isEmpty { return "none" }
        for method in ["GET", "POST", "DELETE"] {
            if case .success(let route) = Route.match(method: method, path: path) { return route.template }
        }
        return "unmatched"
    }

    /// The path template of the route, as OpenAPI writes it.
    var template: String {
        switch self {
        case .resize: "/resize"
        case .job: "/jobs/{id}"
        case .jobResult: "/jobs/{id}/result"
        case .jobMask: "/jobs/{id}/mask"
        case .health: "/healthz"
        case .ready: "/readyz"
        case .metrics: "/metrics"
        case .openAPI: "/openapi.json"
        case .limits: "/limits"
        case .page: "/"
        }
    }
}
