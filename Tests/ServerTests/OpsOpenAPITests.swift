import Engine
import Foundation
import Testing
@testable import Server

/// The embedded OpenAPI document against the code it describes: every route, every parameter and its
/// allowed values, and the served bytes (the Schemathesis run in Tests/ops checks the behaviour).
@Suite struct OpsOpenAPITests {
    func document() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json)) as? [String: Any])
    }

    @Test func everyRouteIsDescribedWithItsMethods() throws {
        let paths = try #require(try document()["paths"] as? [String: [String: Any]])
        let routes: [(Route, String)] = [(.resize, "/resize"), (.job("x"), "/jobs/x"), (.jobResult("x"), "/jobs/x/result"), (.jobMask("x"), "/jobs/x/mask"),
                                         (.health, "/healthz"), (.ready, "/readyz"), (.metrics, "/metrics"),
                                         (.openAPI, "/openapi.json"), (.limits, "/limits"), (.page, "/")]
        #expect(Set(paths.keys) == Set(routes.map(\.0.template)))
        for (route, path) in routes {
            let operations = try #require(paths[route.template])
            for method in ["GET", "HEAD", "POST", "DELETE", "PUT", "PATCH"] {
                let allowed = (try? Route.match(method: method, path: path).get()) != nil
                #expect((operations[method.lowercased()] != nil) == allowed, "\(method) \(route.template)")
            }
        }
    }

    @Test func resizeParametersMatchTheParser() throws {
        let paths = try #require(try document()["paths"] as? [String: [String: Any]])
        let post = try #require(paths["/resize"]?["post"] as? [String: Any])
        let parameters = try #require(post["parameters"] as? [[String: Any]])
        let query = parameters.filter { $0["in"] as? String == "query" }
        #expect(query.compactMap { $0["name"] as? String }.sorted() == ResizeRequest.parameterNames.sorted())
        func schema(_ name: String) -> [String: Any] {
            query.first { $0["name"] as? String == name }?["schema"] as? [String: Any] ?? [:]
        }
        #expect(schema("method")["enum"] as? [String] == ResizeMethod.allCases.map(\.rawValue))
        #expect(schema("fit")["enum"] as? [String] == FitMode.allCases.map(\.rawValue))
        #expect(Set(schema("operator")["enum"] as? [String] ?? []) == Set(FeatureOperator.allCases.map(\.rawValue)))
        #expect(schema("format")["enum"] as? [String] == OutputFormat.allCases.map(\.rawValue))
        #expect(schema("iterations")["minimum"] as? Int == ResizeOptions.iterationRange.lowerBound)
        #expect(schema("iterations")["maximum"] as? Int == ResizeOptions.iterationRange.upperBound)
        #expect(schema("w")["maximum"] as? Int == ResizeOptions.dimensionRange.upperBound)
        #expect(schema("wait")["maximum"] as? Double == ServiceConfig().maxWait)
        let responses = try #require(post["responses"] as? [String: Any])
        for status in ["200", "202", "400", "405", "408", "413", "415", "422", "429", "431", "503"] {
            #expect(responses[status] != nil, "POST /resize lacks \(status)")
        }
    }

    @Test func theServerServesTheDocumentAndThePage() throws {
        let server = try ServerProcess()
        let spec = try curl([], "\(server.baseURL)/openapi.json")
        #expect(spec.status == 200)
        #expect(spec.headers["content-type"] == "application/json")
        #expect(spec.body == OpenAPIDocument.json)
        let page = try curl([], "\(server.baseURL)/")
        #expect(page.status == 200)
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.headers["content-security-policy"]?.contains("default-src 'none'") == true)
        // Self-contained: nothing is loaded from another origin.
        #expect(!page.text.contains("http://") && !page.text.contains("https://"))
        let head = try curl(["-I"], "\(server.baseURL)/")
        #expect(head.status == 200)
        #expect(!head.text.contains("<!doctype"))  // with -I curl writes the head where the body would go
        #expect(head.headers["content-length"] == String(WebPage.html.count))
    }
}
