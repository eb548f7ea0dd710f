import Foundation
import Testing
@testable import Engine

/// `t` restricted to rows and columns where `keepRow` / `keepColumn` hold.
private func restricted(_ t: Tensor, keepRow: (Int) -> Bool, keepColumn: (Int) -> Bool) -> [Float] {
    var out: [Float] = []
    for c in 0..<t.channels { for y in 0..<t.height where keepRow(y) { for x in 0..<t.width where keepColumn(x) {
        out.append(t[c, y, x])
    } } }
    return out
}

@Suite("Deep: feature resizing")
struct DeepFeatureResizeTests {
    @Test("linear = torch bilinear, antialiased, half-pixel (odd sizes, shrink and enlarge)")
    func linearMatchesTorch() {
        for f in torchBilinear {
            let out = FeatureResize.linear(formulaInput(channels: f.c, height: f.h, width: f.w), height: f.oh, width: f.ow)
            let expected = f.expected.split(separator: " ").map { Float($0)! }
            #expect(out.count == expected.count)
            var worst: Float = 0
            for i in 0..<min(out.count, expected.count) { worst = max(worst, abs(out.data[i] - expected[i])) }
            #expect(worst < 1e-5, "\(f.w)x\(f.h) → \(f.ow)x\(f.oh): max |Δ| = \(worst)")
        }
    }

    @Test("linear to the same size is the identity; shrinking averages (a constant stays constant)")
    func linearIdentityAndConstant() {
        let t = formulaInput(channels: 3, height: 11, width: 7)
        #expect(FeatureResize.linear(t, height: 11, width: 7).toArray() == t.toArray())
        let c = Tensor(channels: 1, height: 40, width: 33)
        c.fill(0.25)
        for (h, w) in [(7, 5), (40, 90), (3, 33)] {
            #expect(FeatureResize.linear(c, height: h, width: w).toArray().allSatisfy { abs($0 - 0.25) < 1e-6 })
        }
    }

    /// A zero band of k + 2 grid columns in a textured relu4_1 grid: the k seams run straight down its
    /// interior columns, so every layer loses exactly those blocks, including the rows past s′·H8 (they
    /// follow the last grid row), and keeps the columns past s′·W8.
    @Test("seam: a zero-energy band of columns is removed exactly at every layer (odd image size)")
    func widthBand() throws {
        let h8 = 6, w8 = 12, k = 3, b = 4
        let height = 8 * h8 + 5, width = 8 * w8 + 3  // odd: rows and columns past the grid
        let f = features(height: height, width: width) { y, x in (b..<(b + k + 2)).contains(x) ? 0 : texture(y, x) }
        let out = try FeatureResize.targets(for: f, operator: .seam, mask: nil, outputHeight: height,
                                            outputWidth: width - 8 * k)
        for tap in featureTaps {
            let s = 8 / tap.stride
            let src = f[tap]!, got = out[tap]!
            #expect(got.height == (height / tap.stride) && got.width == (width - 8 * k) / tap.stride, "\(tap)")
            let removedColumn = { (x: Int) in x < s * w8 && ((b + 1)...(b + k)).contains(x / s) }
            let expected = restricted(src, keepRow: { _ in true }, keepColumn: { !removedColumn($0) })
            #expect(got.toArray() == expected, "\(tap)")
        }
    }

    @Test("seam: a zero-energy band of rows is removed exactly at every layer (height only)")
    func heightBand() throws {
        let h8 = 10, w8 = 7, k = 2, r = 3
        let height = 8 * h8 + 7, width = 8 * w8 + 1
        let f = features(height: height, width: width) { y, x in (r..<(r + k + 2)).contains(y) ? 0 : texture(y, x) }
        let out = try FeatureResize.targets(for: f, operator: .seam, mask: nil, outputHeight: height - 8 * k,
                                            outputWidth: width)
        for tap in featureTaps {
            let s = 8 / tap.stride
            let src = f[tap]!, got = out[tap]!
            #expect(got.height == (height - 8 * k) / tap.stride && got.width == width / tap.stride, "\(tap)")
            let removedRow = { (y: Int) in y < s * h8 && ((r + 1)...(r + k)).contains(y / s) }
            let expected = restricted(src, keepRow: { !removedRow($0) }, keepColumn: { _ in true })
            #expect(got.toArray() == expected, "\(tap)")
        }
    }

    @Test("a protected band is not carved: the seams go elsewhere")
    func maskProtects() throws {
        let h8 = 6, w8 = 12, k = 2, b = 4
        let height = 8 * h8, width = 8 * w8
        let f = features(height: height, width: width) { y, x in (b..<(b + k + 2)).contains(x) ? 0 : texture(y, x) }
        // Mask (stride 16) covering the band's grid columns 4…7 → mask columns 2…3, all rows.
        let mask = SemanticMask(width: w8 / 2, height: h8 / 2,
                                cells: (0..<(w8 / 2 * h8 / 2)).map { [2, 3].contains($0 % (w8 / 2)) })
        let out = try FeatureResize.targets(for: f, operator: .seam, mask: mask, outputHeight: height, outputWidth: width - 8 * k)
        // relu1_1 columns of grid columns 4…7 (pixels 32…63) all survive.
        let got = out[.relu1_1]!
        var kept = Set<Int>()
        for x in 0..<got.width { kept.insert(Int(got[0, 0, x]) % 400) }
        #expect((32..<64).allSatisfy { kept.contains($0) })
    }

    @Test("odd targets follow the floor rule: 640×480 → 401×299, both operators, shrink and grow")
    func oddTargets() throws {
        let f = features(height: 480, width: 640) { y, x in texture(y, x) }
        for (w, h) in [(401, 299), (700, 301), (401, 520)] {
            for op in FeatureOperator.allCases {
                let out = try FeatureResize.targets(for: f, operator: op, mask: nil, outputHeight: h, outputWidth: w)
                for tap in featureTaps {
                    let t = out[tap]!
                    #expect(t.height == h / tap.stride && t.width == w / tap.stride, "\(op) \(tap) \(w)x\(h)")
                    #expect(t.channels == 2)
                }
            }
        }
    }

    @Test("too small outputs and seam without relu4_1 are errors")
    func errors() {
        let f = features(height: 64, width: 64) { y, x in texture(y, x) }
        #expect(throws: FeatureResizeError.self) {
            _ = try FeatureResize.targets(for: f, operator: .seam, mask: nil, outputHeight: 7, outputWidth: 64)
        }
        var noGrid = f
        noGrid[.relu4_1] = nil
        #expect(throws: FeatureResizeError.self) {
            _ = try FeatureResize.targets(for: noGrid, operator: .seam, mask: nil, outputHeight: 32, outputWidth: 32)
        }
    }
}
