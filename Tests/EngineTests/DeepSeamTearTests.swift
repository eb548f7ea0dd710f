import Glibc
import Testing
@testable import Engine

/// docs/spec.md §3.2, "Seams while they are cheap": a removal keeps its one-pixel seams only until they
/// would tear long edges (`SeamTears`), and the protected scale does the rest of the change.
@Suite("Deep: seams stop before they tear edges")
struct DeepSeamTearTests {
    static let width = 160, height = 96

    /// A deterministic pseudo-random value in 0 ..< 1 for a pixel.
    static func hash(_ x: Int, _ y: Int) -> Float {
        var h = UInt32(truncatingIfNeeded: x &* 73_856_093 ^ y &* 19_349_663)
        h ^= h >> 13
        h = h &* 0x5bd1_e995
        h ^= h >> 15
        return Float(h % 10_000) / 10_000
    }

    /// Bands about 11 pixels wide, falling one pixel in three: long straight edges everywhere (a facade's),
    /// too shallow for a vertical seam to follow (it moves at most one column a row; at 45° and steeper a seam
    /// can run inside one band and thin it without a tear). The edges are soft (a clipped sine), as a
    /// camera's are: hard integer steps would repeat columns that seams could take for free.
    static func bands() -> Tensor {
        greyScene(height: height, width: width) { x, y in band(x, y) }
    }

    static func band(_ x: Int, _ y: Int) -> Float {
        0.5 + 0.3 * max(-1, min(1, 3 * sin(2 * Float.pi * Float(x + 3 * y) / 72)))
    }

    /// Texture with no direction and the bands' contrast: 3 × 3 blobs of random grey (moss seen from above).
    static func blobs() -> Tensor {
        greyScene(height: height, width: width) { x, y in 0.2 + 0.6 * hash(x / 3, y / 3) }
    }

    /// A light background, lightly textured, crossed by a dark line 3 pixels wide from the bottom-left to the
    /// top-right corner (a cable against the sky): every vertical seam has to cross it.
    static func line() -> Tensor {
        line { x, y in 0.75 + 0.04 * hash(x, y) }
    }

    /// The same dark line across `background` (the grey of each pixel off the line).
    static func line(background: (_ x: Int, _ y: Int) -> Float) -> Tensor {
        greyScene(height: height, width: width) { x, y in
            let centre = Float(height - 1) - Float(x) * Float(height - 1) / Float(width - 1)
            return abs(Float(y) - centre) <= 1.5 ? 0.1 : background(x, y)
        }
    }

    static func pixelSeams(_ image: Tensor, count: Int, penalty: [Double]? = nil) throws -> (SeamRemoval, [Double]) {
        let lum = FeatureResize.luminance(image)
        let removal = try SeamSearch.removeSeams(from: lum, width: width, height: height, penalty: penalty, count: count,
                                                 rule: .pixelForward, direction: .vertical)
        return (removal, lum)
    }

    @Test("the replay pays each seam's forward cost exactly: with coherence 1 it gives the search's own costs",
          arguments: [SeamDirection.vertical, .horizontal])
    func replayMatchesTheSearch(direction: SeamDirection) throws {
        for image in [Self.bands(), Self.blobs(), Self.line()] {
            let lum = FeatureResize.luminance(image)
            let removal = try SeamSearch.removeSeams(from: lum, width: Self.width, height: Self.height, count: 40,
                                                     rule: .pixelForward, direction: direction)
            let ones = [Double](repeating: 1, count: lum.count)
            let replayed = SeamTears.weightedCosts(removal, field: lum, coherence: ones, penalty: nil)
            #expect(replayed.count == removal.costs.count)
            for (a, b) in zip(replayed, removal.costs) { #expect(abs(a - b) <= 1e-9 * max(1, abs(b)), "replay \(a), search \(b)") }
            // The prefix is the removal a search for that many seams makes.
            let shorter = try SeamSearch.removeSeams(from: lum, width: Self.width, height: Self.height, count: 15,
                                                     rule: .pixelForward, direction: direction)
            #expect(removal.prefix(15) == shorter)
        }
    }

    @Test("coherence is near 1 along straight bands and low in texture without a direction")
    func coherence() {
        let lumBands = FeatureResize.luminance(Self.bands()), lumBlobs = FeatureResize.luminance(Self.blobs())
        let bands = SeamTears.coherence(lumBands, width: Self.width, height: Self.height)
        let blobs = SeamTears.coherence(lumBlobs, width: Self.width, height: Self.height)
        let mean = { (v: [Double]) in v.reduce(0, +) / Double(v.count) }
        #expect(mean(bands) > 0.9, "bands \(mean(bands))")
        #expect(mean(blobs) < 0.3, "blobs \(mean(blobs))")
    }

    @Test("seams through texture without a direction are all kept; across long edges they stop early")
    func textureKeepsEdgesStop() throws {
        let count = Self.width * 4 / 10
        let (throughBlobs, blobs) = try Self.pixelSeams(Self.blobs(), count: count)
        #expect(SeamTears.cheapSeamCount(throughBlobs, field: blobs, penalty: nil) == count)
        let (acrossBands, bands) = try Self.pixelSeams(Self.bands(), count: count)
        let kept = SeamTears.cheapSeamCount(acrossBands, field: bands, penalty: nil)
        #expect(kept < count / 4, "kept \(kept) of \(count) seams across the bands")
    }

    @Test("seams through a flat margin are free and all kept; a seam that must take a masked pixel is not")
    func flatMarginAndMask() throws {
        // Flat on the left 40 %, bands on the right.
        let image = greyScene(height: Self.height, width: Self.width) { x, y in
            x < Self.width * 4 / 10 ? 0.5 : Self.band(x, y)
        }
        let (removal, lum) = try Self.pixelSeams(image, count: 40)
        #expect(SeamTears.cheapSeamCount(removal, field: lum, penalty: nil) == 40)
        // Everything masked but the first 10 columns: the 11th seam has to take masked pixels.
        let penalty = (0..<(Self.width * Self.height)).map { $0 % Self.width >= 10 ? SeamSearch.featureMaskPenalty : 0 }
        let (guarded, _) = try Self.pixelSeams(image, count: 20, penalty: penalty)
        #expect(SeamTears.cheapSeamCount(guarded, field: lum, penalty: penalty) == 10)
    }

    /// Bands on the left half, fine grain without a direction on the right (sand; per-pixel noise of the
    /// given contrast): at these contrasts the plain forward-energy search finds the bands' seams cheaper,
    /// though each one steps their edges.
    static func bandsBesideSand(contrast: Float) -> Tensor {
        greyScene(height: height, width: width) { x, y in
            x < width / 2 ? band(x, y) : 0.5 + contrast * (hash(x, y) - 0.5)
        }
    }

    @Test("the tear-aware search takes its seams through texture without a direction, and keeps them all",
          arguments: [Float(0.1), 0.15])
    func tearAwareSearch(contrast: Float) throws {
        let lum = FeatureResize.luminance(Self.bandsBesideSand(contrast: contrast))
        let coherence = SeamTears.coherence(lum, width: Self.width, height: Self.height)
        let count = Self.width / 4
        func seams(weight: [Double]?) throws -> (kept: Int, inSand: Double) {
            let r = try SeamSearch.removeSeams(from: lum, width: Self.width, height: Self.height, weight: weight,
                                               count: count, rule: .pixelForward, direction: .vertical)
            let kept = SeamTears.cheapSeamCount(r, field: lum, coherence: coherence, penalty: nil)
            let removed = (0..<lum.count).filter { r.removed[$0] }
            return (kept, Double(removed.count { $0 % Self.width >= Self.width / 2 }) / Double(removed.count))
        }
        let plain = try seams(weight: nil), aware = try seams(weight: SeamTears.searchWeight(coherence: coherence))
        #expect(plain.inSand < 0.5, "the plain search took \(plain.inSand) of its pixels from the sand")
        #expect(plain.kept < count / 2, "the plain search's seams: \(plain.kept) of \(count) kept")
        #expect(aware.inSand > 0.8, "the tear-aware search took \(aware.inSand) of its pixels from the sand")
        #expect(aware.kept == count, "the tear-aware search's seams: \(aware.kept) of \(count) kept")
    }

    @Test("a weight of 1 everywhere is the plain search; a weight that is not positive and finite is refused")
    func unitWeight() throws {
        let lum = FeatureResize.luminance(Self.blobs())
        for direction in [SeamDirection.vertical, .horizontal] {
            let plain = try SeamSearch.removeSeams(from: lum, width: Self.width, height: Self.height, count: 20,
                                                   rule: .pixelForward, direction: direction)
            let ones = try SeamSearch.removeSeams(from: lum, width: Self.width, height: Self.height,
                                                  weight: [Double](repeating: 1, count: lum.count), count: 20,
                                                  rule: .pixelForward, direction: direction)
            #expect(plain == ones)
        }
        for bad in [0.0, -1, .nan, .infinity] {
            var weight = [Double](repeating: 1, count: lum.count)
            weight[77] = bad
            #expect(throws: SeamSearchError.nonPositiveWeight(index: 77)) {
                try SeamSearch.removeSeams(from: lum, width: Self.width, height: Self.height, weight: weight, count: 1,
                                           rule: .pixelForward)
            }
        }
        #expect(throws: SeamSearchError.sizeMismatch(what: "weight", expected: lum.count, actual: 3)) {
            try SeamSearch.removeSeams(from: lum, width: Self.width, height: Self.height, weight: [1, 1, 1], count: 1,
                                       rule: .pixelForward)
        }
    }

    /// Per output row, the mean column of the line's dark pixels (nil where the row has none).
    static func lineColumns(_ image: Tensor) -> [Double?] {
        (0..<image.height).map { y in
            let xs = (0..<image.width).filter { image.plane(0)[y * image.width + $0] < 0.45 }
            return xs.isEmpty ? nil : Double(xs.reduce(0, +)) / Double(xs.count)
        }
    }

    /// How far the line's columns stray from the best straight line through them, at most.
    static func straightness(_ columns: [Double?]) -> Double {
        let points = columns.enumerated().compactMap { y, x in x.map { (Double(y), $0) } }
        let n = Double(points.count)
        let my = points.map(\.0).reduce(0, +) / n, mx = points.map(\.1).reduce(0, +) / n
        let slope = points.map { ($0.0 - my) * ($0.1 - mx) }.reduce(0, +) / points.map { ($0.0 - my) * ($0.0 - my) }.reduce(0, +)
        return points.map { abs($0.1 - (mx + slope * ($0.0 - my))) }.max() ?? 0
    }

    @Test("a line that every seam crosses stays straight: the seams stop, the scale narrows it evenly",
          arguments: [6, 14])
    func lineStaysStraight(tenths: Int) throws {
        let image = Self.line()
        let target = Self.width * tenths / 10
        func start(_ limit: Double?) throws -> (image: Tensor, plans: LayeredSeamPlans) {
            let plans = try FeatureResize.layeredSeamPlans(features: flatFeatures(height: Self.height, width: Self.width), mask: nil,
                                                           image: image, edgeWeight: 1, outputHeight: Self.height,
                                                           outputWidth: target, tearLimit: limit)
            let map = try plans.sourceMap(inputHeight: Self.height, inputWidth: Self.width, outputHeight: Self.height, outputWidth: target)
            return (map.sample(image, stride: 1), plans)
        }
        let stopped = try start(SeamTears.limit), carved = try start(nil)
        #expect(stopped.image.width == target && carved.image.width == target)
        // Removing, the seams stop above the target; inserting, below it.
        #expect(tenths < 10 ? stopped.plans.seamedWidth > target : stopped.plans.seamedWidth < target, "the seams did the whole change")
        #expect(carved.plans.seamedWidth == target)
        let straight = Self.straightness(Self.lineColumns(stopped.image))
        let torn = Self.straightness(Self.lineColumns(carved.image))
        // A pixel and a half, times the enlargement (the dark run a row's mean is taken over widens with it).
        #expect(straight < 1.5 * max(1, Double(tenths) / 10), "the line strays \(straight) px from straight")
        #expect(torn > 2 * straight, "all seams: the line strays \(torn) px (stopped: \(straight))")
    }

    @Test("an axis that shrinks while the other grows is held to the same rule")
    func mixedChange() throws {
        // A dark line falling 1.2 rows per column from (40, 0) to (120, 95): too steep for a horizontal seam
        // to follow, so every one crosses it.
        let image = greyScene(height: Self.height, width: Self.width) { x, y in
            abs(Float(x) - (40 + Float(y) * 80 / Float(Self.height - 1))) <= 1.5 ? 0.1 : 0.75 + 0.04 * Self.hash(x, y)
        }
        let (tw, th) = (Self.width * 14 / 10, Self.height * 6 / 10)
        func plans(_ limit: Double?) throws -> LayeredSeamPlans {
            try FeatureResize.layeredSeamPlans(features: flatFeatures(height: Self.height, width: Self.width), mask: nil,
                                               image: image, edgeWeight: 1, outputHeight: th, outputWidth: tw, tearLimit: limit)
        }
        let stopped = try plans(SeamTears.limit), carved = try plans(nil)
        #expect(stopped.seamedHeight > th, "the rows' seams did the whole change across the line")
        #expect(carved.seamedHeight == th && carved.seamedWidth == tw)
        let map = try stopped.sourceMap(inputHeight: Self.height, inputWidth: Self.width, outputHeight: th, outputWidth: tw)
        #expect(map.height == th && map.width == tw)
    }

    @Test("where the seams stop short on an axis a subject spans, they do its whole change without the mask")
    func subjectSpanningTheAxis() throws {
        let image = Self.line()
        // A protected strip along the top (stride 16: 10 × 6 cells), away from the line there (x ≥ 135),
        // over `cells` of the 10 columns of cells.
        func plans(maskedColumns cells: Int, width: Int, of scene: Tensor = Self.line()) throws -> LayeredSeamPlans {
            let mask = SemanticMask(width: 10, height: 6, cells: (0..<60).map { $0 < cells })
            return try FeatureResize.layeredSeamPlans(features: flatFeatures(height: Self.height, width: Self.width), mask: mask,
                                                      image: scene, edgeWeight: 1, outputHeight: Self.height,
                                                      outputWidth: width, tearLimit: SeamTears.limit)
        }
        let target = Self.width * 7 / 10
        // A third of the columns: the mask guides the seams, they stop at the line as without a mask, and
        // the scale after them narrows the subject by less than the rest.
        let narrow = try plans(maskedColumns: 3, width: target)
        #expect(!narrow.subjectSpansAxis && !narrow.maskSetAside)
        #expect(narrow.seamedWidth > target, "the seams crossed the line \(Self.width - target) times")
        let map = try narrow.sourceMap(inputHeight: Self.height, inputWidth: Self.width, outputHeight: Self.height, outputWidth: target)
        let narrowed = (0..<target).count { map.coordinates.plane(0)[$0] < 47.5 }
        #expect(narrowed < 48 && narrowed > 48 * target / Self.width, "the narrow subject spans \(narrowed) columns")
        // Half of them: the scale could not keep the subject wider than the rest, so the seams are searched
        // again without the mask and do the whole change, through the subject too.
        let wide = try plans(maskedColumns: 5, width: target)
        #expect(wide.subjectSpansAxis && !wide.maskSetAside)
        #expect(wide.seamedWidth == target && wide.seamedHeight == Self.height)
        let crossed = try #require(wide.plans[.relu1_1]?.width).seams.contains { seam in seam.prefix(16).contains { $0 < 80 } }
        #expect(crossed, "no seam went through the subject")
        // Where the masked seams do the whole change (through texture without a direction), the mask stays.
        let texture = try plans(maskedColumns: 5, width: target, of: Self.blobs())
        #expect(!texture.subjectSpansAxis && !texture.maskSetAside && texture.seamedWidth == target)

        // Rows: one cell in each of the first `rows` rows of cells, each in another column (so that the seams
        // pass around it at little cost and the mask stays a guide), all away from the line; a height change
        // that the line stops.
        func rowPlans(maskedRows rows: Int) throws -> LayeredSeamPlans {
            let cells: Set = [0 * 10 + 0, 1 * 10 + 4, 2 * 10 + 8, 3 * 10 + 2]
            let mask = SemanticMask(width: 10, height: 6, cells: (0..<60).map { cells.contains($0) && $0 / 10 < rows })
            return try FeatureResize.layeredSeamPlans(features: flatFeatures(height: Self.height, width: Self.width), mask: mask,
                                                      image: image, edgeWeight: 1, outputHeight: Self.height * 7 / 10,
                                                      outputWidth: Self.width, tearLimit: SeamTears.limit)
        }
        let short = try rowPlans(maskedRows: 2), tall = try rowPlans(maskedRows: 4)
        #expect(!short.maskSetAside && !tall.maskSetAside)
        #expect(!short.subjectSpansAxis && short.seamedHeight > Self.height * 7 / 10)
        #expect(tall.subjectSpansAxis && tall.seamedHeight == Self.height * 7 / 10)
    }

    @Test("a mask the wall rule set aside still keeps its columns wider in the scale after the seams")
    func setAsideMaskKeptWiderInTheScale() throws {
        // Plain texture on the left (x < 64), under the mask; 3 × 3 blobs of random grey on the right, where a
        // seam costs far more; the dark line across both stops the seams early. Kept out of the mask, the
        // seams would all go through the blobs: the wall rule sets the mask aside.
        let image = Self.line { x, y in x < 64 ? 0.75 + 0.04 * Self.hash(x, y) : 0.3 + 0.5 * Self.hash(x / 3, y / 3) }
        let mask = SemanticMask(width: 10, height: 6, cells: (0..<60).map { $0 % 10 < 4 })
        let target = Self.width * 6 / 10
        let plans = try FeatureResize.layeredSeamPlans(features: flatFeatures(height: Self.height, width: Self.width),
                                                       mask: mask, image: image, edgeWeight: 1, outputHeight: Self.height,
                                                       outputWidth: target, tearLimit: SeamTears.limit)
        #expect(plans.maskSetAside && !plans.subjectSpansAxis)
        #expect(plans.seamedWidth > target, "the seams did the whole change")
        let map = try plans.sourceMap(inputHeight: Self.height, inputWidth: Self.width, outputHeight: Self.height,
                                      outputWidth: target)
        // Output columns whose source (on the middle row) lies in the masked columns, against the share a
        // uniform scale of what the seams left would give them.
        let row = Self.height / 2 * target, xs = map.coordinates.plane(0)
        let masked = (0..<target).count { xs[row + $0] < 63.5 }
        let carved = try SourceMap(plan: try #require(plans.plans[.relu1_1]), inputHeight: Self.height,
                                   inputWidth: Self.width, outputHeight: Self.height, outputWidth: plans.seamedWidth)
        let before = (0..<plans.seamedWidth).count { carved.coordinates.plane(0)[Self.height / 2 * plans.seamedWidth + $0] < 63.5 }
        let uniform = Double(before) * Double(target) / Double(plans.seamedWidth)
        #expect(Double(masked) > 1.1 * uniform && Double(masked) <= SourceMap.protectionRatio * uniform + 1,
                "the masked side spans \(masked) columns, \(uniform) at a uniform scale")
    }

    @Test("a subject's mask that the wall rule only just set aside still spans the axis; one that walls the seams in hard does not")
    func setAsideMaskAndTheSpanRule() throws {
        // The mask covers the 96 plain-textured columns on the left (6 of 10 columns of cells, over half);
        // on the right, 3 × 3 blobs of random grey whose contrast sets how much more seams cost there. The
        // dark line across both stops the seams early.
        func plans(contrast: Float) throws -> LayeredSeamPlans {
            let image = Self.line { x, y in x < 96 ? 0.75 + 0.04 * Self.hash(x, y) : 0.5 + contrast * Self.hash(x / 3, y / 3) }
            let mask = SemanticMask(width: 10, height: 6, cells: (0..<60).map { $0 % 10 < 6 })
            return try FeatureResize.layeredSeamPlans(features: flatFeatures(height: Self.height, width: Self.width),
                                                      mask: mask, image: image, edgeWeight: 1, outputHeight: Self.height,
                                                      outputWidth: Self.width * 6 / 10, tearLimit: SeamTears.limit)
        }
        // Faint blobs: avoiding the mask costs the seams about 1.23 times the free ones' energy.
        let nearly = try plans(contrast: 0.04)
        let nearlyRatio = try #require(nearly.maskCostRatio)
        #expect(nearly.maskSetAside && nearlyRatio <= FeatureResize.subjectAsideLimit, "ratio \(nearlyRatio)")
        #expect(nearly.subjectSpansAxis && nearly.seamedWidth == Self.width * 6 / 10)
        // Strong blobs: about 1.6 times; the mask is a wall, not a subject, and the seams stop as before.
        let wall = try plans(contrast: 0.2)
        let wallRatio = try #require(wall.maskCostRatio)
        #expect(wall.maskSetAside && wallRatio > FeatureResize.subjectAsideLimit, "ratio \(wallRatio)")
        #expect(!wall.subjectSpansAxis && wall.seamedWidth > Self.width * 6 / 10)
    }

    @Test("the scale after the seams keeps protected columns wider, by at most the ratio, and sums to the output")
    func protectedScaleRatio() {
        let flags = (0..<200).map { (80..<120).contains($0) }
        let axis = ProtectedAxis(protection: flags.map { $0 ? 1 : 0 }, outputCount: 100, maximumRatio: SourceMap.protectionRatio)
        #expect(abs(axis.protectedScale / axis.unprotectedScale - SourceMap.protectionRatio) < 1e-9)
        #expect(abs(axis.protectedScale * 40 + axis.unprotectedScale * 160 - 100) < 1e-9)
        // Without the cap the protected columns keep scale 1.
        let free = ProtectedAxis(protection: flags.map { $0 ? 1 : 0 }, outputCount: 100)
        #expect(abs(free.protectedScale - 1) < 1e-9)
        // Softened flags: the scale changes over several columns, never in one step from one to the other.
        let soft = LayeredSeamPlans.softened(flags)
        #expect(soft[100] > 0.95 && soft[40] < 0.01 && soft[80] > 0.3 && soft[80] < 0.7)
    }

    @Test("the map flags exactly the inserted pixels, through rounds and the scale; cells around them are anchored")
    func insertionAnchor() throws {
        let (w, h) = (64, 32)
        // One seam inserted straight down before column 20.
        let one = SeamRemoval(width: w, height: h, direction: .vertical, seams: [[Int](repeating: 20, count: h)],
                              removed: (0..<(w * h)).map { $0 % w == 20 })
        let map = try SourceMap(plan: FeatureSeamPlan(widthInsertion: SeamInsertion(rounds: [one])),
                                inputHeight: h, inputWidth: w, outputHeight: h, outputWidth: w + 1)
        #expect(map.inserted.count { $0 } == h && (0..<h).allSatisfy { map.inserted[$0 * (w + 1) + 20] })
        // A seam inserted before column 0 copies column 0, its one neighbour: a whole position, flagged too.
        let edge = SeamRemoval(width: w, height: h, direction: .vertical, seams: [[Int](repeating: 0, count: h)],
                               removed: (0..<(w * h)).map { $0 % w == 0 })
        let edgeMap = try SourceMap(plan: FeatureSeamPlan(widthInsertion: SeamInsertion(rounds: [edge])),
                                    inputHeight: h, inputWidth: w, outputHeight: h, outputWidth: w + 1)
        #expect(edgeMap.inserted.count { $0 } == h && (0..<h).allSatisfy { edgeMap.inserted[$0 * (w + 1)] })
        // Before row 0 in two rounds: three rows at position 0, the two copies flagged, row 0 itself not.
        func topSeam(_ height: Int) -> SeamRemoval {
            SeamRemoval(width: w, height: height, direction: .horizontal, seams: [[Int](repeating: 0, count: w)],
                        removed: (0..<(w * height)).map { $0 / w == 0 })
        }
        let top = try SourceMap(plan: FeatureSeamPlan(heightInsertion: SeamInsertion(rounds: [topSeam(h), topSeam(h + 1)])),
                                inputHeight: h, inputWidth: w, outputHeight: h + 2, outputWidth: w)
        #expect((0..<(w * (h + 2))).allSatisfy { top.inserted[$0] == ($0 / w < 2) })
        // A removal keeps every position its own: nothing flagged.
        let removed = try SourceMap(plan: FeatureSeamPlan(width: one), inputHeight: h, inputWidth: w, outputHeight: h,
                                    outputWidth: w - 1)
        #expect(!removed.inserted.contains(true))
        let cells = InsertionAnchor.weights(map: map, stride: 8)
        // Column 20 is in cell 2: cells 1 … 3 anchored, the others not.
        for tx in 0..<((w + 1) / 8) { #expect(cells[tx] == ((1...3).contains(tx) ? 1 : 0), "cell \(tx): \(cells[tx])") }
        // Dense insertion in rounds (64 → 150: 32, 48, then 6): every new pixel flagged, no other.
        var field = (0..<(w * h)).map { Double(Self.hash($0 % w, $0 / w)) }
        var penalty = [Double](repeating: 0, count: w * h)
        let insertion = try SeamSearch.insertSeams(into: &field, penalty: &penalty, width: w, height: h, count: 86,
                                                   rule: .pixelForward, direction: .vertical)
        #expect(insertion.rounds.count >= 2)
        let dense = try SourceMap(plan: FeatureSeamPlan(widthInsertion: insertion), inputHeight: h, inputWidth: w,
                                  outputHeight: h, outputWidth: w + 86)
        #expect(dense.inserted.count { $0 } == 86 * h)
        // Carried through a scale: an output pixel that draws on an inserted one is flagged; a plain scale of
        // a map without insertions flags nothing.
        let none = [Double](repeating: 0, count: w + 86)
        let scaled = dense.scaled(height: h, width: 200, protectedColumns: none, protectedRows: [Double](repeating: 0, count: h))
        #expect(scaled.inserted.count { $0 } >= 86 * h)
        let plain = SourceMap(coordinates: SourceMap.identity(height: h, width: w))
            .scaled(height: h, width: 90, protectedColumns: [Double](repeating: 0, count: w), protectedRows: [Double](repeating: 0, count: h))
        #expect(!plain.inserted.contains(true))
    }

    @Test("an unprotected scale of the identity map is the uniform resize's sampling positions, on either axis")
    func uniformScaleOfTheMap() {
        let map = SourceMap(coordinates: SourceMap.identity(height: 100, width: 100))
        let none = [Double](repeating: 0, count: 100)
        let narrow = map.scaled(height: 100, width: 40, protectedColumns: none, protectedRows: none)
        let low = map.scaled(height: 40, width: 100, protectedColumns: none, protectedRows: none)
        for i in 0..<40 {
            let expected = min(max((Double(i) + 0.5) * 2.5 - 0.5, 0), 99)
            #expect(abs(Double(narrow.coordinates.plane(0)[3 * 40 + i]) - expected) < 1e-4)
            #expect(narrow.coordinates.plane(1)[3 * 40 + i] == 3)
            #expect(abs(Double(low.coordinates.plane(1)[i * 100 + 7]) - expected) < 1e-4)
            #expect(low.coordinates.plane(0)[i * 100 + 7] == 7)
        }
        // Protected columns 40 ..< 60 keep a larger share: they span more of the output than 20 × 0.4.
        let flags = (0..<100).map { (40..<60).contains($0) ? 1.0 : 0 }
        let kept = map.scaled(height: 100, width: 40, protectedColumns: flags, protectedRows: none)
        let inside = (0..<40).filter { x in (40.0..<60.0).contains(Double(kept.coordinates.plane(0)[x])) }.count
        #expect(inside > 8, "the protected columns cover \(inside) output columns")
    }
}
