import ArgumentParser
import Engine
import Foundation
import ImageCodecs
import Server

/// `deepresize bench seam INPUT --shrink N`: times pixel seam carving (forward energy, width only) the way
/// bench/seam_peer.py times the PyPI `seam-carving` package, under the same result name, so
/// bench/ratio.py pairs the two JSON files.
struct BenchSeamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seam",
        abstract: "Pixel seam carving timing (forward energy, remove N columns).")

    @Argument(help: "JPEG or PNG image.")
    var input: String

    @Option(help: "Pixels to remove from the width.")
    var shrink: Int

    @Option(help: "Timed runs after one warm-up; the median is reported.")
    var `repeat`: Int = 5

    @Option(help: "Write {\"results\":[…]} here (bench/ratio.py format).")
    var json: String?

    @Option(name: .shortAndLong, help: "Save the carved image as PNG.")
    var output: String?

    func validate() throws {
        guard `repeat` >= 1 else { throw ValidationError("--repeat must be at least 1") }
        guard shrink >= 1 else { throw ValidationError("--shrink must be at least 1") }
        try checkOutputPath(json, option: "--json")
        try checkOutputPath(output, option: "--output")
    }

    func run() throws {
        let image = try readInputImage(input)
        guard shrink < image.width else {
            throw ValidationError("--shrink \(shrink) must be less than the image width \(image.width)")
        }
        let target = image.width - shrink
        let carve = { try SeamCarving.resize(image, width: target, height: image.height) }

        var result = try carve()  // warm-up
        var seconds: [Double] = []
        let clock = ContinuousClock()
        for _ in 0..<`repeat` {
            let start = clock.now
            result = try carve()
            seconds.append(Self.seconds(clock.now - start))
        }
        let sorted = seconds.sorted()
        let n = sorted.count
        let median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        let name = "seam_carving_forward_\(image.width)x\(image.height)_minus\(shrink)"
        print("\(name): median \(formatMilliseconds(median)) ms, "
              + "min \(formatMilliseconds(sorted[0])) ms over \(`repeat`) runs")

        if let output {
            try writeOutputFile(try ImageEncoder.png(result), to: output)
        }
        if let json {
            let report = BenchReport(tool: "deepresize bench seam", results: [
                .init(name: name, width: image.width, height: image.height, shrink: shrink, energy: "forward",
                      medianS: median, minS: sorted[0], repeat: `repeat`),
            ])
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try writeOutputFile([UInt8](try encoder.encode(report)), to: json)
        }
    }

    private static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}

private struct BenchReport: Encodable {
    struct Result: Encodable {
        var name: String
        var width: Int
        var height: Int
        var shrink: Int
        var energy: String
        var medianS: Double
        var minS: Double
        var `repeat`: Int

        enum CodingKeys: String, CodingKey {
            case name, width, height, shrink, energy, medianS = "median_s", minS = "min_s", `repeat`
        }
    }

    var tool: String
    var results: [Result]
}
