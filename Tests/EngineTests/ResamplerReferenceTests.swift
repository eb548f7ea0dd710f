import Testing
import Foundation
import ImageCodecs
import Engine

/// The optimised resampler (bands, SIMD, padded taps) against a direct, double-precision Lanczos-3
/// written independently here, for sizes where no box stage applies.
@Suite struct ResamplerReferenceTests {
    static func lanczos3(_ x: Double) -> Double {
        if x == 0 { return 1 }
        if abs(x) >= 3 { return 0 }
        return 3 * sin(Double.pi * x) * sin(Double.pi * x / 3) / (Double.pi * Double.pi * x * x)
    }

    /// (source index, weight) pairs for one output sample, edges clamped.
    static func taps(output i: Int, from n: Int, to m: Int) -> [(Int, Double)] {
        let scale = Double(n) / Double(m), stretch = max(scale, 1)
        let centre = (Double(i) + 0.5) * scale - 0.5
        var result: [(Int, Double)] = []
        var j = Int((centre - 3 * stretch).rounded(.down))
        while Double(j) <= centre + 3 * stretch {
            result.append((min(max(j, 0), n - 1), lanczos3((Double(j) - centre) / stretch)))
            j += 1
        }
        let total = result.reduce(0) { $0 + $1.1 }
        return result.map { ($0.0, $0.1 / total) }
    }

    static func reference(_ image: RasterImage, width: Int, height: Int) -> RasterImage {
        let ch = image.channels
        var out = [UInt8](repeating: 0, count: width * height * ch)
        let xTaps = (0..<width).map { taps(output: $0, from: image.width, to: width) }
        let yTaps = (0..<height).map { taps(output: $0, from: image.height, to: height) }
        for y in 0..<height {
            for x in 0..<width {
                var acc = [Double](repeating: 0, count: 4)
                for (sy, wy) in yTaps[y] {
                    for (sx, wx) in xTaps[x] {
                        let p = (sy * image.width + sx) * ch
                        let alpha = ch == 4 ? Double(image.pixels[p + 3]) / 255 : 1
                        for c in 0..<3 { acc[c] += wx * wy * Double(image.pixels[p + c]) * alpha }
                        if ch == 4 { acc[3] += wx * wy * Double(image.pixels[p + 3]) }
                    }
                }
                let a = min(max(acc[3], 0), 255)
                let o = (y * width + x) * ch
                for c in 0..<3 {
                    let v = ch == 4 ? (a.rounded() == 0 ? 0 : acc[c] * 255 / a) : acc[c]
                    out[o + c] = UInt8(min(max(v, 0), 255).rounded())
                }
                if ch == 4 { out[o + 3] = UInt8(a.rounded()) }
            }
        }
        return RasterImage(width: width, height: height, channels: ch, pixels: out)
    }

    @Test(arguments: [3, 4], [(53, 41, 31, 29), (23, 17, 50, 40), (40, 30, 40, 61), (97, 5, 60, 9)])
    func matchesDirectLanczos(channels: Int, sizes: (Int, Int, Int, Int)) {
        var state: UInt32 = 12_345
        let pixels = (0..<(sizes.0 * sizes.1 * channels)).map { _ -> UInt8 in
            state = state &* 1_103_515_245 &+ 12_345
            return UInt8(state >> 24)
        }
        let image = RasterImage(width: sizes.0, height: sizes.1, channels: channels, pixels: pixels)
        let fast = Resampler.resize(image, width: sizes.2, height: sizes.3)
        let slow = Self.reference(image, width: sizes.2, height: sizes.3)
        var worst = 0, alphaWorst = 0
        for i in 0..<fast.pixels.count {
            let d = abs(Int(fast.pixels[i]) - Int(slow.pixels[i]))
            if channels == 4 && i % 4 == 3 { alphaWorst = max(alphaWorst, d); continue }
            // Colour of nearly transparent pixels is ill-conditioned (divided by a tiny alpha): skip.
            if channels == 4 && slow.pixels[i - i % 4 + 3] < 8 { continue }
            worst = max(worst, d)
        }
        #expect(worst <= 1, "colour differs by \(worst)")
        #expect(alphaWorst <= 1, "alpha differs by \(alphaWorst)")
    }

    /// With a box stage: a source made of k×k blocks of one colour box-averages exactly to the small
    /// image, so the result must equal direct Lanczos from that small image. Targets are chosen so the
    /// resampler picks box factor k (k = ⌊source / (2 · target)⌋).
    @Test(arguments: [3, 4], [(40, 30, 3, 20, 15), (25, 20, 4, 11, 9), (30, 12, 5, 14, 6)])
    func boxStageIsExactAreaAveraging(channels: Int, sizes: (Int, Int, Int, Int, Int)) {
        let (w, h, k, tw, th) = sizes
        var state: UInt32 = 99
        let small = RasterImage(width: w, height: h, channels: channels, pixels: (0..<(w * h * channels)).map { _ in
            state = state &* 1_103_515_245 &+ 12_345
            return UInt8(state >> 24)
        })
        var big = [UInt8](repeating: 0, count: w * k * h * k * channels)
        for y in 0..<(h * k) {
            for x in 0..<(w * k) {
                for c in 0..<channels {
                    big[(y * w * k + x) * channels + c] = small.pixels[((y / k) * w + x / k) * channels + c]
                }
            }
        }
        let image = RasterImage(width: w * k, height: h * k, channels: channels, pixels: big)
        let fast = Resampler.resize(image, width: tw, height: th)
        let slow = Self.reference(small, width: tw, height: th)
        var worst = 0
        for i in 0..<fast.pixels.count {
            if channels == 4 && i % 4 != 3 && slow.pixels[i - i % 4 + 3] < 8 { continue }
            worst = max(worst, abs(Int(fast.pixels[i]) - Int(slow.pixels[i])))
        }
        #expect(worst <= 1, "differs by \(worst)")
    }
}
