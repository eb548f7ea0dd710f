import Foundation
import Testing
@testable import Engine

/// docs/spec.md §3.2: where the seam operator removes, its one-pixel seams are searched on the pixels
/// themselves (forward energy on the luminance, as `method=seam`, plus the mask's penalty), not refined
/// from the relu4_1 seams: refined, the eight children of a coarse seam ran side by side along its path and
/// tore long edges where the bundle crossed them (a facade of diagonal bands, a table's legs, a guard rail).
/// These tests let the seams do the whole change (`tearLimit: nil`); where they stop, `DeepSeamTearTests`.
@Suite("Deep: the seam operator's removals")
struct DeepSeamRemovalTests {
    static let width = 160, height = 96

    /// Diagonal bands (a facade's): dark and bright stripes 12 pixels wide at 45°, over a gentle gradient.
    static func bands() -> Tensor {
        greyScene(height: height, width: width) { x, y in (((x + y) / 12) % 2 == 0 ? 0.15 : 0.85) + Float(x) / Float(width) * 0.1 }
    }

    static func features() -> [Tap: Tensor] { flatFeatures(height: height, width: width) }

    /// The seam operator's plans for the bands to height × width, the seams doing the whole change.
    static func plans(height h: Int, width w: Int, mask: SemanticMask?) throws -> LayeredSeamPlans {
        try FeatureResize.layeredSeamPlans(features: features(), mask: mask, image: bands(), edgeWeight: 1,
                                           outputHeight: h, outputWidth: w, tearLimit: nil)
    }

    /// `method=seam`'s search on the same luminance: the seams the deep operator should remove.
    static func pixelSeams(width target: Int, penalty: [Double]?) throws -> SeamRemoval {
        let lum = FeatureResize.luminance(bands())
        return try SeamSearch.removeSeams(from: lum, width: width, height: height, penalty: penalty,
                                          count: width - target, rule: .pixelForward, direction: .vertical)
    }

    /// Pixels one removal takes and the other does not.
    static func differing(_ a: SeamRemoval, _ b: SeamRemoval) -> Int { zip(a.removed, b.removed).count { $0 != $1 } }

    @Test("width to 60 %: the one-pixel seams are the pixels' own forward-energy seams")
    func removalIsThePixelSearch() throws {
        let target = Self.width * 6 / 10
        let plans = try Self.plans(height: Self.height, width: target, mask: nil)
        let removal = try #require(plans.plans[.relu1_1]?.width)
        #expect(plans.plans[.relu1_1]?.height == nil)
        let expected = try Self.pixelSeams(width: target, penalty: nil)
        #expect(Self.differing(removal, expected) == 0, "pixels removed by one search and not the other")
        #expect(removal.removed.count { $0 } == (Self.width - target) * Self.height)
    }

    @Test("height to 60 %: the same search on the transposed field")
    func heightRemovalIsThePixelSearch() throws {
        let target = Self.height * 6 / 10
        let plans = try Self.plans(height: target, width: Self.width, mask: nil)
        let removal = try #require(plans.plans[.relu1_1]?.height)
        let expected = try SeamSearch.removeSeams(from: FeatureResize.luminance(Self.bands()), width: Self.width, height: Self.height,
                                                  count: Self.height - target, rule: .pixelForward, direction: .horizontal)
        #expect(Self.differing(removal, expected) == 0, "pixels removed by one search and not the other")
    }

    @Test("both axes shrinking: width first, then height on the carved field and its carved penalty")
    func bothAxes() throws {
        let (w, h) = (Self.width / 16, Self.height / 16)
        let mask = SemanticMask(width: w, height: h, cells: (0..<(w * h)).map { (2...4).contains($0 % w) && (1...3).contains($0 / w) })
        let (tw, th) = (Self.width * 3 / 4, Self.height * 3 / 4)
        let plans = try Self.plans(height: th, width: tw, mask: mask)
        let plan = try #require(plans.plans[.relu1_1])
        let columns = try #require(plan.width), rows = try #require(plan.height)
        let penalty = mask.resampled(toStride: 1, width: Self.width, height: Self.height).map { $0 ? SeamSearch.featureMaskPenalty : 0 }
        let first = try Self.pixelSeams(width: tw, penalty: penalty)
        let second = try SeamSearch.removeSeams(from: try first.keeping(FeatureResize.luminance(Self.bands())), width: tw, height: Self.height,
                                                penalty: try first.keeping(penalty), count: Self.height - th,
                                                rule: .pixelForward, direction: .horizontal)
        #expect(Self.differing(columns, first) == 0 && Self.differing(rows, second) == 0)
        let out = try SourceMap(plan: plan, inputHeight: Self.height, inputWidth: Self.width, outputHeight: th, outputWidth: tw)
        #expect(out.width == tw && out.height == th)
    }

    @Test("width to 140 %: the one-pixel seams inserted are the pixels' own (method=seam's insertion search)")
    func insertionIsThePixelSearch() throws {
        let target = Self.width * 14 / 10
        let plans = try Self.plans(height: Self.height, width: target, mask: nil)
        let insertion = try #require(plans.plans[.relu1_1]?.widthInsertion)
        var field = FeatureResize.luminance(Self.bands())
        var penalty = [Double](repeating: 0, count: field.count)
        let expected = try SeamSearch.insertSeams(into: &field, penalty: &penalty, width: Self.width, height: Self.height,
                                                  count: target - Self.width, rule: .pixelForward, direction: .vertical)
        #expect(insertion == expected)
        let map = try plans.sourceMap(inputHeight: Self.height, inputWidth: Self.width, outputHeight: Self.height, outputWidth: target)
        #expect(map.width == target && map.height == Self.height)
    }

    @Test("with the tear limit, the plans reuse the searches the seam counts were judged on: the same seams as searching again")
    func tearCountSearchesReused() throws {
        // A soft texture without a direction: its seams are cheap, so both axes take some.
        let image = greyScene(height: Self.height, width: Self.width) { x, y -> Float in
            let a = Float(sin(Double(x) * 0.7) * cos(Double(y) * 1.3))
            let b = Float(sin(Double(x * y) * 0.05))
            return 0.5 + 0.2 * a + 0.1 * b
        }
        let lum = FeatureResize.luminance(image)
        for (h, w) in [(Self.height, Self.width * 14 / 10), (Self.height * 14 / 10, Self.width), (Self.height + 9, Self.width - 17),
                       (Self.height - 11, Self.width + 13)] {
            let plans = try FeatureResize.layeredSeamPlans(features: Self.features(), mask: nil, image: image, edgeWeight: 1,
                                                           outputHeight: h, outputWidth: w)
            let plan = try #require(plans.plans[.relu1_1])
            let again = try FeatureResize.pixelSeams(field: lum, penalty: nil, width: Self.width, height: Self.height,
                                                     targetWidth: plans.seamedWidth, targetHeight: plans.seamedHeight,
                                                     tearLimit: nil, tearAware: true, context: .detached)
            #expect(plan == again.plan, "\(w)x\(h)")
            #expect(plans.seamedWidth != Self.width && plans.seamedHeight != Self.height || w == Self.width || h == Self.height,
                    "\(w)x\(h): seams on both axes (\(plans.seamedWidth)x\(plans.seamedHeight))")
        }
    }

    @Test("nothing to remove (the output is the input's size): no seams")
    func sameSize() throws {
        let plans = try Self.plans(height: Self.height, width: Self.width, mask: nil)
        let plan = try #require(plans.plans[.relu1_1])
        #expect(plan.width == nil && plan.height == nil && plan.widthInsertion == nil && plan.heightInsertion == nil)
    }

    @Test("with a mask that leaves room, the seams keep out of it: the mask's penalty on the pixels")
    func maskIsThePenalty() throws {
        // A subject (stride-16 cells 2…4 × 1…3: pixels x 32–79, y 16–63) with the bands around it.
        let (w, h) = (Self.width / 16, Self.height / 16)
        let mask = SemanticMask(width: w, height: h, cells: (0..<(w * h)).map { (2...4).contains($0 % w) && (1...3).contains($0 / w) })
        let target = Self.width * 3 / 4
        let plans = try Self.plans(height: Self.height, width: target, mask: mask)
        #expect(!plans.maskSetAside)
        let removal = try #require(plans.plans[.relu1_1]?.width)
        let cells = mask.resampled(toStride: 1, width: Self.width, height: Self.height)
        let expected = try Self.pixelSeams(width: target, penalty: cells.map { $0 ? SeamSearch.featureMaskPenalty : 0 })
        #expect(Self.differing(removal, expected) == 0, "pixels removed by one search and not the other")
        #expect(zip(removal.removed, cells).allSatisfy { !($0 && $1) }, "a seam entered the subject")
    }
}
