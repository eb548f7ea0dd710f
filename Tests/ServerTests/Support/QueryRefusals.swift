import Testing
@testable import Server

/// Each query of `cases` is refused by `parse` with a 400 whose detail holds the case's message.
func expectRefusals(_ cases: [([(String, String)], String)], parse: ([(String, String)]) throws -> ResizeRequest,
                    sourceLocation: SourceLocation = #_sourceLocation) {
    for (query, message) in cases {
        do {
            _ = try parse(query)
            Issue.record("accepted \(query)", sourceLocation: sourceLocation)
        } catch let problem as Problem {
            #expect(problem.status == 400 && problem.detail.contains(message), "\(query): \(problem.detail)",
                    sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }
}
