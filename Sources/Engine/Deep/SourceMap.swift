import Glibc

/// Where each output pixel's content comes from in the input: the geometry of a resize, shared by every
/// layer's target and by the start R0 (docs/spec.md, "One geometry for every layer").
///
/// Why one map: when each layer is carved by its own seams, a straight edge that crosses the seams is
/// shifted by different amounts at different layers, and the reconstruction, asked for all of them at
/// once, draws several faint copies of the edge. Here the seams are found coarse to fine
/// (`layeredSeamPlans`), the finest (relu1_1, one pixel wide) define the map, and every layer samples its
/// own features through it at its own resolution.
///
/// Plane 0 holds the source column, plane 1 the source row, of every output pixel, in pixel units
/// (fractional where seams were inserted: a new pixel sits halfway between its neighbours).
public struct SourceMap {
    public let coordinates: Tensor

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

    /// How the seams' cuts become a smooth map: where each source line's pixels go is spread by a Gaussian
    /// and bounded, so that no region is squeezed or stretched far beyond the uniform scale.
    public struct Smoothing: Sendable, Equatable {
        /// σ in pixels of the Gaussian over the seams' per-pixel output share (both directions); 0 keeps
        /// the seams' hard one-pixel cuts.
        public var sigma: Double
        /// Each pixel's share of the output is kept within [uniform / bound, uniform · bound] where the
        /// uniform share is (output length) / (source length); ∞ leaves the seams' distribution as it is.
        public var bound: Double

        public init(sigma: Double, bound: Double) {
            self.sigma = sigma
            self.bound = bound
        }

        /// The seams' own cuts (the reference operator's geometry at one pixel).
        public static let none = Smoothing(sigma: 0, bound: .infinity)
    }

    /// The map of a seam plan found on the input's pixel grid (relu1_1, stride 1).
    ///
    /// Each axis is one 1-D problem per line: the plan, applied to the identity map, says how much of the
    /// output each source pixel makes (0 for a removed pixel, 1 for a kept one, more where a seam was
    /// duplicated next to it); that share is blurred (`smoothing.sigma`, across lines too, so neighbouring
    /// lines bend together), kept within the bounds, rescaled to the line's output length, and inverted:
    /// output pixel j reads the source position where the running share passes j + ½. Width first, then
    /// height on the width-changed grid, as the seams were found.
    public init(plan: FeatureSeamPlan, inputHeight: Int, inputWidth: Int, outputHeight: Int, outputWidth: Int,
                smoothing: Smoothing = .none) throws {
        let h = inputHeight, w = inputWidth
        // Source column of each pixel of the width-changed grid (h × outputWidth).
        var columns: [Float]
        if plan.width != nil || plan.widthInsertion != nil {
            let exact = try FeatureResize.apply(FeatureSeamPlan(width: plan.width, widthInsertion: plan.widthInsertion),
                                                to: Self.identity(height: h, width: w), outputHeight: h, outputWidth: outputWidth)
            columns = Self.smoothLines(exact: Array(UnsafeBufferPointer(start: exact.plane(0), count: h * outputWidth)),
                                       lines: h, sourceLength: w, outputLength: outputWidth, transposed: false,
                                       smoothing: smoothing)
        } else {
            precondition(w == outputWidth, "a width change needs width seams")
            columns = (0..<(h * w)).map { Float($0 % w) }
        }
        // Source row of each output pixel in the width-changed grid (outputHeight × outputWidth).
        var rows: [Float]
        if plan.height != nil || plan.heightInsertion != nil {
            let exact = try FeatureResize.apply(FeatureSeamPlan(height: plan.height, heightInsertion: plan.heightInsertion),
                                                to: Self.identity(height: h, width: outputWidth),
                                                outputHeight: outputHeight, outputWidth: outputWidth)
            rows = Self.smoothLines(exact: Array(UnsafeBufferPointer(start: exact.plane(1), count: outputHeight * outputWidth)),
                                    lines: outputWidth, sourceLength: h, outputLength: outputHeight, transposed: true,
                                    smoothing: smoothing)
        } else {
            precondition(h == outputHeight, "a height change needs height seams")
            rows = (0..<(h * outputWidth)).map { Float($0 / outputWidth) }
        }
        // Compose: an output pixel's row in the width-changed grid, then that row's source column there.
        let out = Tensor(channels: 2, height: outputHeight, width: outputWidth)
        for y in 0..<outputHeight {
            for x in 0..<outputWidth {
                let r = min(max(rows[y * outputWidth + x], 0), Float(h - 1))
                let r0 = Int(r), r1 = min(r0 + 1, h - 1), t = r - Float(r0)
                out.plane(0)[y * outputWidth + x] = (1 - t) * columns[r0 * outputWidth + x] + t * columns[r1 * outputWidth + x]
                out.plane(1)[y * outputWidth + x] = r
            }
        }
        coordinates = out
        columns.removeAll()
        rows.removeAll()
    }

    /// The 1-D maps of one axis. `exact` holds, for each of `lines` lines, the source coordinate of each of
    /// its `outputLength` output pixels as the seams put them (row-major lines × outputLength, or
    /// outputLength × lines when `transposed`); returns the smoothed, bounded map in the same layout.
    static func smoothLines(exact: [Float], lines: Int, sourceLength n: Int, outputLength m: Int, transposed: Bool,
                            smoothing: Smoothing) -> [Float] {
        if smoothing == .none { return exact }
        func at(_ line: Int, _ j: Int) -> Int { transposed ? j * lines + line : line * m + j }
        // Each source pixel's share of the output, from where the seams put the output pixels: a pixel at
        // coordinate c counts 1 − frac(c) for ⌊c⌋ and frac(c) for ⌊c⌋ + 1 (an inserted pixel halfway between
        // two neighbours counts half for each).
        var share = [Double](repeating: 0, count: lines * n)
        for line in 0..<lines {
            for j in 0..<m {
                let c = Double(min(max(exact[at(line, j)], 0), Float(n - 1)))
                let i = Int(c), t = c - Double(i)
                share[line * n + i] += 1 - t
                if t > 0, i + 1 < n { share[line * n + i + 1] += t }
            }
        }
        share = gaussianBlur(share, lines: lines, length: n, sigma: smoothing.sigma)
        let uniform = Double(m) / Double(n)
        var low = uniform / smoothing.bound, high = uniform * smoothing.bound
        if m < n { high = min(high, 1) } else { low = max(low, 1) }  // shrinking never stretches, growing never squeezes
        var out = [Float](repeating: 0, count: lines * m)
        var line = [Double](repeating: 0, count: n)
        for l in 0..<lines {
            for i in 0..<n { line[i] = share[l * n + i] }
            fit(&line, total: Double(m), low: low, high: high)
            // Invert the running share: output pixel j's centre j + ½ falls in source pixel i where
            // C(i) ≤ j + ½ < C(i + 1); its coordinate is i − ½ + (j + ½ − C(i)) / share(i) (pixel centres).
            var i = 0, before = 0.0
            for j in 0..<m {
                let centre = Double(j) + 0.5
                while i < n - 1 && before + line[i] <= centre {
                    before += line[i]
                    i += 1
                }
                let within = line[i] > 0 ? (centre - before) / line[i] : 0.5
                out[at(l, j)] = Float(min(max(Double(i) - 0.5 + within, 0), Double(n - 1)))
            }
        }
        return out
    }

    /// `values` (lines × length) kept within [low, high] and scaled to sum to `total`: the share above (or
    /// below) the bounds is handed to the pixels still inside them, in proportion, until it fits.
    static func fit(_ values: inout [Double], total: Double, low: Double, high: Double) {
        for _ in 0..<50 {
            for i in values.indices { values[i] = min(max(values[i], low), high) }
            let sum = values.reduce(0, +)
            let gap = total - sum
            if abs(gap) <= 1e-9 * total { return }
            // Only values that can still move in the gap's direction take part.
            let free = values.indices.filter { gap > 0 ? values[$0] < high : values[$0] > low }
            let freeSum = free.reduce(0.0) { $0 + values[$1] }
            if free.isEmpty { return }
            if freeSum > 1e-12 {
                let factor = (freeSum + gap) / freeSum
                for i in free { values[i] *= factor }
            } else {
                for i in free { values[i] += gap / Double(free.count) }
            }
        }
    }

    /// A separable Gaussian blur of a lines × length field (edges replicated).
    static func gaussianBlur(_ v: [Double], lines: Int, length: Int, sigma: Double) -> [Double] {
        guard sigma > 0 else { return v }
        let radius = Int((3 * sigma).rounded(.up))
        var kernel = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        var mid = [Double](repeating: 0, count: v.count), out = mid
        for l in 0..<lines {
            for i in 0..<length {
                var acc = 0.0
                for (k, weight) in kernel.enumerated() { acc += weight * v[l * length + min(max(i + k - radius, 0), length - 1)] }
                mid[l * length + i] = acc
            }
        }
        for l in 0..<lines {
            for i in 0..<length {
                var acc = 0.0
                for (k, weight) in kernel.enumerated() { acc += weight * mid[min(max(l + k - radius, 0), lines - 1) * length + i] }
                out[l * length + i] = acc
            }
        }
        return out
    }

    init(coordinates: Tensor) {
        precondition(coordinates.channels == 2, "a source map has two planes")
        self.coordinates = coordinates
    }

    /// `f` (the features of the input at a layer of `stride`, or the image itself at stride 1) sampled
    /// through the map. The cell (Y, X) of the ⌊h/s⌋ × ⌊w/s⌋ result is centred on the mean source position
    /// of its s × s output pixels, carried to f's grid ((p + ½)/s − ½), and reads f with a triangle filter
    /// whose radius is the map's local scale along each axis (at least 1): plain bilinear interpolation
    /// where the map keeps the scale, an antialiased average where it compresses, as `linear` does for a
    /// uniform scale. Point sampling there would alias thin structures (a cable becomes a dotted line in
    /// the targets, and the reconstruction draws it so). At stride 1 with integer positions and unit
    /// scale this is an exact gather.
    public func sample(_ f: Tensor, stride s: Int) -> Tensor {
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
        let plane = f.height * f.width
        var taps: [(index: Int, weight: Float)] = []
        var xTaps: [(Int, Float)] = [], yTaps: [(Int, Float)] = []
        for ty in 0..<th {
            for tx in 0..<tw {
                let o = ty * tw + tx
                // The local scale: how far the centres of the neighbouring cells are apart in f's grid.
                let left = tx > 0 ? o - 1 : o, right = tx + 1 < tw ? o + 1 : o
                let up = ty > 0 ? o - tw : o, down = ty + 1 < th ? o + tw : o
                let sx = abs(u[right] - u[left]) / Float(max(1, right - left))
                let sy = abs(v[down] - v[up]) / Float(max(1, (down - up) / tw))
                Self.triangle(centre: u[o], radius: max(1, sx), count: f.width, into: &xTaps)
                Self.triangle(centre: v[o], radius: max(1, sy), count: f.height, into: &yTaps)
                taps.removeAll(keepingCapacity: true)
                for (y, wy) in yTaps { for (x, wx) in xTaps { taps.append((y * f.width + x, wy * wx)) } }
                for c in 0..<f.channels {
                    let p = f.data + c * plane
                    var acc: Float = 0
                    for t in taps { acc += t.weight * p[t.index] }
                    out.data[c * th * tw + o] = acc
                }
            }
        }
        return out
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
