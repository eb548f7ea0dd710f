import Foundation
import Testing
import TestSupport
@testable import Engine

/// The whole network on the real weights: the gradient of a feature-matching loss with respect to the
/// input image against finite differences, and the extractor's contract (shapes, reuse, misuse).
@Suite(.serialized) struct NetworkGradientTests {
    static let kernels = ConvolutionKernel.allCases.filter(\.isSupported)
    static let taps: [Tap] = [.relu1_1, .relu2_1, .relu3_1, .relu4_1]
    static let tapWeights: [Tap: Double] = [.relu1_1: 0.25, .relu2_1: 0.25, .relu3_1: 0.25, .relu4_1: 0.25]

    /// A smooth, photo-like test image (gradients, a blob, mild noise), RGB in [0,1].
    static func image(height h: Int, width w: Int, seed: UInt64) -> Tensor {
        var rng = SeededRandom(seed: seed)
        let t = Tensor(channels: 3, height: h, width: w)
        let phase = rng.floats(3, in: 0...6)
        for c in 0..<3 {
            for y in 0..<h {
                for x in 0..<w {
                    let u = Float(x) / Float(w), v = Float(y) / Float(h)
                    let r2: Float = (u - 0.6) * (u - 0.6) + (v - 0.4) * (v - 0.4)
                    let blob: Float = expf(-12 * r2)
                    let wave: Float = sinf(6 * u + phase[c]) * cosf(4 * v)
                    let base: Float = 0.5 + 0.3 * wave + 0.3 * blob
                    t[c, y, x] = min(1, max(0, base + Float.random(in: -0.03...0.03, using: &rng)))
                }
            }
        }
        return t
    }

    /// For L = Σ w_l ‖Φ_l(x) − T_l‖²: L(a) − L(b) = Σ w_l Σ (Φ_a − Φ_b)(Φ_a + Φ_b − 2T), in Double: no cancellation between two large sums.
    static func lossDifference(_ extractor: FeatureExtractor, _ a: Tensor, _ b: Tensor, targets: [Tap: [Float]]) throws -> Double {
        let fa = try extractor.forward(image: a, to: .relu4_1).mapValues { $0.toArray() }
        let fb = try extractor.forward(image: b, to: .relu4_1)
        var total = 0.0
        for tap in taps {
            let pa = fa[tap]!, pb = fb[tap]!, t = targets[tap]!
            var s = 0.0
            for i in 0..<pa.count {
                let u = Double(pa[i]), v = Double(pb.data[i])
                s += (u - v) * (u + v - 2 * Double(t[i]))
            }
            total += tapWeights[tap]! * s
        }
        return total
    }

    /// d L / d x through backward(gradients:) with 2 w_l (Φ_l − T_l) injected at the four taps at once.
    static func gradient(_ extractor: FeatureExtractor, _ x: Tensor, targets: [Tap: [Float]]) throws -> [Float] {
        let f = try extractor.forward(image: x, to: .relu4_1)
        var injected: [Tap: Tensor] = [:]
        for tap in taps {
            let phi = f[tap]!, t = targets[tap]!
            let g = Tensor(channels: phi.channels, height: phi.height, width: phi.width)
            for i in 0..<phi.count { g.data[i] = Float(2 * tapWeights[tap]!) * (phi.data[i] - t[i]) }
            injected[tap] = g
        }
        return try extractor.backward(gradients: injected).toArray()
    }

    @Test(arguments: kernels)
    func inputGradientMatchesFiniteDifferences(kernel: ConvolutionKernel) throws {
        let network = try NetworkFixtures.network(kernel: kernel, deepestTap: .relu4_1)
        let (h, w) = (32, 40)
        let extractor = try FeatureExtractor(network: network, height: h, width: w, threads: 2)
        let x = Self.image(height: h, width: w, seed: 11)
        let other = Self.image(height: h, width: w, seed: 12)
        let targetFeatures = try extractor.forward(image: other, to: .relu4_1)
        let targets = targetFeatures.mapValues { $0.toArray() }
        let g = try Self.gradient(extractor, x, targets: targets)
        var rng = SeededRandom(seed: 13)
        // Directional derivatives along 6 smooth random directions, compared as a vector (a direction
        // nearly orthogonal to the gradient would otherwise turn rounding into a large relative error).
        var fds: [Double] = [], analytics: [Double] = []
        for _ in 0..<6 {
            // Smooth: pixel-level noise would flip many ReLUs and pool maxima within the step (kinks).
            let k = rng.floats(9, in: -0.4...0.4)
            var v = [Float](repeating: 0, count: x.count)
            for c in 0..<3 {
                for y in 0..<h {
                    for xx in 0..<w { v[(c * h + y) * w + xx] = sinf(k[3 * c] * Float(xx) + k[3 * c + 1] * Float(y) + 7 * k[3 * c + 2]) }
                }
            }
            // Small: the error from kinks crossed within the step is O(eps) (measured 5 % at 1e-3, 0.1 % at
            // 3e-5); the Double loss difference keeps float32 rounding of the two losses out of the way.
            let eps: Float = 3e-5
            let plus = x.clone(), minus = x.clone()
            for i in 0..<x.count {
                plus.data[i] += eps * v[i]
                minus.data[i] -= eps * v[i]
            }
            fds.append(try Self.lossDifference(extractor, plus, minus, targets: targets) / (2 * Double(eps)))
            analytics.append(zip(g, v).reduce(0.0) { $0 + Double($1.0) * Double($1.1) })
        }
        let diff = zip(fds, analytics).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
        let err = diff / fds.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
        #expect(err < 1e-2, "\(kernel): directional derivatives \(analytics), finite differences \(fds), relative error \(err)")
    }

    @Test func kernelsAgree() throws {
        guard Self.kernels.count > 1 else { return }  // only the gemm kernel on this CPU
        let (h, w) = (45, 37)
        let x = Self.image(height: h, width: w, seed: 21)
        var results: [[Float]] = []
        var features: [[Float]] = []
        for kernel in Self.kernels {
            let extractor = try FeatureExtractor(network: try NetworkFixtures.network(kernel: kernel, deepestTap: .relu4_1),
                                                 height: h, width: w, threads: 2)
            let f = try extractor.forward(image: x, to: .relu4_1)
            features.append(f[.relu4_1]!.toArray())
            let injected = f.mapValues { t in
                let g = t.clone()
                for i in 0..<g.count { g.data[i] /= Float(g.count) }
                return g
            }
            results.append(try extractor.backward(gradients: injected).toArray())
        }
        for k in 1..<Self.kernels.count {
            let fe = features[k].withUnsafeBufferPointer { NetworkFixtures.relativeError($0, features[0]) }
            let ge = results[k].withUnsafeBufferPointer { NetworkFixtures.relativeError($0, results[0]) }
            #expect(fe < 1e-5, "relu4_1 differs between \(Self.kernels[k]) and \(Self.kernels[0]): \(fe)")
            #expect(ge < 1e-4, "input gradients differ between \(Self.kernels[k]) and \(Self.kernels[0]): \(ge)")
        }
    }

    @Test func workspaceReuseGivesIdenticalResults() throws {
        let network = try NetworkFixtures.network(deepestTap: .relu4_1)
        let (h, w) = (33, 50)
        let extractor = try FeatureExtractor(network: network, height: h, width: w)
        let a = Self.image(height: h, width: w, seed: 31), b = Self.image(height: h, width: w, seed: 32)
        let first = try extractor.forward(image: a, to: .relu3_1)[.relu3_1]!.toArray()
        let g1 = try extractor.backward(gradients: [.relu2_1: Tensor(channels: 128, height: h / 2, width: w / 2, values: .init(repeating: 1, count: 128 * (h / 2) * (w / 2)))]).toArray()
        _ = try extractor.forward(image: b, to: .relu4_1)
        _ = try extractor.backward(gradients: [.relu4_1: try #require(extractor.forward(image: b, to: .relu4_1)[.relu4_1]).clone()])
        let again = try extractor.forward(image: a, to: .relu3_1)[.relu3_1]!.toArray()
        let g2 = try extractor.backward(gradients: [.relu2_1: Tensor(channels: 128, height: h / 2, width: w / 2, values: .init(repeating: 1, count: 128 * (h / 2) * (w / 2)))]).toArray()
        #expect(first == again)
        #expect(g1 == g2)
        #expect(g1.contains { $0 != 0 })
        // No gradient at all: a zero input gradient (and the previous result is not left behind).
        #expect(try extractor.backward(gradients: [:]).toArray().allSatisfy { $0 == 0 })
    }

    /// The backward reuses the activations it is done with as gradient buffers: from every tap it gives the
    /// same input gradient as a fresh extractor and as the gemm kernel (no fused pools: another buffer
    /// plan), a forward after a backward gives the same features, and a second backward without a forward
    /// is refused.
    @Test func backwardReusesActivationsSafely() throws {
        let network = try NetworkFixtures.network(deepestTap: .relu4_1)
        let plain = try FeatureExtractor(network: try NetworkFixtures.network(kernel: .gemm, deepestTap: .relu4_1), height: 37, width: 45)
        let (h, w) = (37, 45)
        let x = Self.image(height: h, width: w, seed: 41)
        let reused = try FeatureExtractor(network: network, height: h, width: w)
        let before = try reused.forward(image: x, to: .relu4_1).mapValues { $0.toArray() }
        for tap in Self.taps {
            let f = try reused.forward(image: x, to: .relu4_1)
            let g = try reused.backward(gradients: [tap: f[tap]!.clone()]).toArray()
            let fresh = try FeatureExtractor(network: network, height: h, width: w)
            let ff = try fresh.forward(image: x, to: .relu4_1)
            #expect(try fresh.backward(gradients: [tap: ff[tap]!.clone()]).toArray() == g, "\(tap)")
            let fp = try plain.forward(image: x, to: .relu4_1)
            let gp = try plain.backward(gradients: [tap: fp[tap]!.clone()]).toArray()
            let err = g.withUnsafeBufferPointer { NetworkFixtures.relativeError($0, gp) }
            #expect(err < 1e-4, "\(tap): against the gemm kernel \(err)")
            #expect(throws: FeatureExtractorError.self) { try reused.backward(gradients: [tap: f[tap]!.clone()]) }
        }
        #expect(try reused.forward(image: x, to: .relu4_1).mapValues { $0.toArray() } == before)
    }

    @Test func shapesFollowTheFloorRule() throws {
        let network = try NetworkFixtures.network()
        let extractor = try FeatureExtractor(network: network, height: 225, width: 301)
        #expect(extractor.shape(of: .relu1_1)! == (64, 225, 301))
        #expect(extractor.shape(of: .relu2_1)! == (128, 112, 150))
        #expect(extractor.shape(of: .relu3_1)! == (256, 56, 75))
        #expect(extractor.shape(of: .relu4_1)! == (512, 28, 37))
        #expect(extractor.shape(of: .relu5_1)! == (512, 14, 18))
        let bytes = FeatureExtractor.workspaceBytes(kernel: .avx512, height: 300, width: 400, deepestTap: .relu4_1)
        // Floats per input pixel: activations 279, one gradient buffer 64 (the backward reuses the activations
        // it is done with for the rest), taps 64+32+16+8, input gradient 3 (≈ 1.86 KB) plus the padding.
        #expect(bytes > 400 * 300 * 1860 && bytes < 400 * 300 * 1990, "\(bytes) bytes")
        #expect(Tap.relu4_1.stride == 8 && Tap.relu4_1.outputSize(height: 225, width: 301) == (28, 37))
    }

    @Test func misuseIsReportedNotCrashed() throws {
        let network = try NetworkFixtures.network(deepestTap: .relu4_1)
        #expect(throws: FeatureExtractorError.self) { try FeatureExtractor(network: network, height: 7, width: 100) }
        #expect(throws: FeatureExtractorError.self) { try FeatureExtractor(network: network, height: 16, width: 16, deepestTap: .relu5_1) }
        let extractor = try FeatureExtractor(network: network, height: 16, width: 24)
        #expect(throws: FeatureExtractorError.self) { try extractor.backward(gradients: [:]) }
        #expect(throws: FeatureExtractorError.self) {
            try extractor.forward(image: Tensor(channels: 3, height: 16, width: 23), to: .relu1_1)
        }
        _ = try extractor.forward(image: Tensor(channels: 3, height: 16, width: 24), to: .relu2_1)
        #expect(throws: FeatureExtractorError.self) {
            try extractor.backward(gradients: [.relu3_1: Tensor(channels: 256, height: 4, width: 6)])
        }
        #expect(throws: FeatureExtractorError.self) {
            try extractor.backward(gradients: [.relu2_1: Tensor(channels: 128, height: 8, width: 11)])
        }
    }
}
