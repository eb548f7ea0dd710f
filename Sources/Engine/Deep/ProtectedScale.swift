/// The protected non-uniform scale of docs/spec.md §3 (`operator=linear`, `protect=true`): along one axis,
/// the columns (rows) that hold a protected cell keep scale 1 as far as the target allows and the others
/// absorb the change, so the main object keeps its proportions where a uniform resize would squash it.
///
/// The axis is warped piecewise linearly: every input cell has a local scale, `protectedScale` or
/// `unprotectedScale`, and output cell i reads the input interval that the inverse warp gives for
/// [i, i + 1). That interval is filtered exactly as the uniform `linear` operator filters its own (a
/// triangle of radius max(interval length, 1) around the interval's centre, normalised), so with nothing
/// protected the weights are the uniform ones.
struct ProtectedAxis {
    /// The unprotected cells are never scaled by less than `bound` × the uniform scale (shrinking) or more
    /// than uniform ÷ `bound` (enlarging); past that the protected cells give way too. Without a bound a
    /// large mask would crush the rest of the picture to nothing (a 50 % mask at a 60 % width leaves the
    /// background a fifth of its width; with the bound the background keeps 0.3 and the object 0.9).
    static let bound = 0.5

    let inputCount: Int
    let outputCount: Int
    /// Local output-per-input scale of protected and of unprotected cells.
    let protectedScale: Double
    let unprotectedScale: Double
    /// Output position of each input cell boundary: `edges[j]` for the left edge of cell j,
    /// `edges[inputCount] == outputCount`.
    private let edges: [Double]

    /// - Parameters:
    ///   - protected: one flag per input cell (a column of the layer for the width axis).
    ///   - outputCount: the axis' size at the output.
    init(protected: [Bool], outputCount: Int) {
        self.init(protection: protected.map { $0 ? 1 : 0 }, outputCount: outputCount)
    }

    /// - Parameters:
    ///   - protection: per input cell, how far it is protected (0 … 1): its scale is the unprotected
    ///     one moved that far toward the protected one. Fractions let the scale change smoothly, so that a
    ///     line crossing the edge of the protected columns bends gently instead of kinking.
    ///   - outputCount: the axis' size at the output.
    ///   - maximumRatio: when set, the protected scale is at most this many times the unprotected one
    ///     (shrinking; at least its inverse when enlarging): a line that crosses the protected columns at a
    ///     slant bends where the scale changes, and the larger the ratio, the sharper the bend.
    init(protection: [Double], outputCount: Int, maximumRatio: Double? = nil) {
        let n = Double(outputCount), total = Double(protection.count)
        let p = protection.reduce(0, +), q = total - p
        let uniform = n / total
        var rp = uniform, ru = uniform
        if p > 1e-9, q > 1e-9 {
            ru = min(max((n - p) / q, Self.bound * uniform), uniform / Self.bound)
            rp = (n - ru * q) / p
            if let c = maximumRatio, c >= 1, rp > c * ru || rp < ru / c {
                // ru·q + rp·p = n with rp = c·ru (or ru/c).
                let ratio = rp > ru ? c : 1 / c
                ru = n / (q + ratio * p)
                rp = ratio * ru
            }
        }
        inputCount = protection.count
        self.outputCount = outputCount
        protectedScale = rp
        unprotectedScale = ru
        var edges = [Double](repeating: 0, count: protection.count + 1)
        for (j, g) in protection.enumerated() { edges[j + 1] = edges[j] + ru + (rp - ru) * g }
        // Rounding must not move the far edge off the output size.
        let fix = n / max(edges[protection.count], .leastNonzeroMagnitude)
        self.edges = edges.map { $0 * fix }
    }

    /// True when every cell has the same scale (nothing protected, or everything).
    var isUniform: Bool { protectedScale == unprotectedScale }

    /// The input coordinate (in cells, 0 … inputCount) that the warp sends to output coordinate `u`.
    func inputPosition(_ u: Double) -> Double {
        if u <= 0 { return 0 }
        if u >= Double(outputCount) { return Double(inputCount) }
        // The first cell whose right edge passes u (edges are increasing).
        var lo = 0, hi = inputCount - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if edges[mid + 1] <= u { lo = mid + 1 } else { hi = mid }
        }
        let width = edges[lo + 1] - edges[lo]
        return Double(lo) + (width > 0 ? (u - edges[lo]) / width : 0)
    }

    /// The resampling weights of this warp: output i filters the input interval
    /// [inputPosition(i), inputPosition(i + 1)).
    var weights: AxisWeights {
        var starts = [Int](repeating: 0, count: outputCount)
        var sizes = [Int](repeating: 0, count: outputCount)
        var rows: [[Float]] = []
        rows.reserveCapacity(outputCount)
        for i in 0..<outputCount {
            let a = inputPosition(Double(i)), b = inputPosition(Double(i + 1))
            let scale = Float(b - a), centre = Float((a + b) / 2)
            let support: Float = scale >= 1 ? scale : 1
            let invScale: Float = scale >= 1 ? 1 / scale : 1
            let lo = max(Int(centre - support + 0.5), 0)
            let hi = max(min(Int(centre + support + 0.5), inputCount), lo)
            var row = (lo..<hi).map { j -> Float in
                let x = abs((Float(j) - centre + 0.5) * invScale)
                return x < 1 ? 1 - x : 0
            }
            let total = row.reduce(0, +)
            if total > 0 { row = row.map { $0 / total } }
            starts[i] = lo
            sizes[i] = row.count
            rows.append(row)
        }
        let taps = max(sizes.max() ?? 1, 1)
        var weights = [Float](repeating: 0, count: outputCount * taps)
        for (i, row) in rows.enumerated() { for (j, w) in row.enumerated() { weights[i * taps + j] = w } }
        return AxisWeights(inputCount: inputCount, outputCount: outputCount, taps: taps, starts: starts,
                           sizes: sizes, weights: weights)
    }
}

extension FeatureResize {
    /// `linear` with the protected non-uniform scale of docs/spec.md §3 on both axes: the mask is carried to
    /// the tensor's grid (stride `stride`, docs/spec.md §2 nearest rule); a column with a protected cell is a
    /// protected column, likewise rows. Width first, then height, as `linear`. With an empty (or full)
    /// mask this is `linear` exactly.
    public static func protectedLinear(_ source: Tensor, stride: Int, mask: SemanticMask,
                                       height: Int, width: Int) -> Tensor {
        let grid = mask.resampled(toStride: stride, width: source.width, height: source.height)
        var columns = [Bool](repeating: false, count: source.width)
        var rows = [Bool](repeating: false, count: source.height)
        for y in 0..<source.height {
            for x in 0..<source.width where grid[y * source.width + x] {
                columns[x] = true
                rows[y] = true
            }
        }
        let wx = ProtectedAxis(protected: columns, outputCount: width)
        let wy = ProtectedAxis(protected: rows, outputCount: height)
        let out = Tensor(channels: source.channels, height: height, width: width)
        separable(source.data, channels: source.channels, height: source.height, width: source.width,
                  into: out.data, height: height, width: width,
                  horizontal: wx.isUniform ? nil : wx.weights, vertical: wy.isUniform ? nil : wy.weights)
        return out
    }
}
