import Engine
import Foundation
import ImageCodecs
import Testing

@testable import Server
import TestSupport

/// Every input size × output size × method × operator through what `POST /resize` and the workers do, in
/// process: `inspect` (the size checks), the memory estimate (which runs before the job is queued, and which
/// once divided by zero for inputs under 16 px: SIGFPE killed the server), then the run itself with one
/// optimiser iteration. Each combination must end in an image of the asked size or in a problem the server
/// maps to 4xx; a signal ends the test process, a 5xx fails it. The test does not know where the methods'
/// limits lie (the deep geometry may change): it only asks that every refusal is a 4xx and every success
/// has the right size.
@Suite(.serialized) struct SizeSweepTests {
    static let network: VGGNetwork? = {
        let path = ServerProcess.weightsPath
        return FileManager.default.fileExists(atPath: path) ? try? VGGNetwork(weightsPath: path) : nil
    }()

    /// Sides 1…64 as squares, as narrow strips and as short strips, and a few large or extreme shapes.
    static let inputs: [(Int, Int)] = {
        var sizes: [(Int, Int)] = []
        for side in 1...64 { sizes.append((side, side)) }
        for side in stride(from: 1, through: 64, by: 3) { sizes += [(side, 40), (40, side)] }
        sizes += [(1, 4000), (4000, 1), (15, 200), (200, 15), (2000, 9), (9, 2000), (300, 200), (1, 20000)]
        return sizes
    }()

    /// `deep` runs the network, so it runs on the small inputs near its limits (a short side up to 17: the
    /// 16 px it needs and one pool level either side; 31…33) and only towards the small outputs; every
    /// other deep combination goes through `inspect` and the estimate only. A deep run that enlarges a
    /// strip (1×40 → 64×64 carves thousands of seams from a 64×2560 working image) costs seconds each, and
    /// all of them together once held CI for 80 minutes; the shapes they exercise are the same.
    static func runsDeep(_ width: Int, _ height: Int, output: (Int?, Int?)) -> Bool {
        guard max(width, height) <= 64 else { return false }
        guard min(width, height) <= 17 || [31, 32, 33].contains(min(width, height)) else { return false }
        return max(output.0 ?? 0, output.1 ?? 0) <= 24
    }

    /// (w, h) as the query gives them; nil keeps the aspect ratio.
    static let outputs: [(Int?, Int?)] = [
        (1, 1), (7, 100), (100, 7), (8, 8), (15, 16), (16, 16), (24, 18), (64, 64), (20, nil), (nil, 1),
    ]

    /// The issue's 943-byte 1×20000 PNG only with the issue's queries (the others would spend seconds each
    /// carving 20,000 seams, which the 1×4000 strip covers); a 1000×1 strip (a second of seams each) from a
    /// few shapes only.
    static func outputs(for input: (Int, Int)) -> [(Int?, Int?)] {
        if input == (1, 20000) { return [(nil, 1), (1000, 1), (100, 100)] }
        let wideStrip = max(input.0, input.1) >= 2000 || [(1, 1), (16, 16), (64, 64), (1, 40), (40, 1)].contains { $0 == input }
        return wideStrip ? outputs + [(1000, 1)] : outputs
    }

    enum Outcome: Hashable { case image, refused(Int) }

    @Test func everySizeEndsInAnImageOrA4xx() throws {
        var config = ServiceConfig()
        config.engineThreads = 2
        config.deepEarlyStop = false
        let pipeline = ResizePipeline(config: config, network: Self.network,
                                      networkProblem: Self.network == nil ? "no weights" : nil)
        var deepRuns: [(Int, Int)] = []
        var tally: [String: Int] = [:]
        var seconds: [String: Double] = [:]
        var slowest: [(Double, String)] = []
        let started = Date()
        for (inputWidth, inputHeight) in Self.inputs {
            let bytes = try ImageEncoder.png(TestImages.scene(width: inputWidth, height: inputHeight))
            for (w, h) in Self.outputs(for: (inputWidth, inputHeight)) {
                for (method, featureOperator) in [(ResizeMethod.scale, FeatureOperator.seam), (.seam, .seam), (.deep, .seam), (.deep, .linear)] {
                    if method == .deep && Self.network == nil { continue }
                    // deep's own parameters only with deep: the other methods refuse them (400).
                    var query: [(name: String, value: String)] = [("method", method.rawValue)]
                    if method == .deep { query += [("iterations", "1"), ("operator", featureOperator.rawValue)] }
                    if let w { query.append(("w", String(w))) }
                    if let h { query.append(("h", String(h))) }
                    let label = "\(inputWidth)×\(inputHeight) → w=\(w.map(String.init) ?? "-") h=\(h.map(String.init) ?? "-") \(method.rawValue)/\(featureOperator.rawValue)"
                    let outcome: Outcome
                    do {
                        let options = try ResizeRequest.parse(query, defaultWait: 0, maxWait: 0).options
                        let (header, width, height) = try pipeline.inspect(bytes, options: options)
                        if method.isQueued {
                            let estimate = pipeline.estimatedJobBytes(method: method, sourceWidth: header.width,
                                                                      sourceHeight: header.height, sourceFormat: header.format,
                                                                      encodedBytes: bytes.count, width: width, height: height)
                            #expect(estimate > 0, "\(label): estimate \(estimate)")
                        }
                        try pipeline.checkAvailable(method)
                        if method == .deep && !Self.runsDeep(inputWidth, inputHeight, output: (w, h)) {
                            tally["deep inspected only", default: 0] += 1
                            continue
                        }
                        let methodStart = Date()
                        defer {
                            let spent = Date().timeIntervalSince(methodStart)
                            seconds[method.rawValue, default: 0] += spent
                            slowest.append((spent, label))
                        }
                        let run = try pipeline.run(bytes, options: options, width: width, height: height)
                        let result = try ImageDecoder.decode(run.output, limits: DecodeLimits(maxPixels: 1 << 30))
                        #expect(result.width == width && result.height == height, "\(label): got \(result.width)×\(result.height)")
                        if method == .deep { deepRuns.append((inputWidth, inputHeight)) }
                        outcome = .image
                    } catch {
                        let problem = Problem(error)
                        #expect((400..<500).contains(problem.status), "\(label): \(problem)")
                        outcome = .refused(problem.status)
                    }
                    tally["\(method.rawValue) \(outcome)", default: 0] += 1
                }
            }
        }
        let total = Date().timeIntervalSince(started)
        print("size sweep: \(tally.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")) in \(Int(total)) s"
              + " (running: \(seconds.sorted { $0.key < $1.key }.map { "\($0.key) \(Int($0.value)) s" }.joined(separator: ", ")))")
        print("size sweep, slowest: " + slowest.sorted { $0.0 > $1.0 }.prefix(5).map { "\($0.1) \(String(format: "%.2f", $0.0)) s" }.joined(separator: "; "))
        // The sweep must reach the methods, not only their refusals.
        #expect(tally["scale image", default: 0] > 0 && tally["seam image", default: 0] > 0)
        if Self.network != nil { #expect(!deepRuns.isEmpty) }
    }
}
