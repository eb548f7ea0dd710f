/// The forward-energy seam search shared by the pixel method and the deep method's feature operator.
///
/// The grid keeps the carved field, the penalty and a map back to the original columns in buffers
/// allocated once (row stride = the original width); removing a seam shifts each row's tail left by one,
/// so no seam allocates. The dynamic programme keeps only two cost rows plus one byte of back-pointer per
/// cell. Not thread-safe: one search owns one grid.
final class ForwardSeamGrid<Scalar: BinaryFloatingPoint> {
    let height: Int
    /// Row stride of every buffer: the width the grid started with.
    let stride: Int
    /// Columns still present in every row.
    private(set) var width: Int
    /// Adds SPEC.md §3's backward term |A(y,x+1)−A(y,x)| + |A(y+1,x)−A(y,x)| to each cell's energy.
    let addsGradientEnergy: Bool

    private let field: UnsafeMutablePointer<Scalar>
    private let penalty: UnsafeMutablePointer<Scalar>?
    private let origin: UnsafeMutablePointer<Int32>
    private let back: UnsafeMutablePointer<Int8>
    private var costA: UnsafeMutablePointer<Scalar>
    private var costB: UnsafeMutablePointer<Scalar>
    private let seam: UnsafeMutablePointer<Int>

    /// `fill(field, penalty)` writes the initial values, row-major with row stride `width`; `penalty`
    /// is nil when the grid has none.
    init(width: Int, height: Int, addsGradientEnergy: Bool, hasPenalty: Bool,
         fill: (UnsafeMutablePointer<Scalar>, UnsafeMutablePointer<Scalar>?) -> Void) {
        precondition(width >= 1 && height >= 1, "seam grid needs a positive size")
        self.height = height
        self.stride = width
        self.width = width
        self.addsGradientEnergy = addsGradientEnergy
        let cells = width * height
        field = .allocate(capacity: cells)
        penalty = hasPenalty ? .allocate(capacity: cells) : nil
        origin = .allocate(capacity: cells)
        back = .allocate(capacity: cells)
        back.initialize(repeating: 0, count: cells)
        costA = .allocate(capacity: width)
        costB = .allocate(capacity: width)
        seam = .allocate(capacity: height)
        seam.initialize(repeating: 0, count: height)
        fill(field, penalty)
        for y in 0..<height {
            let row = origin + y * width
            for x in 0..<width { row[x] = Int32(truncatingIfNeeded: x) }
        }
    }

    deinit {
        field.deallocate()
        penalty?.deallocate()
        origin.deallocate()
        back.deallocate()
        costA.deallocate()
        costB.deallocate()
        seam.deallocate()
    }

    /// Original column of the cell now at (y, x).
    func originalColumn(row y: Int, column x: Int) -> Int { Int(origin[y * stride + x]) }

    /// The original columns still present in row `y`, in order (the first `width` entries).
    func keptColumns(row y: Int) -> UnsafeBufferPointer<Int32> {
        UnsafeBufferPointer(start: origin + y * stride, count: width)
    }

    /// Finds the cheapest seam of the current grid, removes it, and calls `visit(y, originalColumn)`
    /// for each row. Requires `width >= 1`.
    func removeCheapestSeam(_ visit: (Int, Int) -> Void) {
        precondition(width >= 1, "no column left to remove")
        computeCosts()
        traceSeam()
        let w = width
        for y in 0..<height {
            let s = seam[y]
            let base = y * stride
            visit(y, Int(origin[base + s]))
            let tail = w - 1 - s
            if tail > 0 {
                (field + base + s).update(from: field + base + s + 1, count: tail)
                (origin + base + s).update(from: origin + base + s + 1, count: tail)
                if let penalty { (penalty + base + s).update(from: penalty + base + s + 1, count: tail) }
            }
        }
        width = w - 1
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

    /// Forward energy (Rubinstein et al. 2008) with borders replicated; ties go to the lowest offset.
    private func computeCosts() {
        let w = width
        let h = height
        var prev = costA
        var cur = costB
        // Row 0: own energy plus the cost of joining the left and right neighbours.
        do {
            let row = field
            let below: UnsafeMutablePointer<Scalar>? = h > 1 ? field + stride : nil
            let pen = penalty
            for x in 0..<w {
                let l = row[x > 0 ? x - 1 : 0]
                let r = row[x + 1 < w ? x + 1 : w - 1]
                prev[x] = ownEnergy(row, below, pen, x, w) + abs(r - l)
            }
        }
        if h > 1 {
            for y in 1..<h {
                let row = field + y * stride
                let up = row - stride
                let below: UnsafeMutablePointer<Scalar>? = y + 1 < h ? row + stride : nil
                let pen = penalty.map { $0 + y * stride }
                let backRow = back + y * stride
                if w == 1 {
                    cur[0] = ownEnergy(row, below, pen, 0, 1) + prev[0]
                    backRow[0] = 0
                } else {
                    relaxRow(row: row, up: up, below: below, pen: pen, prev: prev, cur: cur, backRow: backRow, w: w)
                }
                swap(&prev, &cur)
            }
        }
        // `prev` now holds the last row's costs.
        costA = prev
        costB = cur
    }

    @inline(__always)
    private func relaxRow(row: UnsafeMutablePointer<Scalar>, up: UnsafeMutablePointer<Scalar>,
                          below: UnsafeMutablePointer<Scalar>?, pen: UnsafeMutablePointer<Scalar>?,
                          prev: UnsafeMutablePointer<Scalar>, cur: UnsafeMutablePointer<Scalar>,
                          backRow: UnsafeMutablePointer<Int8>, w: Int) {
        // x = 0: no left parent; the left neighbour is the cell itself (replicated border).
        do {
            let l = row[0], r = row[1], u = up[0]
            let cu = abs(r - l)
            let cr = cu + abs(u - r)
            var best = prev[0] + cu
            var off: Int8 = 0
            let viaRight = prev[1] + cr
            if viaRight < best { best = viaRight; off = 1 }
            cur[0] = ownEnergy(row, below, pen, 0, w) + best
            backRow[0] = off
        }
        var x = 1
        while x < w - 1 {
            let l = row[x - 1], r = row[x + 1], u = up[x]
            let cu = abs(r - l)
            let cl = cu + abs(u - l)
            let cr = cu + abs(u - r)
            var best = prev[x - 1] + cl
            var off: Int8 = -1
            let viaUp = prev[x] + cu
            if viaUp < best { best = viaUp; off = 0 }
            let viaRight = prev[x + 1] + cr
            if viaRight < best { best = viaRight; off = 1 }
            cur[x] = ownEnergy(row, below, pen, x, w) + best
            backRow[x] = off
            x += 1
        }
        // x = w-1: no right parent; the right neighbour is the cell itself.
        do {
            let l = row[w - 2], r = row[w - 1], u = up[w - 1]
            let cu = abs(r - l)
            let cl = cu + abs(u - l)
            var best = prev[w - 2] + cl
            var off: Int8 = -1
            let viaUp = prev[w - 1] + cu
            if viaUp < best { best = viaUp; off = 0 }
            cur[w - 1] = ownEnergy(row, below, pen, w - 1, w) + best
            backRow[w - 1] = off
        }
    }

    /// The seam ends at the first minimum of the last row and follows the back-pointers up.
    private func traceSeam() {
        let last = costA
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
    }
}
