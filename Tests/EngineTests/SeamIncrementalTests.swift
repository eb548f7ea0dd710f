import Testing
import Foundation
@testable import Engine

/// The incremental cost update must find exactly the seams a full recomputation finds.
@Suite struct SeamIncrementalTests {
    /// Smooth gradients plus a few sharp edges and flat patches (where ties and long propagation happen).
    static func photoLikeField(width: Int, height: Int, seed: UInt32, levels: Int) -> [Double] {
        var rng = SeamLCG(state: seed)
        var a = [Double](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let phase: Double = Double(x) / 7 + Double(y) / 11
                let wave: Double = 40 * (1 + sin(phase))
                let edge = (x + y / 3) % 17 < 3 ? 90.0 : 0
                let flat = (x / 9 + y / 6) % 4 == 0
                let noise = Double((rng.next() >> 8) % UInt32(levels))
                a[y * width + x] = flat ? 50 : (wave + edge + noise).rounded(.down)
            }
        }
        return a
    }

    static func seams<S: BinaryFloatingPoint>(_: S.Type, field: [Double], penalty: [Double]?, weight: [Double]? = nil,
                                              width: Int, height: Int, count: Int, gradient: Bool,
                                              incremental: Bool) -> [[Int]] {
        let grid = ForwardSeamGrid<S>(width: width, height: height, addsGradientEnergy: gradient,
                                      hasPenalty: penalty != nil, hasWeight: weight != nil,
                                      incremental: incremental) { a, p, q in
            for i in field.indices { a[i] = S(field[i]) }
            if let p, let penalty { for i in penalty.indices { p[i] = S(penalty[i]) } }
            if let q, let weight { for i in weight.indices { q[i] = S(weight[i]) } }
        }
        return (0..<count).map { _ in
            var path = [Int](repeating: 0, count: height)
            grid.removeCheapestSeam { y, x in path[y] = x }
            return path
        }
    }

    @Test(arguments: [(UInt32(1), 2), (2, 3), (3, 40), (4, 1)])
    func incrementalFindsTheSameSeamsAsFullRecomputation(seed: UInt32, levels: Int) {
        let (w, h) = (61, 37)
        let field = Self.photoLikeField(width: w, height: h, seed: seed, levels: levels)
        var penalty = [Double](repeating: 0, count: w * h)
        for y in 10..<20 { for x in 25..<33 { penalty[y * w + x] = 1000 } }
        // A weight that varies smoothly and by blocks, as the tear-aware search's 1 + coherence does.
        let weight = (0..<(w * h)).map { 1 + 0.5 * (1 + sin(Double($0 % w) / 5)) * Double(($0 / w / 8) % 2) }
        for gradient in [false, true] {
            for pen in [nil, penalty] {
                for wt in [nil, weight] {
                    let what = "gradient \(gradient), penalty \(pen != nil), weight \(wt != nil)"
                    let full = Self.seams(Float.self, field: field, penalty: pen, weight: wt, width: w, height: h,
                                          count: 45, gradient: gradient, incremental: false)
                    let fast = Self.seams(Float.self, field: field, penalty: pen, weight: wt, width: w, height: h,
                                          count: 45, gradient: gradient, incremental: true)
                    #expect(full == fast, "Float, \(what)")
                    let fullD = Self.seams(Double.self, field: field.map { $0 / 255 }, penalty: pen, weight: wt,
                                           width: w, height: h, count: 45, gradient: gradient, incremental: false)
                    let fastD = Self.seams(Double.self, field: field.map { $0 / 255 }, penalty: pen, weight: wt,
                                           width: w, height: h, count: 45, gradient: gradient, incremental: true)
                    #expect(fullD == fastD, "Double, \(what)")
                }
            }
        }
    }

    @Test func removingEveryColumnIncrementally() {
        let field = Self.photoLikeField(width: 9, height: 6, seed: 5, levels: 3)
        let full = Self.seams(Float.self, field: field, penalty: nil, width: 9, height: 6, count: 9, gradient: false,
                              incremental: false)
        let fast = Self.seams(Float.self, field: field, penalty: nil, width: 9, height: 6, count: 9, gradient: false,
                              incremental: true)
        #expect(full == fast)
    }
}
