import Testing
@testable import Engine

/// docs/spec.md §3.1: the mask guides the seams around what it protects, unless avoiding it walls them in.
/// A synthetic scene: flat grey on both sides, a fine checkerboard in the middle (every seam through it is
/// expensive), width to 75 %.
@Suite("Deep: the mask as a wall for the seams")
struct DeepMaskWallTests {
    static let width = 256, height = 128
    /// The checkerboard's columns.
    static let stripe = 96..<160

    static func scene() -> Tensor {
        greyScene(height: height, width: width) { x, y in stripe.contains(x) ? ((x / 2 + y / 2) % 2 == 0 ? 0.1 : 0.9) : 0.5 }
    }

    static func features() -> [Tap: Tensor] { flatFeatures(height: height, width: width) }

    /// A stride-16 mask (16 × 8 cells) protecting the cells for which `protects(column, row)` holds.
    static func mask(_ protects: (Int, Int) -> Bool) -> SemanticMask {
        let w = width / 16, h = height / 16
        return SemanticMask(width: w, height: h, cells: (0..<(w * h)).map { protects($0 % w, $0 / w) })
    }

    static func plans(_ mask: SemanticMask) throws -> LayeredSeamPlans {
        // The seams do the whole change (`tearLimit: nil`): these tests are about where they go.
        try FeatureResize.layeredSeamPlans(features: features(), mask: mask, image: scene(), edgeWeight: 1,
                                           outputHeight: height, outputWidth: width * 3 / 4, tearLimit: nil)
    }

    /// The pixels the relu1_1 seams removed, as (x, y).
    static func removedPixels(_ plans: LayeredSeamPlans) throws -> [(x: Int, y: Int)] {
        let plan = try #require(plans.plans[.relu1_1])
        let removal = try #require(plan.width)
        return removal.removed.indices.filter { removal.removed[$0] }.map { ($0 % width, $0 / width) }
    }

    @Test("a mask that walls off the flat sides (bars from the edges to the checkerboard) is set aside: the seams take the flat sides")
    func wallsAreSetAside() throws {
        // Rows 3–4 protected across each flat side: a seam there must cross the mask or the checkerboard.
        let walls = Self.mask { column, row in (3...4).contains(row) && (column < 6 || column >= 10) }
        let plans = try Self.plans(walls)
        let ratio = try #require(plans.maskCostRatio)
        #expect(plans.maskSetAside && ratio > FeatureResize.maskCostLimit, "ratio \(ratio)")
        let removed = try Self.removedPixels(plans)
        #expect(removed.count == Self.height * Self.width / 4)
        #expect(removed.allSatisfy { !Self.stripe.contains($0.x) }, "a seam crossed the checkerboard")
    }

    @Test("a mixed change whose wall is set aside takes its seams without the mask, though the tear count was judged with it")
    func mixedChangeSetAsideSearchesAgain() throws {
        // Width to 75 % and height to 110 % with the tear limit: the counts come from searches with the mask's
        // penalty (`cheapSeamChange`), which must not stand in for the seams once the wall rule drops the mask.
        let walls = Self.mask { column, row in (3...4).contains(row) && (column < 6 || column >= 10) }
        let plans = try FeatureResize.layeredSeamPlans(features: Self.features(), mask: walls, image: Self.scene(), edgeWeight: 1,
                                                       outputHeight: Self.height * 11 / 10, outputWidth: Self.width * 3 / 4)
        #expect(plans.maskSetAside)
        #expect(plans.seamedWidth < Self.width, "some columns carved (\(plans.seamedWidth))")
        let plan = try #require(plans.plans[.relu1_1])
        let unmasked = try FeatureResize.pixelSeams(field: FeatureResize.luminance(Self.scene()), penalty: nil, width: Self.width,
                                                    height: Self.height, targetWidth: plans.seamedWidth,
                                                    targetHeight: plans.seamedHeight, tearLimit: nil, tearAware: true,
                                                    context: .detached)
        #expect(plan == unmasked.plan)
    }

    @Test("a mask around a subject with room beside it keeps guiding the seams: none enters it")
    func aSubjectWithRoomIsProtected() throws {
        // A block on the left side (x 16–63, y 16–111), with flat room to both of its sides.
        let subject = Self.mask { column, row in (1...3).contains(column) && (1...6).contains(row) }
        let plans = try Self.plans(subject)
        let ratio = try #require(plans.maskCostRatio)
        #expect(!plans.maskSetAside && ratio <= FeatureResize.maskCostLimit, "ratio \(ratio)")
        let removed = try Self.removedPixels(plans)
        #expect(removed.allSatisfy { !((16..<64).contains($0.x) && (16..<112).contains($0.y)) }, "a seam entered the subject")
        #expect(removed.allSatisfy { !Self.stripe.contains($0.x) }, "a seam crossed the checkerboard")
    }

    @Test("without a mask nothing is compared")
    func noMaskNoComparison() throws {
        let plans = try FeatureResize.layeredSeamPlans(features: Self.features(), mask: nil, image: Self.scene(), edgeWeight: 1,
                                                       outputHeight: Self.height, outputWidth: Self.width * 3 / 4)
        #expect(plans.maskCostRatio == nil && !plans.maskSetAside)
    }
}
