/// The `seam` operator with seams refined at every layer (docs/spec.md, "Seams at every layer"): the
/// seams are found on relu4_1 as before, then carried down relu3_1, relu2_1 and relu1_1 by
/// `SeamRefinement`, each level searching its own one-cell-wide seams on its own energy inside the band
/// of the coarser ones. relu1_1 has stride 1, so its plan also carves the image's pixels: the start R0.
/// What the seams below relu4_1 follow, inside the band of the coarser ones.
public enum SeamRefinementField: String, Sendable, CaseIterable {
    /// The image's luminance, averaged over the level's cells: the forward energy then sees what a viewer
    /// sees, smooth gradients included (measured better: docs/spec.md).
    case luminance
    /// The level's own features (mean over channels, as relu4_1): flat in smooth gradients, where the fine
    /// seams then follow the band's staircase.
    case features
}

extension FeatureResize {
    /// The layers from coarse to fine; each is refined from the one before it (factor 2).
    static let refinementOrder: [Tap] = [.relu4_1, .relu3_1, .relu2_1, .relu1_1]

    /// One plan per tap of `refinementOrder`, each on that tap's own grid (⌊h/s⌋ × ⌊w/s⌋ of the input)
    /// and reaching that tap's target size for an output of outputHeight × outputWidth.
    ///
    /// - Parameters:
    ///   - features: the input's features at (at least) relu1_1 … relu4_1.
    ///   - mask: the protection mask (stride 16), its 1000× penalty at every level; nil protects nothing.
    ///   - image: the input image (RGB planes). Its luminance's edges, averaged over each level's cells,
    ///     add to every level's energy with weight `edgeWeight` (0: none), so that the relu4_1 seams keep
    ///     off lines and edges too fine for relu4_1 to see.
    ///   - fineField: what the levels below relu4_1 search on (`SeamRefinementField`).
    public static func layeredSeamPlans(features: [Tap: Tensor], mask: SemanticMask?, image: Tensor,
                                        edgeWeight: Double, fineField: SeamRefinementField = .luminance,
                                        outputHeight: Int, outputWidth: Int,
                                        context: RunContext = .detached) throws -> [Tap: FeatureSeamPlan] {
        let lum = luminance(image)
        let edges = edgeWeight > 0 ? luminanceEdges(lum, width: image.width, height: image.height) : nil
        var plans: [Tap: FeatureSeamPlan] = [:]
        var coarser: FeatureSeamPlan?
        for tap in refinementOrder {
            guard let f = features[tap] else { throw FeatureResizeError(message: "the seam operator needs \(tap)") }
            let cells = mask?.resampled(toStride: tap.stride, width: f.width, height: f.height)
                ?? [Bool](repeating: false, count: f.width * f.height)
            var extra: [Double]?
            if let edges {
                let e = blockMean(edges, sourceWidth: image.width, sourceHeight: image.height, stride: tap.stride,
                                  width: f.width, height: f.height)
                let peak = max(e.max() ?? 0, 1e-12)
                extra = e.map { $0 * edgeWeight / peak }
            }
            var penalty = cells.map { $0 ? SeamSearch.featureMaskPenalty : 0 }
            if let extra { for i in penalty.indices { penalty[i] += extra[i] } }
            let target = tap.outputSize(height: outputHeight, width: outputWidth)
            let plan: FeatureSeamPlan
            if let coarser {
                let field: [Double]
                switch fineField {
                case .luminance:
                    field = blockMean(lum, sourceWidth: image.width, sourceHeight: image.height, stride: tap.stride,
                                      width: f.width, height: f.height)
                case .features:
                    let mean = meanActivation(f)
                    let peak = Double(max(mean.max() ?? 0, 1e-12))
                    field = mean.map { Double($0) / peak }
                }
                plan = try refine(coarser, field: field, penalty: penalty, width: f.width, height: f.height,
                                  targetWidth: target.width, targetHeight: target.height, context: context)
            } else {
                plan = try SeamSearch.featureSeams(meanActivation: meanActivation(f), mask: cells, width: f.width,
                                                   height: f.height, targetWidth: target.width,
                                                   targetHeight: target.height, extraEnergy: extra,
                                                   rule: .featureStraightTies, context: context)
            }
            plans[tap] = plan
            coarser = plan
        }
        return plans
    }

    /// Rec. 709 luminance of RGB planes, row-major h × w.
    static func luminance(_ image: Tensor) -> [Double] {
        let r = image.plane(0), g = image.plane(1), b = image.plane(2)
        return (0..<(image.width * image.height)).map { 0.2126 * Double(r[$0]) + 0.7152 * Double(g[$0]) + 0.0722 * Double(b[$0]) }
    }

    /// |∂x L| + |∂y L| (forward differences, 0 past the edges), row-major h × w.
    static func luminanceEdges(_ l: [Double], width w: Int, height h: Int) -> [Double] {
        var e = [Double](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                let i = y * w + x
                e[i] = (x + 1 < w ? abs(l[i + 1] - l[i]) : 0) + (y + 1 < h ? abs(l[i + w] - l[i]) : 0)
            }
        }
        return e
    }

    /// A sourceWidth × sourceHeight plane averaged over the stride × stride blocks of a width × height grid.
    static func blockMean(_ v: [Double], sourceWidth: Int, sourceHeight: Int, stride s: Int, width: Int, height: Int) -> [Double] {
        if s == 1 && width == sourceWidth && height == sourceHeight { return v }
        var out = [Double](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                var sum = 0.0
                for dy in 0..<s {
                    let row = min(y * s + dy, sourceHeight - 1) * sourceWidth
                    for dx in 0..<s { sum += v[row + min(x * s + dx, sourceWidth - 1)] }
                }
                out[y * width + x] = sum / Double(s * s)
            }
        }
        return out
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
