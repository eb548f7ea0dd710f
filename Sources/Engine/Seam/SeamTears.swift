import Glibc

/// How visibly each removed seam tears the picture, and how many seams a removal may take before the
/// rest of the size change is better done by scaling (docs/spec.md §3.2, "Seams while they are cheap").
///
/// Why: a seam is invisible where it runs through flat regions or through texture without a direction
/// (moss, leaves, bark), and visible where it crosses a long straight or smooth edge at a slant: the edge's
/// two halves shift against each other, and where many seams cross it near one place (they crowd into the
/// same cheap corridors) a cable breaks into offset pieces, a facade's bands split along a fault line.
/// Forward energy alone cannot tell the two apart: a seam through moss costs as much as one across a cable.
/// Here each pixel's forward cost is weighted by how line-like the image is around it (the coherence of
/// the structure tensor, 0 for texture without a direction, 1 along an edge), so only the cost of crossing
/// edges counts.
public enum SeamTears {
    /// Carving stops at the first seam at which the mean weighted cost of the last `window` seams (fewer
    /// for the first seams) passes this fraction of an average straight seam's plain forward cost
    /// (`baseline`). Chosen by eye on
    /// the review set's 20 photos at width 60 % (scripts/quality-review): 0.12 scaled photos whose seams
    /// were clean (a meadow's path, a ladybird's blade kept straight but squeezed), 0.18 let the seams break
    /// a bridge's cables and step a table's legs.
    public static let limit = 0.15
    /// Seams are found greedily and their costs are noisy: averaged over 8, a seam that crosses one edge
    /// among cheap neighbours does not stop the carving, unless it alone costs 8 times the limit.
    static let window = 8
    /// Scale of the structure tensor, in pixels: wide enough that a star of moss or a leaf's veins average
    /// to no direction, narrow enough that a cable or a table's edge keeps its own.
    static let coherenceSigma = 6.0

    /// The coherence ((λ₁ − λ₂)/(λ₁ + λ₂))² of the structure tensor of `field` (row-major h × w; the
    /// gradient of the field smoothed by a Gaussian of σ = 1, its outer products smoothed by one of
    /// `coherenceSigma`): 1 where the neighbourhood has one direction, 0 where it has none.
    public static func coherence(_ field: [Double], width w: Int, height h: Int) -> [Double] {
        precondition(field.count == w * h, "field is \(field.count) values, expected \(w)×\(h)")
        let smooth = gaussian(field, width: w, height: h, sigma: 1)
        var xx = [Double](repeating: 0, count: w * h), yy = xx, xy = xx
        for y in 0..<h {
            for x in 0..<w {
                // Central differences inside, one-sided at the borders.
                let l = smooth[y * w + max(x - 1, 0)], r = smooth[y * w + min(x + 1, w - 1)]
                let u = smooth[max(y - 1, 0) * w + x], d = smooth[min(y + 1, h - 1) * w + x]
                let gx = (r - l) / Double(max(min(x + 1, w - 1) - max(x - 1, 0), 1))
                let gy = (d - u) / Double(max(min(y + 1, h - 1) - max(y - 1, 0), 1))
                let i = y * w + x
                xx[i] = gx * gx
                yy[i] = gy * gy
                xy[i] = gx * gy
            }
        }
        xx = gaussian(xx, width: w, height: h, sigma: coherenceSigma)
        yy = gaussian(yy, width: w, height: h, sigma: coherenceSigma)
        xy = gaussian(xy, width: w, height: h, sigma: coherenceSigma)
        return (0..<(w * h)).map { i in
            let trace = xx[i] + yy[i]
            let gap = (xx[i] - yy[i]) * (xx[i] - yy[i]) + 4 * xy[i] * xy[i]
            // (λ₁ − λ₂)² = gap; a flat neighbourhood (trace ≈ 0) has no direction.
            return gap / ((trace + 1e-6) * (trace + 1e-6))
        }
    }

    /// A separable Gaussian blur (radius ⌈3σ⌉, borders clamped).
    static func gaussian(_ v: [Double], width w: Int, height h: Int, sigma: Double) -> [Double] {
        let radius = Int((3 * sigma).rounded(.up))
        var kernel = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        var rows = [Double](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                var acc = 0.0
                for k in -radius...radius { acc += kernel[k + radius] * v[y * w + min(max(x + k, 0), w - 1)] }
                rows[y * w + x] = acc
            }
        }
        var out = [Double](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                var acc = 0.0
                for k in -radius...radius { acc += kernel[k + radius] * rows[min(max(y + k, 0), h - 1) * w + x] }
                out[y * w + x] = acc
            }
        }
        return out
    }

    /// The plain forward cost of an average straight seam per pixel: the mean of |A(x+1) − A(x−1)| across
    /// the seams' direction (neighbours clamped at the borders), the unit of `limit`.
    static func baseline(_ field: [Double], width w: Int, height h: Int, direction: SeamDirection) -> Double {
        var sum = 0.0
        for y in 0..<h {
            for x in 0..<w {
                switch direction {
                case .vertical: sum += abs(field[y * w + min(x + 1, w - 1)] - field[y * w + max(x - 1, 0)])
                case .horizontal: sum += abs(field[min(y + 1, h - 1) * w + x] - field[max(y - 1, 0) * w + x])
                }
            }
        }
        return sum / Double(max(w * h, 1))
    }

    /// Each seam of `removal` (found on `field` by `SeamEnergyRule.pixelForward`), replayed in removal
    /// order: the sum over its pixels of the forward cost it paid there (the new neighbours' difference,
    /// and the step's from the row before), each weighted by `coherence` at that pixel; infinity for a seam
    /// that took a cell with a positive `penalty` (the mask).
    public static func weightedCosts(_ removal: SeamRemoval, field: [Double], coherence: [Double],
                                     penalty: [Double]?) -> [Double] {
        let vertical = removal.direction == .vertical
        // Work on columns: a horizontal removal is replayed on the transposed planes.
        let (w, h) = vertical ? (removal.width, removal.height) : (removal.height, removal.width)
        func at(_ plane: [Double], _ y: Int, _ x: Int) -> Double {
            vertical ? plane[y * removal.width + x] : plane[x * removal.width + y]
        }
        // The original columns still present in each row, in order.
        var kept = (0..<h).map { _ in [Int](0..<w) }
        var costs: [Double] = []
        costs.reserveCapacity(removal.seams.count)
        var position = [Int](repeating: 0, count: h)
        for seam in removal.seams {
            var total = 0.0
            for y in 0..<h {
                let row = kept[y]
                // Binary search: the seam's original column in this row's kept columns.
                var lo = 0, hi = row.count - 1
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if row[mid] < seam[y] { lo = mid + 1 } else { hi = mid }
                }
                position[y] = lo
                if let penalty, at(penalty, y, seam[y]) > 0 { total = .infinity }
                let left = at(field, y, row[max(lo - 1, 0)]), right = at(field, y, row[min(lo + 1, row.count - 1)])
                var local = abs(right - left)
                if y > 0 {
                    let step = position[y - 1] - lo
                    let above = at(field, y - 1, kept[y - 1][lo])
                    if step < 0 { local += abs(above - left) } else if step > 0 { local += abs(above - right) }
                }
                total += local * at(coherence, y, seam[y])
            }
            for y in 0..<h { kept[y].remove(at: position[y]) }
            costs.append(total)
        }
        return costs
    }

    /// How strongly the tear-aware search (`searchWeight`) steers seams away from line-like regions.
    /// 1 (a seam's forward cost counts up to twice where the image has one direction): on the 56 width and
    /// height 60 % cases of the review and held-out sets, more of each change is done by seams (friends,
    /// the brushes, the fig, the drum) and the lines stay whole; 4 put kinks into the bowl's rim (Picture_0B
    /// at width 60 %), as the rule's seams crossed it more often.
    public static let searchCoherenceWeight = 1.0

    /// The factor on each cell's forward cost for the seam search whose seams this rule then judges:
    /// 1 + `searchCoherenceWeight` × coherence. Why: the plain forward-energy search finds the seams that
    /// change the pixels least, and crosses a cable as readily as moss if the two cost the same; the
    /// stopping rule then refuses them. Searching on (part of) the rule's own weighted cost sends the
    /// seams through texture without a direction first, so more of them stay cheap, and the rest of the
    /// change is left to the scale only where every way across tears a line.
    public static func searchWeight(coherence: [Double]) -> [Double] {
        coherence.map { 1 + searchCoherenceWeight * $0 }
    }

    /// How many of `removal`'s seams, taken in order, stay cheap: the index of the first seam at which the
    /// mean weighted cost (`weightedCosts`) of the last `window` seams passes `limit` × `baseline` × the
    /// seam's length; all of them when none does. `coherence`: `coherence(field)`, when the caller has it.
    public static func cheapSeamCount(_ removal: SeamRemoval, field: [Double], coherence known: [Double]? = nil,
                                      penalty: [Double]?, limit: Double = limit) -> Int {
        guard !removal.seams.isEmpty else { return 0 }
        let w = removal.width, h = removal.height
        let costs = weightedCosts(removal, field: field, coherence: known ?? coherence(field, width: w, height: h),
                                  penalty: penalty)
        let length = Double(removal.direction == .vertical ? h : w)
        let bound = limit * baseline(field, width: w, height: h, direction: removal.direction) * length
        var sum = 0.0
        for (i, c) in costs.enumerated() {
            sum += c
            if i >= window { sum -= costs[i - window] }
            if sum / Double(min(i + 1, window)) > bound { return i }
        }
        return costs.count
    }
}

extension SeamRemoval {
    /// The first `count` seams only: the removal a search asked for `count` seams would have made.
    public func prefix(_ count: Int) -> SeamRemoval {
        let n = min(max(count, 0), seams.count)
        var removed = [Bool](repeating: false, count: width * height)
        for seam in seams[..<n] {
            for (i, c) in seam.enumerated() {
                removed[direction == .vertical ? i * width + c : c * width + i] = true
            }
        }
        return SeamRemoval(width: width, height: height, direction: direction, seams: Array(seams[..<n]),
                           removed: removed, costs: Array(costs.prefix(n)))
    }
}
