import ArgumentParser
import Engine
import Foundation
import ImageCodecs

/// `deepresize bench deep-precision`: the deep method on one photo with several network arithmetics side
/// by side, same options: the fp32 direct kernel (the reference arithmetic), F(4×4) with fp32 products,
/// and `auto` (bf16 products in the backward pass on CPUs with AVX512_BF16). The direct kernel against
/// F(4×4) fp32 shows how far two fp32 runs drift apart (the optimisation's own sensitivity to rounding);
/// auto against fp32 then shows what bf16 adds to that. The operator gets the whole change of size (no
/// uniform scale first, as in the PyTorch reference), so a request that keeps the aspect ratio, such as
/// 640×480 → 400×300, still runs the optimiser over the whole output.
struct BenchDeepPrecisionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deep-precision",
        abstract: "The deep method with the fp32 direct kernel, F(4x4) fp32 and auto: final L of each, output PNGs.")

    @Option(help: "Weights file (default: $DEEPRESIZE_WEIGHTS or weights/vgg16-imagenet.safetensors).")
    var weights: String?

    @Argument(help: "The input photo (PNG or JPEG).")
    var image: String

    @Option(name: .shortAndLong, help: "Output width.") var width: Int
    @Option(name: .shortAndLong, help: "Output height.") var height: Int
    @Option(name: .customLong("operator"), help: "seam or linear.") var featureOperator: String = "seam"
    @Option(help: "Protect the semantic mask (true or false).") var protect: Bool = true
    @Option(help: "L-BFGS iterations (no early stop).") var iterations: Int = 100
    @Option(help: "Compute threads.") var threads: Int = 2
    @Option(help: "Comma-separated: direct (fp32 direct kernel), fp32, auto, bf16.") var variants: String = "direct,fp32,auto"
    @Option(help: "Write OUT-<variant>.png and OUT-<variant>.json (the DeepResizeReport) for each.") var out: String?

    func run() throws {
        guard let op = FeatureOperator(rawValue: featureOperator) else { throw ValidationError("--operator: seam or linear") }
        let path = weights ?? VGGNetwork.defaultWeightsPath()
        let input = try readInputImage(image)
        var options = DeepResizeOptions(featureOperator: op, protect: protect, iterations: iterations, threads: threads, earlyStop: nil)
        options.uniformFirst = false
        var results: [(String, DeepResizeReport)] = []
        for variant in variants.split(separator: ",").map(String.init) {
            let network: VGGNetwork
            do {
                switch variant {
                case "direct": network = try VGGNetwork(weightsPath: path, kernel: .avx512, precision: .fp32)
                case "fp32", "auto", "bf16": network = try VGGNetwork(weightsPath: path, precision: EnginePrecision(rawValue: variant)!)
                default: throw ValidationError("unknown variant \(variant) (direct, fp32, auto, bf16)")
                }
            } catch let error as WeightsError {
                throw CommandFailure(.software, error.description)
            }
            let result = try DeepResizer.resize(input, width: width, height: height, options: options, network: network)
            guard let report = result.report else { throw ValidationError("nothing was reconstructed (\(result.summary))") }
            let output = result.image
            results.append((variant, report))
            if let out {
                try writeOutputFile(try ImageEncoder.png(output), to: "\(out)-\(variant).png")
                try writeOutputFile([UInt8](try JSONEncoder().encode(report)), to: "\(out)-\(variant).json")
            }
            let perEvaluation = report.evaluationTimes.total / Double(max(1, report.evaluations))
            print(String(format: "%@ %dx%d → %dx%d %@ protect=%@ %@: final L %.5f (clamped %.5f), %d evaluations, %.3f s per evaluation",
                         image, input.width, input.height, width, height, featureOperator, protect ? "true" : "false", variant,
                         report.final.total, report.finalClamped.total, report.evaluations, perEvaluation))
        }
        if let first = results.first {
            for (variant, report) in results.dropFirst() {
                print(String(format: "  %@ / %@ − 1: %+.2f %% (clamped)", variant, first.0,
                             100 * (report.finalClamped.total / first.1.finalClamped.total - 1)))
            }
        }
    }
}
