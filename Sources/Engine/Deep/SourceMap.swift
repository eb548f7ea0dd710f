import Glibc

/// Where each output pixel's content comes from in the input: the geometry of a resize, shared by every
/// layer's target and by the start R0 (docs/spec.md, "One geometry for every layer").
///
/// Why one map: when each layer is carved by its own seams, a straight edge that crosses the seams is
/// shifted by different amounts at different layers, and the reconstruction, asked for all of them at
/// once, draws several faint copies of the edge (measured: docs/spec.md). Here the one-pixel seams
/// (`layeredSeamPlans`'s relu1_1 plan), followed by the protected scale where they stopped short
/// (`scaled`), define the map, and every layer samples its own features through it at its own resolution.
///
/// Plane 0 holds the source column, plane 1 the source row, of every output pixel, in pixel units
/// (fractional where seams were inserted, a new pixel halfway between its neighbours, except a copy of the
/// first column or row inserted before it; and fractional where the scale moved pixels between the seamed
/// ones).
public struct SourceMap {
    public let coordinates: Tensor
    /// Per output pixel (row-major), true where a seam inserted it: it has no source pixel of its own, only
    /// a position between two, or a copy of the edge pixel beside it (`InsertionAnchor`). All false for a
    /// removal or a plain scale.
    public let inserted: [Bool]

    public var width: Int { coordinates.width }
    public var height: Int { coordinates.height }

    /// The identity map of a height × width image.
    static func identity(height: Int, width: Int) -> Tensor {
        let t = Tensor(channels: 2, height: height, width: width)
        for y in 0..<height {
            for x in 0..<width {
                t.plane(0)[y * width + x] = Float(x)
                t.plane(1)[y * width + x] = Float(y)
            }
        }
        return t
    }

    /// The map of a seam plan found on the input's pixel grid (relu1_1, stride 1): the plan applied to the
    /// identity map's coordinates, so removed columns (rows) disappear from it and inserted ones become the
    /// average of their neighbours' coordinates, exactly as the plan treats features.
    public init(plan: FeatureSeamPlan, inputHeight: Int, inputWidth: Int, outputHeight: Int, outputWidth: Int) throws {
        let c = try FeatureResize.apply(plan, to: Self.identity(height: inputHeight, width: inputWidth),
                                        outputHeight: outputHeight, outputWidth: outputWidth)
        // An inserted pixel is the average of its neighbours' positions, so never whole (x + ½ between two
        // source pixels, x + ¼ or ¾ beside one inserted in an earlier round), except at the image's first
        // column (row), where it is a copy of its one neighbour: the same position as the pixel after it
        // (seams gather at the edge of a plain image; 48 rows made 200 start with row 0 and 15 copies). Kept
        // and removed pixels are whole, each at a position of its own.
        let plane = c.height * c.width, w = c.width
        let xs = c.data, ys = c.data + plane
        self.init(coordinates: c, inserted: (0..<plane).map { i in
            let x = i % w
            let fractional = xs[i] != xs[i].rounded() || ys[i] != ys[i].rounded()
            let copiesNext = (x + 1 < w && xs[i] == xs[i + 1] && ys[i] == ys[i + 1])
                || (i + w < plane && xs[i] == xs[i + w] && ys[i] == ys[i + w])
            return fractional || copiesNext
        })
    }

    init(coordinates: Tensor, inserted: [Bool]? = nil) {
        precondition(coordinates.channels == 2, "a source map has two planes")
        let plane = coordinates.height * coordinates.width
        precondition(inserted == nil || inserted!.count == plane, "one insertion flag per pixel")
        self.coordinates = coordinates
        self.inserted = inserted ?? [Bool](repeating: false, count: plane)
    }

    /// The protected columns' scale over the others' in `scaled`, at most: 1.5 keeps a ladybird or a splash
    /// crown nearly round while the lines that cross their columns (a grass blade, a bridge's cables) bend
    /// gently; with 2 (protected at scale 1, the rest at half) the cables bent into an S.
    static let protectionRatio = 1.5

    /// This map followed by a scale to height × width: the protected non-uniform scale of `ProtectedAxis`
    /// along each axis (the protected columns and rows, 0 … 1 each, kept wider than the rest, by up to
    /// `protectionRatio`; none protected, a uniform scale), width first. An output pixel's centre is carried back through the scale to a
    /// position between this map's pixels, and its source is interpolated linearly from theirs (across a
    /// seam, the nearer one's where the pixel between is foreign to both: `resampled`); under a
    /// compression the positions then step by more than a pixel, and `sample` widens its filter to match.
    ///
    /// `luminance` (the source image's, row-major) decides what happens across a seam (`resampled`); without
    /// it the sources are interpolated there too.
    public func scaled(height oh: Int, width ow: Int, protectedColumns: [Double], protectedRows: [Double],
                       luminance: Luminance? = nil) -> SourceMap {
        precondition(protectedColumns.count == width && protectedRows.count == height, "one flag per column and row")
        precondition(oh >= 1 && ow >= 1, "cannot scale a map to \(ow)x\(oh)")
        var map = self
        if ow != width { map = map.resampled(protection: protectedColumns, outputCount: ow, vertical: false, luminance: luminance) }
        if oh != height { map = map.resampled(protection: protectedRows, outputCount: oh, vertical: true, luminance: luminance) }
        return map
    }

    /// A source image's luminance, read between pixels bilinearly (positions clamped to the image).
    public struct Luminance: Sendable {
        let values: [Double]
        let width: Int
        let height: Int

        public init(_ values: [Double], width: Int, height: Int) {
            precondition(values.count == width * height && width > 0 && height > 0, "one luminance per pixel")
            self.values = values
            self.width = width
            self.height = height
        }

        func at(x: Float, y: Float) -> Double {
            let fx = min(max(Double(x), 0), Double(width - 1)), fy = min(max(Double(y), 0), Double(height - 1))
            let x0 = Int(fx), y0 = Int(fy), x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
            let tx = fx - Double(x0), ty = fy - Double(y0)
            let top = (1 - tx) * values[y0 * width + x0] + tx * values[y0 * width + x1]
            let bottom = (1 - tx) * values[y1 * width + x0] + tx * values[y1 * width + x1]
            return (1 - ty) * top + ty * bottom
        }
    }

    /// Across a seam, the source between the two neighbours is kept only while its luminance lies within
    /// this much (luminance 0 … 1) of the range the two neighbours span.
    static let foreignTolerance = 0.02

    /// This map taken to outputCount along one axis (rows when `vertical`) by the protected scale: each
    /// output centre carried back to the input and its position interpolated linearly between its two
    /// neighbours; it counts as inserted when a neighbour it draws on was.
    private func resampled(protection: [Double], outputCount m: Int, vertical: Bool, luminance: Luminance?) -> SourceMap {
        let c = coordinates
        let (h, w) = (c.height, c.width)
        let n = vertical ? h : w, lines = vertical ? w : h
        let axis = ProtectedAxis(protection: protection, outputCount: m, maximumRatio: Self.protectionRatio)
        let out = vertical ? Tensor(channels: 2, height: m, width: w) : Tensor(channels: 2, height: h, width: m)
        // Index of position i on line l, in c and in out.
        func source(_ l: Int, _ i: Int) -> Int { vertical ? i * w + l : l * w + i }
        func target(_ l: Int, _ i: Int) -> Int { vertical ? i * w + l : l * m + i }
        var flags = [Bool](repeating: false, count: out.height * out.width)
        let xs = c.plane(0), ys = c.plane(1), outX = out.plane(0), outY = out.plane(1)
        for i in 0..<m {
            let (j, t) = Self.between(axis.inputPosition(Double(i) + 0.5) - 0.5, count: n)
            let k = min(j + 1, n - 1)
            for l in 0..<lines {
                let a = source(l, j), b = source(l, k), o = target(l, i)
                // Across a seam the two neighbours' sources are more than a pixel apart, and a position
                // between them is a pixel the seams removed. Where that pixel continues what the two show
                // (a slanted edge that crosses the seams, drawn at a position between its two halves), it
                // is kept; where it is foreign to both (a dark band's interior, which the seams removed,
                // drawn as a thin dashed line across the smooth gradient above it), the nearer neighbour
                // is taken whole.
                var u = t
                if let luminance, t > 0, abs(xs[b] - xs[a]) > Self.seamGap || abs(ys[b] - ys[a]) > Self.seamGap {
                    let la = luminance.at(x: xs[a], y: ys[a]), lb = luminance.at(x: xs[b], y: ys[b])
                    let between = luminance.at(x: (1 - t) * xs[a] + t * xs[b], y: (1 - t) * ys[a] + t * ys[b])
                    if between < min(la, lb) - Self.foreignTolerance || between > max(la, lb) + Self.foreignTolerance {
                        u = t < 0.5 ? 0 : 1
                    }
                }
                outX[o] = (1 - u) * xs[a] + u * xs[b]
                outY[o] = (1 - u) * ys[a] + u * ys[b]
                flags[o] = (u < 1 && inserted[a]) || (u > 0 && inserted[b])
            }
        }
        return SourceMap(coordinates: out, inserted: flags)
    }

    /// Neighbours whose sources are further apart than this (in pixels, along either axis) have a seam
    /// between them. Seams move a pixel's neighbours by whole pixels; inserted pixels sit half a pixel from
    /// theirs, and a vertical seam shifts a column's neighbours by one.
    static let seamGap: Float = 1.5

    /// A position on a row of `count` pixel centres as the pixel at or before it and the fraction toward
    /// the next one (clamped to the row).
    private static func between(_ position: Double, count: Int) -> (Int, Float) {
        let p = min(max(position, 0), Double(count - 1))
        let j = min(Int(p), count - 1)
        return (j, Float(p - Double(j)))
    }

    /// `f` (the features of the input at a layer of `stride`, or the image itself at stride 1) sampled
    /// through the map. The cell (Y, X) of the ⌊h/s⌋ × ⌊w/s⌋ result is centred on the mean source position
    /// of its s × s output pixels, carried to f's grid ((p + ½)/s − ½), and reads f with a triangle filter
    /// whose radius is the map's local scale along each axis (`localScale`, at least 1): plain bilinear interpolation
    /// where the map keeps the scale, an antialiased average where it compresses uniformly, as `linear`
    /// does. Point sampling there would alias thin structures (a cable becomes a dotted line in
    /// the targets, and the reconstruction draws it so). At stride 1 with integer positions and unit
    /// scale this is an exact gather. Bands of cell rows run on `threads` workers; the result does not
    /// depend on how many.
    public func sample(_ f: Tensor, stride s: Int, threads: Int = 1) -> Tensor {
        let th = height / s, tw = width / s
        let out = Tensor(channels: f.channels, height: th, width: tw)
        guard th > 0, tw > 0, f.height > 0, f.width > 0 else { return out }
        // Centres in f's grid.
        let xs = coordinates.plane(0), ys = coordinates.plane(1)
        let scale = Float(s), inverseArea = 1 / Float(s * s)
        var u = [Float](repeating: 0, count: th * tw), v = [Float](repeating: 0, count: th * tw)
        for ty in 0..<th {
            for tx in 0..<tw {
                var mx: Float = 0, my: Float = 0
                for dy in 0..<s {
                    let row = (ty * s + dy) * width + tx * s
                    for dx in 0..<s {
                        mx += xs[row + dx]
                        my += ys[row + dx]
                    }
                }
                u[ty * tw + tx] = (mx * inverseArea + 0.5) / scale - 0.5
                v[ty * tw + tx] = (my * inverseArea + 0.5) / scale - 0.5
            }
        }
        // Bands of cell rows on the workers (relu1_1 of a megapixel output is 64 planes of a million cells).
        let plane = f.height * f.width, fw = f.width, fh = f.height, channels = f.channels
        let (centresX, centresY) = (u, v)
        let input = SharedFloats(base: f.data), output = SharedFloats(base: out.data)
        let bandRows = max(1, (th + 4 * max(threads, 1) - 1) / (4 * max(threads, 1)))
        parallelFor(tasks: (th + bandRows - 1) / bandRows, threads: threads) { band in
            var taps: [(index: Int, weight: Float)] = []
            var xTaps: [(Int, Float)] = [], yTaps: [(Int, Float)] = []
            for ty in (band * bandRows)..<min(th, (band + 1) * bandRows) {
                for tx in 0..<tw {
                    let o = ty * tw + tx
                    // The local scale: how far the centre of a neighbouring cell is in f's grid, the nearer side's.
                    let sx = Self.localScale(centresX[o], before: tx > 0 ? centresX[o - 1] : nil,
                                             after: tx + 1 < tw ? centresX[o + 1] : nil)
                    let sy = Self.localScale(centresY[o], before: ty > 0 ? centresY[o - tw] : nil,
                                             after: ty + 1 < th ? centresY[o + tw] : nil)
                    Self.triangle(centre: centresX[o], radius: max(1, sx), count: fw, into: &xTaps)
                    Self.triangle(centre: centresY[o], radius: max(1, sy), count: fh, into: &yTaps)
                    taps.removeAll(keepingCapacity: true)
                    for (y, wy) in yTaps { for (x, wx) in xTaps { taps.append((y * fw + x, wy * wx)) } }
                    for c in 0..<channels {
                        let p = input.base + c * plane
                        var acc: Float = 0
                        for t in taps { acc += t.weight * p[t.index] }
                        output.base[c * th * tw + o] = acc
                    }
                }
            }
        }
        return out
    }

    /// The distance to the nearer of a cell's two neighbours (the one there is at a border; 1 with none).
    /// Where seams remove, the step to a neighbour is 1 except across a seam, where it is 1 + the pixels
    /// removed there: a cut, not a compression, and the content on each side is whole. A mean of the two
    /// steps made the filter of the cells beside a bundle of seams as wide as the bundle, and it mixed what
    /// the seams had cut apart into a thin line (a petal's yellow beside it in the dark background, a dark
    /// line across a smooth gradient). Under a uniform compression both steps agree.
    static func localScale(_ centre: Float, before: Float?, after: Float?) -> Float {
        switch (before, after) {
        case let (b?, a?): min(abs(centre - b), abs(a - centre))
        case let (b?, nil): abs(centre - b)
        case let (nil, a?): abs(a - centre)
        case (nil, nil): 1
        }
    }

    /// Normalised triangle weights of radius `radius` around `centre` over the indices 0 ..< count
    /// (positions past the edges are clamped onto them).
    private static func triangle(centre: Float, radius: Float, count: Int, into taps: inout [(Int, Float)]) {
        taps.removeAll(keepingCapacity: true)
        let c = min(max(centre, 0), Float(count - 1))
        let lo = max(0, Int((c - radius).rounded(.up))), hi = min(count - 1, Int((c + radius).rounded(.down)))
        var total: Float = 0
        if lo <= hi {
            for i in lo...hi {
                let w = 1 - abs(Float(i) - c) / radius
                if w > 0 {
                    taps.append((i, w))
                    total += w
                }
            }
        }
        if taps.isEmpty { taps.append((Int(c.rounded()), 1)); total = 1 }
        for i in taps.indices { taps[i].1 /= total }
    }
}
