import Testing
@testable import Engine

/// docs/spec.md §4 (L_smooth): where R0 is smooth the output keeps its curvature low, so the faint
/// cross-hatching the reconstruction draws into gradients does not appear; edges are left alone.
@Suite("Deep: the curvature prior in smooth regions", .serialized)
struct DeepSmoothnessTests {
    /// Mean |5-point Laplacian| of the interior, all channels, in grey levels.
    static func meanCurvature(_ t: Tensor, columns: Range<Int>? = nil) -> Double {
        let h = t.height, w = t.width, xs = columns ?? 1..<(w - 1)
        var sum = 0.0, n = 0
        for c in 0..<3 {
            let p = t.plane(c)
            for y in 1..<(h - 1) {
                for x in xs where x > 0 && x < w - 1 {
                    let i = y * w + x
                    sum += Double(abs(4 * p[i] - p[i - 1] - p[i + 1] - p[i - w] - p[i + w])) * 255
                    n += 1
                }
            }
        }
        return sum / Double(max(n, 1))
    }

    @Test("a two-colour ramp narrowed to 60 %: less curvature with the prior than without, the bars' edges as sharp")
    func rampKeepsItsSmoothness() throws {
        let network = try NetworkFixtures.network(deepestTap: .relu5_1)
        // A 96×64 ramp (red rising, green falling) with three dark bars on its right, whose edges must stay.
        let image = Tensor(channels: 3, height: 64, width: 96)
        for y in 0..<64 {
            for x in 0..<96 {
                let bar = x >= 70 && (x - 70) % 9 < 3
                image.plane(0)[y * 96 + x] = bar ? 0.1 : 0.15 + 0.7 * Float(x) / 95
                image.plane(1)[y * 96 + x] = bar ? 0.1 : 0.85 - 0.7 * Float(x) / 95
                image.plane(2)[y * 96 + x] = bar ? 0.1 : 0.5
            }
        }
        var results: [Double: Tensor] = [:]
        for delta in [0.0, 100.0] {
            var options = DeepResizeOptions()
            options.weights.delta = delta
            results[delta] = try DeepResizer.resize(rgb: image, width: 58, height: 64, options: options, network: network).image
        }
        let without = try #require(results[0]), with = try #require(results[100])
        // The ramp's part (the bars land in the right third).
        let ramp = 2..<30
        // Measured: 0.10 grey levels with the prior, 0.44 without; the bars' largest step 0.724 and 0.721.
        let plain = Self.meanCurvature(without, columns: ramp), prior = Self.meanCurvature(with, columns: ramp)
        #expect(prior < 0.7 * plain, "curvature in the ramp: \(prior) with the prior, \(plain) without")
        // The bars' edges: the largest step across a row stays as it was.
        func largestStep(_ t: Tensor) -> Float {
            var m: Float = 0
            for x in 40..<57 { m = max(m, abs(t.plane(0)[32 * 58 + x + 1] - t.plane(0)[32 * 58 + x])) }
            return m
        }
        #expect(largestStep(with) > 0.9 * largestStep(without), "edges: \(largestStep(with)) against \(largestStep(without))")
    }

    @Test("δ ≠ 0 without one smoothness weight per output pixel is refused, not run without the term")
    func deltaNeedsWeights() throws {
        let network = try NetworkFixtures.network(deepestTap: .relu4_1)
        let (h, w) = (32, 40)
        let extractor = try FeatureExtractor(network: network, height: h, width: w, deepestTap: .relu4_1, threads: 1)
        let image = Tensor(channels: 3, height: h, width: w)
        for i in 0..<image.count { image.data[i] = Float(i % 17) / 17 }
        let targets = try extractor.forward(image: image, to: .relu4_1).mapValues { $0.clone() }
        let (mean, std) = DeepLoss.channelStatistics(image)
        for weights in [nil, [Float](repeating: 1, count: h * w - 1)] {
            #expect(throws: FeatureResizeError.self) {
                _ = try DeepObjective(extractor: extractor, targets: targets, inputFeatures: targets, inputMean: mean,
                                      inputStd: std, weights: DeepLossWeights(delta: 100), smoothWeights: weights)
            }
        }
    }
}
