import Glibc

/// Where the start R0 is smooth: the weights of the curvature prior (`DeepLoss.curvature`, δ of
/// docs/spec.md §4), 1 in a plain sky or wall, 0 at and beside edges and texture.
///
/// Why: asked for VGG features, the reconstruction draws a faint cross-hatching into smooth gradients,
/// seen at 3× (summer_1am's dusk sky at height 60 %: the mean |Laplacian| of its sky 2.11 against R0's 1.49
/// and the input's 1.79; a synthetic ramp gets 4–6 levels across lines that should be constant). It comes
/// from the reconstruction term itself (with β = 0 it stays, with all seams and no scale too); γ's total
/// variation, twenty times stronger, only softened it, and would flatten texture. R0 there is a plain
/// carve or scale of a smooth region, smooth itself: a prior on the output's curvature where R0 is smooth
/// removes the hatching and leaves edges, texture and the seams' repairs to the other terms.
///
/// How: R0's gradient magnitude (the three channels' forward differences), its maximum over 5 × 5
/// neighbours (a pixel beside an edge is not smooth; `EdgeAnchor.largestAroundCells` twice), mapped to
/// exp(−(g/σ)²).
enum SmoothRegions {
    /// g² sums the three channels' squared steps: a grey ramp of 0.0115 per pixel (3 levels) along one axis
    /// weighs e⁻¹, a sky's 0.005 (1.3 levels) 0.83, an edge's (0.1 and more) 0.
    static let sigma: Float = 0.02

    /// Row-major height × width weights of the RGB image `start` (planes in [0, 1]).
    static func weights(of start: Tensor) -> [Float] {
        let h = start.height, w = start.width
        var gradient = [Float](repeating: 0, count: h * w)
        for c in 0..<min(start.channels, 3) {
            let p = start.plane(c)
            for y in 0..<h {
                for x in 0..<w {
                    let i = y * w + x
                    let dx = x + 1 < w ? p[i + 1] - p[i] : 0, dy = y + 1 < h ? p[i + w] - p[i] : 0
                    gradient[i] += dx * dx + dy * dy
                }
            }
        }
        // The largest within 2 pixels: the 3 × 3 maximum of the 3 × 3 maximum.
        let nearby = EdgeAnchor.largestAroundCells(EdgeAnchor.largestAroundCells(gradient, width: w, height: h, stride: 1),
                                                   width: w, height: h, stride: 1)
        return nearby.map { exp(-$0 / (sigma * sigma)) }  // squared magnitudes
    }
}
