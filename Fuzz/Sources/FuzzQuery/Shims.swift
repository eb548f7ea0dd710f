// Stand-ins for the Server and Engine types ResizeOptions.swift (symlinked from Sources/Server/Routes) uses, so
// the real parsing code is fuzzed without the rest of the executable target.
struct Problem: Error, CustomStringConvertible {
    var status: Int
    var detail: String
    var description: String { "\(status): \(detail)" }
    static func badRequest(_ detail: String) -> Problem { Problem(status: 400, detail: detail) }
}

enum ServiceConfig {
    static func formatSeconds(_ value: Double) -> String {
        value.rounded() == value ? String(Int(value)) : String(value)
    }
}

/// Engine's feature operator (the fuzz package does not build Engine and its C libraries).
enum FeatureOperator: String, CaseIterable { case linear, seam }
