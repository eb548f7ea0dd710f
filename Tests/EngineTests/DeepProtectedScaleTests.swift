import Testing
@testable import Engine

/// A 1 × height × width tensor whose value is its column index (a ramp along x).
private func columnRamp(height: Int, width: Int) -> Tensor {
    let t = Tensor(channels: 1, height: height, width: width)
    for y in 0..<height { for x in 0..<width { t[0, y, x] = Float(x) } }
    return t
}

/// A stride-16 mask of `columns` × `rows` cells with the listed mask columns protected on every row.
private func columnMask(columns: Int, rows: Int, protected: Set<Int>) -> SemanticMask {
    SemanticMask(width: columns, height: rows, cells: (0..<(columns * rows)).map { protected.contains($0 % columns) })
}

@Suite("Deep: protected linear scale")
struct DeepProtectedScaleTests {
    @Test("an empty mask is the reference's linear exactly, shrinking and enlarging")
    func emptyMaskIsLinear() {
        let t = formulaInput(channels: 3, height: 37, width: 53)
        let empty = SemanticMask(width: 3, height: 2, cells: [Bool](repeating: false, count: 6))
        for (h, w) in [(20, 31), (37, 80), (60, 17)] {
            let got = FeatureResize.protectedLinear(t, stride: 1, mask: empty, height: h, width: w)
            #expect(got.toArray() == FeatureResize.linear(t, height: h, width: w).toArray(), "\(w)x\(h)")
        }
    }

    /// 64 columns, mask column 1 (pixels 16…31) protected, width to 40: the other 48 columns absorb the
    /// whole change (scale ½), the protected ones keep scale 1 — each output cell there is one input cell.
    @Test("shrinking: protected columns keep scale 1, the rest absorb the change")
    func shrinkKeepsProtectedColumns() {
        let mask = columnMask(columns: 4, rows: 2, protected: [1])
        let out = FeatureResize.protectedLinear(columnRamp(height: 32, width: 64), stride: 1, mask: mask,
                                                height: 32, width: 40)
        #expect(out.width == 40 && out.height == 32)
        for i in 8..<24 { #expect(abs(out[0, 5, i] - Float(i + 8)) < 1e-4, "output column \(i) = \(out[0, 5, i])") }
        // Outside: two input columns per output column, in order.
        for i in 1..<8 { #expect(abs(out[0, 5, i] - Float(2 * i) - 0.5) < 1e-4, "left column \(i) = \(out[0, 5, i])") }
        for i in 24..<39 {
            #expect(abs(out[0, 5, i] - Float(32 + 2 * (i - 24)) - 0.5) < 1e-4, "right column \(i) = \(out[0, 5, i])")
        }
        // The uniform resize squashes the same band to 10 columns.
        let uniform = FeatureResize.linear(columnRamp(height: 32, width: 64), height: 32, width: 40)
        #expect(abs(uniform[0, 5, 15] - uniform[0, 5, 14]) > 1.3)
    }

    @Test("rows are protected the same way (the height axis), and a constant stays constant")
    func rowsAndConstant() {
        // Mask row 2 (pixels 32…47 of 64) protected; height 64 → 48, width kept.
        let mask = SemanticMask(width: 2, height: 4, cells: (0..<8).map { $0 / 2 == 2 })
        let ramp = Tensor(channels: 1, height: 64, width: 32)
        for y in 0..<64 { for x in 0..<32 { ramp[0, y, x] = Float(y) } }
        let out = FeatureResize.protectedLinear(ramp, stride: 1, mask: mask, height: 48, width: 32)
        // Unprotected rows scale (48 − 16) / 48 = ⅔: the band starts at output row 32·⅔ ≈ 21.3.
        for i in 23..<36 { #expect(abs(out[0, i, 3] - out[0, i - 1, 3] - 1) < 1e-4, "row \(i)") }
        let flat = Tensor(channels: 2, height: 64, width: 32)
        flat.fill(0.75)
        let scaled = FeatureResize.protectedLinear(flat, stride: 1, mask: mask, height: 30, width: 50)
        #expect(scaled.toArray().allSatisfy { abs($0 - 0.75) < 1e-6 })
    }

    @Test("enlarging: the protected columns stay at scale 1, the rest grow")
    func enlargeKeepsProtectedColumns() {
        let mask = columnMask(columns: 4, rows: 1, protected: [2])
        let out = FeatureResize.protectedLinear(columnRamp(height: 16, width: 64), stride: 1, mask: mask,
                                                height: 16, width: 96)
        // Unprotected scale (96 − 16) / 48 = 5/3: the band (input 32…47) covers output 53.3…69.3.
        for i in 55..<68 { #expect(abs(out[0, 0, i] - out[0, 0, i - 1] - 1) < 1e-4, "column \(i)") }
        #expect(abs(out[0, 0, 20] - out[0, 0, 19] - 0.6) < 1e-3)
    }

    @Test("the bound: a large mask lets its columns give way rather than crush the rest")
    func bound() {
        // 75 % protected, width halved: the unprotected cells stop at ½ × uniform = ¼.
        let axis = ProtectedAxis(protected: (0..<64).map { $0 >= 16 }, outputCount: 32)
        #expect(abs(axis.unprotectedScale - 0.25) < 1e-12)
        #expect(abs(axis.protectedScale * 48 + 0.25 * 16 - 32) < 1e-9)
        #expect(axis.protectedScale < 1 && axis.protectedScale > 0.5)
        // A small mask: protected at exactly 1.
        let small = ProtectedAxis(protected: (0..<64).map { $0 < 8 }, outputCount: 32)
        #expect(abs(small.protectedScale - 1) < 1e-12)
        #expect(abs(small.unprotectedScale - 24.0 / 56) < 1e-12)
        // The inverse warp is monotone and ends on the input's edges.
        var last = -1.0
        for u in stride(from: 0.0, through: 32, by: 0.25) {
            let x = axis.inputPosition(u)
            #expect(x > last)
            last = x
        }
        #expect(axis.inputPosition(0) == 0 && axis.inputPosition(32) == 64)
    }

    @Test("every layer gets exactly its floor-rule size, and the targets use the mask only for protect")
    func targetsAtEveryLayer() throws {
        var features: [Tap: Tensor] = [:]
        for tap in [Tap.relu1_1, .relu2_1, .relu3_1, .relu4_1] {
            let s = tap.outputSize(height: 200, width: 300)
            features[tap] = columnRamp(height: s.height, width: s.width)
        }
        let mask = columnMask(columns: 300 / 16, rows: 200 / 16, protected: [8, 9, 10])
        let protected = try FeatureResize.targets(for: features, operator: .linear, mask: mask,
                                                  outputHeight: 151, outputWidth: 181)
        let plain = try FeatureResize.targets(for: features, operator: .linear, mask: nil,
                                              outputHeight: 151, outputWidth: 181)
        for (tap, t) in protected {
            #expect(t.width == 181 / tap.stride && t.height == 151 / tap.stride, "\(tap)")
            #expect(t.toArray() != plain[tap]!.toArray(), "\(tap): protection changed nothing")
            #expect(plain[tap]!.toArray() == FeatureResize.linear(features[tap]!, height: 151 / tap.stride,
                                                                   width: 181 / tap.stride).toArray())
        }
    }
}
