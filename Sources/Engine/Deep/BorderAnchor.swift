/// Every target's cells at the output's borders on an axis that changed size: the carved start's own
/// features instead of the input's features sampled through the map (docs/spec.md §3.5, "Borders").
///
/// Why: the network pads every convolution with zeros, so a cell at an image's border describes the
/// border, not the content alone. When seams remove columns at the frame's edge (they are often the
/// cheapest), the output's last column comes from an interior column of the input, whose features have no
/// border in them. No image has interior features at its border: asked for them, the reconstruction drew a
/// line of odd colours along the carved sides (the outermost row or column stepped from its neighbour 1.14–
/// 4.15×, median 2.06×, as much as one pixel further in on the gallery's 27 removals; pixel `seam` median
/// 1.04×; anchored 0.71–1.36×, median 1.04×). R0, the image carved through the same map, has its own
/// border in its features.
///
/// On an axis that grew, the border's content stays at the border, but where the output's size and the
/// input's fall differently in the pooled grids (640 → 900: relu4_1 covers 896 of the output's columns and
/// all 640 of the input's), the input's border features sit where the output has none: unanchored, a flat
/// image came out with a band of up to 10 levels along the grown side, photos with a faint light or dark
/// line two or three pixels in (Grey, Bridge, ColdRipple at 900×360).
///
/// How far: the padding reaches one more cell inward with every convolution at a layer's resolution
/// (relu4_1 sees it about 2.5 cells in), so the `fullCells` outermost cells follow R0 fully and the next
/// `fullCells` fade back to the sampled target.
enum BorderAnchor {
    static let fullCells = 2

    /// For each cell of a height × width target: how much it follows the carved start (0 … 1), by its
    /// distance to the nearest border of an axis that changed (`rows`: the height; `columns`: the width).
    static func weights(height h: Int, width w: Int, rows: Bool, columns: Bool) -> [Float] {
        var a = [Float](repeating: 0, count: h * w)
        guard rows || columns else { return a }
        for y in 0..<h {
            for x in 0..<w {
                var d = Int.max
                if columns { d = min(d, x, w - 1 - x) }
                if rows { d = min(d, y, h - 1 - y) }
                if d < fullCells {
                    a[y * w + x] = 1
                } else if d < 2 * fullCells {
                    a[y * w + x] = Float(2 * fullCells - d) / Float(fullCells)
                }
            }
        }
        return a
    }

    /// Two anchors' weights as one: the share of the target that follows the carved start when either
    /// does, 1 − (1 − a)(1 − b).
    static func combined(_ a: [Float], _ b: [Float]) -> [Float] {
        precondition(a.count == b.count, "weights of one grid")
        return zip(a, b).map { 1 - (1 - $0) * (1 - $1) }
    }
}
