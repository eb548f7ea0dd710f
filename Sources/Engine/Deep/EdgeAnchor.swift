/// relu4_1's target near the image's lines: the carved start's own features instead of the input's
/// features sampled through the map (docs/spec.md §3.4, "Lines").
///
/// Why: a relu4_1 cell covers 8 × 8 output pixels, and when seams remove 40 % of an axis about five of them
/// cross every cell. Sampled at the cell's mean source position, the input's relu4_1 describes a diagonal
/// cable where it was in the input, each cell shifted by its own seams; the finer targets describe the
/// cable as carved, one pixel shift per seam. Asked for both, the reconstruction broke the cable into
/// offset pieces (Bridge, width and height to 60 %). R0, the image carved through the same map, has a
/// continuous cable, and its relu4_1 describes it so.
///
/// Only where seams remove: inserted seams pass through vertical edges (tree trunks) at a different place
/// in every row, so R0 shows the trunks zigzagging, and anchored on R0 the output kept them so; the sampled
/// target keeps them straight (Path at width 140 %).
///
/// Only near lines: in smooth regions (a sky's gradient) the sampled relu4_1 is what lets the
/// reconstruction blend the seams' junctions away, where R0 shows them as a wavy step (summer_1am and
/// Aqua at height 60 %). Lines are found in the *input* (its luminance edges read through the map), not in
/// R0, whose junctions are themselves edges.
enum EdgeAnchor {
    /// The taps whose target is anchored: the deepest only (relu1_1 … relu3_1 barely cross seams).
    static let taps: Set<Tap> = [.relu4_1]
    /// |∂x L| + |∂y L| per pixel (luminance in [0, 1]) from which a cell is anchored partly, and fully:
    /// a smooth gradient changes by under 0.01 a pixel, a cable against the sky by 0.2 and more.
    static let partialEdge: Float = 0.05
    static let fullEdge: Float = 0.2

    /// For each cell of a layer of `stride` over an output of the map's size: how much its target follows
    /// the carved start (0 … 1). The largest input edge, read through the map, over the cell and its eight
    /// neighbours (a cell's features see about one cell around it), mapped linearly from `partialEdge` to
    /// `fullEdge`.
    static func weights(input: Tensor, map: SourceMap, stride s: Int) -> [Float] {
        let edges = FeatureResize.luminanceEdges(FeatureResize.luminance(input), width: input.width, height: input.height)
        let w = map.width, h = map.height
        let xs = map.coordinates.plane(0), ys = map.coordinates.plane(1)
        var outputEdges = [Float](repeating: 0, count: w * h)
        for i in 0..<(w * h) {
            let x = min(input.width - 1, max(0, Int(xs[i].rounded())))
            let y = min(input.height - 1, max(0, Int(ys[i].rounded())))
            outputEdges[i] = Float(edges[y * input.width + x])
        }
        return largestAroundCells(outputEdges, width: w, height: h, stride: s).map { strongest in
            min(1, max(0, (strongest - partialEdge) / (fullEdge - partialEdge)))
        }
    }

    /// For each cell of the ⌊h/s⌋ × ⌊w/s⌋ grid of stride `s` over a height × width plane of values ≥ 0: the
    /// largest value over the cell and its eight neighbours (0 where there is none).
    static func largestAroundCells(_ values: [Float], width w: Int, height h: Int, stride s: Int) -> [Float] {
        let th = h / s, tw = w / s
        var result = [Float](repeating: 0, count: th * tw)
        for ty in 0..<th {
            for tx in 0..<tw {
                var largest: Float = 0
                for y in max(0, (ty - 1) * s)..<min(h, (ty + 2) * s) {
                    for x in max(0, (tx - 1) * s)..<min(w, (tx + 2) * s) { largest = max(largest, values[y * w + x]) }
                }
                result[ty * tw + tx] = largest
            }
        }
        return result
    }

    /// sampled ← (1 − a) · sampled + a · carved, cell by cell (`weights` has one value per cell, for every
    /// channel), in place: the sampled targets are the caller's own, and a copy of relu1_1's at a megapixel
    /// is 250 MB of fresh pages. Channels split over `threads` workers; cells with a = 0 are left alone.
    static func blend(into sampled: Tensor, carved: Tensor, weights a: [Float], threads: Int) {
        precondition(sampled.shape == carved.shape && a.count == sampled.height * sampled.width,
                     "the targets and their anchors have one shape")
        let plane = a.count
        let t = SharedFloats(base: sampled.data), r = SharedFloats(base: carved.data)
        parallelFor(tasks: sampled.channels, threads: threads) { c in
            let tc = t.base + c * plane, rc = r.base + c * plane
            for i in 0..<plane where a[i] != 0 { tc[i] = (1 - a[i]) * tc[i] + a[i] * rc[i] }
        }
    }
}
