import Testing
@testable import Engine

/// docs/spec.md §3.3: every target and R0 read the input through one source map, with a triangle filter as
/// wide as the map's local scale.
@Suite("Deep: sampling through the source map")
struct DeepSourceMapTests {
    /// A 1-channel image, height 2, whose column x holds `value(x)`.
    static func columns(_ width: Int, _ value: (Int) -> Float) -> Tensor {
        let t = Tensor(channels: 1, height: 2, width: width)
        for y in 0..<2 { for x in 0..<width { t.data[y * width + x] = value(x) } }
        return t
    }

    /// A map of height 2 reading source column `sources[X]` for output column X.
    static func map(_ sources: [Float]) -> SourceMap {
        let t = Tensor(channels: 2, height: 2, width: sources.count)
        for y in 0..<2 {
            for (x, s) in sources.enumerated() {
                t.plane(0)[y * sources.count + x] = s
                t.plane(1)[y * sources.count + x] = Float(y)
            }
        }
        return SourceMap(coordinates: t)
    }

    @Test("a bundle of removed columns is a cut: the columns beside it keep their own pixels")
    func bundleIsACut() {
        // Columns 6 … 13 (bright, a petal) removed at one place by a bundle of 8 seams; the rest (dark) kept.
        let image = Self.columns(20) { (6...13).contains($0) ? 1 : 0 }
        let sources: [Float] = [0, 1, 2, 3, 4, 5, 14, 15, 16, 17, 18, 19]
        let out = Self.map(sources).sample(image, stride: 1)
        for (x, s) in sources.enumerated() {
            // (With the mean of both sides' steps as the radius, 5 beside the bundle, the columns next to it
            // read 0.4 of the removed bright columns: a thin bright line in the dark.)
            #expect(out.data[x] == image.data[Int(s)], "column \(x) (source \(Int(s))) reads \(out.data[x])")
        }
    }

    @Test("a uniform compression is still antialiased: every other column gone, stripes average to grey")
    func compressionIsAntialiased() {
        let image = Self.columns(40) { Float($0 % 2) }
        let out = Self.map((0..<20).map { Float(2 * $0) }).sample(image, stride: 1)
        // Radius 2 around each even column: (½·1 + 1·0 + ½·1) / 2; point sampling would read 0.
        for x in 1..<19 { #expect(abs(out.data[x] - 0.5) < 1e-6, "column \(x) reads \(out.data[x])") }
    }
}
