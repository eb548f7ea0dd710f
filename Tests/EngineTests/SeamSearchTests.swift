import Testing
import Engine

/// Deterministic 32-bit LCG, the same in the fixture generator below (Numerical Recipes constants).
struct SeamLCG {
    var state: UInt32
    mutating func next() -> UInt32 {
        state = state &* 1_664_525 &+ 1_013_904_223
        return state
    }
}

/// A random textured field (values 10 … 265) with a flat band of zeros, so the band edges are costly.
func texturedField(width: Int, height: Int, band: Range<Int>, seed: UInt32) -> [Double] {
    var rng = SeamLCG(state: seed)
    var a = [Double](repeating: 0, count: width * height)
    for y in 0..<height {
        for x in 0..<width {
            a[y * width + x] = band.contains(x) ? 0 : Double(10 + (rng.next() >> 8) % 256)
        }
    }
    return a
}

func removedColumns(_ r: SeamRemoval, row y: Int) -> [Int] {
    (0..<r.width).filter { r.isRemoved(row: y, column: $0) }
}

@Suite struct SeamSearchTests {
    @Test(arguments: [SeamEnergyRule.featureSpec, .pixelForward])
    func seamsTakeTheZeroEnergyBand(rule: SeamEnergyRule) throws {
        let (w, h, k) = (24, 16, 5)
        let band = 9..<(9 + k + 2)  // k seams through a flat band of k + 2 columns cost nothing
        let field = texturedField(width: w, height: h, band: band, seed: 7)
        let r = try SeamSearch.removeSeams(from: field, width: w, height: h, count: k, rule: rule)
        #expect(r.seams.count == k)
        for y in 0..<h {
            let cols = removedColumns(r, row: y)
            #expect(cols.count == k)
            #expect(cols.allSatisfy { band.contains($0) }, "row \(y) removed \(cols)")
        }
        // Each seam is connected: consecutive rows differ by at most one column.
        for seam in r.seams {
            #expect(zip(seam, seam.dropFirst()).allSatisfy { abs($0 - $1) <= 1 })
        }
    }

    @Test(arguments: [SeamEnergyRule.featureSpec, .pixelForward])
    func horizontalSeamsTakeTheZeroEnergyBand(rule: SeamEnergyRule) throws {
        // The transposed problem: a flat band of rows.
        let (w, h, k) = (16, 24, 4)
        let band = 5..<(5 + k + 2)
        let columnsFirst = texturedField(width: h, height: w, band: band, seed: 99)
        var field = [Float](repeating: 0, count: w * h)
        for y in 0..<h { for x in 0..<w { field[y * w + x] = Float(columnsFirst[x * h + y]) } }
        let r = try SeamSearch.removeSeams(from: field, width: w, height: h, count: k, rule: rule, direction: .horizontal)
        for x in 0..<w {
            let rows = (0..<h).filter { r.isRemoved(row: $0, column: x) }
            #expect(rows.count == k)
            #expect(rows.allSatisfy { band.contains($0) }, "column \(x) removed rows \(rows)")
        }
        #expect(r.seams.allSatisfy { $0.count == w })
    }

    @Test(arguments: [SeamEnergyRule.featureSpec, .pixelForward])
    func penaltyKeepsSeamsOutOfTheProtectedRegion(rule: SeamEnergyRule) throws {
        let (w, h, k) = (24, 16, 5)
        let band = 9..<16
        let field = texturedField(width: w, height: h, band: band, seed: 7)
        // Protect the flat band (where the seams would go) on rows 3 … 12.
        var penalty = [Double](repeating: 0, count: w * h)
        for y in 3..<13 { for x in band { penalty[y * w + x] = 1000 } }
        let free = try SeamSearch.removeSeams(from: field, width: w, height: h, count: k, rule: rule)
        #expect((3..<13).contains { y in removedColumns(free, row: y).contains { band.contains($0) } })
        let kept = try SeamSearch.removeSeams(from: field, width: w, height: h, penalty: penalty, count: k, rule: rule)
        for y in 0..<h {
            let cols = removedColumns(kept, row: y)
            #expect(cols.count == k)
            #expect(cols.allSatisfy { penalty[y * w + $0] == 0 }, "row \(y) removed protected cells \(cols)")
        }
    }

    @Test func removingEveryColumnAndProgress() throws {
        let field: [Float] = [1, 2, 3, 4, 5, 6]
        let counter = ProgressLog()
        let r = try SeamSearch.removeSeams(from: field, width: 3, height: 2, count: 3, rule: .pixelForward,
                                           context: RunContext(report: { counter.append($0) }))
        #expect(r.removed.allSatisfy { $0 })
        #expect(counter.steps.map(\.step) == [1, 2, 3])
        #expect(counter.steps.allSatisfy { $0.total == 3 })
    }

    @Test func invalidInputsThrowClearErrors() {
        #expect(throws: SeamSearchError.sizeMismatch(what: "field", expected: 6, actual: 5)) {
            try SeamSearch.removeSeams(from: [Double](repeating: 0, count: 5), width: 3, height: 2, count: 1, rule: .featureSpec)
        }
        #expect(throws: SeamSearchError.sizeMismatch(what: "penalty", expected: 6, actual: 2)) {
            try SeamSearch.removeSeams(from: [Double](repeating: 0, count: 6), width: 3, height: 2,
                                       penalty: [0, 0], count: 1, rule: .featureSpec)
        }
        #expect(throws: SeamSearchError.tooManySeams(requested: 4, available: 3)) {
            try SeamSearch.removeSeams(from: [Double](repeating: 0, count: 6), width: 3, height: 2, count: 4, rule: .featureSpec)
        }
        #expect(throws: SeamSearchError.tooManySeams(requested: 3, available: 2)) {
            try SeamSearch.removeSeams(from: [Double](repeating: 0, count: 6), width: 3, height: 2, count: 3,
                                       rule: .featureSpec, direction: .horizontal)
        }
        #expect(throws: SeamSearchError.emptyField(width: 0, height: 2)) {
            try SeamSearch.removeSeams(from: [Double](), width: 0, height: 2, count: 0, rule: .featureSpec)
        }
        #expect(throws: SeamSearchError.nonFiniteValue(what: "field", index: 1)) {
            try SeamSearch.removeSeams(from: [0, .nan, 0, 0] as [Float], width: 2, height: 2, count: 1, rule: .pixelForward)
        }
        #expect(throws: OperationCancelled.self) {
            try SeamSearch.removeSeams(from: [Double](repeating: 0, count: 6), width: 3, height: 2, count: 1,
                                       rule: .featureSpec, context: RunContext(isCancelled: { true }))
        }
    }
}
