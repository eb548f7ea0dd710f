import Foundation
import Testing
@testable import Engine

/// VGG-19, the paper's network, as a user brings it: torchvision's layout (features.N) converted by
/// scripts/convert_vgg.py, recognised as VGG-19 from its tensors, preprocessed the torchvision way. No
/// VGG-19 ImageNet weights can be fetched here, so the weights are random (He-scaled, in torchvision's
/// layout) and the reference is onnxruntime running torchvision's layer sequence on them.
@Suite(.serialized) struct NetworkVGG19Tests {
    struct Case: Decodable {
        let height: Int
        let width: Int
        let taps: [String: [Int]]
    }

    @Test func convertedTorchvisionVGG19MatchesOnnxRuntime() throws {
        let python = NetworkFixtures.python
        guard FileManager.default.isExecutableFile(atPath: python) else {
            Issue.record("no Python venv at \(python): run scripts/pyenv, or set DEEPRESIZE_PYTHON")
            return
        }
        let dir = try NetworkFixtures.temporaryDirectory("vgg19")
        defer { try? FileManager.default.removeItem(at: dir) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [NetworkFixtures.repositoryRoot + "/Tests/EngineTests/python/vgg19_reference.py",
                             NetworkFixtures.repositoryRoot, dir.path]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "vgg19_reference.py exited with \(process.terminationStatus)")
        let c = try JSONDecoder().decode(Case.self, from: Data(contentsOf: dir.appendingPathComponent("case.json")))

        // torchvision's own file is refused with the way out; the converted one loads as VGG-19.
        #expect(throws: WeightsError.self) { try VGGNetwork(weightsPath: dir.appendingPathComponent("torchvision.safetensors").path) }
        for kernel in ConvolutionKernel.allCases.filter(\.isSupported) {
            let network = try VGGNetwork(weightsPath: dir.appendingPathComponent("converted.safetensors").path,
                                         kernel: kernel, precision: .fp32)
            #expect(network.architecture == .vgg19)
            #expect(network.preprocessing == .torchRGB)
            #expect(network.convs.map(\.name) == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
                                                  "conv3_4", "conv4_1", "conv4_2", "conv4_3", "conv4_4", "conv5_1"])
            let extractor = try FeatureExtractor(network: network, height: c.height, width: c.width, deepestTap: .relu5_1)
            let input = try NetworkFixtures.readFloats(dir.appendingPathComponent("input.f32"))
            let features = try extractor.forward(image: Tensor(channels: 3, height: c.height, width: c.width, values: input),
                                                 to: .relu5_1)
            for tap in Tap.allCases {
                let ref = try NetworkFixtures.readFloats(dir.appendingPathComponent("\(tap).f32"))
                let ours = try #require(features[tap])
                #expect([ours.channels, ours.height, ours.width] == c.taps[tap.rawValue], "\(tap) shape")
                guard ours.count == ref.count else { continue }
                let err = NetworkFixtures.relativeError(UnsafeBufferPointer(ours.buffer), ref)
                #expect(err < 1e-4, "\(kernel) \(tap): relative error \(err)")
            }
        }
    }
}
