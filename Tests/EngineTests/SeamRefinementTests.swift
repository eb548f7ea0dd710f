import TestSupport
import Testing
@testable import Engine

@Suite("Seams: refined from a coarse grid to one pixel")
struct SeamRefinementTests {
    /// At a level `factor` times coarser than the pixels: texture (random values in [0.5, 1]) everywhere
    /// except a smooth band around the diagonal x = x0 + y/slope (in pixels), where the field is a shallow
    /// V, 0.01 · |x − diagonal|; at the pixel level its one-pixel vertex is the cheapest path.
    private func valley(width: Int, height: Int, x0: Int, slope: Int, factor: Int = 1, seed: UInt64) -> [Double] {
        var rng = SeededRandom(seed: seed)
        var f = [Double](repeating: 0, count: width * height)
        for y in 0..<height {
            let centre = Double(x0 + (y * factor) / slope) / Double(factor)
            for x in 0..<width {
                let d = abs(Double(x) - centre)
                f[y * width + x] = d < 24 / Double(factor) ? 0.01 * d : 0.5 + 0.5 * Double.random(in: 0..<1, using: &rng)
            }
        }
        return f
    }

    @Test("a one-pixel zero-energy diagonal is followed exactly at the finest level, through three levels")
    func followsDiagonal() throws {
        let (w, h) = (96, 64)
        for (x0, slope) in [(30, 2), (40, 3), (24, 1)] {
            // The relu4_1 seam: the coarse cells the diagonal passes through (stride 8).
            let coarse = (0..<(h / 8)).map { (x0 + (8 * $0 + 4) / slope) / 8 }
            var removed = [Bool](repeating: false, count: (w / 8) * (h / 8))
            for (y, x) in coarse.enumerated() { removed[y * (w / 8) + x] = true }
            var parent = SeamRemoval(width: w / 8, height: h / 8, direction: .vertical, seams: [coarse], removed: removed)
            // Refined through strides 4, 2 and 1, one seam each, as the deep operator does from relu4_1.
            for factor in [4, 2, 1] {
                let (lw, lh) = (w / factor, h / factor)
                let f = valley(width: lw, height: lh, x0: x0, slope: slope, factor: factor, seed: UInt64(x0 + factor))
                parent = try SeamRefinement.refine(parent, factor: 2, field: f, penalty: [Double](repeating: 0, count: lw * lh),
                                                   width: lw, height: lh, direction: .vertical, count: 1)
            }
            let expected = (0..<h).map { x0 + $0 / slope }
            #expect(parent.seams == [expected], "slope 1/\(slope): \(parent.seams[0]) vs \(expected)")
        }
    }

    @Test("each coarse seam gives factor fine seams inside its band; the count follows the fine field's size")
    func bandsAndCounts() throws {
        var rng = SeededRandom(seed: 7)
        let (cw, ch) = (20, 12)
        let coarse = (0..<(cw * ch)).map { _ in Double.random(in: 0..<1, using: &rng) }
        let parent = try SeamSearch.removeSeams(from: coarse, width: cw, height: ch, count: 5, rule: .featureSpec)
        for (fw, count) in [(40, 10), (41, 11), (41, 9)] {
            let fine = (0..<(fw * 2 * ch)).map { _ in Double.random(in: 0..<1, using: &rng) }
            let r = try SeamRefinement.refine(parent, factor: 2, field: fine, penalty: [Double](repeating: 0, count: fine.count),
                                              width: fw, height: 2 * ch, direction: .vertical, count: count)
            #expect(r.seams.count == count)
            #expect(r.removed.count { $0 } == count * 2 * ch)
            // Every row loses exactly `count` cells, and the seams stay 8-connected.
            for y in 0..<(2 * ch) { #expect((0..<fw).count { r.removed[y * fw + $0] } == count) }
            // The fine seams of coarse seam j stay within `bandRadius` coarse cells of it, except where the
            // coarse seam's original columns jump and the band is widened just enough to stay connected:
            // never more than one coarse cell further, and inside the band almost everywhere.
            let radius = SeamRefinement.bandRadius
            var inside = 0, cells = 0
            for (i, seam) in r.seams.prefix(2 * parent.seams.count).enumerated() {
                let p = parent.seams[i / 2]
                for (y, x) in seam.enumerated() {
                    let cx = p[min(y / 2, ch - 1)]
                    cells += 1
                    if x >= 2 * (cx - radius) && x <= 2 * (cx + radius + 1) - 1 { inside += 1 }
                    #expect(x >= 2 * (cx - radius - 1) && x <= 2 * (cx + radius + 2) - 1, "seam \(i) row \(y): \(x) far from coarse \(cx)")
                }
            }
            #expect(Double(inside) >= 0.95 * Double(cells), "\(inside) of \(cells) cells inside their band")
        }
    }

    @Test("horizontal seams refine the same way (the transposed search)")
    func horizontal() throws {
        let (w, h) = (64, 96)
        // The valley of `followsDiagonal` transposed: it runs left to right at rows 30 + x/2.
        let tall = valley(width: h, height: w, x0: 30, slope: 2, seed: 3)
        var field = [Double](repeating: 0, count: w * h)
        for y in 0..<h { for x in 0..<w { field[y * w + x] = tall[x * h + y] } }
        let coarse = (0..<(w / 2)).map { (30 + (2 * $0 + 1) / 2) / 2 }
        var removed = [Bool](repeating: false, count: (w / 2) * (h / 2))
        for (x, y) in coarse.enumerated() { removed[y * (w / 2) + x] = true }
        let parent = SeamRemoval(width: w / 2, height: h / 2, direction: .horizontal, seams: [coarse], removed: removed)
        let r = try SeamRefinement.refine(parent, factor: 2, field: field, penalty: [Double](repeating: 0, count: w * h),
                                          width: w, height: h, direction: .horizontal, count: 1)
        #expect(r.seams == [(0..<w).map { 30 + $0 / 2 }])
        #expect(r.removed.count { $0 } == w)
    }
}
