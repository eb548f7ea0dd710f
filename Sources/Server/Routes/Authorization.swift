import HTTPCore

/// `auth_tokens`: the bearer tokens that may use the routes that need one (RFC 6750). Checked in `preflight`,
/// so an unauthorized upload is refused from its head.
struct BearerAuthorization: Sendable {
    let tokens: [String]

    /// nil when no tokens are configured or the request carries one of them as `Authorization: Bearer`;
    /// else the 401 with `WWW-Authenticate`. Every configured token is compared in full, in constant time, so
    /// the answer's timing does not reveal how much of a guess was right.
    func refusal(_ head: HTTPRequestHead) -> Problem? {
        guard !tokens.isEmpty else { return nil }
        let presented = Self.presentedToken(head).map { Array($0.utf8) }
        var matched = false
        if let presented {
            for token in tokens { matched = Self.constantTimeEquals(presented, Array(token.utf8)) || matched }
        }
        if matched { return nil }
        var problem = Problem(status: 401, title: "Unauthorized",
                              detail: presented == nil ? "this service needs an Authorization: Bearer <token> header"
                                                       : "the bearer token is not valid")
        problem.headers = [("WWW-Authenticate", presented == nil ? "Bearer realm=\"deepresize\""
                                                                 : "Bearer realm=\"deepresize\", error=\"invalid_token\"")]
        return problem
    }

    /// The token of the request's one `Authorization: Bearer <token>` header; nil without one.
    static func presentedToken(_ head: HTTPRequestHead) -> String? {
        let values = head.headers.values("Authorization")
        guard values.count == 1, let space = values[0].firstIndex(of: " "),
              values[0][..<space].lowercased() == "bearer" else { return nil }
        return String(values[0][space...].drop(while: { $0 == " " }))
    }

    /// Compares every byte of `secret` whatever `guess` is, so the time taken does not depend on where they differ.
    private static func constantTimeEquals(_ guess: [UInt8], _ secret: [UInt8]) -> Bool {
        var difference: UInt8 = guess.count == secret.count ? 0 : 1
        for index in secret.indices {
            difference |= secret[index] ^ (index < guess.count ? guess[index] : 0)
        }
        return difference == 0
    }
}

extension Route {
    /// Everything about images and jobs needs a token. The probes, the metrics (scraped by Prometheus,
    /// which sits inside the deployment), the OpenAPI document and the page (which holds no data) stay open.
    var needsAuthorization: Bool {
        switch self {
        case .resize, .job, .jobResult, .jobMask: true
        case .health, .ready, .metrics, .openAPI, .limits, .page: false
        }
    }
}
