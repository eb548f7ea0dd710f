#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Precomputed, normalised filter taps mapping `inputCount` samples to `outputCount` samples along one
/// axis. Every output uses the same number of taps (`taps`), zero-padded, so inner loops have no
/// per-pixel branching; windows are shifted to stay inside the input (clamped edges).
struct FilterWeights {
    let outputCount: Int
    let taps: Int
    /// First input index for each output.
    let starts: [Int]
    /// `outputCount * taps` weights, row `i` for output `i`.
    let weights: [Float]

    /// - Parameters:
    ///   - scale: input samples per output sample (> 1 shrinks). It can differ from
    ///     inputCount / outputCount when the inputs are box averages whose last one is partial.
    static func lanczos3(inputCount: Int, outputCount: Int, scale: Double) -> FilterWeights {
        let radius = 3.0
        // Shrinking stretches the kernel over `scale` inputs so it low-passes (antialiasing).
        let stretch = max(scale, 1)
        let support = radius * stretch
        var windows: [(start: Int, weights: [Double])] = []
        windows.reserveCapacity(outputCount)
        var taps = 1
        for i in 0..<outputCount {
            let centre = (Double(i) + 0.5) * scale - 0.5
            let first = Int((centre - support).rounded(.down)) + 1
            let last = Int((centre + support).rounded(.up)) - 1
            let lo = min(max(first, 0), inputCount - 1), hi = max(min(last, inputCount - 1), 0)
            var w = [Double](repeating: 0, count: hi - lo + 1)
            var total = 0.0
            for j in first...max(first, last) {
                let value = lanczos((Double(j) - centre) / stretch, radius: radius)
                w[min(max(j, lo), hi) - lo] += value   // taps beyond an edge land on the edge pixel
                total += value
            }
            if abs(total) < 1e-12 {   // degenerate (cannot happen for sane scales): nearest sample
                w = w.map { _ in 0 }
                w[min(max(Int(centre.rounded()), lo), hi) - lo] = 1
                total = 1
            }
            windows.append((lo, w.map { $0 / total }))
            taps = max(taps, w.count)
        }
        taps = min(taps, inputCount)
        var starts = [Int](repeating: 0, count: outputCount)
        var flat = [Float](repeating: 0, count: outputCount * taps)
        for (i, window) in windows.enumerated() {
            let start = min(window.start, inputCount - taps)   // keep start + taps within the input
            starts[i] = start
            for (k, w) in window.weights.enumerated() {
                flat[i * taps + window.start - start + k] = Float(w)
            }
        }
        return FilterWeights(outputCount: outputCount, taps: taps, starts: starts, weights: flat)
    }

    static func lanczos(_ x: Double, radius: Double) -> Double {
        if x == 0 { return 1 }
        if abs(x) >= radius { return 0 }
        let px = Double.pi * x
        return radius * sin(px) * sin(px / radius) / (px * px)
    }

    /// Input rows (or columns) outputs `range` read: the union of their windows.
    func inputSpan(of range: Range<Int>) -> Range<Int> {
        let lo = starts[range].min() ?? 0
        let hi = (starts[range].max() ?? 0) + taps
        return lo..<hi
    }
}
