import Testing
import Synchronization
import Engine
import ImageCodecs

/// Random-noise image (every pixel independent), deterministic.
func noiseImage(width: Int, height: Int, channels: Int = 3, seed: UInt32) -> RasterImage {
    var rng = SeamLCG(state: seed)
    let pixels = (0..<(width * height * channels)).map { _ in UInt8(truncatingIfNeeded: rng.next() >> 13) }
    return RasterImage(width: width, height: height, channels: channels, pixels: pixels)
}

func pixel(_ im: RasterImage, _ x: Int, _ y: Int) -> [UInt8] {
    let p = (y * im.width + x) * im.channels
    return Array(im.pixels[p..<(p + im.channels)])
}

/// Flat grey background with a noise-textured object at `object` (x range, y range).
func objectOnFlatBackground(width: Int, height: Int, object: (x: Range<Int>, y: Range<Int>)) -> RasterImage {
    var im = RasterImage(width: width, height: height)
    let texture = noiseImage(width: object.x.count, height: object.y.count, seed: 1234)
    for y in 0..<height {
        for x in 0..<width {
            let p = (y * width + x) * 3
            let value: [UInt8] = object.x.contains(x) && object.y.contains(y)
                ? pixel(texture, x - object.x.lowerBound, y - object.y.lowerBound) : [120, 130, 140]
            im.pixels.replaceSubrange(p..<(p + 3), with: value)
        }
    }
    return im
}

/// Whether `row` is `original` with extra pixels inserted, each the floor-average of its two
/// neighbours in `row` (its right neighbour twice at the left edge).
func isOriginalWithAveragedInsertions(_ row: [[UInt8]], _ original: [[UInt8]]) -> Bool {
    let n = row.count, m = original.count
    // reach[i][j]: the first j output pixels explain the first i original ones.
    var reach = [[Bool]](repeating: [Bool](repeating: false, count: n + 1), count: m + 1)
    reach[0][0] = true
    for j in 0..<n {
        for i in 0...m where reach[i][j] {
            if i < m, row[j] == original[i] { reach[i + 1][j + 1] = true }
            if j + 1 < n {
                let left = j > 0 ? row[j - 1] : row[j + 1]
                let average = zip(left, row[j + 1]).map { UInt8((UInt16($0) + UInt16($1)) / 2) }
                if row[j] == average { reach[i][j + 1] = true }
            }
        }
    }
    return reach[m][n]
}

func rows(_ im: RasterImage) -> [[[UInt8]]] {
    (0..<im.height).map { y in (0..<im.width).map { x in pixel(im, x, y) } }
}

@Suite struct SeamCarvingTests {
    @Test(arguments: [(23, 29), (37, 41), (50, 17), (24, 30), (37, 29), (1, 1), (90, 70), (5, 64)])
    func outputSizeIsExact(width: Int, height: Int) throws {
        let im = noiseImage(width: 37, height: 29, seed: 3)
        let out = try SeamCarving.resize(im, width: width, height: height)
        #expect(out.width == width && out.height == height && out.channels == 3)
        #expect(out.pixels.count == width * height * 3)
    }

    @Test func shrinkingKeepsTheTexturedObjectIntact() throws {
        let object = (x: 30..<44, y: 12..<22)
        let im = objectOnFlatBackground(width: 80, height: 40, object: object)
        let out = try SeamCarving.resize(im, width: 50, height: 28)
        let objectTop = pixel(im, object.x.lowerBound, object.y.lowerBound)
        // The object's top-left pixel is unique (the background is flat grey); find it, then the whole block.
        let hits = (0..<out.height).flatMap { y in (0..<out.width).map { (x: $0, y: y) } }
            .filter { pixel(out, $0.x, $0.y) == objectTop }
        try #require(hits.count == 1)
        let origin = hits[0]
        for dy in 0..<object.y.count {
            for dx in 0..<object.x.count {
                #expect(pixel(out, origin.x + dx, origin.y + dy)
                        == pixel(im, object.x.lowerBound + dx, object.y.lowerBound + dy))
            }
        }
        // Everything else is background.
        let background = out.pixels.count / 3 - object.x.count * object.y.count
        let grey = (0..<out.height).flatMap { y in (0..<out.width).map { pixel(out, $0, y) } }.filter { $0 == [120, 130, 140] }
        #expect(grey.count == background)
    }

    @Test func shrinkingRemovesWholeSeamsInOrder() throws {
        // Every output row is a subsequence of its input row (pixels removed, order kept).
        let im = noiseImage(width: 30, height: 12, seed: 8)
        let out = try SeamCarving.resize(im, width: 21, height: 12)
        for (outRow, inRow) in zip(rows(out), rows(im)) {
            var it = inRow.makeIterator()
            #expect(outRow.allSatisfy { px in while let next = it.next() { if next == px { return true } }; return false })
        }
    }

    @Test func enlargingInsertsAveragesOfNeighbours() throws {
        let im = noiseImage(width: 20, height: 9, seed: 21)
        let wider = try SeamCarving.resize(im, width: 27, height: 9)
        for (outRow, inRow) in zip(rows(wider), rows(im)) {
            #expect(isOriginalWithAveragedInsertions(outRow, inRow))
        }
        // More than half the width goes in rounds of at most half the current width: 20 → 30 → 45 → 47,
        // each round inserting averages of its own input's neighbours.
        let round1 = try SeamCarving.resize(im, width: 30, height: 9)
        let round2 = try SeamCarving.resize(round1, width: 45, height: 9)
        let round3 = try SeamCarving.resize(round2, width: 47, height: 9)
        #expect(try SeamCarving.resize(im, width: 47, height: 9) == round3)
        for (outRow, inRow) in zip(rows(round1), rows(im)) {
            #expect(isOriginalWithAveragedInsertions(outRow, inRow))
        }
        for (outRow, inRow) in zip(rows(round2), rows(round1)) {
            #expect(isOriginalWithAveragedInsertions(outRow, inRow))
        }
        // Height: the same on columns.
        let taller = try SeamCarving.resize(im, width: 20, height: 13)
        let columns = { (i: RasterImage) in (0..<i.width).map { x in (0..<i.height).map { pixel(i, x, $0) } } }
        for (outColumn, inColumn) in zip(columns(taller), columns(im)) {
            #expect(isOriginalWithAveragedInsertions(outColumn, inColumn))
        }
    }

    @Test func enlargingAvoidsTheObject() throws {
        let object = (x: 12..<20, y: 4..<10)
        let im = objectOnFlatBackground(width: 32, height: 14, object: object)
        let out = try SeamCarving.resize(im, width: 40, height: 14)
        // Seams go through the flat background, so the object's rows are copied unchanged.
        for y in object.y {
            let objectRow = object.x.map { pixel(im, $0, y) }
            let outRow = (0..<out.width).map { pixel(out, $0, y) }
            #expect((0...(outRow.count - objectRow.count)).contains { Array(outRow[$0..<($0 + objectRow.count)]) == objectRow })
        }
    }

    @Test func progressIsMonotonicAndReachesTheTotal() throws {
        let log = ProgressLog()
        let im = noiseImage(width: 24, height: 18, seed: 5)
        _ = try SeamCarving.resize(im, width: 19, height: 25, context: RunContext(report: { log.append($0) }))
        let steps = log.steps
        #expect(steps.count == 5 + 7)
        #expect(steps.allSatisfy { $0.total == 12 })
        #expect(steps.map(\.step) == Array(1...12))
        #expect(steps.last?.fraction == 1)
    }

    @Test func cancellationStopsBetweenSeams() {
        let reports = Atomic<Int>(0)
        let context = RunContext(report: { _ in reports.add(1, ordering: .relaxed) },
                                 isCancelled: { reports.load(ordering: .relaxed) >= 3 })
        let im = noiseImage(width: 40, height: 20, seed: 6)
        #expect(throws: OperationCancelled.self) { try SeamCarving.resize(im, width: 20, height: 20, context: context) }
        #expect(reports.load(ordering: .relaxed) == 3)
    }

    @Test func alphaTravelsWithItsPixelAndDoesNotSteerTheSeams() throws {
        let rgb = noiseImage(width: 26, height: 17, seed: 77)
        var rgbaPixels: [UInt8] = []
        var rng = SeamLCG(state: 5)
        for i in 0..<(26 * 17) {
            rgbaPixels += rgb.pixels[(i * 3)..<(i * 3 + 3)]
            rgbaPixels.append(UInt8(truncatingIfNeeded: rng.next() >> 20))
        }
        let rgba = RasterImage(width: 26, height: 17, channels: 4, pixels: rgbaPixels)
        for (w, h) in [(19, 12), (31, 22)] {
            let carvedRGB = try SeamCarving.resize(rgb, width: w, height: h)
            let carvedRGBA = try SeamCarving.resize(rgba, width: w, height: h)
            #expect(carvedRGBA.channels == 4 && carvedRGBA.width == w && carvedRGBA.height == h)
            // Same seams as without alpha: the colour channels are identical.
            let colour = (0..<(w * h)).flatMap { carvedRGBA.pixels[($0 * 4)..<($0 * 4 + 3)] }
            #expect(colour == carvedRGB.pixels)
        }
        // Shrinking keeps each pixel's own alpha: every output RGBA quadruple exists in the input.
        let shrunk = try SeamCarving.resize(rgba, width: 19, height: 12)
        let inputPixels = Set((0..<(26 * 17)).map { Array(rgba.pixels[($0 * 4)..<($0 * 4 + 4)]) })
        #expect((0..<(19 * 12)).allSatisfy { inputPixels.contains(Array(shrunk.pixels[($0 * 4)..<($0 * 4 + 4)])) })
    }

    @Test func invalidTargetSizesThrow() {
        let im = noiseImage(width: 8, height: 8, seed: 1)
        #expect(throws: SeamCarvingError.invalidTargetSize(width: 0, height: 8)) { try SeamCarving.resize(im, width: 0, height: 8) }
        #expect(throws: SeamCarvingError.invalidTargetSize(width: 8, height: -3)) { try SeamCarving.resize(im, width: 8, height: -3) }
        #expect(throws: SeamCarvingError.self) { try SeamCarving.resize(im, width: 1 << 20, height: 8) }
    }
}
