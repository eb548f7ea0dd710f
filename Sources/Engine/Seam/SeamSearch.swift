/// Which energy the forward seam search minimises.
public enum SeamEnergyRule: Sendable, Equatable {
    /// docs/spec.md §3 (`operator=seam`), exactly as the reference's `find_seams`: each cell's energy is
    /// |A(y,x+1)−A(y,x)| + |A(y+1,x)−A(y,x)| (0 past the last column/row) plus the penalty, on top of the
    /// forward costs. Accumulated in Double, like the reference's float64 numpy, so the seams match it.
    case featureSpec
    /// `featureSpec`'s energy, but ties go straight down (offset 0, then −1, then +1). Ours, for the deep
    /// seam operator's relu4_1 seams: in a flat region every path costs the same, and the lowest-offset rule then
    /// sends the seams along 45° diagonals, which cut smooth gradients into a sawtooth.
    case featureStraightTies
    /// Classic forward energy (Rubinstein, Shamir, Avidan 2008) as the PyPI `seam-carving` package's
    /// `energy_mode="forward"`: only the forward costs, plus the penalty. Accumulated in the field's own
    /// precision (Float for the pixel method, like the package).
    case pixelForward
}

/// Vertical seams run top to bottom and narrow the field; horizontal seams run left to right and
/// lower it (the same search on the transposed field).
public enum SeamDirection: Sendable, Equatable {
    case vertical
    case horizontal
}

/// The outcome of removing seams one after another from a field.
public struct SeamRemoval: Sendable, Equatable {
    /// Size of the field the seams were found on (before any removal).
    public let width: Int
    public let height: Int
    public let direction: SeamDirection
    /// Seams in removal order, in original grid coordinates. Vertical: `seams[i][y]` is the column
    /// removed from row y. Horizontal: `seams[i][x]` is the row removed from column x.
    public let seams: [[Int]]
    /// Row-major `height × width` of the original field, true where a seam removed the cell.
    public let removed: [Bool]
    /// Each seam's energy when it was removed (the search's cumulative cost, penalty included), in removal
    /// order; empty when the search did not record it.
    public let costs: [Double]

    public init(width: Int, height: Int, direction: SeamDirection, seams: [[Int]], removed: [Bool], costs: [Double] = []) {
        self.width = width
        self.height = height
        self.direction = direction
        self.seams = seams
        self.removed = removed
        self.costs = costs
    }

    public func isRemoved(row y: Int, column x: Int) -> Bool { removed[y * width + x] }
}

public enum SeamSearchError: Error, Sendable, Equatable, CustomStringConvertible {
    case emptyField(width: Int, height: Int)
    case sizeMismatch(what: String, expected: Int, actual: Int)
    case tooManySeams(requested: Int, available: Int)
    case nonFiniteValue(what: String, index: Int)
    case nonPositiveWeight(index: Int)

    public var description: String {
        switch self {
        case let .emptyField(w, h): "seam search needs a field of at least 1×1, got \(w)×\(h)"
        case let .sizeMismatch(what, expected, actual): "seam search: \(what) has \(actual) values, expected \(expected)"
        case let .tooManySeams(requested, available):
            "seam search: cannot remove \(requested) seams from \(available) columns/rows (0 … \(available) allowed)"
        case let .nonFiniteValue(what, index): "seam search: \(what) holds a NaN or infinity at index \(index)"
        case let .nonPositiveWeight(index): "seam search: weight at index \(index) is not a positive finite number"
        }
    }
}

/// Forward-energy seam search over a scalar field (pixels' luminance, or a feature map's mean).
public enum SeamSearch {
    /// Removes `count` seams one after another and reports where they were.
    ///
    /// - Parameters:
    ///   - field: the scalar field A, row-major `height × width`.
    ///   - penalty: optional per-cell energy added to A's (e.g. 1000 × a protection mask), same layout;
    ///     it is carved along with A.
    ///   - weight: optional per-cell factor (positive) on the forward costs a seam pays at the cell, same
    ///     layout, carved along with A: the deep method's tear-aware search (`SeamTears.searchWeight`).
    ///   - rule: `.featureSpec` computes in Double; `.pixelForward` in Double here (see the Float overload).
    ///   - context: progress (seams done of `count`) and cancellation between seams.
    public static func removeSeams(from field: [Double], width: Int, height: Int, penalty: [Double]? = nil,
                                   weight: [Double]? = nil,
                                   count: Int, rule: SeamEnergyRule, direction: SeamDirection = .vertical,
                                   context: RunContext = .detached) throws -> SeamRemoval {
        try validate(field, penalty, width: width, height: height, count: count, direction: direction)
        if let weight {
            guard weight.count == field.count else {
                throw SeamSearchError.sizeMismatch(what: "weight", expected: field.count, actual: weight.count)
            }
            if let bad = weight.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
                throw SeamSearchError.nonPositiveWeight(index: bad)
            }
        }
        return try search(Double.self, field: field, penalty: penalty, weight: weight, width: width, height: height, count: count,
                          rule: rule, direction: direction, context: context)
    }

    /// Float fields: `.featureSpec` widens to Double (exactly, as the reference's `.double()`);
    /// `.pixelForward` stays in Float.
    public static func removeSeams(from field: [Float], width: Int, height: Int, penalty: [Float]? = nil,
                                   count: Int, rule: SeamEnergyRule, direction: SeamDirection = .vertical,
                                   context: RunContext = .detached) throws -> SeamRemoval {
        try validate(field, penalty, width: width, height: height, count: count, direction: direction)
        switch rule {
        case .featureSpec, .featureStraightTies:
            return try search(Double.self, field: field, penalty: penalty, width: width, height: height,
                              count: count, rule: rule, direction: direction, context: context)
        case .pixelForward:
            return try search(Float.self, field: field, penalty: penalty, width: width, height: height,
                              count: count, rule: rule, direction: direction, context: context)
        }
    }

    private static func validate<T: BinaryFloatingPoint>(_ field: [T], _ penalty: [T]?, width: Int, height: Int,
                                                        count: Int, direction: SeamDirection) throws {
        guard width >= 1, height >= 1 else { throw SeamSearchError.emptyField(width: width, height: height) }
        let (cells, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, field.count == cells else {
            throw SeamSearchError.sizeMismatch(what: "field", expected: overflow ? Int.max : cells, actual: field.count)
        }
        if let penalty, penalty.count != cells {
            throw SeamSearchError.sizeMismatch(what: "penalty", expected: cells, actual: penalty.count)
        }
        let available = direction == .vertical ? width : height
        guard count >= 0, count <= available else {
            throw SeamSearchError.tooManySeams(requested: count, available: available)
        }
        if let bad = field.firstIndex(where: { !$0.isFinite }) { throw SeamSearchError.nonFiniteValue(what: "field", index: bad) }
        if let bad = penalty?.firstIndex(where: { !$0.isFinite }) { throw SeamSearchError.nonFiniteValue(what: "penalty", index: bad) }
    }

    private static func search<S: BinaryFloatingPoint, T: BinaryFloatingPoint>(
        _: S.Type, field: [T], penalty: [T]?, weight: [T]? = nil, width: Int, height: Int, count: Int, rule: SeamEnergyRule,
        direction: SeamDirection, context: RunContext
    ) throws -> SeamRemoval {
        let transposed = direction == .horizontal
        // The grid always carves columns; horizontal seams carve the transposed field.
        let gw = transposed ? height : width
        let gh = transposed ? width : height
        let grid = ForwardSeamGrid<S>(width: gw, height: gh, addsGradientEnergy: rule != .pixelForward,
                                      tiesGoStraight: rule == .featureStraightTies,
                                      hasPenalty: penalty != nil, hasWeight: weight != nil) { a, p, q in
            for gy in 0..<gh {
                for gx in 0..<gw {
                    let src = transposed ? gx * width + gy : gy * width + gx
                    a[gy * gw + gx] = S(field[src])
                    if let p, let penalty { p[gy * gw + gx] = S(penalty[src]) }
                    if let q, let weight { q[gy * gw + gx] = S(weight[src]) }
                }
            }
        }
        var removed = [Bool](repeating: false, count: width * height)
        var seams: [[Int]] = [], costs: [Double] = []
        seams.reserveCapacity(count)
        costs.reserveCapacity(count)
        for done in 0..<count {
            try context.checkCancelled()
            var path = [Int](repeating: 0, count: gh)
            let cost = grid.removeCheapestSeam { gy, gx in
                path[gy] = gx
                removed[transposed ? gx * width + gy : gy * width + gx] = true
            }
            seams.append(path)
            costs.append(Double(cost))
            context.report(StepProgress(step: done + 1, total: count))
        }
        return SeamRemoval(width: width, height: height, direction: direction, seams: seams, removed: removed, costs: costs)
    }
}
