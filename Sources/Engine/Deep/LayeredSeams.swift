/// The `seam` operator with seams refined at every layer (docs/spec.md, "Seams at every layer"): the
/// seams are found on relu4_1 as before, then carried down relu3_1, relu2_1 and relu1_1 by
/// `SeamRefinement`, each level searching its own one-cell-wide seams on its own energy inside the band
/// of the coarser ones. relu1_1 has stride 1, so its plan also carves the image's pixels: the start R0.
extension FeatureResize {
    /// The layers from coarse to fine; each is refined from the one before it (factor 2).
    static let refinementOrder: [Tap] = [.relu4_1, .relu3_1, .relu2_1, .relu1_1]

    /// One plan per tap of `refinementOrder`, each on that tap's own grid (⌊h/s⌋ × ⌊w/s⌋ of the input)
    /// and reaching that tap's target size for an output of outputHeight × outputWidth.
    ///
    /// - Parameters:
    ///   - features: the input's features at (at least) relu1_1 … relu4_1.
    ///   - mask: the protection mask (stride 16), its 1000× penalty at every level; nil protects nothing.
    public static func layeredSeamPlans(features: [Tap: Tensor], mask: SemanticMask?,
                                        outputHeight: Int, outputWidth: Int,
                                        context: RunContext = .detached) throws -> [Tap: FeatureSeamPlan] {
        var plans: [Tap: FeatureSeamPlan] = [:]
        var coarser: FeatureSeamPlan?
        for tap in refinementOrder {
            guard let f = features[tap] else { throw FeatureResizeError(message: "the seam operator needs \(tap)") }
            let mean = meanActivation(f)
            let cells = mask?.resampled(toStride: tap.stride, width: f.width, height: f.height)
                ?? [Bool](repeating: false, count: f.width * f.height)
            let penalty = cells.map { $0 ? SeamSearch.featureMaskPenalty : 0 }
            let target = tap.outputSize(height: outputHeight, width: outputWidth)
            let plan: FeatureSeamPlan
            if let coarser {
                let peak = Double(max(mean.max() ?? 0, 1e-12))
                plan = try refine(coarser, field: mean.map { Double($0) / peak }, penalty: penalty, width: f.width, height: f.height,
                                  targetWidth: target.width, targetHeight: target.height, context: context)
            } else {
                plan = try SeamSearch.featureSeams(meanActivation: mean, mask: cells, width: f.width,
                                                   height: f.height, targetWidth: target.width,
                                                   targetHeight: target.height, context: context)
            }
            plans[tap] = plan
            coarser = plan
        }
        return plans
    }

    /// A layer's seam energy before normalisation: the mean over channels (SPEC.md §3's A), summed in
    /// Double and kept in Float.
    static func meanActivation(_ f: Tensor) -> [Float] {
        let plane = f.height * f.width
        var sum = [Double](repeating: 0, count: plane)
        for c in 0..<f.channels {
            let p = f.plane(c)
            for i in 0..<plane { sum[i] += Double(p[i]) }
        }
        let n = Double(max(f.channels, 1))
        return sum.map { Float($0 / n) }
    }

    /// `coarse` (a plan one level up, half the resolution) refined on this level's field: width first,
    /// then height on the field left after the width change.
    static func refine(_ coarse: FeatureSeamPlan, field: [Double], penalty: [Double], width: Int, height: Int,
                       targetWidth: Int, targetHeight: Int, context: RunContext) throws -> FeatureSeamPlan {
        var a = field, p = penalty
        var widthRemoval: SeamRemoval?, widthInsertion: SeamInsertion?
        if targetWidth < width {
            let r = try SeamRefinement.refine(coarse.width, factor: 2, field: a, penalty: p, width: width, height: height,
                                              direction: .vertical, count: width - targetWidth, context: context)
            a = try r.keeping(a)
            p = try r.keeping(p)
            widthRemoval = r
        } else if targetWidth > width {
            widthInsertion = try SeamRefinement.refineInsertion(coarse.widthInsertion, factor: 2, field: &a, penalty: &p,
                                                                width: width, height: height, direction: .vertical,
                                                                count: targetWidth - width, context: context)
        }
        var heightRemoval: SeamRemoval?, heightInsertion: SeamInsertion?
        if targetHeight < height {
            heightRemoval = try SeamRefinement.refine(coarse.height, factor: 2, field: a, penalty: p, width: targetWidth,
                                                      height: height, direction: .horizontal,
                                                      count: height - targetHeight, context: context)
        } else if targetHeight > height {
            heightInsertion = try SeamRefinement.refineInsertion(coarse.heightInsertion, factor: 2, field: &a, penalty: &p,
                                                                 width: targetWidth, height: height,
                                                                 direction: .horizontal, count: targetHeight - height,
                                                                 context: context)
        }
        return FeatureSeamPlan(width: widthRemoval, widthInsertion: widthInsertion,
                               height: heightRemoval, heightInsertion: heightInsertion)
    }

    /// `plan` (on f's own grid) applied to f: seams one cell wide, removed or inserted.
    public static func apply(_ plan: FeatureSeamPlan, to f: Tensor, outputHeight: Int, outputWidth: Int) throws -> Tensor {
        try seam([.relu1_1: f], plan: plan, gridStride: 1, gridHeight: f.height, gridWidth: f.width,
                 outputHeight: outputHeight, outputWidth: outputWidth)[.relu1_1]!
    }

    /// The targets of the refined seam operator: every tap carved by its own plan.
    static func layeredSeamTargets(_ features: [Tap: Tensor], plans: [Tap: FeatureSeamPlan],
                                   outputHeight: Int, outputWidth: Int) throws -> [Tap: Tensor] {
        var out: [Tap: Tensor] = [:]
        for (tap, f) in features {
            guard let plan = plans[tap] else { throw FeatureResizeError(message: "no seam plan for \(tap)") }
            let t = tap.outputSize(height: outputHeight, width: outputWidth)
            out[tap] = try apply(plan, to: f, outputHeight: t.height, outputWidth: t.width)
        }
        return out
    }
}
