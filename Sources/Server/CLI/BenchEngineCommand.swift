import ArgumentParser
import Engine
import Foundation

/// A float pointer for the parallel gradient loop. unchecked Sendable: the parts touch disjoint ranges.
private struct Floats: @unchecked Sendable {
    let p: UnsafeMutablePointer<Float>
    init(_ p: UnsafeMutablePointer<Float>) { self.p = p }
}

/// `deepresize bench engine`: median time of a VGG forward to a tap and of forward + backward to the input
/// (loss ½‖F‖²/n summed over the taps, as /work/shared/bench/torch_vgg.py does, so both do the same work).
struct BenchEngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "VGG-16 forward / forward+backward timing (median ms, GFLOP/s).")

    @Option(help: "Weights file (default: $DEEPRESIZE_WEIGHTS or weights/vgg16-imagenet.safetensors).")
    var weights: String?

    @Option(help: "Input size WIDTHxHEIGHT.")
    var size: String = "400x300"

    @Option(help: "Deepest tap; every tap relu1_1 … this one gets a gradient.")
    var to: String = "relu4_1"

    @Option(help: "Compute threads.")
    var threads: Int = 2

    @Option(name: .customLong("repeat"), help: "Timed runs (median reported).")
    var repeats: Int = 7

    @Option(help: "Untimed runs first.")
    var warmup: Int = 2

    @Option(help: "Convolution kernel: best, gemm or avx512.")
    var kernel: String = "best"

    @Flag(help: "Print one JSON object {forward_ms, forward_backward_ms, gflops, size, to, threads, …}, or write it to FILE: --json [FILE].")
    var json = false

    /// ArgumentParser has no option with an optional value, so `--json FILE` is a flag plus this argument.
    @Argument(help: "With --json: the file to write.")
    var jsonFile: String?

    @Option(help: "Write {\"results\":[{name, median_s, …}]} for /work/shared/bench/ratio.py.")
    var resultsJson: String?

    func validate() throws {
        guard parseSize() != nil else { throw ValidationError("--size must be WIDTHxHEIGHT, e.g. 400x300") }
        guard Tap(rawValue: to) != nil else {
            throw ValidationError("--to must be one of \(Tap.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard threads >= 1, repeats >= 1, warmup >= 0 else { throw ValidationError("--threads and --repeat must be ≥ 1") }
        guard kernel == "best" || ConvolutionKernel(rawValue: kernel) != nil else {
            throw ValidationError("--kernel must be best, gemm or avx512")
        }
        if jsonFile != nil && !json { throw ValidationError("a FILE argument needs --json before it") }
    }

    private func parseSize() -> (width: Int, height: Int)? {
        let parts = size.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, parts[0] > 0, parts[1] > 0 else { return nil }
        return (parts[0], parts[1])
    }

    func run() throws {
        let (w, h) = parseSize()!
        let tap = Tap(rawValue: to)!
        let kernel = self.kernel == "best" ? ConvolutionKernel.best : ConvolutionKernel(rawValue: self.kernel)!
        guard kernel.isSupported else { throw ValidationError("kernel \(kernel.rawValue) is not supported on this CPU") }
        let path = weights ?? VGGNetwork.defaultWeightsPath()
        let network: VGGNetwork
        do { network = try VGGNetwork(weightsPath: path, kernel: kernel, deepestTap: tap) } catch {
            throw ValidationError(error.description)
        }
        let extractor = try FeatureExtractor(network: network, height: h, width: w, deepestTap: tap, threads: threads)
        var rng = SystemRandomNumberGenerator()
        let image = Tensor(channels: 3, height: h, width: w)
        for i in 0..<image.count { image.data[i] = Float.random(in: 0...1, using: &rng) }
        let taps = Tap.allCases.filter { $0 <= tap }
        var gradients: [Tap: Tensor] = [:]
        for t in taps {
            let s = extractor.shape(of: t)!
            gradients[t] = Tensor(channels: s.channels, height: s.height, width: s.width)
        }

        func forward() throws { _ = try extractor.forward(image: image, to: tap) }
        func forwardBackward() throws {
            let features = try extractor.forward(image: image, to: tap)
            // d(½‖F‖²/n)/dF = F/n for each tap, on the compute threads (as PyTorch's autograd does).
            for (t, f) in features {
                let g = gradients[t]!, scale = 1 / Float(f.count)
                let src = Floats(f.data), dst = Floats(g.data), n = f.count, parts = threads
                DispatchQueue.concurrentPerform(iterations: parts) { part in
                    for i in (n * part / parts)..<(n * (part + 1) / parts) { dst.p[i] = src.p[i] * scale }
                }
            }
            _ = try extractor.backward(gradients: gradients)
        }
        let fwd = try time(forward), fwdbwd = try time(forwardBackward)
        let flops = network.architecture.convolutionFLOPs(height: h, width: w, to: tap)
        let gflops = flops / fwd.median / 1e9
        let core = EngineInfo.blasCoreName
        let coreEnv = EngineInfo.blasCoreTypeOverride ?? "unset"

        if json {
            let object: [String: Any] = [
                "forward_ms": fwd.median * 1e3, "forward_backward_ms": fwdbwd.median * 1e3, "gflops": gflops,
                "fwdbwd_gflops": 2 * flops / fwdbwd.median / 1e9,
                "forward_min_ms": fwd.min * 1e3, "forward_backward_min_ms": fwdbwd.min * 1e3,
                "size": "\(w)x\(h)", "to": tap.rawValue, "threads": threads, "repeat": repeats,
                "kernel": kernel.rawValue, "openblas_core": core, "openblas_coretype_env": coreEnv,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            if let file = jsonFile { try data.write(to: URL(fileURLWithPath: file)) } else {
                print(String(decoding: data, as: UTF8.self))
            }
        }
        if let resultsJson {
            let rows: [[String: Any]] = [("fwd", fwd), ("fwdbwd", fwdbwd)].map { kind, t in
                ["name": "vgg16_\(kind)_\(w)x\(h)_to_\(tap.rawValue)", "kind": kind, "width": w, "height": h,
                 "threads": threads, "median_s": t.median, "min_s": t.min, "repeat": repeats]
            }
            let object: [String: Any] = ["tool": "deepresize bench engine", "kernel": kernel.rawValue, "results": rows]
            try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
                .write(to: URL(fileURLWithPath: resultsJson))
        }
        if !json || jsonFile != nil {
            let workspace = FeatureExtractor.workspaceBytes(kernel: kernel, height: h, width: w, deepestTap: tap)
            print("deepresize engine: kernel \(kernel.rawValue), \(threads) threads, OpenBLAS \(core) (OPENBLAS_CORETYPE \(coreEnv)), \(w)x\(h) to \(tap.rawValue), workspace \(workspace >> 20) MiB")
            print("forward            median \(ms(fwd.median)) ms  min \(ms(fwd.min)) ms  \(String(format: "%.0f", gflops)) GFLOP/s")
            print("forward+backward   median \(ms(fwdbwd.median)) ms  min \(ms(fwdbwd.min)) ms  \(String(format: "%.0f", 2 * flops / fwdbwd.median / 1e9)) GFLOP/s (2x forward FLOPs)")
        }
    }

    private func ms(_ s: Double) -> String { String(format: "%.1f", s * 1e3) }

    private func time(_ body: () throws -> Void) throws -> (median: Double, min: Double) {
        for _ in 0..<warmup { try body() }
        var samples: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        samples.sort()
        let n = samples.count
        let median = n % 2 == 1 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2
        return (median, samples[0])
    }
}
