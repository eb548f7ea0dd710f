/// Every target's cells where seams were inserted: the start's own features instead of the input's
/// features sampled through the map (docs/spec.md §3.6, "Inserted pixels").
///
/// Why: an inserted pixel sits halfway between its two neighbours, in R0 (their average) and in the map
/// (a half-pixel position). Sampled there, the input's features describe a blend of two columns; where the
/// columns are textured (a tree's bark) no image has such features, and asked for them the reconstruction
/// drew the trunks the seams went through wide and hazy, a semi-transparent smear (Path at width 140 %),
/// where R0 and pixel seam carving show them crisp. R0's own features describe the inserted pixels as
/// they are. The rest of the image keeps the sampled targets.
enum InsertionAnchor {
    /// A pixel is taken for inserted where its source position steps from a neighbour's by less than this
    /// share of its row's (column's) median step: an inserted pixel halves the step on both its sides, and
    /// a scale after the seams changes every step alike.
    static let stepShare: Float = 0.75

    /// For each cell of the ⌊h/s⌋ × ⌊w/s⌋ target of a layer of stride `s`: 1 where the cell or a
    /// neighbouring one holds an inserted pixel, else 0.
    static func weights(map: SourceMap, stride s: Int) -> [Float] {
        let inserted = insertedPixels(map)
        let (w, h) = (map.width, map.height)
        let th = h / s, tw = w / s
        var out = [Float](repeating: 0, count: th * tw)
        for ty in 0..<th {
            for tx in 0..<tw {
                search: for y in max(0, (ty - 1) * s)..<min(h, (ty + 2) * s) {
                    for x in max(0, (tx - 1) * s)..<min(w, (tx + 2) * s) where inserted[y * w + x] {
                        out[ty * tw + tx] = 1
                        break search
                    }
                }
            }
        }
        return out
    }

    /// The map's pixels whose source column steps from a row neighbour's (or source row from a column
    /// neighbour's) by less than `stepShare` of that line's median step.
    static func insertedPixels(_ map: SourceMap) -> [Bool] {
        let (w, h) = (map.width, map.height)
        var inserted = [Bool](repeating: false, count: w * h)
        // Along each line of `count` positions at index(i), mark both ends of every short step.
        func mark(count: Int, _ position: (Int) -> Float, _ index: (Int) -> Int) {
            guard count > 1 else { return }
            let steps = (1..<count).map { position($0) - position($0 - 1) }
            let sorted = steps.sorted()
            let median = sorted[sorted.count / 2]
            guard median > 0 else { return }
            for (i, step) in steps.enumerated() where step < stepShare * median {
                inserted[index(i)] = true
                inserted[index(i + 1)] = true
            }
        }
        let xs = map.coordinates.plane(0), ys = map.coordinates.plane(1)
        for y in 0..<h { mark(count: w, { xs[y * w + $0] }, { y * w + $0 }) }
        for x in 0..<w { mark(count: h, { ys[$0 * w + x] }, { $0 * w + x }) }
        return inserted
    }
}
