import Synchronization
@testable import Engine

/// Collects progress reports from a `@Sendable` callback.
final class ProgressLog: Sendable {
    private let log = Mutex<[StepProgress]>([])
    func append(_ p: StepProgress) { log.withLock { $0.append(p) } }
    var steps: [StepProgress] { log.withLock { $0 } }
}

/// A 3-channel image whose every channel holds value(x, y): a grey scene for the seam operator's tests.
func greyScene(height: Int, width: Int, _ value: (_ x: Int, _ y: Int) -> Float) -> Tensor {
    let t = Tensor(channels: 3, height: height, width: width)
    for y in 0..<height {
        for x in 0..<width {
            let v = value(x, y)
            for c in 0..<3 { t.plane(c)[y * width + x] = v }
        }
    }
    return t
}

/// Flat features at every tap the seam operator plans on, for an image of height × width: only their grids'
/// sizes matter (the relu4_1 mean activation adds nothing to the seams' energy).
func flatFeatures(height: Int, width: Int) -> [Tap: Tensor] {
    var f: [Tap: Tensor] = [:]
    for tap in DeepObjective.reconstructionTaps {
        f[tap] = Tensor(channels: 1, height: height / tap.stride, width: width / tap.stride)
    }
    return f
}
