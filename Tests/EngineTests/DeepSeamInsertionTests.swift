import Foundation
import Synchronization
import Testing
@testable import Engine

/// docs/spec.md §3 (seam insertion) for `operator=seam`: seams inserted on a growing axis.

/// The relu4_1 channel mean, row-major, as `targets` gives it to the search.
private func gridMean(_ f: [Tap: Tensor]) -> (a: [Float], width: Int, height: Int) {
    let g = f[.relu4_1]!
    var a: [Float] = []
    for y in 0..<g.height { for x in 0..<g.width { a.append((g[0, y, x] + g[1, y, x]) / 2) } }
    return (a, g.width, g.height)
}

/// Where the columns of a line of `length` come from after inserting before every grid block in
/// `duplicated` (blocks of `s`): nil for an inserted value, else the source index.
private func layout(length: Int, blockSize s: Int, duplicated: Set<Int>) -> [Int?] {
    var out: [Int?] = []
    for x in 0..<length {
        if x % s == 0, duplicated.contains(x / s) { out += [Int?](repeating: nil, count: s) }
        out.append(x)
    }
    return out
}

@Suite("Deep: seam insertion on a growing axis")
struct DeepSeamInsertionTests {
    /// A zero band of k + 2 grid columns in a textured grid: the k cheapest seams run down its interior
    /// columns, so every layer gets s′ new columns before each of those blocks (all rows, including the
    /// rows past s′·H8) and keeps every source column, in order. 321×299 → 401×299: the columns past the
    /// grid agree at every layer, so no layer needs the linear correction and the content is exact.
    @Test("a zero-energy band gets the new columns, everything else is kept; 321×299 → 401×299 exact")
    func widthBand() throws {
        let w8 = 40, k = 10, b = 6
        let (height, width, outWidth) = (299, 321, 401)
        let f = features(height: height, width: width) { y, x in (b..<(b + k + 2)).contains(x) ? 0 : texture(y, x) }
        let out = try FeatureResize.targets(for: f, operator: .seam, mask: nil, outputHeight: height, outputWidth: outWidth)
        let band = Set((b + 1)...(b + k))
        for tap in featureTaps {
            let s = 8 / tap.stride
            let src = f[tap]!, got = out[tap]!
            #expect(got.height == height / tap.stride && got.width == outWidth / tap.stride, "\(tap)")
            guard got.width == outWidth / tap.stride, got.height == src.height else { continue }
            let origin = layout(length: src.width, blockSize: s, duplicated: band)
            #expect(origin.count == got.width && w8 * s <= src.width)
            var keptOK = true, averagedOK = true
            for c in 0..<2 { for y in 0..<got.height { for (p, from) in origin.enumerated() {
                if let from {
                    keptOK = keptOK && got[c, y, p] == src[c, y, from]
                } else {
                    averagedOK = averagedOK && got[c, y, p] == 0.5 * (got[c, y, p - s] + got[c, y, p + s])
                }
            } } }
            #expect(keptOK, "\(tap): a source column changed or moved")
            #expect(averagedOK, "\(tap): an inserted column is not the average of its neighbouring blocks")
        }
    }

    @Test("a zero-energy band of rows gets the new rows (height only, odd size)")
    func heightBand() throws {
        let k = 3, r = 2
        let (height, width) = (8 * 10 + 7, 8 * 7 + 1)
        let outHeight = height + 8 * k
        let f = features(height: height, width: width) { y, x in (r..<(r + k + 2)).contains(y) ? 0 : texture(y, x) }
        let out = try FeatureResize.targets(for: f, operator: .seam, mask: nil, outputHeight: outHeight, outputWidth: width)
        for tap in featureTaps {
            let s = 8 / tap.stride
            let src = f[tap]!, got = out[tap]!
            #expect(got.height == outHeight / tap.stride && got.width == width / tap.stride, "\(tap)")
            guard got.height == outHeight / tap.stride, got.width == src.width else { continue }
            let origin = layout(length: src.height, blockSize: s, duplicated: Set((r + 1)...(r + k)))
            var ok = true
            for c in 0..<2 { for x in 0..<got.width { for (p, from) in origin.enumerated() {
                let expected = from.map { src[c, $0, x] } ?? 0.5 * (got[c, p - s, x] + got[c, p + s, x])
                ok = ok && got[c, p, x] == expected
            } } }
            #expect(ok, "\(tap)")
        }
    }

    /// The layer expansion on its own: new block = average of its neighbouring blocks, column by column;
    /// a duplicated first block is copied; columns (rows) past the grid are never duplicated.
    @Test("insertColumns / insertRows: new blocks average their neighbours, block 0 is copied, tails kept")
    func expansionRule() {
        let s = 2
        // Grid 2 × 3; layer 5 × 7 (one row and one column past the grid). Round: cells (0,0), (1,2).
        let round = SeamRemoval(width: 3, height: 2, direction: .vertical, seams: [[0, 2]],
                                removed: [true, false, false, false, false, true])
        let f = Tensor(channels: 1, height: 5, width: 7, values: (0..<35).map { Float($0 * $0 % 17) })
        let g = FeatureResize.insertColumns(f, insertion: SeamInsertion(rounds: [round]), blockSize: s)
        #expect(g.width == 9 && g.height == 5)
        for y in 0..<5 {
            let row = (0..<7).map { f[0, y, $0] }
            let out = (0..<9).map { g[0, y, $0] }
            if y < 2 {  // grid row 0: block 0 duplicated (a copy of itself)
                #expect(out == [row[0], row[1]] + row)
            } else {    // grid row 1 and the row past the grid (it follows the last grid row): block 2
                let new = [0.5 * (row[2] + row[4]), 0.5 * (row[3] + row[5])]
                #expect(out == Array(row[0..<4]) + new + Array(row[4...]))
            }
        }
        // Rows: grid 3 × 2 (h × w); cell (1, 0) and (2, 1) duplicated; layer 7 × 5.
        let rows = SeamRemoval(width: 2, height: 3, direction: .horizontal, seams: [[1, 2]],
                               removed: [false, false, true, false, false, true])
        let h = FeatureResize.insertRows(f.transposedForTest(), insertion: SeamInsertion(rounds: [rows]), blockSize: s)
        #expect(h.height == 9 && h.width == 5)
        for x in 0..<5 {
            let column = (0..<7).map { f[0, x, $0] }  // the transposed tensor's column x
            let out = (0..<9).map { h[0, $0, x] }
            if x < 2 {
                let new = [0.5 * (column[0] + column[2]), 0.5 * (column[1] + column[3])]
                #expect(out == Array(column[0..<2]) + new + Array(column[2...]))
            } else {
                let new = [0.5 * (column[2] + column[4]), 0.5 * (column[3] + column[5])]
                #expect(out == Array(column[0..<4]) + new + Array(column[4...]))
            }
        }
    }

    /// The mask (as the 1000 × penalty) keeps the seams out of the protected cells — also in the height
    /// pass after a width insertion, where the copies of cells inherit their mask.
    @Test("protected cells are never the duplicated ones while unprotected cells are available")
    func maskProtects() throws {
        let (w, h) = (20, 14)
        // A zero-energy (cheapest) object in columns 5…12, rows 3…10, textured elsewhere; the mask covers it.
        let inBand = { (y: Int, x: Int) in (5...12).contains(x) && (3...10).contains(y) }
        let a = (0..<(w * h)).map { inBand($0 / w, $0 % w) ? Float(0) : texture($0 / w, $0 % w) }
        let mask = (0..<(w * h)).map { inBand($0 / w, $0 % w) }
        let free = try SeamSearch.featureSeams(meanActivation: a, mask: [Bool](repeating: false, count: w * h),
                                               width: w, height: h, targetWidth: w + 5, targetHeight: h + 3)
        // Without protection the seams take the band (so the check below can fail).
        let freeWidth = try #require(free.widthInsertion)
        #expect(zip(freeWidth.rounds[0].removed, mask).contains { $0 && $1 })
        let freeHeight = try #require(free.heightInsertion)
        let freeWideMask = try freeWidth.rounds[0].inserting(mask) { cell, _ in cell }
        #expect(zip(freeHeight.rounds[0].removed, freeWideMask).contains { $0 && $1 })
        let plan = try SeamSearch.featureSeams(meanActivation: a, mask: mask, width: w, height: h,
                                               targetWidth: w + 5, targetHeight: h + 3)
        let width = try #require(plan.widthInsertion)
        #expect(width.rounds.map(\.seams.count) == [5])
        #expect(!zip(width.rounds[0].removed, mask).contains { $0 && $1 })
        // The mask on the widened grid: copies of protected cells are protected.
        let wideMask = try width.rounds[0].inserting(mask) { cell, _ in cell }
        let height = try #require(plan.heightInsertion)
        #expect(height.width == w + 5 && height.height == h && height.finalHeight == h + 3)
        #expect(height.rounds.map(\.seams.count) == [3])
        #expect(!zip(height.rounds[0].removed, wideMask).contains { $0 && $1 })
        #expect(plan.width == nil && plan.height == nil)
    }

    /// Vertical seams must cross a protected band of whole rows, so protected cells get duplicated there:
    /// their copies stay protected (the height pass after a width insertion sees the band whole), and the
    /// grown field's new cells are the averages of their neighbours.
    @Test("insertSeams grows the field by averages and the penalty by copying the duplicated cell")
    func insertSeamsCarriesPenalty() throws {
        let (w, h, k) = (10, 6, 4)
        let source = (0..<(w * h)).map { Double(texture($0 / w, $0 % w)) }
        var field = source
        var penalty = (0..<(w * h)).map { (2...3).contains($0 / w) ? SeamSearch.featureMaskPenalty : 0 }
        let insertion = try SeamSearch.insertSeams(into: &field, penalty: &penalty, width: w, height: h, count: k,
                                                   rule: .featureSpec, direction: .vertical)
        #expect(insertion.rounds.count == 1 && insertion.finalWidth == w + k)
        #expect(field.count == (w + k) * h && penalty.count == (w + k) * h)
        let ow = w + k
        for y in 0..<h {
            #expect(penalty[(y * ow)..<((y + 1) * ow)].allSatisfy { $0 == ((2...3).contains(y) ? 1000 : 0) }, "row \(y)")
            let duplicated = Set((0..<w).filter { insertion.rounds[0].removed[y * w + $0] })
            #expect(duplicated.count == k)
            for (p, from) in layout(length: w, blockSize: 1, duplicated: duplicated).enumerated() {
                let got = field[y * ow + p]
                if let from {
                    #expect(got == source[y * w + from])
                } else {
                    let left = p > 0 ? field[y * ow + p - 1] : field[y * ow + p + 1]
                    #expect(got == (left + field[y * ow + p + 1]) / 2, "row \(y) column \(p)")
                }
            }
        }
    }

    @Test("insertSeams with a search already run on the field: the same insertion, in one round or several; another field's is ignored")
    func insertSeamsReusesASearch() throws {
        let (w, h) = (23, 17)
        let source = (0..<(w * h)).map { Double(texture($0 / w, $0 % w)) }
        let penalty = (0..<(w * h)).map { (5...8).contains($0 % w) && (4...9).contains($0 / w) ? SeamSearch.featureMaskPenalty : 0 }
        for direction in [SeamDirection.vertical, .horizontal] {
            let size = direction == .vertical ? w : h
            let searched = try SeamSearch.removeSeams(from: source, width: w, height: h, penalty: penalty, count: size - 1,
                                                      rule: .pixelForward, direction: direction)
            // One round (k ≤ half the size) and three (k > the size).
            for count in [size / 3, size + 4] {
                var (plainField, plainPenalty) = (source, penalty)
                let plain = try SeamSearch.insertSeams(into: &plainField, penalty: &plainPenalty, width: w, height: h,
                                                       count: count, rule: .pixelForward, direction: direction)
                var (field, q) = (source, penalty)
                // A searched round reports no seams (nothing is searched): the progress shows the reuse.
                let reports = Mutex(0)
                let counting = RunContext(report: { _ in reports.withLock { $0 += 1 } })
                let reused = try SeamSearch.insertSeams(into: &field, penalty: &q, width: w, height: h, count: count,
                                                        rule: .pixelForward, direction: direction, searched: searched,
                                                        context: counting)
                #expect(reused == plain && field == plainField && q == plainPenalty, "\(direction), \(count) seams")
                #expect(count <= size / 2 || plain.rounds.count > 1)
                let firstRound = plain.rounds[0].seams.count
                #expect(reports.withLock { $0 } <= count - firstRound, "\(direction), \(count) seams: the first round searched again")
            }
            // A search of another field (the transposed size) is not used: the result is still the plain one.
            let other = try SeamSearch.removeSeams(from: source, width: h, height: w, penalty: nil, count: 3,
                                                   rule: .pixelForward, direction: direction)
            var (a, pa) = (source, penalty), (b, pb) = (source, penalty)
            let plain = try SeamSearch.insertSeams(into: &a, penalty: &pa, width: w, height: h, count: 3,
                                                   rule: .pixelForward, direction: direction)
            let ignored = try SeamSearch.insertSeams(into: &b, penalty: &pb, width: w, height: h, count: 3,
                                                     rule: .pixelForward, direction: direction, searched: other)
            #expect(ignored == plain)
        }
    }

    @Test("inserting grows companion planes: each new cell from the duplicated cell and its left/upper neighbour")
    func insertingCompanionPlanes() throws {
        let (w, h) = (4, 3)
        let index = Array(0..<(w * h))
        // Vertical seam through columns 0, 1, 3; horizontal seam through rows 2, 0, 1, 1.
        let v = SeamRemoval(width: w, height: h, direction: .vertical, seams: [[0, 1, 3]],
                            removed: index.map { [0, 5, 11].contains($0) })
        #expect(try v.inserting(index) { c, n in c * 100 + n } == [0, 0, 1, 2, 3,
                                                                    4, 504, 5, 6, 7,
                                                                    8, 9, 10, 1110, 11])
        let hz = SeamRemoval(width: w, height: h, direction: .horizontal, seams: [[2, 0, 1, 1]],
                             removed: index.map { [8, 1, 6, 7].contains($0) })
        #expect(try hz.inserting(index) { c, n in c * 100 + n } == [0, 101, 2, 3,
                                                                     4, 1, 602, 703,
                                                                     804, 5, 6, 7,
                                                                     8, 9, 10, 11])
        #expect(throws: SeamSearchError.self) { try v.inserting([1, 2]) { c, _ in c } }
    }

    /// 2.5 × growth on both axes: rounds of at most half the current size (10 → 15 → 23 → 25 columns,
    /// 6 → 9 → 13 → 14 rows), each searched on the grid grown by the ones before; the source is kept.
    @Test("growth beyond 2× takes rounds; every layer gets its exact size and keeps the source")
    func rounds() throws {
        let (height, width, outHeight, outWidth) = (53, 83, 117, 203)
        let f = features(height: height, width: width) { y, x in texture(y, x) }
        let (a, w8, h8) = gridMean(f)
        #expect(w8 == 10 && h8 == 6)
        let plan = try SeamSearch.featureSeams(meanActivation: a, mask: [Bool](repeating: false, count: a.count),
                                               width: w8, height: h8, targetWidth: 25, targetHeight: 14)
        let widthPlan = try #require(plan.widthInsertion)
        #expect(widthPlan.rounds.map(\.seams.count) == [5, 8, 2])
        #expect(widthPlan.rounds.map(\.width) == [10, 15, 23] && widthPlan.finalWidth == 25)
        let heightPlan = try #require(plan.heightInsertion)
        #expect(heightPlan.rounds.map(\.seams.count) == [3, 4, 1])
        #expect(heightPlan.rounds.map(\.height) == [6, 9, 13] && heightPlan.rounds.allSatisfy { $0.width == 25 })
        let out = try FeatureResize.targets(for: f, operator: .seam, mask: nil, outputHeight: outHeight, outputWidth: outWidth)
        for tap in featureTaps {
            let t = out[tap]!
            #expect(t.height == outHeight / tap.stride && t.width == outWidth / tap.stride, "\(tap)")
        }
        // relu4_1 (no columns or rows past the grid) is the grid grown round by round, the new cells the
        // average of their neighbours: the layer expansion at s′ = 1 agrees with the grid's own insertion.
        var grown = (0..<(w8 * h8)).map { f[.relu4_1]![0, $0 / w8, $0 % w8] }
        for r in widthPlan.rounds + heightPlan.rounds { grown = try r.inserting(grown) { ($0 + $1) / 2 } }
        #expect(out[.relu4_1]!.toArray() == grown + grown)  // two equal channels
    }

    @Test("mixed: shrink the width and grow the height, and the reverse (odd sizes, every layer exact)")
    func mixed() throws {
        let f = features(height: 171, width: 245) { y, x in texture(y, x) }  // grid 30 × 21
        for (w, h) in [(151, 299), (401, 97), (245, 401), (130, 171)] {
            let out = try FeatureResize.targets(for: f, operator: .seam, mask: nil, outputHeight: h, outputWidth: w)
            for tap in featureTaps {
                let t = out[tap]!
                #expect(t.height == h / tap.stride && t.width == w / tap.stride, "\(tap) \(w)x\(h)")
                #expect(t.toArray().allSatisfy { $0.isFinite })
            }
        }
        let (a, w8, h8) = gridMean(f)
        let none = [Bool](repeating: false, count: a.count)
        // Width shrinks, height grows: the height insertion runs on the carved grid.
        let p1 = try SeamSearch.featureSeams(meanActivation: a, mask: none, width: w8, height: h8,
                                             targetWidth: 18, targetHeight: 37)
        #expect(p1.width?.remainingWidth == 18 && p1.widthInsertion == nil && p1.height == nil)
        #expect(p1.heightInsertion?.width == 18 && p1.heightInsertion?.finalHeight == 37)
        // Width grows, height shrinks: the height removal runs on the widened grid.
        let p2 = try SeamSearch.featureSeams(meanActivation: a, mask: none, width: w8, height: h8,
                                             targetWidth: 50, targetHeight: 12)
        #expect(p2.widthInsertion?.finalWidth == 50 && p2.width == nil && p2.heightInsertion == nil)
        #expect(p2.height?.width == 50 && p2.height?.remainingHeight == 12)
    }

    /// Through the whole method on the real weights: a tiny enlargement with `operator=seam` lowers L and
    /// has the requested size.
    @Test("deep resize 48×32 → 72×40 with operator=seam: L decreases, size right (real weights)")
    func endToEnd() throws {
        let network = try NetworkFixtures.network(deepestTap: .relu5_1)
        // A dark disc on a smooth gradient.
        let (w, h) = (48, 32)
        var values = [Float](repeating: 0, count: 3 * w * h)
        for y in 0..<h { for x in 0..<w {
            let inDisc = (x - 30) * (x - 30) + (y - 16) * (y - 16) < 64
            for c in 0..<3 {
                values[c * w * h + y * w + x] = inDisc ? 0.1 + 0.2 * Float(c) : 0.3 + 0.5 * Float(x) / Float(w) + texture(y, x + c) * 0.05
            }
        } }
        let input = Tensor(channels: 3, height: h, width: w, values: values)
        let out = try DeepResizer.resize(rgb: input, width: 72, height: 40,
                                         options: DeepResizeOptions(featureOperator: .seam, iterations: 8),
                                         network: network)
        #expect(out.image.width == 72 && out.image.height == 40)
        #expect(out.report.finalClamped.total < out.report.initial.total,
                "L \(out.report.initial.total) → \(out.report.finalClamped.total)")
        #expect(out.image.toArray().allSatisfy { $0 >= 0 && $0 <= 1 })
    }
}

extension Tensor {
    /// Rows and columns swapped (channel by channel).
    fileprivate func transposedForTest() -> Tensor {
        let t = Tensor(channels: channels, height: width, width: height)
        for c in 0..<channels { for y in 0..<height { for x in 0..<width { t[c, x, y] = self[c, y, x] } } }
        return t
    }
}
