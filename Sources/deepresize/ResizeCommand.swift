import ArgumentParser
import Engine
import Foundation
import Glibc
import ImageCodecs
import Server

struct ResizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resize",
        abstract: "Resize one image file locally, with the same pipeline and limits as the service.",
        discussion: "Example: deepresize resize photo.jpg -W 400 -H 300 --method seam -o carved.png")

    @Argument(help: "Input JPEG, PNG or WebP.") var input: String
    // -h is help, as in every CLI; the height is -H (and -W the width, with -w kept for older scripts).
    @Option(name: [.customLong("width"), .customShort("W"), .customShort("w")],
            help: "Target width (keeps the aspect ratio when --height is absent).") var width: Int?
    @Option(name: [.customLong("height"), .customShort("H")],
            help: "Target height (keeps the aspect ratio when --width is absent).") var height: Int?
    @Option(help: "deep, seam or scale.") var method: String = ResizeMethod.deep.rawValue
    // deep's own options are nil unless given: the other methods refuse them, as the API does.
    @Option(name: .customLong("operator"), help: "deep: seam or linear (default seam).") var featureOperator: String?
    @Option(help: "deep: protect the semantic mask, true or false (default true).") var protect: String?
    @Option(help: "deep: optimiser iterations, 1…1000 (default \(DeepResizeOptions.defaultIterations)).") var iterations: Int?
    @Option(help: "png, jpeg or webp (default: from the output's extension, else png).") var format: String?
    @Option(help: "jpeg and webp: quality 1…100 (default: jpeg_quality).") var quality: Int?
    @Option(help: "deep: where the optimiser starts, geometry (the seams or warp applied to the image) or bilinear (the plain resize; for comparisons; default geometry).") var start: String?
    @Option(name: .customLong("tear-limit"), help: "deep: removing seams stops where they would tear edges, at this limit (default \(SeamTears.limit)); 'none' lets the seams do the whole change (for comparisons).") var tearLimit: String?
    @Option(name: .shortAndLong, help: "Output file.") var output: String
    @Option(name: .customLong("mask-out"), help: "deep: write the semantic mask over the (dimmed) input here (PNG).") var maskOutput: String?
    @Option(name: .customLong("report-json"), help: "deep: write the run's DeepResizeReport (loss terms, iterations, evaluations, times) here as JSON.") var reportJSON: String?
    @Flag(help: "Draw the progress bar even when stderr is not a terminal.") var progress = false
    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let config = try await options.load()
        var query: [(name: String, value: String)] = [("method", method), ("format", format ?? Self.format(forPath: output))]
        if let featureOperator { query.append(("operator", featureOperator)) }
        if let protect { query.append(("protect", protect)) }
        if let iterations { query.append(("iterations", String(iterations))) }
        if let quality { query.append(("quality", String(quality))) }
        if let width { query.append(("w", String(width))) }
        if let height { query.append(("h", String(height))) }
        var request: ResizeOptions
        let needsNetwork = method == ResizeMethod.deep.rawValue
        let (network, networkProblem) = needsNetwork ? ResizePipeline.loadNetwork(config) : (nil, nil)
        let pipeline = ResizePipeline(config: config, network: network, networkProblem: networkProblem)
        let bytes: [UInt8]
        do {
            request = try ResizeRequest.parse(query, defaultQuality: config.jpegQuality, defaultWait: 0, maxWait: 0).options
            if let start {
                guard let value = DeepStart(rawValue: start) else {
                    throw ValidationError("--start must be one of \(DeepStart.allCases.map(\.rawValue).joined(separator: ", ")), not '\(start)'")
                }
                request.start = value
            }
            if let tearLimit {
                if tearLimit == "none" {
                    request.seamTearLimit = nil
                } else if let limit = Double(tearLimit), limit.isFinite, limit >= 0 {
                    request.seamTearLimit = limit
                } else {
                    throw ValidationError("--tear-limit must be a number ≥ 0 or 'none', not '\(tearLimit)'")
                }
            }
            // Refused before any work: these exist only for the deep method (a silently ignored option would
            // make a comparison measure nothing).
            if request.method != .deep && (maskOutput != nil || reportJSON != nil || start != nil || tearLimit != nil) {
                throw ValidationError("--mask-out, --report-json, --start and --tear-limit need --method deep")
            }
            try checkOutputPath(output, option: "--output")
            try checkOutputPath(maskOutput, option: "--mask-out")
            try checkOutputPath(reportJSON, option: "--report-json")
            bytes = try readInputFile(input)
        } catch let problem as Problem {
            throw ValidationError(problem.detail)
        }
        let bar = progress || isatty(STDERR_FILENO) == 1 ? ProgressBar(label: request.method.rawValue) : nil
        let context = RunContext(report: { progress in bar?.update(progress) })
        do {
            let (header, width, height) = try pipeline.inspect(bytes, options: request)
            try pipeline.checkAvailable(request.method)
            let run = try pipeline.run(bytes, options: request, width: width, height: height, context: context)
            // The bar ends on the loss the summary prints (the final image's, clamped to 0…255), not on the
            // last iteration's unclamped one.
            bar?.finish(loss: run.deepReport?.finalClamped.total)
            try writeOutputFile(run.output, to: output)
            if let maskOutput {
                if let mask = run.mask { try writeOutputFile(mask, to: maskOutput) }
            }
            if let reportJSON {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                if let report = run.deepReport {
                    try writeOutputFile([UInt8](try encoder.encode(report)), to: reportJSON)
                } else {
                    // The uniform scale answered: say so, with the sizes, instead of a loss report.
                    let note = UniformScaleNote(sourceWidth: header.width, sourceHeight: header.height, outputWidth: width,
                                                outputHeight: height, summary: run.summary)
                    try writeOutputFile([UInt8](try encoder.encode(note)), to: reportJSON)
                }
            }
            var summary = "\(output): \(width)×\(height) \(request.format.rawValue)"
            if let quality = request.quality { summary += " q\(quality)" }
            summary += ", decode \(ms(run.timings.decode)) ms, \(request.method.rawValue) \(ms(run.timings.process)) ms, encode \(ms(run.timings.encode)) ms"
            if run.colour != .none { summary += ", \(run.colour)" }
            if request.method.isQueued {
                // What the server's workers reserve for this job (job_memory_budget_bytes).
                let estimate = pipeline.estimatedJobBytes(method: request.method, sourceWidth: header.width, sourceHeight: header.height,
                                                          sourceFormat: header.format, encodedBytes: bytes.count, width: width, height: height)
                summary += ", estimated job memory \(formatBytes(estimate))"
            }
            summary += "\n  " + run.summary
            if let report = run.deepReport {
                // The final L is written as the bar's last loss is (ProgressBar.loss): the same number.
                summary += "\n  L \(ProgressBar.loss(report.initial.total)) → \(ProgressBar.loss(report.finalClamped.total))"
                    + String(format: " (rec %.5f, per %.5f, reg %.5f, smooth %.1e), %d iterations, %d evaluations, mask %.1f%%",
                             report.finalClamped.reconstruction, report.finalClamped.perceptual, report.finalClamped.regularization,
                             report.finalClamped.smoothness,
                             report.iterations, report.evaluations, report.maskFraction * 100)
            }
            FileHandle.standardError.write(Data((summary + "\n").utf8))
        } catch let error as ValidationError {
            throw error
        } catch let failure as CommandFailure {
            bar?.finish()
            throw failure
        } catch {
            bar?.finish()
            // The HTTP status the server would answer tells the input's fault (4xx) from the work's (5xx).
            let problem = Problem(error)
            throw CommandFailure(problem.status < 500 ? .dataError : .software, problem.detail)
        }
    }

    static func format(forPath path: String) -> String {
        let lower = path.lowercased()
        if lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") { return OutputFormat.jpeg.rawValue }
        if lower.hasSuffix(".webp") { return OutputFormat.webp.rawValue }
        return OutputFormat.png.rawValue
    }

    /// `--report-json` of a deep request that kept the aspect ratio: no reconstruction ran.
    private struct UniformScaleNote: Encodable {
        var reconstructed = false
        var sourceWidth: Int
        var sourceHeight: Int
        var outputWidth: Int
        var outputHeight: Int
        var summary: String
    }

    private func ms(_ seconds: Double) -> String { formatMilliseconds(seconds, decimals: 0) }
}
