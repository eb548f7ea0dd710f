import Foundation
import Testing
@testable import Engine

/// sin(0.37x + 0.61y + 1.3c + phase) + 0.05·((7x + 13y + 5c) mod 11), stored as Float (as
/// Tests/EngineTests/python/deep_loss_fixture.py makes it).
func phasedInput(channels: Int, height: Int, width: Int, phase: Double) -> Tensor {
    let t = Tensor(channels: channels, height: height, width: width)
    for c in 0..<channels { for y in 0..<height { for x in 0..<width {
        let v = sin(0.37 * Double(x) + 0.61 * Double(y) + 1.3 * Double(c) + phase) + 0.05 * Double((x * 7 + y * 13 + c * 5) % 11)
        t[c, y, x] = Float(v)
    } } }
    return t
}

/// A reproducible direction in [−1, 1]ⁿ.
private func direction(_ n: Int, seed: UInt64) -> [Float] {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<n).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Double(state >> 11) / Double(1 << 53)) * 2 - 1
    }
}

/// Central difference of `f` along `v` at `x` vs ⟨gradient, Δx⟩, using the Float points actually
/// evaluated (x ± h·v rounded), so input rounding does not enter. Returns the relative error.
private func directionalCheck(_ x: Tensor, gradient: [Float], seed: UInt64, h: Float = 1e-3,
                              _ f: (Tensor) -> Double) -> Double {
    let v = direction(x.count, seed: seed)
    let plus = x.clone(), minus = x.clone()
    for i in 0..<x.count {
        plus.data[i] = x.data[i] + h * v[i]
        minus.data[i] = x.data[i] - h * v[i]
    }
    var predicted = 0.0
    for i in 0..<x.count { predicted += Double(gradient[i]) * (Double(plus.data[i]) - Double(minus.data[i])) }
    let measured = f(plus) - f(minus)
    return abs(measured - predicted) / max(abs(measured), 1e-12)
}

@Suite("Deep: loss terms")
struct DeepLossTests {
    // Values from deep_loss_fixture.py (numpy, float64 on the float32 inputs).
    @Test("values equal an independent numpy computation")
    func valuesMatchNumpy() {
        let phi = phasedInput(channels: 3, height: 5, width: 7, phase: 0)
        let t = phasedInput(channels: 3, height: 5, width: 7, phase: 0.7)
        let rec = DeepLoss.reconstruction(features: phi, target: t, targetSquaredNorm: t.sumOfSquares())
        #expect(abs(rec / 0.5047361096929728 - 1) < 1e-6, "rec \(rec)")

        let f = phasedInput(channels: 4, height: 6, width: 5, phase: 0.3)
        let fi = phasedInput(channels: 4, height: 9, width: 8, phase: 1.1)
        var p = [Float](repeating: 0, count: 16), scratch = p
        p.withUnsafeMutableBufferPointer { DeepLoss.gram(fi, into: $0.baseAddress!) }
        let pNorm = p.reduce(0.0) { $0 + Double($1) * Double($1) }
        let gram = scratch.withUnsafeMutableBufferPointer { s in
            DeepLoss.gramDistance(features: f, inputGram: p, inputGramSquaredNorm: pNorm, scratch: s.baseAddress!)
        }
        #expect(abs(gram / 0.12351969230504654 - 1) < 1e-5, "gram \(gram)")

        let r = phasedInput(channels: 3, height: 6, width: 7, phase: 0.2)
        let tv = DeepLoss.totalVariation(r)
        #expect(abs(tv / 0.4825593601262843 - 1) < 1e-6, "tv \(tv)")

        let i = phasedInput(channels: 3, height: 9, width: 5, phase: 1.7)
        let (mean, std) = DeepLoss.channelStatistics(i)
        let st = DeepLoss.statistics(r, inputMean: mean, inputStd: std)
        #expect(abs(st / 1.1980927310251994 - 1) < 1e-6, "stats \(st)")
    }

    @Test("reconstruction gradient = central differences")
    func reconstructionGradient() {
        let phi = phasedInput(channels: 3, height: 5, width: 7, phase: 0)
        let t = phasedInput(channels: 3, height: 5, width: 7, phase: 0.7)
        let norm = t.sumOfSquares()
        let g = Tensor(channels: 3, height: 5, width: 7)
        _ = DeepLoss.reconstruction(features: phi, target: t, targetSquaredNorm: norm, scale: 0.25, gradient: g)
        for seed in 1...3 as ClosedRange<UInt64> {
            let err = directionalCheck(phi, gradient: g.toArray(), seed: seed) {
                0.25 * DeepLoss.reconstruction(features: $0, target: t, targetSquaredNorm: norm)
            }
            #expect(err < 1e-4, "relative error \(err)")
        }
    }

    @Test("reconstruction on a large tensor: one Double sum, the same on 1 and 2 threads, gradient k·(Φ − T)")
    func reconstructionLarge() {
        // 4 chunks of the parallel sum (3 full ones of 65,536) and a tail that is not a multiple of 8.
        let phi = phasedInput(channels: 5, height: 211, width: 197, phase: 0.4)
        let t = phasedInput(channels: 5, height: 211, width: 197, phase: 2.3)
        var sum = 0.0
        for i in 0..<phi.count {
            let d = Double(phi.data[i]) - Double(t.data[i])
            sum += d * d
        }
        let norm = t.sumOfSquares()
        let g1 = Tensor(channels: 5, height: 211, width: 197), g2 = Tensor(channels: 5, height: 211, width: 197)
        let one = DeepLoss.reconstruction(features: phi, target: t, targetSquaredNorm: norm, scale: 0.5, gradient: g1, threads: 1)
        let two = DeepLoss.reconstruction(features: phi, target: t, targetSquaredNorm: norm, scale: 0.5, gradient: g2, threads: 2)
        let valueOnly = DeepLoss.reconstruction(features: phi, target: t, targetSquaredNorm: norm, threads: 2)
        #expect(one == two && one == valueOnly)
        #expect(abs(one / (sum / norm) - 1) < 1e-12, "\(one) against \(sum / norm)")
        let k = Float(2 * 0.5 / norm)
        #expect((0..<phi.count).allSatisfy { g1.data[$0] == k * (phi.data[$0] - t.data[$0]) && g2.data[$0] == g1.data[$0] })
    }

    @Test("Gram gradient = central differences (added onto what the buffer holds)")
    func gramGradient() {
        let f = phasedInput(channels: 4, height: 6, width: 5, phase: 0.3)
        let fi = phasedInput(channels: 4, height: 9, width: 8, phase: 1.1)
        var p = [Float](repeating: 0, count: 16)
        var scratch = p
        p.withUnsafeMutableBufferPointer { DeepLoss.gram(fi, into: $0.baseAddress!) }
        let pNorm = p.reduce(0.0) { $0 + Double($1) * Double($1) }
        let value = { (x: Tensor) -> Double in
            scratch.withUnsafeMutableBufferPointer { s in
                DeepLoss.gramDistance(features: x, inputGram: p, inputGramSquaredNorm: pNorm, scratch: s.baseAddress!)
            }
        }
        let g = Tensor(channels: 4, height: 6, width: 5)
        g.fill(0.5)  // the term adds onto the reconstruction gradient already there
        _ = scratch.withUnsafeMutableBufferPointer { s in
            DeepLoss.gramDistance(features: f, inputGram: p, inputGramSquaredNorm: pNorm, scale: 0.05, addGradientTo: g,
                                  scratch: s.baseAddress!)
        }
        let own = g.toArray().map { $0 - 0.5 }
        for seed in 4...6 as ClosedRange<UInt64> {
            let err = directionalCheck(f, gradient: own, seed: seed) { 0.05 * value($0) }
            #expect(err < 1e-3, "relative error \(err)")
        }
    }

    @Test("Gram terms side by side (relu3_1- and relu4_1-shaped): each term's value and gradient as alone, on 1 or 2 threads")
    func gramTermsSideBySide() {
        // Shapes of the two Gram taps at a 96×72 output: 256 × 24·18 and 512 × 12·9.
        let shapes = [(c: 256, h: 18, w: 24), (c: 512, h: 9, w: 12)]
        func terms() -> [DeepLoss.GramTerm] {
            shapes.enumerated().map { i, s in
                let f = phasedInput(channels: s.c, height: s.h, width: s.w, phase: 0.2 + Double(i))
                let input = phasedInput(channels: s.c, height: s.h + 3, width: s.w + 5, phase: 1.7 + Double(i))
                let p = Tensor(channels: 1, height: s.c, width: s.c)
                DeepLoss.gram(input, into: p.data)
                let g = Tensor(channels: s.c, height: s.h, width: s.w)
                g.fill(0.25)
                return DeepLoss.GramTerm(features: f, inputGram: p, inputGramSquaredNorm: p.sumOfSquares(), gradient: g,
                                         scratch: Tensor(channels: 1, height: s.c, width: s.c))
            }
        }
        let one = terms(), two = terms(), alone = terms()
        let v1 = DeepLoss.gramDistances(one, scale: 0.05, threads: 1)
        let v2 = DeepLoss.gramDistances(two, scale: 0.05, threads: 2)
        let v0 = alone.map { t in
            DeepLoss.gramDistance(features: t.features, inputGram: t.inputGram.data, inputGramSquaredNorm: t.inputGramSquaredNorm,
                                  scale: 0.05, addGradientTo: t.gradient, scratch: t.scratch.data)
        }
        #expect(v1 == v0 && v2 == v0)
        #expect(v0.allSatisfy { $0 > 0 })
        for i in shapes.indices {
            #expect(one[i].gradient!.toArray() == alone[i].gradient!.toArray())
            #expect(two[i].gradient!.toArray() == alone[i].gradient!.toArray())
            #expect(alone[i].gradient!.toArray().contains { $0 != 0.25 }, "the term added its gradient")
        }
    }

    @Test("total variation gradient = central differences")
    func tvGradient() {
        let r = phasedInput(channels: 3, height: 6, width: 7, phase: 0.2)
        let g = Tensor(channels: 3, height: 6, width: 7)
        _ = DeepLoss.totalVariation(r, scale: 0.01, addGradientTo: g)
        for seed in 7...9 as ClosedRange<UInt64> {
            let err = directionalCheck(r, gradient: g.toArray(), seed: seed) { 0.01 * DeepLoss.totalVariation($0) }
            #expect(err < 1e-3, "relative error \(err)")
        }
    }

    @Test("curvature prior: gradient = central differences; a ramp and zero weights cost nothing")
    func curvatureGradient() {
        let r = phasedInput(channels: 3, height: 6, width: 7, phase: 0.2)
        let m = (0..<42).map { Float($0 % 5) / 4 }
        let g = Tensor(channels: 3, height: 6, width: 7)
        let v = DeepLoss.curvature(r, weights: m, scale: 50, addGradientTo: g)
        #expect(v > 0)
        for seed in 13...15 as ClosedRange<UInt64> {
            let err = directionalCheck(r, gradient: g.toArray(), seed: seed) { 50 * DeepLoss.curvature($0, weights: m) }
            #expect(err < 1e-3, "relative error \(err)")
        }
        let ramp = Tensor(channels: 3, height: 6, width: 7)
        for c in 0..<3 { for y in 0..<6 { for x in 0..<7 { ramp.plane(c)[y * 7 + x] = 0.1 + 0.03 * Float(x) + 0.02 * Float(y) } } }
        #expect(abs(DeepLoss.curvature(ramp, weights: [Float](repeating: 1, count: 42))) < 1e-12)
        #expect(DeepLoss.curvature(r, weights: [Float](repeating: 0, count: 42)) == 0)
        // By hand: one interior pixel of a 3×3 image, 1 there and 0 around: ∇² = 4, m = ½: ½ · 16 / 27.
        let dot = Tensor(channels: 3, height: 3, width: 3)
        dot.plane(0)[4] = 1
        #expect(abs(DeepLoss.curvature(dot, weights: [Float](repeating: 0.5, count: 9)) - 8.0 / 27) < 1e-12)
        // The defaults: the method's δ, none in the reference's objective or in DeepLossWeights() alone.
        #expect(DeepResizeOptions().weights.delta == DeepResizeOptions.smoothness && DeepResizeOptions.smoothness > 0)
        #expect(DeepResizeOptions.reference().weights.delta == 0 && DeepLossWeights().delta == 0)
    }

    @Test("smooth regions: 1 on a plain gradient, 0 at an edge and beside it")
    func smoothRegionWeights() {
        let t = Tensor(channels: 3, height: 20, width: 30)
        for c in 0..<3 { for y in 0..<20 { for x in 0..<30 { t.plane(c)[y * 30 + x] = (x < 20 ? 0.3 : 0.8) + 0.002 * Float(y) } } }
        let m = SmoothRegions.weights(of: t)
        #expect(m[10 * 30 + 5] > 0.95, "a plain gradient: \(m[10 * 30 + 5])")
        #expect(m[10 * 30 + 19] < 1e-6 && m[10 * 30 + 17] < 1e-6 && m[10 * 30 + 21] < 1e-6, "at and beside the edge")
        #expect(m[10 * 30 + 16] > 0.95 && m[10 * 30 + 22] > 0.95, "two pixels from it, smooth again")
        // σ: a grey ramp of g per pixel along x weighs exp(−3g²/σ²) (the three channels' squares summed).
        let ramp = Tensor(channels: 3, height: 8, width: 8)
        for c in 0..<3 { for y in 0..<8 { for x in 0..<8 { ramp.plane(c)[y * 8 + x] = 0.2 + 0.01 * Float(x) } } }
        let expected = exp(-3 * 0.0001 / (SmoothRegions.sigma * SmoothRegions.sigma))
        #expect(abs(SmoothRegions.weights(of: ramp)[4 * 8 + 3] - expected) < 1e-3, "\(SmoothRegions.weights(of: ramp)[4 * 8 + 3]) vs \(expected)")
    }

    @Test("statistics subgradient = central differences; sign(0) = 0 as torch")
    func statisticsGradient() {
        let r = phasedInput(channels: 3, height: 6, width: 7, phase: 0.2)
        let i = phasedInput(channels: 3, height: 9, width: 5, phase: 1.7)
        let (mean, std) = DeepLoss.channelStatistics(i)
        let g = Tensor(channels: 3, height: 6, width: 7)
        _ = DeepLoss.statistics(r, inputMean: mean, inputStd: std, scale: 0.01, addGradientTo: g)
        for seed in 10...12 as ClosedRange<UInt64> {
            let err = directionalCheck(r, gradient: g.toArray(), seed: seed) {
                0.01 * DeepLoss.statistics($0, inputMean: mean, inputStd: std)
            }
            #expect(err < 1e-3, "relative error \(err)")
        }
        // At R = I both differences are 0: torch's abs backward gives 0 there, so does this.
        let (rm, rs) = DeepLoss.channelStatistics(r)
        let zero = Tensor(channels: 3, height: 6, width: 7)
        let v = DeepLoss.statistics(r, inputMean: rm, inputStd: rs, addGradientTo: zero)
        #expect(v == 0)
        #expect(zero.toArray().allSatisfy { $0 == 0 })
    }
}
