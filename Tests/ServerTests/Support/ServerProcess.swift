import Foundation
import Synchronization
import Testing

/// The real `deepresize serve` binary, started on an ephemeral port with its own data directory.
/// The end-to-end tests talk to it over 127.0.0.1 with curl, as a user would.
final class ServerProcess: Sendable {
    let port: Int
    let dataDirectory: String
    private let process: Process
    private let log: LogBuffer

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    static var binary: String {
        ProcessInfo.processInfo.environment["DEEPRESIZE_BIN"]
            ?? packageRoot.appendingPathComponent(".build/debug/deepresize").path
    }

    /// What `scripts/fetch-weights` writes (or `DEEPRESIZE_TEST_WEIGHTS`).
    static var weightsPath: String {
        ProcessInfo.processInfo.environment["DEEPRESIZE_TEST_WEIGHTS"]
            ?? packageRoot.appendingPathComponent("weights/vgg16-imagenet.safetensors").path
    }

    static func temporaryDirectory(_ name: String) throws -> String {
        let path = NSTemporaryDirectory() + "deepresize-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Starts the server and waits for its "listening on" line. `settings` are `--set key=value` pairs.
    init(dataDirectory: String? = nil, settings: [String: String] = [:], workers: Int = 1, weights: String? = nil) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw ServerTestError("no deepresize binary at \(Self.binary): build it first (scripts/test runs `swift build --build-tests`)")
        }
        let data = try dataDirectory ?? Self.temporaryDirectory("data")
        self.dataDirectory = data
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        var arguments = ["serve", "--host", "127.0.0.1", "--port", "0", "--data", data, "--workers", String(workers),
                         "--weights", weights ?? Self.weightsPath,
                         "--config", Self.packageRoot.appendingPathComponent("config/deepresize.json").path]
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) { arguments += ["--set", "\(key)=\(value)"] }
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where key.hasPrefix("DEEPRESIZE_") { environment[key] = nil }
        process.environment = environment
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = pipe
        let log = LogBuffer()
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil; return }
            log.append(String(decoding: data, as: UTF8.self))
        }
        try process.run()
        self.process = process
        self.log = log
        let deadline = Date().addingTimeInterval(30)
        var found: Int?
        while found == nil && Date() < deadline && process.isRunning {
            let text = log.text
            found = text.range(of: #"listening on http://[0-9.]+:([0-9]+)"#, options: .regularExpression).flatMap { range in
                Int(text[range].split(separator: ":").last ?? "")
            }
            if found == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        guard let found else {
            process.terminate()
            throw ServerTestError("server did not start: \(log.text)")
        }
        port = found
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var output: String { log.text }
    var isRunning: Bool { process.isRunning }
    var pid: Int32 { process.processIdentifier }

    /// SIGKILL: no chance to clean up, as in a crash or an OOM kill.
    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM and wait; returns the exit status and how long the exit took.
    @discardableResult
    func terminate(timeout: Double = 30) -> (status: Int32, seconds: Double) {
        let start = Date()
        process.terminate()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { kill9() }
        process.waitUntilExit()
        return (process.terminationStatus, Date().timeIntervalSince(start))
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

struct ServerTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// What curl got back.
struct CurlResult {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var verbose: String
    var seconds: Double

    var text: String { String(decoding: body, as: UTF8.self) }

    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw ServerTestError("not a JSON object: \(text)")
        }
        return object
    }
}

/// curl, the client users have. `arguments` go before the URL(s).
func curl(_ arguments: [String], _ urls: String...) throws -> CurlResult {
    let directory = try ServerProcess.temporaryDirectory("curl")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let bodyPath = directory + "/body", headerPath = directory + "/headers"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    process.arguments = ["-sS", "-v", "--max-time", "120", "-o", bodyPath, "-D", headerPath] + arguments + urls
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    let start = Date()
    try process.run()
    let verbose = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    let seconds = Date().timeIntervalSince(start)
    guard process.terminationStatus == 0 else {
        throw ServerTestError("curl exited \(process.terminationStatus): \(verbose.suffix(2000))")
    }
    let headerText = (try? String(contentsOfFile: headerPath, encoding: .utf8)) ?? ""
    // With several responses (100 Continue, keep-alive), the last block is the final answer.
    let blocks = headerText.components(separatedBy: "\r\n\r\n").filter { !$0.isEmpty }
    let last = blocks.last ?? ""
    var lines = last.components(separatedBy: "\r\n")
    let statusLine = lines.isEmpty ? "" : lines.removeFirst()
    let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
    var headers: [String: String] = [:]
    for line in lines {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    let body = (try? Data(contentsOf: URL(fileURLWithPath: bodyPath))).map { [UInt8]($0) } ?? []
    return CurlResult(status: status, headers: headers, body: body, verbose: verbose, seconds: seconds)
}

/// Polls `GET /jobs/{id}` until the job is final or `timeout` passes; returns the last job body.
func pollJob(_ server: ServerProcess, id: String, timeout: Double = 120) throws -> [String: Any] {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        let answer = try curl([], "\(server.baseURL)/jobs/\(id)")
        guard answer.status == 200 else { throw ServerTestError("GET /jobs/\(id) answered \(answer.status): \(answer.text)") }
        let job = try answer.json()
        let status = job["status"] as? String ?? ""
        if ["succeeded", "failed", "canceled"].contains(status) || Date() > deadline { return job }
        Thread.sleep(forTimeInterval: 0.1)
    }
}

/// Everything the server printed, collected from its pipe.
final class LogBuffer: Sendable {
    private let storage = Mutex("")
    func append(_ text: String) { storage.withLock { $0 += text } }
    var text: String { storage.withLock { $0 } }
}
