import Foundation
import Testing
@testable import Server

/// The README's configuration table is checked against the schema the loader uses, so the docs cannot
/// drift from the code.
@Suite struct DocsTests {
    @Test func readmeConfigurationTableMatchesTheSchema() throws {
        let readme = try String(contentsOf: ServerProcess.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "## Configuration").dropFirst().first?
            .components(separatedBy: "\n## ").first)
        let rows = section.split(separator: "\n").filter { $0.hasPrefix("| `") }.map { line in
            line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        #expect(rows.map { $0[0].trimmingCharacters(in: CharacterSet(charactersIn: "`")) } == ServiceConfig.keys.map(\.name))
        let defaults = ServiceConfig()
        let machineSized: Set = ["workers", "engine_threads"]
        for (row, key) in zip(rows, ServiceConfig.keys) where !machineSized.contains(key.name) {
            #expect(row[1] == key.get(defaults), "README default of \(key.name)")
            #expect(row[2] == key.help, "README meaning of \(key.name)")
        }
    }
}
