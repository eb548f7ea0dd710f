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

    @Test("the scale after the seams reads no removed pixel foreign to its neighbours, and still interpolates a ramp")
    func scaleAfterSeamsKeepsTheCut() {
        // Seams removed columns 6 … 13 (bright) at one place; then the scale takes the 12 kept columns to 9.
        // Output column 4 falls halfway between kept columns 5 and 14: interpolating their sources put it at
        // 9.5, inside the bright bundle, and drew a thin bright line where the picture has none (Aqua at
        // height 60 %: a dark dashed line across a smooth gradient).
        let bundle = Self.columns(20) { (6...13).contains($0) ? 1 : 0 }
        let seamed = Self.map([0, 1, 2, 3, 4, 5, 14, 15, 16, 17, 18, 19])
        let none = [Double](repeating: 0, count: 12)
        func luminance(_ t: Tensor) -> SourceMap.Luminance {
            SourceMap.Luminance((0..<(t.width * t.height)).map { Double(t.data[$0]) }, width: t.width, height: t.height)
        }
        let scaled = seamed.scaled(height: 2, width: 9, protectedColumns: none, protectedRows: [0, 0], luminance: luminance(bundle))
        for x in 0..<9 {
            let s = scaled.coordinates.plane(0)[x]
            #expect(s <= 5.5 || s >= 13.5, "output column \(x) reads source column \(s), inside the removed bundle")
        }
        let out = scaled.sample(bundle, stride: 1)
        for x in 0..<9 { #expect(out.data[x] == 0, "output column \(x) reads \(out.data[x]) of the removed bright columns") }
        // A ramp continues across the same cut (a slanted edge crossing the seams): the removed pixel between
        // the two halves is what a straight edge would show there, and the scale still interpolates to it.
        let ramp = Self.columns(20) { Float($0) / 19 }
        let across = seamed.scaled(height: 2, width: 9, protectedColumns: none, protectedRows: [0, 0], luminance: luminance(ramp))
        #expect(abs(across.coordinates.plane(0)[4] - 9.5) < 1e-5, "column 4 reads \(across.coordinates.plane(0)[4]), not 9.5")
        // Where no seam passed, the scale interpolates between neighbours (a uniform 12 → 9).
        let plain = Self.map((0..<12).map(Float.init)).scaled(height: 2, width: 9, protectedColumns: none, protectedRows: [0, 0],
                                                              luminance: luminance(bundle))
        #expect(plain.coordinates.plane(0)[1] != plain.coordinates.plane(0)[1].rounded(), "no interpolation without a seam")
        // The same along the rows (a height change: Aqua's case), one column wide.
        let rows = Tensor(channels: 1, height: 20, width: 1)
        for y in 0..<20 { rows.data[y] = (6...13).contains(y) ? 1 : 0 }
        let kept: [Float] = [0, 1, 2, 3, 4, 5, 14, 15, 16, 17, 18, 19]
        let column = Tensor(channels: 2, height: 12, width: 1)
        for (y, s) in kept.enumerated() { column.plane(1)[y] = s }
        let down = SourceMap(coordinates: column).scaled(height: 9, width: 1, protectedColumns: [0], protectedRows: none,
                                                          luminance: luminance(rows))
        for y in 0..<9 {
            let s = down.coordinates.plane(1)[y]
            #expect(s <= 5.5 || s >= 13.5, "output row \(y) reads source row \(s), inside the removed rows")
        }
    }

    @Test("a uniform compression is still antialiased: every other column gone, stripes average to grey")
    func compressionIsAntialiased() {
        let image = Self.columns(40) { Float($0 % 2) }
        let out = Self.map((0..<20).map { Float(2 * $0) }).sample(image, stride: 1)
        // Radius 2 around each even column: (½·1 + 1·0 + ½·1) / 2; point sampling would read 0.
        for x in 1..<19 { #expect(abs(out.data[x] - 0.5) < 1e-6, "column \(x) reads \(out.data[x])") }
    }

    @Test("sampling splits the cell rows over the workers: the same values on 1, 2 and 3 threads, every stride")
    func samplingIsThreadIndependent() {
        // A 29 × 37 map that compresses x unevenly and shifts rows, over a 40 × 48 input of 5 channels.
        let h = 29, w = 37
        let coordinates = Tensor(channels: 2, height: h, width: w)
        for y in 0..<h {
            for x in 0..<w {
                coordinates.plane(0)[y * w + x] = Float(x) * 1.25 + Float(y % 3)
                coordinates.plane(1)[y * w + x] = Float(y) * 1.3 + 0.25 * Float(x % 2)
            }
        }
        let map = SourceMap(coordinates: coordinates)
        let f = phasedInput(channels: 5, height: 40, width: 48, phase: 0.7)
        // The identity map is an exact gather on any number of workers (every row of cells written).
        let identity = Tensor(channels: 2, height: 40, width: 48)
        for y in 0..<40 {
            for x in 0..<48 {
                identity.plane(0)[y * 48 + x] = Float(x)
                identity.plane(1)[y * 48 + x] = Float(y)
            }
        }
        for threads in [1, 2, 3] {
            #expect(SourceMap(coordinates: identity).sample(f, stride: 1, threads: threads).toArray() == f.toArray())
        }
        for stride in [1, 2, 4] {
            let one = map.sample(f, stride: stride, threads: 1)
            #expect(one.height == h / stride && one.width == w / stride)
            for threads in [2, 3] {
                #expect(map.sample(f, stride: stride, threads: threads).toArray() == one.toArray(), "stride \(stride), \(threads) threads")
            }
        }
    }

    @Test("anchoring blends in place: (1 − a)·sampled + a·carved per cell and channel, cells with a = 0 untouched")
    func anchorBlendInPlace() {
        let sampled = phasedInput(channels: 3, height: 5, width: 7, phase: 0.1)
        let carved = phasedInput(channels: 3, height: 5, width: 7, phase: 2.9)
        let weights: [Float] = (0..<35).map { $0 % 3 == 0 ? 0 : Float($0 % 5) / 4 }
        let before = sampled.toArray()
        EdgeAnchor.blend(into: sampled, carved: carved, weights: weights, threads: 2)
        for c in 0..<3 {
            for i in 0..<35 {
                let j = c * 35 + i, a = weights[i]
                let expected = a == 0 ? before[j] : (1 - a) * before[j] + a * carved.data[j]
                #expect(sampled.data[j] == expected, "channel \(c), cell \(i)")
            }
        }
        #expect(weights.contains(1) && sampled.data[weights.firstIndex(of: 1)!] == carved.data[weights.firstIndex(of: 1)!])
    }
}
