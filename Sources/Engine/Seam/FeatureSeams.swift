extension SeamRemoval {
    /// Size of the field once the seams are gone.
    public var remainingWidth: Int { direction == .vertical ? width - seams.count : width }
    public var remainingHeight: Int { direction == .horizontal ? height - seams.count : height }

    /// `values` (row-major `height × width`, laid out like the searched field) without the removed cells:
    /// row-major `remainingHeight × remainingWidth`, order kept. For carving companion planes (the mask,
    /// each feature channel) with the seams found on the field.
    public func keeping<T>(_ values: [T]) throws -> [T] {
        guard values.count == width * height else {
            throw SeamSearchError.sizeMismatch(what: "carved plane", expected: width * height, actual: values.count)
        }
        var out: [T] = []
        out.reserveCapacity(remainingWidth * remainingHeight)
        switch direction {
        case .vertical:
            for i in values.indices where !removed[i] { out.append(values[i]) }
        case .horizontal:
            // Each column loses one row per seam, so rows shift up column by column.
            let columns: [[T]] = (0..<width).map { x in
                (0..<height).compactMap { y in removed[y * width + x] ? nil : values[y * width + x] }
            }
            for y in 0..<remainingHeight { for x in 0..<width { out.append(columns[x][y]) } }
        }
        return out
    }
}

/// The seams of docs/spec.md §3 `operator=seam` on the relu4_1 grid: width first, then height on the grid left
/// after the width change, with the mask as a 1000 × penalty. Per axis, at most one of removal (the axis
/// shrinks) and insertion (it grows) is set; neither when it keeps its size.
public struct FeatureSeamPlan: Sendable, Equatable {
    /// Vertical seams removed from the full grid; nil unless the width shrinks.
    public let width: SeamRemoval?
    /// Vertical seams inserted into the full grid; nil unless the width grows.
    public let widthInsertion: SeamInsertion?
    /// Horizontal seams removed from the grid left after the width change (full height × target width);
    /// nil unless the height shrinks.
    public let height: SeamRemoval?
    /// Horizontal seams inserted into that grid; nil unless the height grows.
    public let heightInsertion: SeamInsertion?

    public init(width: SeamRemoval? = nil, widthInsertion: SeamInsertion? = nil,
                height: SeamRemoval? = nil, heightInsertion: SeamInsertion? = nil) {
        precondition(width == nil || widthInsertion == nil, "the width either shrinks or grows")
        precondition(height == nil || heightInsertion == nil, "the height either shrinks or grows")
        self.width = width
        self.widthInsertion = widthInsertion
        self.height = height
        self.heightInsertion = heightInsertion
    }

    /// Grid width after the width pass (nil when the width keeps its size).
    var widthAfterWidthPass: Int? { width?.remainingWidth ?? widthInsertion?.finalWidth }
}

extension SeamSearch {
    /// Penalty per masked cell in docs/spec.md §3.
    public static let featureMaskPenalty: Double = 1000

    /// docs/spec.md §3, as the reference's `seam_resize_features` + `carve_width` (the seam part) for shrinking:
    /// A = `meanActivation` / max(max A, 1e-12) in Double; k = `width − targetWidth` vertical seams with
    /// penalty 1000·M; A and M carved; then `height − targetHeight` horizontal seams on the carved A and M.
    /// A growing axis (where the reference falls back to linear) gets k = target − size seams inserted
    /// (`SeamSearch.insertSeams`: rounds of at most half the size, each the cheapest seams of the current A
    /// with the same penalty); A grows by averaging, M by copying the duplicated cell, so the height search
    /// after a width insertion sees the widened A and M.
    ///
    /// - Parameters:
    ///   - meanActivation: mean over channels of relu4_1 of the input, row-major `height × width` (H8 × W8).
    ///   - mask: the semantic mask on the same grid (true = protected).
    ///   - targetWidth, targetHeight: the relu4_1 target size (⌊w/8⌋, ⌊h/8⌋).
    ///   - extraEnergy: added to every cell's energy with the mask's penalty (same layout); nil adds none.
    public static func featureSeams(meanActivation: [Float], mask: [Bool], width: Int, height: Int,
                                    targetWidth: Int, targetHeight: Int, extraEnergy: [Double]? = nil,
                                    rule: SeamEnergyRule = .featureSpec,
                                    context: RunContext = .detached) throws -> FeatureSeamPlan {
        guard width >= 1, height >= 1 else { throw SeamSearchError.emptyField(width: width, height: height) }
        guard meanActivation.count == width * height else {
            throw SeamSearchError.sizeMismatch(what: "mean activation", expected: width * height, actual: meanActivation.count)
        }
        guard mask.count == width * height else {
            throw SeamSearchError.sizeMismatch(what: "mask", expected: width * height, actual: mask.count)
        }
        guard targetWidth >= 1, targetHeight >= 1 else {
            throw SeamSearchError.emptyField(width: targetWidth, height: targetHeight)
        }
        var a = meanActivation.map(Double.init)
        let peak = max(a.max() ?? 0, 1e-12)
        a = a.map { $0 / peak }
        var penalty = mask.map { $0 ? featureMaskPenalty : 0 }
        if let extraEnergy {
            guard extraEnergy.count == width * height else {
                throw SeamSearchError.sizeMismatch(what: "extra energy", expected: width * height, actual: extraEnergy.count)
            }
            for i in penalty.indices { penalty[i] += extraEnergy[i] }
        }

        var widthRemoval: SeamRemoval?
        var widthInsertion: SeamInsertion?
        if targetWidth < width {
            let r = try removeSeams(from: a, width: width, height: height, penalty: penalty,
                                    count: width - targetWidth, rule: rule, direction: .vertical, context: context)
            a = try r.keeping(a)
            penalty = try r.keeping(penalty)
            widthRemoval = r
        } else if targetWidth > width {
            widthInsertion = try insertSeams(into: &a, penalty: &penalty, width: width, height: height,
                                             count: targetWidth - width, rule: rule, direction: .vertical,
                                             context: context)
        }
        var heightRemoval: SeamRemoval?
        var heightInsertion: SeamInsertion?
        if targetHeight < height {
            heightRemoval = try removeSeams(from: a, width: targetWidth, height: height, penalty: penalty,
                                            count: height - targetHeight, rule: rule, direction: .horizontal,
                                            context: context)
        } else if targetHeight > height {
            heightInsertion = try insertSeams(into: &a, penalty: &penalty, width: targetWidth, height: height,
                                              count: targetHeight - height, rule: rule,
                                              direction: .horizontal, context: context)
        }
        return FeatureSeamPlan(width: widthRemoval, widthInsertion: widthInsertion,
                               height: heightRemoval, heightInsertion: heightInsertion)
    }
}
