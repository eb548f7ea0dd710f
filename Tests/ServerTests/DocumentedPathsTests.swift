import Foundation
import Testing
@testable import Server

/// docs/api.md against the OpenAPI document the server serves: every operation of the document is listed in
/// the docs as `METHOD /path`, and every `METHOD /path` the docs name is an operation of the document.
@Suite struct OpenAPIDocsTests {
    static let httpMethods = ["get", "head", "post", "put", "patch", "delete", "options", "trace"]

    static func apiDoc() throws -> String {
        try String(contentsOf: ServerProcess.packageRoot.appendingPathComponent("docs/api.md"), encoding: .utf8)
    }

    static func paths() throws -> [String: [String: Any]] {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json)) as? [String: Any])
        return try #require(document["paths"] as? [String: [String: Any]])
    }

    /// "GET /jobs/{id}" for every path and method of the OpenAPI document.
    static func openAPIOperations() throws -> Set<String> {
        var operations = Set<String>()
        for (path, item) in try paths() {
            for method in httpMethods where item[method] != nil { operations.insert("\(method.uppercased()) \(path)") }
        }
        return operations
    }

    /// Every `METHOD /path` in backticks in the docs.
    static func documentedOperations(_ text: String) -> Set<String> {
        let methods = httpMethods.map { $0.uppercased() }.joined(separator: "|")
        let pattern = try! NSRegularExpression(pattern: "`((?:\(methods)) /[^`\\s]*)`")
        return Set(regexMatches(pattern, in: text).map { $0[1] })
    }

    @Test func everyOperationOfTheDocumentIsInTheDocs() throws {
        let documented = Self.documentedOperations(try Self.apiDoc())
        for operation in try Self.openAPIOperations().sorted() {
            #expect(documented.contains(operation), "docs/api.md does not list `\(operation)`")
        }
    }

    @Test func everyEndpointOfTheDocsIsInTheDocument() throws {
        let operations = try Self.openAPIOperations()
        let documented = Self.documentedOperations(try Self.apiDoc())
        #expect(!documented.isEmpty)
        for operation in documented.sorted() {
            #expect(operations.contains(operation), "docs/api.md lists `\(operation)`, which /openapi.json does not have")
        }
    }

    /// The query parameters of POST /resize are rows of the docs' parameter table, and every status the
    /// document answers with is explained in the docs.
    @Test func resizeParametersAndStatusesAreDocumented() throws {
        let text = try Self.apiDoc()
        let paths = try Self.paths()
        let post = try #require(paths["/resize"]?["post"] as? [String: Any])
        let parameters = try #require(post["parameters"] as? [[String: Any]])
        for name in parameters.filter({ $0["in"] as? String == "query" }).compactMap({ $0["name"] as? String }) {
            #expect(text.contains("\n| `\(name)` |"), "docs/api.md has no row for the query parameter \(name)")
        }
        var statuses = Set<String>()
        for item in paths.values {
            for method in Self.httpMethods {
                let responses = (item[method] as? [String: Any])?["responses"] as? [String: Any] ?? [:]
                statuses.formUnion(responses.keys.filter { $0.count == 3 && $0.allSatisfy(\.isNumber) })
            }
        }
        #expect(statuses.contains("202"))
        for status in statuses.sorted() {
            let pattern = try NSRegularExpression(pattern: "(?<![0-9])\(status)(?![0-9])")
            #expect(!regexMatches(pattern, in: text).isEmpty, "docs/api.md never mentions status \(status)")
        }
    }
}

/// config/deepresize.json names every configuration key, or the README's configuration section says which
/// keys it leaves out (and why).
@Suite struct ConfigFileDocsTests {
    @Test func theShippedFileListsEveryKeyOrTheReadmeSaysWhyNot() throws {
        let root = ServerProcess.packageRoot
        let data = try Data(contentsOf: root.appendingPathComponent("config/deepresize.json"))
        let file = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "## Configuration").dropFirst().first?
            .components(separatedBy: "\n## ").first)
        let note = try #require(section.components(separatedBy: "\n\n").first(where: { $0.contains("`config/deepresize.json` leaves out") }),
                                "README's configuration section has no note on the keys the shipped file leaves out")
        let names = ServiceConfig.keys.map(\.name)
        for key in file.keys.sorted() { #expect(names.contains(key), "config/deepresize.json: unknown key \(key)") }
        for name in names where file[name] == nil {
            #expect(note.contains("`\(name)`"), "config/deepresize.json lacks \(name), and README's note does not name it")
        }
        for name in names where file[name] != nil {
            #expect(!note.contains("`\(name)`"), "README's note names \(name) as left out, but config/deepresize.json sets it")
        }
    }
}

/// Every repository path cited in the docs, the scripts, the configuration and the Swift sources exists, and
/// nothing cites the upstream specification that a clone of this repository does not have.
///
/// What counts as a citation (kept simple on purpose):
/// - a token that starts with a top-level directory of the repository (or Benchmarks), such as
///   `docs/spec.md` or `scripts/serve`; it may name a Swift file without `.swift`, or a package's target
///   without `Sources/` (`Fuzz/FuzzHTTPParser`);
/// - an upper-case Markdown name (`README.md`) or a Swift file name (`Package.swift`): some file in the
///   repository has that name;
/// - in Markdown, a link target, relative to the document's folder.
/// Paths under folders that a `.gitignore` ignores (`weights/`, `bench-out/`, `Fuzz/.work/` …) are output
/// of the scripts and are not checked, nor are the few outputs listed in `outputs`.
@Suite struct DocumentedPathsTests {
    struct Offence: CustomStringConvertible {
        let file: String
        let line: Int
        let problem: String
        var description: String { "\(file):\(line): \(problem)" }
    }

    /// Files the scripts write into tracked folders.
    static let outputs: Set = ["docs/gallery/review-metrics.md"]

    /// The repository's files (outside ignored folders) and its ignore rules for folders.
    struct Repository {
        let root: String
        var files: [String] = []
        /// (folder the .gitignore is in, with a slash; the ignored folder's name; whether it is anchored there)
        var ignoreRules: [(base: String, name: String, anchored: Bool)] = []

        init(root: String) {
            self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
            walk("")
        }

        private mutating func walk(_ folder: String) {
            let full = folder.isEmpty ? root : root + "/" + folder
            if let gitignore = try? String(contentsOfFile: full + "/.gitignore", encoding: .utf8) {
                for raw in gitignore.split(separator: "\n") {
                    let entry = raw.trimmingCharacters(in: .whitespaces)
                    guard entry.hasSuffix("/"), !entry.hasPrefix("#"), !entry.contains("*") else { continue }
                    ignoreRules.append((folder.isEmpty ? "" : folder + "/", entry.trimmingCharacters(in: CharacterSet(charactersIn: "/")),
                                        entry.hasPrefix("/")))
                }
            }
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: full)) ?? []).sorted() {
                let path = folder.isEmpty ? name : folder + "/" + name
                if name == ".git" || name.hasPrefix(".build") || isIgnored(path) { continue }
                var isFolder: ObjCBool = false
                guard FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isFolder) else { continue }
                if isFolder.boolValue { walk(path) } else { files.append(path) }
            }
        }

        func isIgnored(_ path: String) -> Bool {
            ignoreRules.contains { rule in
                guard path.hasPrefix(rule.base) else { return false }
                let components = path.dropFirst(rule.base.count).split(separator: "/").map(String.init)
                return rule.anchored ? components.first == rule.name : components.contains(rule.name)
            }
        }

        func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: root + "/" + path) }

        /// `path` without `.` and `..` components; nil when it leaves the repository.
        static func normalized(_ path: String) -> String? {
            var components: [Substring] = []
            for component in path.split(separator: "/") where component != "." {
                if component == ".." {
                    if components.isEmpty { return nil }
                    components.removeLast()
                } else {
                    components.append(component)
                }
            }
            return components.joined(separator: "/")
        }

        /// Whether a cited path names something in the repository (see the suite's comment).
        func resolves(_ cited: String) -> Bool {
            guard let path = Self.normalized(cited) else { return false }
            if exists(path) || exists(path + ".swift") || isIgnored(path) || DocumentedPathsTests.outputs.contains(path) { return true }
            let parts = path.split(separator: "/", maxSplits: 1).map(String.init)
            return parts.count == 2 && exists(parts[0] + "/Sources/" + parts[1])
        }

        /// README.md, BENCHMARKS.md, docs/*.md, the Swift files under Sources/ and Tests/, scripts/ and config/.
        var scannedFiles: [String] {
            files.filter { path in
                let components = path.split(separator: "/")
                switch components.first {
                case "README.md", "BENCHMARKS.md": return components.count == 1
                case "docs": return components.count == 2 && path.hasSuffix(".md")
                case "Sources", "Tests": return path.hasSuffix(".swift")
                case "scripts", "config": return true
                default: return false
                }
            }
        }
    }

    static let repository = Repository(root: ServerProcess.packageRoot.path)

    /// Each scanned text file's lines, numbered from 1 (binary files are skipped).
    static func scannedLines() -> [(file: String, number: Int, text: String)] {
        var lines: [(file: String, number: Int, text: String)] = []
        for file in repository.scannedFiles {
            guard let data = FileManager.default.contents(atPath: repository.root + "/" + file), !data.contains(0),
                  let text = String(data: data, encoding: .utf8) else { continue }
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                lines.append((file: file, number: index + 1, text: String(line)))
            }
        }
        return lines
    }

    /// The upstream spec's names, assembled so that this file does not cite them itself.
    static func upstream() -> NSRegularExpression {
        try! NSRegularExpression(pattern: [
            "\\.\\." + "/shared", "SP" + "EC\\.md", "SP" + "EC §", "(?<![A-Za-z])" + "AP" + "I\\.md",
        ].joined(separator: "|"))
    }

    static func offences() -> (paths: [Offence], upstream: [Offence]) {
        let repository = Self.repository
        let boundary = "(?<![A-Za-z0-9_./~$+-])"  // `+`: extension files, `ResizePipeline+Memory.swift`
        let tops = Set(repository.files.compactMap { $0.contains("/") ? String($0.split(separator: "/")[0]) : nil })
            .union(["Benchmarks"]).sorted()
        let rooted = try! NSRegularExpression(pattern: boundary + "(?:" + tops.map { NSRegularExpression.escapedPattern(for: $0) }.joined(separator: "|")
                                                 + ")/[A-Za-z0-9_./+-]*")
        let markdownName = try! NSRegularExpression(pattern: boundary + "[A-Z][A-Z0-9_-]*\\.md(?![A-Za-z0-9_])")
        let swiftName = try! NSRegularExpression(pattern: boundary + "[A-Za-z0-9_+-]+\\.swift(?![A-Za-z0-9_])")
        let link = try! NSRegularExpression(pattern: "\\]\\(([^)\\s]+)\\)")
        let names = Set(repository.files.map { String($0.split(separator: "/").last!) })

        let upstreamNames = Self.upstream()
        var paths: [Offence] = []
        var citations: [Offence] = []
        for (file, number, line) in scannedLines() {
            for match in regexMatches(upstreamNames, in: line) {
                citations.append(Offence(file: file, line: number, problem: "cites \(match[0]), which a clone does not have"))
            }
            for match in regexMatches(rooted, in: line) {
                let cited = String(match[0].reversed().drop(while: { ".,:;".contains($0) }).reversed())
                if !repository.resolves(cited) { paths.append(Offence(file: file, line: number, problem: "\(cited) does not exist")) }
            }
            for match in regexMatches(markdownName, in: line) + regexMatches(swiftName, in: line) {
                let name = match[0]
                if regexMatches(upstreamNames, in: name).isEmpty && !repository.exists(name) && !names.contains(name) {
                    paths.append(Offence(file: file, line: number, problem: "no file is named \(name)"))
                }
            }
            guard file.hasSuffix(".md") else { continue }
            let folder = file.split(separator: "/").dropLast().joined(separator: "/")
            for match in regexMatches(link, in: line) {
                let target = match[1]
                if target.contains("://") || target.hasPrefix("#") || target.hasPrefix("mailto:") { continue }
                let path = String(target.split(separator: "#", omittingEmptySubsequences: false)[0])
                if !repository.resolves(folder.isEmpty ? path : folder + "/" + path) {
                    paths.append(Offence(file: file, line: number, problem: "the link (\(target)) leads nowhere"))
                }
            }
        }
        return (paths, citations)
    }

    @Test func theScanSeesTheRepository() {
        let scanned = Self.repository.scannedFiles
        for file in ["README.md", "docs/api.md", "docs/spec.md", "config/deepresize.json", "scripts/serve",
                     "Sources/HTTPCore/Multipart.swift", "Tests/ServerTests/DocumentedPathsTests.swift"] {
            #expect(scanned.contains(file), "\(file) is not scanned")
        }
        #expect(!Self.repository.files.contains(where: { $0.hasPrefix("weights/") || $0.hasPrefix(".build") }))
        #expect(Self.repository.isIgnored("bench-out/peak.json") && Self.repository.isIgnored("Fuzz/.work/crash-x"))
        #expect(!Self.repository.isIgnored("docs" + "/data/x") && Self.repository.isIgnored("data/jobs"))
    }

    @Test func everyCitedRepositoryPathExists() {
        let offences = Self.offences().paths
        for offence in offences { Issue.record("\(offence)") }
        if !offences.isEmpty { print("cited paths that do not exist:\n" + offences.map(\.description).joined(separator: "\n")) }
    }

    @Test func nothingCitesTheUpstreamSpec() {
        let offences = Self.offences().upstream
        for offence in offences { Issue.record("\(offence) (cite docs/spec.md §N or docs/api.md)") }
        if !offences.isEmpty { print("citations of the upstream spec:\n" + offences.map(\.description).joined(separator: "\n")) }
    }
}

/// The matches of `pattern` in `text`, each as its groups (0: the whole match; an unmatched group is "").
private func regexMatches(_ pattern: NSRegularExpression, in text: String) -> [[String]] {
    let string = text as NSString
    return pattern.matches(in: text, range: NSRange(location: 0, length: string.length)).map { result in
        (0..<result.numberOfRanges).map { index in
            let range = result.range(at: index)
            return range.location == NSNotFound ? "" : string.substring(with: range)
        }
    }
}
