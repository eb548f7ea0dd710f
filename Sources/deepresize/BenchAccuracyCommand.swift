import ArgumentParser
import Engine
import Foundation
import ImageCodecs

/// `deepresize bench accuracy`: how far the Winograd kernels (F(4×4), fp32 and bf16 products) are from the
/// fp32 direct kernel on a real photo, per convolution (forward and backward, each on the direct kernel's
/// own input) and for the whole network (taps, and the gradient of a feature-matching loss against the
/// features of a larger version of the photo, as the deep method's targets are).
struct BenchAccuracyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accuracy",
        abstract: "Relative error of each precision's convolutions against the fp32 direct kernel, per layer and tap.")

    @Option(help: "Weights file (default: $DEEPRESIZE_WEIGHTS or weights/vgg16-imagenet.safetensors).")
    var weights: String?

    @Argument(help: "The photo (PNG or JPEG) the network runs on.")
    var image: String

    @Option(help: "A larger version of the photo: its features, resized to the photo's (bilinear), are the targets T.")
    var target: String

    @Option(help: "Compute threads.")
    var threads: Int = 2

    @Option(help: "Measurement: a bf16 candidate with bf16 products also in these forward convolutions (comma-separated names, or all); repeatable.")
    var bf16Forward: [String] = ["all"]

    func validate() throws {
        for list in bf16Forward { try validateConvolutionNames(list, option: "--bf16-forward") }
    }

    func run() throws {
        let path = weights ?? VGGNetwork.defaultWeightsPath()
        func load(_ file: String) throws -> Tensor {
            Tensor(rgbOf: try readInputImage(file))
        }
        let x = try load(image), big = try load(target)
        do {
            let reference = try VGGNetwork(weightsPath: path, kernel: .avx512, precision: .fp32, deepestTap: .relu4_1)
            let bigFeatures = try FeatureExtractor(network: reference, height: big.height, width: big.width, deepestTap: .relu4_1,
                                                   threads: threads).forward(image: big, to: .relu4_1)
            var targets: [Tap: Tensor] = [:]
            for tap in EngineAccuracy.taps {
                let size = tap.outputSize(height: x.height, width: x.width)
                targets[tap] = FeatureResize.linear(bigFeatures[tap]!, height: size.height, width: size.width)
            }
            var candidates: [(String, VGGNetwork)] = [("fp32", try VGGNetwork(weightsPath: path, precision: .fp32, deepestTap: .relu4_1))]
            if EnginePrecision.bf16.isSupported {
                candidates.append(("bf16", try VGGNetwork(weightsPath: path, precision: .bf16, deepestTap: .relu4_1)))
                for layers in bf16Forward {
                    candidates.append(("bf16, bf16 forward \(layers) (measurement)",
                                       try VGGNetwork(weightsPath: path, precision: .bf16, deepestTap: .relu4_1,
                                                      bf16Forward: Set(layers.split(separator: ",").map {
                                                          $0.trimmingCharacters(in: .whitespaces) }))))
                }
                candidates.append(("bf16, bf16 forward all, F(2x2) (measurement)",
                                   try VGGNetwork(weightsPath: path, precision: .bf16, deepestTap: .relu4_1, bf16Forward: ["all"], winogradTile: 2)))
            }
            print("\(image) (\(x.width)x\(x.height)), targets from \(target) (\(big.width)x\(big.height)); reference: fp32 direct kernel")
            for (label, network) in candidates {
                let r = try EngineAccuracy.measure(candidate: network, reference: reference, image: x, targets: targets, threads: threads)
                print("precision \(label)")
                print("  layer      forward: algorithm, relative error   backward: algorithm, relative error")
                for name in Set(r.layers.map(\.name)).sorted() {
                    let f = r.layers.first { $0.name == name && $0.direction == "forward" }
                    let b = r.layers.first { $0.name == name && $0.direction == "backward" }
                    print("  " + name.padding(toLength: 9, withPad: " ", startingAt: 0)
                          + String(format: "  %-14@ %9.2e", (f?.algorithm ?? "-") as NSString, f?.relativeError ?? .nan)
                          + String(format: "      %-14@ %9.2e", (b?.algorithm ?? "-") as NSString, b?.relativeError ?? .nan))
                }
                print("  taps: " + r.taps.map { String(format: "%@ %.2e", $0.tap.rawValue, $0.relativeError) }.joined(separator: ", "))
                print(String(format: "  L_rec %.6f (reference %.6f, %+.2e relative); d L_rec / d image: relative error %.2e, cosine %.6f",
                             r.loss.candidate, r.loss.reference, r.loss.candidate / r.loss.reference - 1, r.gradientError, r.gradientCosine))
            }
        } catch let error as FeatureExtractorError {
            throw CommandFailure(.software, error.description)
        } catch let error as WeightsError {
            throw CommandFailure(.software, error.description)
        }
    }
}
