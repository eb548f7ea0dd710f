import Testing
@testable import Engine

/// The engine's arithmetic against the fp32 direct kernel on a real photo (the LadyBird crop at 120×90,
/// its targets the crop's own features at 163×121 resized down, as the deep method's are): each
/// convolution alone, forward and backward, the taps, and the gradient of L. BENCHMARKS.md ("Engine 2")
/// has the same measurement on 400×300 photos (`deepresize bench accuracy`).
@Suite("Network: precision against the fp32 direct kernel (real weights, real photo)", .serialized)
struct NetworkPrecisionTests {
    struct Setup {
        let image: Tensor
        let targets: [Tap: Tensor]
        let reference: VGGNetwork
    }

    static func setup() throws -> Setup {
        let photo = try NetworkFixtures.ladybird()
        let reference = try NetworkFixtures.network(kernel: .avx512, precision: .fp32, deepestTap: .relu4_1)
        let features = try FeatureExtractor(network: reference, height: photo.height, width: photo.width, deepestTap: .relu4_1)
            .forward(image: photo, to: .relu4_1)
        let (h, w) = (90, 120)
        var targets: [Tap: Tensor] = [:]
        for tap in EngineAccuracy.taps {
            let size = tap.outputSize(height: h, width: w)
            targets[tap] = FeatureResize.linear(features[tap]!, height: size.height, width: size.width)
        }
        return Setup(image: FeatureResize.linear(photo, height: h, width: w), targets: targets, reference: reference)
    }

    @Test("F(4×4) with fp32 products: every layer, tap and the gradient agree with direct to float rounding")
    func fp32() throws {
        guard ConvolutionKernel.winograd.isSupported else { return }
        let s = try Self.setup()
        let r = try EngineAccuracy.measure(candidate: try NetworkFixtures.network(precision: .fp32, deepestTap: .relu4_1),
                                           reference: s.reference, image: s.image, targets: s.targets)
        #expect(r.layers.count == 16)
        for layer in r.layers { #expect(layer.relativeError < 1e-5, "\(layer.name) \(layer.direction): \(layer.relativeError)") }
        for t in r.taps { #expect(t.relativeError < 1e-5, "\(t.tap): \(t.relativeError)") }
        #expect(abs(r.loss.candidate / r.loss.reference - 1) < 1e-6)
        #expect(r.gradientCosine > 0.99999, "cosine \(r.gradientCosine)")
    }

    @Test("bf16 products in the backward pass: the features stay exact, each backward layer within 3 %, the gradient's cosine ≥ 0.999")
    func bf16() throws {
        guard EnginePrecision.bf16.isSupported else { return }
        let s = try Self.setup()
        let r = try EngineAccuracy.measure(candidate: try NetworkFixtures.network(precision: .bf16, deepestTap: .relu4_1),
                                           reference: s.reference, image: s.image, targets: s.targets)
        for layer in r.layers {
            let bound = layer.algorithm.contains("bf16") ? 3e-2 : 1e-5
            #expect(layer.relativeError < bound, "\(layer.name) \(layer.direction) \(layer.algorithm): \(layer.relativeError)")
        }
        #expect(r.layers.filter { $0.algorithm.contains("bf16") }.count == 7)  // conv1_2 … conv4_1 backward
        for t in r.taps { #expect(t.relativeError < 1e-5, "\(t.tap): \(t.relativeError)") }
        #expect(abs(r.loss.candidate / r.loss.reference - 1) < 1e-6)
        #expect(r.gradientCosine >= 0.999, "cosine \(r.gradientCosine)")
    }

    @Test("the deep objective's gradient (L_rec, Gram, regulariser) with bf16 and auto: cosine ≥ 0.999 to fp32's, same L")
    func deepObjective() throws {
        guard EnginePrecision.bf16.isSupported else { return }
        let s = try Self.setup()
        let photo = try NetworkFixtures.ladybird()
        let (mean, std) = DeepLoss.channelStatistics(photo)
        func evaluate(_ precision: EnginePrecision) throws -> (DeepLossTerms, [Float]) {
            let network = try NetworkFixtures.network(precision: precision, deepestTap: .relu5_1)
            let input = try FeatureExtractor(network: network, height: photo.height, width: photo.width, deepestTap: .relu4_1)
                .forward(image: photo, to: .relu4_1).mapValues { $0.clone() }
            let objective = try DeepObjective(network: network, height: s.image.height, width: s.image.width, targets: s.targets,
                                              inputFeatures: input, inputMean: mean, inputStd: std)
            var gradient = [Float](repeating: 0, count: s.image.count)
            let terms = try s.image.toArray().withUnsafeBufferPointer { x in
                try gradient.withUnsafeMutableBufferPointer { try objective.evaluate(x, gradient: $0) }
            }
            return (terms, gradient)
        }
        let (l32, g32) = try evaluate(.fp32)
        for precision in [EnginePrecision.bf16, .auto] {
            let (l, g) = try evaluate(precision)
            #expect(abs(l.total / l32.total - 1) < 1e-6, "\(precision): L \(l.total) vs \(l32.total)")
            let cosine = EngineAccuracy.cosine(g, g32)
            #expect(cosine >= 0.999, "\(precision): cosine \(cosine)")
        }
    }
}
