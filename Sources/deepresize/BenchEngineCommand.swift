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
/// (loss ½‖F‖²/n summed over the taps, as the peer kit's torch_vgg.py does, so both do the same work).
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

    @Option(help: "Convolution kernel: best, gemm, avx512 or winograd.")
    var kernel: String = "best"

    @Option(help: "Products of the Winograd convolutions: auto, fp32 or bf16, or a comma-separated list (each is measured).")
    var precision: String = "auto"

    @Option(help: "Measurement only: forward convolutions with bf16 products too (comma-separated names, or all); the method uses none.")
    var bf16Forward: String?

    @Option(help: "Measurement only: Winograd tile, 4 (F(4x4), the engine's) or 2 (F(2x2)).")
    var tile: Int = 4

    @Flag(help: "Also print where forward+backward's time goes, step by step (summed over the timed runs).")
    var profile = false

    @Flag(help: "With --profile and --threads 1: time the steps by CPU time (what they cost on a busy machine).")
    var profileCPU = false

    @Flag(help: "Print one JSON object {forward_ms, forward_backward_ms, gflops, size, to, threads, …}, or write it to FILE: --json [FILE].")
    var json = false

    /// ArgumentParser has no option with an optional value, so `--json FILE` is a flag plus this argument.
    @Argument(help: "With --json: the file to write.")
    var jsonFile: String?

    @Option(help: "Write {\"results\":[{name, median_s, …}]} for the peer kit's ratio.py.")
    var resultsJson: String?

    func validate() throws {
        guard parseSizes() != nil else { throw ValidationError("--size must be WIDTHxHEIGHT[,WIDTHxHEIGHT…], e.g. 400x300") }
        try checkOutputPath(jsonFile, option: "--json")
        try checkOutputPath(resultsJson, option: "--results-json")
        if let bf16Forward { try validateConvolutionNames(bf16Forward, option: "--bf16-forward") }
        guard Tap(rawValue: to) != nil else {
            throw ValidationError("--to must be one of \(Tap.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard threads >= 1, repeats >= 1, warmup >= 0 else { throw ValidationError("--threads and --repeat must be ≥ 1") }
        guard kernel == "best" || ConvolutionKernel(rawValue: kernel) != nil else {
            throw ValidationError("--kernel must be best, gemm, avx512 or winograd")
        }
        guard let precisions = parsePrecisions() else {
            throw ValidationError("--precision must be auto, fp32 or bf16, or a comma-separated list of them")
        }
        for p in precisions where !p.isSupported {
            throw ValidationError("precision \(p.rawValue) is not supported on this CPU (no AVX512_BF16)")
        }
        if jsonFile != nil && !json { throw ValidationError("a FILE argument needs --json before it") }
    }

    private func parsePrecisions() -> [EnginePrecision]? {
        let list = precision.split(separator: ",").map { EnginePrecision(rawValue: String($0)) }
        guard !list.isEmpty, list.allSatisfy({ $0 != nil }) else { return nil }
        return list.map { $0! }
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
        let precision: EnginePrecision
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
        let core = EngineInfo.blasCoreName
        let coreEnv = EngineInfo.blasCoreTypeOverride ?? "unset"
        let text = !json || jsonFile != nil
        let precisions = parsePrecisions()!
        if text {
            print("deepresize engine: kernel \(kernel.rawValue), \(threads) threads, OpenBLAS \(core) (OPENBLAS_CORETYPE \(coreEnv)), to \(tap.rawValue), CPU bf16 \(EngineInfo.hasBF16 ? "yes" : "no")")
        }
        var results: [Measurement] = []
        for precision in precisions {
            let network: VGGNetwork
            do {
                network = try VGGNetwork(weightsPath: path, kernel: kernel, precision: precision, deepestTap: tap,
                                         bf16Forward: Set((bf16Forward ?? "").split(separator: ",").map {
                                             $0.trimmingCharacters(in: .whitespaces) }),
                                         winogradTile: tile)
            } catch {
                throw CommandFailure(.software, error.description)
            }
            for (w, h) in parseSizes()! {
                let m = try measure(network: network, precision: precision, width: w, height: h, tap: tap)
                results.append(m)
                guard text else { continue }
                let workspace = FeatureExtractor.workspaceBytes(kernel: kernel, precision: precision, height: h, width: w,
                                                                deepestTap: tap, threads: threads)
                let label = precision.rawValue + (precision == .auto ? " = \(precision.resolved.rawValue)" : "") + (bf16Forward.map { ", bf16 forward \($0)" } ?? "")
                    + (tile == 4 ? "" : ", F(\(tile)x\(tile))")
                print("\(w)x\(h) precision \(label) (workspace \(workspace >> 20) MiB, weights \(network.weightBytes >> 20) MiB)")
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
                 "kernel": kernel.rawValue, "precision": m.precision.rawValue, "openblas_core": core, "openblas_coretype_env": coreEnv]
            }
            // One object per size, one per line (a single size gives exactly one JSON object).
            let lines = try objects.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }
            let out = lines.joined(separator: "\n") + "\n"
            if let file = jsonFile { try writeOutputFile(Array(out.utf8), to: file) } else { print(out, terminator: "") }
        }
        if let resultsJson {
            var rows: [[String: Any]] = []
            for m in results {
                for (kind, t) in [("fwd", m.forward), ("fwdbwd", m.forwardBackward)] {
                    // The name ratio.py matches with the peer's; a second precision gets a suffix.
                    let suffix = m.precision == precisions[0] ? "" : "_\(m.precision.rawValue)"
                    rows.append(["name": "vgg16_\(kind)_\(m.width)x\(m.height)_to_\(tap.rawValue)\(suffix)", "kind": kind,
                                 "precision": m.precision.rawValue,
                                 "width": m.width, "height": m.height, "threads": threads,
                                 "median_s": t.median, "min_s": t.min, "repeat": repeats])
                }
            }
            let object: [String: Any] = ["tool": "deepresize bench engine", "kernel": kernel.rawValue, "results": rows]
            try writeOutputFile([UInt8](try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])),
                                to: resultsJson)
        }
    }

    private func measure(network: VGGNetwork, precision: EnginePrecision, width w: Int, height h: Int, tap: Tap) throws -> Measurement {
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
        if profile {
            extractor.profile = EngineProfile(cpuTime: profileCPU && threads == 1)
            for _ in 0..<repeats { try forwardBackward() }
            let p = extractor.profile!
            let clock = profileCPU && threads == 1 ? "CPU ms" : "ms"
            print("\(w)x\(h) precision \(precision.rawValue): forward+backward by step, \(clock) per run (\(repeats) runs)")
            for e in p.entries {
                print("  " + e.name.padding(toLength: 40, withPad: " ", startingAt: 0)
                      + String(format: "%8.2f  %5.1f %%", e.seconds * 1e3 / Double(repeats), 100 * e.seconds / p.total))
            }
            print(String(format: "  %@%8.2f", "total".padding(toLength: 40, withPad: " ", startingAt: 0), p.total * 1e3 / Double(repeats)))
        }
        return Measurement(precision: precision, width: w, height: h, forward: fwd, forwardBackward: fwdbwd,
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

/// `--bf16-forward` lists: VGG convolution names (conv1_2, conv3_3, …) or "all", comma-separated.
func validateConvolutionNames(_ list: String, option: String) throws {
    let known = Set(Architecture.all.flatMap { $0.convolutions.map(\.name) })
    for name in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where name != "all" && !known.contains(name) {
        throw ValidationError("\(option): \(name) is not a VGG convolution (conv1_1 … conv5_4, or all)")
    }
}
