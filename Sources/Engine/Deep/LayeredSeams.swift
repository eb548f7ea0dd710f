/// The `seam` operator with seams refined at every layer (docs/spec.md §3): the seams are found on the
/// relu4_1 grid, then carried down relu3_1, relu2_1 and relu1_1 by `SeamRefinement`, each level searching
/// its own one-cell-wide seams inside the band of the coarser ones. relu1_1 has stride 1: its seams are the
/// image's pixels', and define the `SourceMap` every target and the start R0 are sampled through.
extension FeatureResize {
    /// The layers from coarse to fine; each is refined from the one before it (factor 2).
    static let refinementOrder: [Tap] = [.relu4_1, .relu3_1, .relu2_1, .relu1_1]

    /// One plan per tap of `refinementOrder`, each on that tap's own grid (⌊h/s⌋ × ⌊w/s⌋ of the input)
    /// and reaching that tap's target size for an output of outputHeight × outputWidth.
    ///
    /// Every level searches the image's luminance averaged over its cells, so that the forward energy sees
    /// what a viewer sees (smooth gradients included: seams that pile up in one, guided by features that
    /// are flat there, cut it into a visible step). Each cell's own energy adds the mask's 1000× penalty,
    /// the image's edges averaged over the cell (`edgeWeight`, relative to the largest: detail finer than
    /// the cell), and at relu4_1 the gradient of the features' mean activation (the reference's relu4_1 energy, the
    /// semantic part).
    ///
    /// - Parameters:
    ///   - features: the input's features at (at least) relu1_1 … relu4_1.
    ///   - mask: the protection mask (stride 16); nil protects nothing.
    ///   - image: the input image (RGB planes).
    public static func layeredSeamPlans(features: [Tap: Tensor], mask: SemanticMask?, image: Tensor,
                                        edgeWeight: Double, outputHeight: Int, outputWidth: Int,
                                        context: RunContext = .detached) throws -> [Tap: FeatureSeamPlan] {
        let lum = luminance(image)
        let edges = luminanceEdges(lum, width: image.width, height: image.height)
        var plans: [Tap: FeatureSeamPlan] = [:]
        var coarser: FeatureSeamPlan?
        for tap in refinementOrder {
            guard let f = features[tap] else { throw FeatureResizeError(message: "the seam operator needs \(tap)") }
            let (w, h) = (f.width, f.height)
            let cells = mask?.resampled(toStride: tap.stride, width: w, height: h) ?? [Bool](repeating: false, count: w * h)
            var energy = cells.map { $0 ? SeamSearch.featureMaskPenalty : 0 }
            if edgeWeight > 0 {
                let e = blockMean(edges, sourceWidth: image.width, sourceHeight: image.height, stride: tap.stride, width: w, height: h)
                let peak = max(e.max() ?? 0, 1e-12)
                for i in energy.indices { energy[i] += e[i] * edgeWeight / peak }
            }
            let field = blockMean(lum, sourceWidth: image.width, sourceHeight: image.height, stride: tap.stride, width: w, height: h)
            let target = tap.outputSize(height: outputHeight, width: outputWidth)
            let plan: FeatureSeamPlan
            if let coarser {
                plan = try refine(coarser, field: field, penalty: energy, width: w, height: h,
                                  targetWidth: target.width, targetHeight: target.height, context: context)
            } else {
                // relu4_1: the features' own energy, |∂x A| + |∂y A| of their normalised mean activation.
                let mean = meanActivation(f)
                let peak = Double(max(mean.max() ?? 0, 1e-12))
                let a = mean.map { Double($0) / peak }
                for y in 0..<h {
                    for x in 0..<w {
                        let i = y * w + x
                        energy[i] += (x + 1 < w ? abs(a[i + 1] - a[i]) : 0) + (y + 1 < h ? abs(a[i + w] - a[i]) : 0)
                    }
                }
                plan = try SeamSearch.featureSeams(meanActivation: field.map(Float.init), mask: [Bool](repeating: false, count: w * h),
                                                   width: w, height: h, targetWidth: target.width, targetHeight: target.height,
                                                   extraEnergy: energy, rule: .featureStraightTies, context: context)
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

    /// A layer's seam energy before normalisation: the mean over channels (docs/spec.md §3's A), summed in
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
