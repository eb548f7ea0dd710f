import Testing
@testable import Server

@Suite struct ResizeOptionsTests {
    private func parse(_ query: [(String, String)]) throws -> ResizeRequest {
        try ResizeRequest.parse(query.map { (name: $0.0, value: $0.1) }, defaultWait: 60, maxWait: 300)
    }

    @Test func defaultsFollowTheContract() throws {
        let options = try parse([("w", "400"), ("h", "300")])
        #expect(options.method == .deep && options.featureOperator == .seam && options.protect)
        #expect(options.iterations == 20 && options.format == .png && options.wait == 60)
    }

    @Test func everyBadValueNamesItsParameter() {
        let cases: [([(String, String)], String)] = [
            ([("w", "-1")], "w must be"), ([("w", "1e3")], "w must be"), ([("h", "99999999999")], "h must be"),
            ([("w", "10"), ("method", "Scale")], "method must be one of deep, seam, scale"),
            ([("w", "10"), ("operator", "x")], "operator"), ([("w", "10"), ("protect", "yes")], "protect"),
            ([("w", "10"), ("iterations", "0")], "iterations"), ([("w", "10"), ("format", "gif")], "format"),
            ([("w", "10"), ("wait", "301")], "wait"), ([("w", "10"), ("wait", "-1")], "wait"),
            ([("w", "10"), ("wait", "nan")], "wait"), ([("w", "10"), ("W", "3")], "unknown parameter 'W'"),
            ([], "give w, h or both"),
        ]
        expectRefusals(cases) { try parse($0) }
    }

    @Test func aMissingSideKeepsTheAspectRatio() throws {
        #expect(try parse([("w", "400")]).options.targetSize(sourceWidth: 4000, sourceHeight: 3000) == (400, 300))
        #expect(try parse([("h", "300")]).options.targetSize(sourceWidth: 1920, sourceHeight: 1080) == (533, 300))
        #expect(try parse([("w", "1")]).options.targetSize(sourceWidth: 5000, sourceHeight: 10) == (1, 1))
    }

    @Test func routesAnswer404And405() {
        #expect(Route.match(method: "POST", path: "/resize") == .success(.resize))
        #expect(Route.match(method: "HEAD", path: "/jobs/abc/result") == .success(.jobResult("abc")))
        guard case .failure(let wrong) = Route.match(method: "PUT", path: "/jobs/abc") else { Issue.record("PUT accepted"); return }
        #expect(wrong.status == 405 && wrong.headers.contains { $0 == ("Allow", "GET, HEAD, DELETE") })
        guard case .failure(let missing) = Route.match(method: "GET", path: "/jobs") else { Issue.record("/jobs matched"); return }
        #expect(missing.status == 404)
    }
}
