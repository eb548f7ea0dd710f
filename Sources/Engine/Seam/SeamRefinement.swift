/// Seams carried from a coarse field to one `factor` times finer, each following the fine field's own
/// energy instead of copying the coarse cells as factor × factor blocks.
///
/// Why: a relu4_1 seam removes 8 × 8 blocks of relu1_1 (and of the pixels), so the finest targets carry an
/// 8-pixel staircase; a straight edge that crosses it is cut into offset pieces, which the reconstruction
/// then reproduces. A refined seam is a one-cell-wide, 8-connected path at its own level.
///
/// How: each coarse seam, in removal order, gives `factor` fine seams, found one after another on the fine
/// field as it is being carved, by the same forward-energy search as the coarse one, but only through the
/// band of the coarse seam: in a fine row under coarse row Y, the fine columns of the coarse cells within
/// `bandRadius` of X(Y). The band keeps the coarse level's choice of where to cut while letting the fine
/// seam follow what it sees: with a radius of one coarse cell, seams in smooth gradients inherited the
/// coarse staircase and cut the gradient into a sawtooth; four cells let them follow the image
/// (docs/spec.md). The fine field may need one seam more or fewer than factor × (coarse seams) (the floor
/// rule of layer sizes); the last coarse seam then gives one fewer, or one more is searched over the whole
/// field.
///
/// The deep method refines its insertions this way. Its removals search the pixels directly
/// (`FeatureResize.pixelRemoval`): removing, the children of one coarse seam ran side by side along its
/// path, and such a bundle tore the long edges it crossed (docs/spec.md §3.2).
public enum SeamRefinement {
    /// How many coarse cells on each side of the coarse seam its fine seams may stray (measured: 1 gives a
    /// sawtooth in smooth gradients, 4 does not).
    public static let bandRadius = 4

    /// Refines `parent` (seams found on the coarse field) on `field`, a `factor` times finer field laid out
    /// like the coarse one (row-major height × width, same direction); removes `count` seams.
    ///
    /// - Parameters:
    ///   - parent: nil when the coarse level changes nothing on this axis but the fine one must (rounding):
    ///     then the `count` seams are searched over the whole field.
    ///   - penalty: per-cell energy added to the field's (the mask's 1000×), carved along.
    public static func refine(_ parent: SeamRemoval?, factor: Int, field: [Double], penalty: [Double],
                              width: Int, height: Int, direction: SeamDirection, count: Int,
                              context: RunContext = .detached) throws -> SeamRemoval {
        guard width >= 1, height >= 1 else { throw SeamSearchError.emptyField(width: width, height: height) }
        guard field.count == width * height else {
            throw SeamSearchError.sizeMismatch(what: "field", expected: width * height, actual: field.count)
        }
        guard penalty.count == width * height else {
            throw SeamSearchError.sizeMismatch(what: "penalty", expected: width * height, actual: penalty.count)
        }
        let available = direction == .vertical ? width : height
        guard count >= 0, count <= available else { throw SeamSearchError.tooManySeams(requested: count, available: available) }
        precondition(factor >= 1, "refinement factor must be positive")
        if let parent { precondition(parent.direction == direction, "refining seams of another direction") }

        let transposed = direction == .horizontal
        let gw = transposed ? height : width, gh = transposed ? width : height
        let grid = BandedSeamGrid(width: gw, height: gh) { a, p in
            for gy in 0..<gh {
                for gx in 0..<gw {
                    let src = transposed ? gx * width + gy : gy * width + gx
                    a[gy * gw + gx] = field[src]
                    p[gy * gw + gx] = penalty[src]
                }
            }
        }
        // The coarse seams along the grid's rows: a vertical seam holds a column per row; a horizontal one
        // a row per column, which is the same thing in the transposed grid.
        let parentLength = parent.map { transposed ? $0.width : $0.height } ?? 0
        var removed = [Bool](repeating: false, count: width * height)
        var seams: [[Int]] = []
        seams.reserveCapacity(count)
        var band = [(lo: Int, hi: Int)](repeating: (0, 0), count: gh)
        func take(_ path: [Int]) {
            for (gy, gx) in path.enumerated() { removed[transposed ? gx * width + gy : gy * width + gx] = true }
            seams.append(path)
            context.report(StepProgress(step: seams.count, total: count))
        }
        if let parent {
            outer: for coarse in parent.seams {
                for _ in 0..<factor {
                    guard seams.count < count else { break outer }
                    try context.checkCancelled()
                    for gy in 0..<gh {
                        let x = coarse[min(gy / factor, parentLength - 1)]
                        band[gy] = (factor * (x - bandRadius), factor * (x + bandRadius + 1) - 1)
                    }
                    take(grid.removeCheapestSeam(band: band))
                }
            }
        }
        while seams.count < count {
            try context.checkCancelled()
            take(grid.removeCheapestSeam(band: nil))
        }
        return SeamRemoval(width: width, height: height, direction: direction, seams: seams, removed: removed)
    }

    /// `refine` for every round of a coarse insertion: round i of the fine insertion refines coarse round i
    /// on the fine field grown by the fine rounds before it (`factor` fine seams per coarse one; the last
    /// round adjusted so that `count` are inserted in all). Grows `field` and `penalty` as
    /// `SeamSearch.insertSeams` does.
    public static func refineInsertion(_ parent: SeamInsertion?, factor: Int, field: inout [Double],
                                       penalty: inout [Double], width: Int, height: Int,
                                       direction: SeamDirection, count: Int,
                                       context: RunContext = .detached) throws -> SeamInsertion {
        precondition(count >= 1, "insert at least one seam")
        guard let parent else {
            return try SeamSearch.insertSeams(into: &field, penalty: &penalty, width: width, height: height,
                                              count: count, rule: .featureStraightTies, direction: direction, context: context)
        }
        var rounds: [SeamRemoval] = []
        var (w, h, done) = (width, height, 0)
        for (i, coarse) in parent.rounds.enumerated() {
            let isLast = i == parent.rounds.count - 1
            let size = direction == .vertical ? w : h
            let wanted = isLast ? count - done : min(factor * coarse.seams.count, count - done)
            let step = min(wanted, size)
            guard step > 0 else { continue }
            let r = try refine(coarse, factor: factor, field: field, penalty: penalty, width: w, height: h,
                               direction: direction, count: step, context: context)
            field = try r.inserting(field) { cell, neighbour in (cell + neighbour) / 2 }
            penalty = try r.inserting(penalty) { cell, _ in cell }
            if direction == .vertical { w += step } else { h += step }
            done += step
            rounds.append(r)
        }
        if done < count {
            // The fine field is narrower than twice the coarse one's step could use: finish unrefined.
            rounds += try SeamSearch.insertSeams(into: &field, penalty: &penalty, width: w, height: h,
                                                 count: count - done, rule: .featureStraightTies, direction: direction,
                                                 context: context).rounds
        }
        return SeamInsertion(rounds: rounds)
    }
}

/// A field carved one seam at a time, where each seam is the cheapest forward-energy path
/// (`SeamEnergyRule.featureSpec`) through a band of original columns per row. Costs are computed only
/// inside the band (a few cells per row), so a seam costs O(height · band) plus the removal itself.
final class BandedSeamGrid {
    let height: Int
    let stride: Int
    private(set) var width: Int
    private let field: UnsafeMutablePointer<Double>
    private let penalty: UnsafeMutablePointer<Double>
    private let origin: UnsafeMutablePointer<Int32>
    private let cost: UnsafeMutablePointer<Double>
    private let back: UnsafeMutablePointer<Int8>
    private var window: [(lo: Int, hi: Int)]

    init(width: Int, height: Int, fill: (UnsafeMutablePointer<Double>, UnsafeMutablePointer<Double>) -> Void) {
        precondition(width >= 1 && height >= 1, "seam grid needs a positive size")
        self.height = height
        stride = width
        self.width = width
        let cells = width * height
        field = .allocate(capacity: cells)
        penalty = .allocate(capacity: cells)
        origin = .allocate(capacity: cells)
        cost = .allocate(capacity: cells)
        cost.initialize(repeating: 0, count: cells)
        back = .allocate(capacity: cells)
        back.initialize(repeating: 0, count: cells)
        window = .init(repeating: (0, 0), count: height)
        fill(field, penalty)
        for y in 0..<height {
            for x in 0..<width { origin[y * width + x] = Int32(x) }
        }
    }

    deinit {
        field.deallocate()
        penalty.deallocate()
        origin.deallocate()
        cost.deallocate()
        back.deallocate()
    }

    /// Finds and removes the cheapest seam whose cell in row y has its original column in `band[y]`
    /// (nil: anywhere); returns the original column removed from each row.
    func removeCheapestSeam(band: [(lo: Int, hi: Int)]?) -> [Int] {
        precondition(width >= 1, "no column left to remove")
        if let band {
            for y in 0..<height { window[y] = currentRange(row: y, originalLo: band[y].lo, originalHi: band[y].hi) }
        } else {
            for y in 0..<height { window[y] = (0, width - 1) }
        }
        relaxWindows()
        // The seam ends at the first minimum of the last row's window and follows the back pointers up.
        var path = [Int](repeating: 0, count: height)
        let lastRow = cost + (height - 1) * stride
        var end = window[height - 1].lo
        for x in window[height - 1].lo...window[height - 1].hi where lastRow[x] < lastRow[end] { end = x }
        path[height - 1] = end
        var y = height - 1
        while y > 0 {
            path[y - 1] = path[y] + Int(back[y * stride + path[y]])
            y -= 1
        }
        var originals = [Int](repeating: 0, count: height)
        let w = width
        for y in 0..<height {
            let s = path[y], base = y * stride
            originals[y] = Int(origin[base + s])
            let tail = w - 1 - s
            if tail > 0 {
                (field + base + s).update(from: field + base + s + 1, count: tail)
                (penalty + base + s).update(from: penalty + base + s + 1, count: tail)
                (origin + base + s).update(from: origin + base + s + 1, count: tail)
            }
        }
        width = w - 1
        return originals
    }

    /// The current columns of row y whose original column lies in lo … hi; where none is left (earlier
    /// seams took them), the one or two cells next to where they were.
    private func currentRange(row y: Int, originalLo lo: Int, originalHi hi: Int) -> (lo: Int, hi: Int) {
        let row = origin + y * stride
        // First current index with origin ≥ lo, and first with origin > hi (origins increase along a row).
        func lowerBound(_ value: Int) -> Int {
            var a = 0, b = width
            while a < b {
                let m = (a + b) / 2
                if Int(row[m]) < value { a = m + 1 } else { b = m }
            }
            return a
        }
        let first = lowerBound(lo), past = lowerBound(hi + 1)
        if first < past { return (first, past - 1) }
        return (max(0, first - 1), min(width - 1, first))
    }

    /// Forward-energy costs inside the windows, row by row (docs/spec.md §3's energy and transitions, borders
    /// replicated; ties go straight down). The cells a path can reach form an interval in each row; a
    /// window that does not touch the one reached above it (a coarse seam's original columns can jump
    /// where it passed cells removed before it) is widened toward it, just enough for an 8-connected path.
    private func relaxWindows() {
        let w = width
        var reached = (lo: 0, hi: w - 1)
        for y in 0..<height {
            let row = field + y * stride
            let below: UnsafeMutablePointer<Double>? = y + 1 < height ? row + stride : nil
            let pen = penalty + y * stride
            let costRow = cost + y * stride, backRow = back + y * stride
            if y > 0 {
                if window[y].lo > reached.hi + 1 { window[y].lo = reached.hi + 1 }
                if window[y].hi < reached.lo - 1 { window[y].hi = reached.lo - 1 }
            }
            let (lo, hi) = window[y]
            var next = (lo: Int.max, hi: Int.min)
            for x in lo...hi {
                let here = row[x]
                let l = row[x > 0 ? x - 1 : 0], r = row[x + 1 < w ? x + 1 : w - 1]
                let dx = x + 1 < w ? abs(row[x + 1] - here) : 0
                let dy = below.map { abs($0[x] - here) } ?? 0
                let own = (dx + dy) + pen[x]
                let cu = abs(r - l)
                if y == 0 {
                    costRow[x] = own + cu
                    backRow[x] = 0
                    next = (min(next.lo, x), max(next.hi, x))
                    continue
                }
                let up = row - stride, prev = costRow - stride
                let (plo, phi) = window[y - 1]
                // Ties go straight down: in flat regions every path costs about the same, and the coarse
                // search's rule (lowest offset first) would send the one-pixel seams along 45° diagonals,
                // which cut a smooth gradient into a sawtooth.
                var best = Double.infinity
                var off: Int8 = 0
                if x >= plo, x <= phi { best = prev[x] + cu }
                if x > 0, x - 1 >= plo, x - 1 <= phi, prev[x - 1] + (cu + abs(up[x] - l)) < best {
                    best = prev[x - 1] + (cu + abs(up[x] - l))
                    off = -1
                }
                if x + 1 < w, x + 1 >= plo, x + 1 <= phi, prev[x + 1] + (cu + abs(up[x] - r)) < best {
                    best = prev[x + 1] + (cu + abs(up[x] - r))
                    off = 1
                }
                costRow[x] = own + best
                backRow[x] = off
                if best.isFinite { next = (min(next.lo, x), max(next.hi, x)) }
            }
            reached = next
        }
    }
}
