import Foundation
@testable import Engine

/// Reconstruction taps with their strides.
let featureTaps: [Tap] = [.relu1_1, .relu2_1, .relu3_1, .relu4_1]

/// A hash-like texture in [1, 2) on the stride-8 grid.
func texture(_ y: Int, _ x: Int) -> Float {
    let v = sin(Double(y) * 12.9898 + Double(x) * 78.233) * 43758.5453
    return Float(1 + (v - v.rounded(.down)))
}

/// Features of an image of `height`×`width` at the four taps: relu4_1 is `grid` (two equal channels, so
/// its channel mean is the grid), the finer taps hold unique values that encode (c, y, x).
func features(height: Int, width: Int, grid: (Int, Int) -> Float) -> [Tap: Tensor] {
    var out: [Tap: Tensor] = [:]
    for tap in featureTaps {
        let size = tap.outputSize(height: height, width: width)
        let t = Tensor(channels: 2, height: size.height, width: size.width)
        for c in 0..<2 { for y in 0..<size.height { for x in 0..<size.width {
            t[c, y, x] = tap == .relu4_1 ? grid(y, x) : Float(c * 200_000 + y * 400 + x)
        } } }
        out[tap] = t
    }
    return out
}
