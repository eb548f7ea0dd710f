/// The forward-energy seam search shared by the pixel method and the deep method's feature operator.
///
/// The grid keeps the carved field, the penalty, a map back to the original columns, the cumulative
/// costs and one byte of back-pointer per cell in buffers allocated once (row stride = the original
/// width); removing a seam shifts each row's tail left by one, so no seam allocates.
///
/// Costs are updated incrementally after each removal: a cell is recomputed only where its inputs can
/// have changed (next to the removed seam, or below a cell whose cost changed), which on photos touches a
/// narrow band around the seam instead of the whole grid. Recomputed cells use the same arithmetic as a
/// full pass, so the seams are bit-for-bit those of recomputing everything (`incremental: false`).
/// Not thread-safe: one search owns one grid.
final class ForwardSeamGrid<Scalar: BinaryFloatingPoint> {
    let height: Int
    /// Row stride of every buffer: the width the grid started with.
    let stride: Int
    /// Columns still present in every row.
    private(set) var width: Int
    /// Adds docs/spec.md §3's backward term |A(y,x+1)−A(y,x)| + |A(y+1,x)−A(y,x)| to each cell's energy.
    let addsGradientEnergy: Bool
    /// Ties between a cell's three parents go to the one straight above first (else to the lowest offset).
    let tiesGoStraight: Bool
    /// Update costs around the last seam instead of recomputing them all (same result, faster).
    let incremental: Bool

    private let field: UnsafeMutablePointer<Scalar>
    private let penalty: UnsafeMutablePointer<Scalar>?
    /// Per-cell factor on the forward costs of a seam through the cell (nil: 1 everywhere).
    private let weight: UnsafeMutablePointer<Scalar>?
    private let origin: UnsafeMutablePointer<Int32>
    private let cost: UnsafeMutablePointer<Scalar>
    private let back: UnsafeMutablePointer<Int8>
    /// The last seam found (current columns per row); after its removal, where the costs need updating.
    private let seam: UnsafeMutablePointer<Int>
    private var costsFollowLastRemoval = false

    /// `fill(field, penalty, weight)` writes the initial values, row-major with row stride `width`;
    /// `penalty` and `weight` are nil when the grid has none.
    init(width: Int, height: Int, addsGradientEnergy: Bool, tiesGoStraight: Bool = false, hasPenalty: Bool,
         hasWeight: Bool = false, incremental: Bool = true,
         fill: (UnsafeMutablePointer<Scalar>, UnsafeMutablePointer<Scalar>?, UnsafeMutablePointer<Scalar>?) -> Void) {
        precondition(width >= 1 && height >= 1, "seam grid needs a positive size")
        self.height = height
        self.stride = width
        self.width = width
        self.addsGradientEnergy = addsGradientEnergy
        self.tiesGoStraight = tiesGoStraight
        self.incremental = incremental
        let cells = width * height
        field = .allocate(capacity: cells)
        penalty = hasPenalty ? .allocate(capacity: cells) : nil
        weight = hasWeight ? .allocate(capacity: cells) : nil
        origin = .allocate(capacity: cells)
        cost = .allocate(capacity: cells)
        cost.initialize(repeating: 0, count: cells)
        back = .allocate(capacity: cells)
        back.initialize(repeating: 0, count: cells)
        seam = .allocate(capacity: height)
        seam.initialize(repeating: 0, count: height)
        fill(field, penalty, weight)
        for y in 0..<height {
            let row = origin + y * width
            for x in 0..<width { row[x] = Int32(truncatingIfNeeded: x) }
        }
    }

    deinit {
        field.deallocate()
        penalty?.deallocate()
        weight?.deallocate()
        origin.deallocate()
        cost.deallocate()
        back.deallocate()
        seam.deallocate()
    }

    /// Original column of the cell now at (y, x).
    func originalColumn(row y: Int, column x: Int) -> Int { Int(origin[y * stride + x]) }

    /// The original columns still present in row `y`, in order (the first `width` entries).
    func keptColumns(row y: Int) -> UnsafeBufferPointer<Int32> {
        UnsafeBufferPointer(start: origin + y * stride, count: width)
    }

    /// Finds the cheapest seam of the current grid, removes it, and calls `visit(y, originalColumn)`
    /// for each row; returns the seam's cost (its cumulative energy at the last row). Requires `width >= 1`.
    @discardableResult
    func removeCheapestSeam(_ visit: (Int, Int) -> Void) -> Scalar {
        precondition(width >= 1, "no column left to remove")
        if incremental && costsFollowLastRemoval {
            updateCostsAfterRemoval()
        } else {
            for y in 0..<height { relax(row: y, from: 0, through: width - 1) }
        }
        let seamCost = traceSeam()
        let w = width
        for y in 0..<height {
            let s = seam[y]
            let base = y * stride
            visit(y, Int(origin[base + s]))
            let tail = w - 1 - s
            if tail > 0 {
                let at = base + s
                (field + at).update(from: field + at + 1, count: tail)
                (origin + at).update(from: origin + at + 1, count: tail)
                (cost + at).update(from: cost + at + 1, count: tail)
                (back + at).update(from: back + at + 1, count: tail)
                if let penalty { (penalty + at).update(from: penalty + at + 1, count: tail) }
                if let weight { (weight + at).update(from: weight + at + 1, count: tail) }
            }
        }
        width = w - 1
        costsFollowLastRemoval = true
        return seamCost
    }

    // MARK: - Dynamic programme

    /// The cell's own energy: the optional gradient term plus the optional penalty, summed in the
    /// reference's order ((dx + dy) + penalty) so Double results match it bit for bit.
    @inline(__always)
    private func ownEnergy(_ row: UnsafeMutablePointer<Scalar>, _ below: UnsafeMutablePointer<Scalar>?,
                           _ pen: UnsafeMutablePointer<Scalar>?, _ x: Int, _ w: Int) -> Scalar {
        var e: Scalar = 0
        if addsGradientEnergy {
            let here = row[x]
            let dx: Scalar = x + 1 < w ? abs(row[x + 1] - here) : 0
            let dy: Scalar = below.map { abs($0[x] - here) } ?? 0
            e = dx + dy
        }
        if let pen { e += pen[x] }
        return e
    }

    /// Recomputes cells `lo … hi` of row `y` (forward energy, Rubinstein et al. 2008, borders replicated,
    /// ties to the lowest offset) and returns the first and last cell whose cost changed, if any.
    @discardableResult
    private func relax(row y: Int, from lo: Int, through hi: Int) -> (first: Int, last: Int)? {
        let w = width
        let row = field + y * stride
        let below: UnsafeMutablePointer<Scalar>? = y + 1 < height ? row + stride : nil
        let pen = penalty.map { $0 + y * stride }
        let wrow = weight.map { $0 + y * stride }
        let costRow = cost + y * stride
        let backRow = back + y * stride
        var firstChanged = Int.max
        var lastChanged = Int.min
        if y == 0 {
            // Top row: own energy plus the cost of joining the left and right neighbours.
            for x in lo...hi {
                let l = row[x > 0 ? x - 1 : 0]
                let r = row[x + 1 < w ? x + 1 : w - 1]
                let value = ownEnergy(row, below, pen, x, w) + abs(r - l) * (wrow?[x] ?? 1)
                if value != costRow[x] {
                    costRow[x] = value
                    firstChanged = min(firstChanged, x)
                    lastChanged = x
                }
                backRow[x] = 0
            }
        } else {
            let up = row - stride
            let prev = costRow - stride
            for x in lo...hi {
                let l = row[x > 0 ? x - 1 : 0]
                let r = row[x + 1 < w ? x + 1 : w - 1]
                let u = up[x]
                let wt = wrow?[x] ?? 1
                let cu = abs(r - l) * wt
                var best = Scalar.infinity
                var off: Int8 = -1
                let viaUp = prev[x] + cu
                if tiesGoStraight {
                    best = viaUp
                    off = 0
                    if x > 0, prev[x - 1] + (cu + abs(u - l) * wt) < best { best = prev[x - 1] + (cu + abs(u - l) * wt); off = -1 }
                } else {
                    if x > 0 { best = prev[x - 1] + (cu + abs(u - l) * wt) }
                    if viaUp < best { best = viaUp; off = 0 }
                }
                if x + 1 < w {
                    let viaRight = prev[x + 1] + (cu + abs(u - r) * wt)
                    if viaRight < best { best = viaRight; off = 1 }
                }
                let value = ownEnergy(row, below, pen, x, w) + best
                if value != costRow[x] {
                    costRow[x] = value
                    firstChanged = min(firstChanged, x)
                    lastChanged = x
                }
                backRow[x] = off
            }
        }
        return lastChanged >= 0 ? (firstChanged, lastChanged) : nil
    }

    /// After a removal, a cell's inputs are unchanged (merely shifted with it) unless it lies within two
    /// columns of where the seam crossed its own row or the rows above and below (neighbours and the
    /// alignment between rows changed), or one of its three parents changed cost. Only those cells are
    /// recomputed, row by row from the top.
    private func updateCostsAfterRemoval() {
        let w = width
        var changed: (first: Int, last: Int)? = nil
        for y in 0..<height {
            let here = seam[y]
            let above = y > 0 ? seam[y - 1] : here
            let under = y + 1 < height ? seam[y + 1] : here
            var lo = min(here, above, under) - 2
            var hi = max(here, above, under) + 2
            if let changed {
                lo = min(lo, changed.first - 1)
                hi = max(hi, changed.last + 1)
            }
            lo = max(lo, 0)
            hi = min(hi, w - 1)
            changed = lo <= hi ? relax(row: y, from: lo, through: hi) : nil
        }
    }

    /// The seam ends at the first minimum of the last row and follows the back-pointers up (into `seam`);
    /// returns its cost.
    private func traceSeam() -> Scalar {
        let last = cost + (height - 1) * stride
        var end = 0
        var lowest = last[0]
        for x in 1..<max(width, 1) where last[x] < lowest {
            lowest = last[x]
            end = x
        }
        seam[height - 1] = end
        var y = height - 1
        while y > 0 {
            let x = seam[y]
            seam[y - 1] = x + Int(back[y * stride + x])
            y -= 1
        }
        return lowest
    }
}
