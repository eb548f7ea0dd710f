/// Seams inserted into a field (docs/spec.md §3 (seam insertion)), found the way the pixel method finds them: each
/// round takes the k cheapest seams of the field as it stands by successive removal (one `SeamRemoval` on
/// that field), then inserts before (vertical: left of; horizontal: above) every cell they removed a new
/// cell, the average of that cell and its left (upper) neighbour — the cell itself in the first column
/// (row). The new cell thus sits between its two neighbours in the grown field and is their average.
/// A round inserts at most half the field's current size (`SeamSearch.insertionStep`), so a large growth
/// takes several rounds, each on the field grown by the ones before.
public struct SeamInsertion: Sendable, Equatable {
    /// The rounds in order; round i+1 was searched on the field grown by rounds 0…i. Never empty.
    public let rounds: [SeamRemoval]

    public init(rounds: [SeamRemoval]) {
        precondition(!rounds.isEmpty, "a seam insertion has at least one round")
        self.rounds = rounds
    }

    /// Size of the field before the first round.
    public var width: Int { rounds[0].width }
    public var height: Int { rounds[0].height }
    public var direction: SeamDirection { rounds[0].direction }
    /// Seams inserted over all rounds.
    public var insertedCount: Int { rounds.reduce(0) { $0 + $1.seams.count } }
    /// Size of the field after the last round.
    public var finalWidth: Int { direction == .vertical ? width + insertedCount : width }
    public var finalHeight: Int { direction == .horizontal ? height + insertedCount : height }
}

extension SeamRemoval {
    /// `values` (row-major `height × width`, laid out like the searched field) with a new value inserted
    /// before every removed cell (left of it for vertical seams, above it for horizontal ones):
    /// `newValue(cell, neighbour)` where `neighbour` is the cell's left (upper) neighbour, the cell itself
    /// in the first column (row). Row-major `(height or height + k) × (width or width + k)`. For growing
    /// the searched field (the average) and its companion planes (the mask: the duplicated cell's value).
    public func inserting<T>(_ values: [T], _ newValue: (_ cell: T, _ neighbour: T) -> T) throws -> [T] {
        guard values.count == width * height else {
            throw SeamSearchError.sizeMismatch(what: "grown plane", expected: width * height, actual: values.count)
        }
        let k = seams.count
        var out: [T] = []
        out.reserveCapacity((width + k) * height)
        switch direction {
        case .vertical:
            for y in 0..<height {
                for x in 0..<width {
                    let i = y * width + x
                    if removed[i] { out.append(newValue(values[i], values[x > 0 ? i - 1 : i])) }
                    out.append(values[i])
                }
            }
        case .horizontal:
            // Each column gains one row per seam, so rows shift down column by column.
            let columns: [[T]] = (0..<width).map { x in
                var column: [T] = []
                column.reserveCapacity(height + k)
                for y in 0..<height {
                    let i = y * width + x
                    if removed[i] { column.append(newValue(values[i], values[y > 0 ? i - width : i])) }
                    column.append(values[i])
                }
                return column
            }
            for y in 0..<(height + k) { for x in 0..<width { out.append(columns[x][y]) } }
        }
        return out
    }
}

extension SeamSearch {
    /// Seams inserted in one round when `remaining` are still to insert into a field of `size` columns
    /// (rows): half the size, rounded half to even as the PyPI `seam-carving` package's `step_ratio = 0.5`,
    /// at least 1, at most `remaining`.
    static func insertionStep(size: Int, remaining: Int) -> Int {
        min(max(1, Int((0.5 * Double(size)).rounded(.toNearestOrEven))), remaining)
    }

    /// Inserts `count` seams into `field` (row-major `height × width`) in rounds (see `SeamInsertion`),
    /// growing `field` (new cells: the average of their two neighbours) and `penalty` (new cells: the
    /// duplicated cell's penalty, so a protected cell's copy stays protected) along.
    ///
    /// - Parameters:
    ///   - penalty: per-cell energy added to the field's, same layout (e.g. 1000 × a protection mask).
    ///   - searched: seams `removeSeams` already found on this same field, penalty, rule and direction, if
    ///     the caller has them: the first round is their prefix when they reach it, not a second search (the
    ///     search is greedy, seam after seam, so its first k seams are a search for k).
    ///   - context: progress (seams done of `count`, across rounds) and cancellation between seams.
    static func insertSeams(into field: inout [Double], penalty: inout [Double], width: Int, height: Int,
                            count: Int, rule: SeamEnergyRule, direction: SeamDirection, searched: SeamRemoval? = nil,
                            weight: ((_ field: [Double], _ width: Int, _ height: Int) -> [Double])? = nil,
                            context: RunContext = .detached) throws -> SeamInsertion {
        precondition(count >= 1, "insert at least one seam")
        var rounds: [SeamRemoval] = []
        var (w, h, done) = (width, height, 0)
        while done < count {
            let step = insertionStep(size: direction == .vertical ? w : h, remaining: count - done)
            let before = done
            let roundContext = RunContext(report: { p in context.report(StepProgress(step: before + p.step, total: count)) },
                                          isCancelled: context.isCancelled)
            let r: SeamRemoval
            if rounds.isEmpty, let searched, searched.direction == direction, searched.width == width,
               searched.height == height, searched.seams.count >= step {
                r = searched.prefix(step)
            } else {
                r = try removeSeams(from: field, width: w, height: h, penalty: penalty, weight: weight?(field, w, h),
                                    count: step, rule: rule, direction: direction, context: roundContext)
            }
            field = try r.inserting(field) { cell, neighbour in (cell + neighbour) / 2 }
            penalty = try r.inserting(penalty) { cell, _ in cell }
            if direction == .vertical { w += step } else { h += step }
            done += step
            rounds.append(r)
        }
        return SeamInsertion(rounds: rounds)
    }
}
