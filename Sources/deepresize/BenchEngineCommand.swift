import ArgumentParser
import Engine
import Foundation
import Server

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

    @Option(help: "Input size WIDTHxHEIGHT, or a comma-separated list.")
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
        guard parseSizes() != nil else { throw ValidationError("--size must be WIDTHxHEIGHT[,WIDTHxHEIGHT…], e.g. 400x300") }
        guard Tap(rawValue: to) != nil else {
            throw ValidationError("--to must be one of \(Tap.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard threads >= 1, repeats >= 1, warmup >= 0 else { throw ValidationError("--threads and --repeat must be ≥ 1") }
        guard kernel == "best" || ConvolutionKernel(rawValue: kernel) != nil else {
            throw ValidationError("--kernel must be best, gemm or avx512")
        }
        if jsonFile != nil && !json { throw ValidationError("a FILE argument needs --json before it") }
    }

    /// "W1xH1,W2xH2,…" → sizes; nil when any is malformed.
    private func parseSizes() -> [(width: Int, height: Int)]? {
        var sizes: [(width: Int, height: Int)] = []
        for item in size.split(separator: ",") {
            let parts = item.lowercased().split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts[0] > 0, parts[1] > 0 else { return nil }
            sizes.append((parts[0], parts[1]))
        }
        return sizes.isEmpty ? nil : sizes
    }

    struct Measurement {
        let width: Int, height: Int
        let forward: (median: Double, min: Double)
        let forwardBackward: (median: Double, min: Double)
        let flops: Double
    }

    func run() throws {
        let tap = Tap(rawValue: to)!
        let kernel = self.kernel == "best" ? ConvolutionKernel.best : ConvolutionKernel(rawValue: self.kernel)!
        guard kernel.isSupported else { throw ValidationError("kernel \(kernel.rawValue) is not supported on this CPU") }
        let path = weights ?? VGGNetwork.defaultWeightsPath()
        let network: VGGNetwork
        do { network = try VGGNetwork(weightsPath: path, kernel: kernel, deepestTap: tap) } catch {
            throw ValidationError(error.description)
        }
        let core = EngineInfo.blasCoreName
        let coreEnv = EngineInfo.blasCoreTypeOverride ?? "unset"
        let text = !json || jsonFile != nil
        if text {
            print("deepresize engine: kernel \(kernel.rawValue), \(threads) threads, OpenBLAS \(core) (OPENBLAS_CORETYPE \(coreEnv)), to \(tap.rawValue)")
        }
        var results: [Measurement] = []
        for (w, h) in parseSizes()! {
            let m = try measure(network: network, width: w, height: h, tap: tap)
            results.append(m)
            if text {
                let workspace = FeatureExtractor.workspaceBytes(kernel: kernel, height: h, width: w, deepestTap: tap, threads: threads)
                print("\(w)x\(h) (workspace \(workspace >> 20) MiB)")
                print("  forward            median \(ms(m.forward.median)) ms  min \(ms(m.forward.min)) ms  \(String(format: "%.0f", m.flops / m.forward.median / 1e9)) GFLOP/s")
                print("  forward+backward   median \(ms(m.forwardBackward.median)) ms  min \(ms(m.forwardBackward.min)) ms  \(String(format: "%.0f", 2 * m.flops / m.forwardBackward.median / 1e9)) GFLOP/s (2x forward FLOPs)")
            }
        }
        if json {
            let objects: [[String: Any]] = results.map { m in
                ["forward_ms": m.forward.median * 1e3, "forward_backward_ms": m.forwardBackward.median * 1e3,
                 "gflops": m.flops / m.forward.median / 1e9, "fwdbwd_gflops": 2 * m.flops / m.forwardBackward.median / 1e9,
                 "forward_min_ms": m.forward.min * 1e3, "forward_backward_min_ms": m.forwardBackward.min * 1e3,
                 "size": "\(m.width)x\(m.height)", "to": tap.rawValue, "threads": threads, "repeat": repeats,
                 "kernel": kernel.rawValue, "openblas_core": core, "openblas_coretype_env": coreEnv]
            }
            // One object per size, one per line (a single size gives exactly one JSON object).
            let lines = try objects.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }
            let out = lines.joined(separator: "\n") + "\n"
            if let file = jsonFile { try Data(out.utf8).write(to: URL(fileURLWithPath: file)) } else { print(out, terminator: "") }
        }
        if let resultsJson {
            var rows: [[String: Any]] = []
            for m in results {
                for (kind, t) in [("fwd", m.forward), ("fwdbwd", m.forwardBackward)] {
                    rows.append(["name": "vgg16_\(kind)_\(m.width)x\(m.height)_to_\(tap.rawValue)", "kind": kind,
                                 "width": m.width, "height": m.height, "threads": threads,
                                 "median_s": t.median, "min_s": t.min, "repeat": repeats])
                }
            }
            let object: [String: Any] = ["tool": "deepresize bench engine", "kernel": kernel.rawValue, "results": rows]
            try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
                .write(to: URL(fileURLWithPath: resultsJson))
        }
    }

    private func measure(network: VGGNetwork, width w: Int, height h: Int, tap: Tap) throws -> Measurement {
        let extractor = try FeatureExtractor(network: network, height: h, width: w, deepestTap: tap, threads: threads)
        var rng = SystemRandomNumberGenerator()
        let image = Tensor(channels: 3, height: h, width: w)
        for i in 0..<image.count { image.data[i] = Float.random(in: 0...1, using: &rng) }
        var gradients: [Tap: Tensor] = [:]
        for t in Tap.allCases where t <= tap {
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
        return Measurement(width: w, height: h, forward: fwd, forwardBackward: fwdbwd,
                           flops: network.architecture.convolutionFLOPs(height: h, width: w, to: tap))
    }

    private func ms(_ s: Double) -> String { formatMilliseconds(s) }

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
