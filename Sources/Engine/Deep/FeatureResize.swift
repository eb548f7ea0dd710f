/// How the input's features are brought to the output's size (docs/spec.md §3).
public enum FeatureOperator: String, Sendable, CaseIterable {
    /// Bilinear (antialiased when shrinking) per layer; with protection, a non-uniform scale that keeps
    /// the protected columns (rows) at scale 1 as far as the target allows.
    case linear
    /// Seams found once on the relu4_1 grid, expanded to every layer: removed on a shrinking axis, inserted
    /// (the cheapest seams duplicated as the average of their neighbours) on a growing one.
    case seam
}

public struct FeatureResizeError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { "feature resize: \(message)" }
}

/// Separable 1-D resampling weights: output i reads `sizes[i]` inputs from `starts[i]`, weights at
/// `weights[i * taps ..< i * taps + sizes[i]]`.
struct AxisWeights {
    let inputCount: Int
    let outputCount: Int
    let taps: Int
    let starts: [Int]
    let sizes: [Int]
    let weights: [Float]

    /// torch's antialiased bilinear (`F.interpolate(mode="bilinear", align_corners=False, antialias=True)`,
    /// `_compute_indices_min_size_weights_aa`): a triangle filter around the half-pixel centre
    /// scale·(i + ½) whose radius is `scale` when shrinking (scale = in/out > 1) and 1 when enlarging, the
    /// weights normalised to sum 1 (so edges renormalise). In Float like torch's float path.
    static func antialiasedBilinear(inputCount: Int, outputCount: Int) -> AxisWeights {
        let scale = Float(inputCount) / Float(outputCount)
        let support: Float = scale >= 1 ? scale : 1
        let invScale: Float = scale >= 1 ? 1 / scale : 1
        let taps = Int(support.rounded(.up)) * 2 + 1
        var starts = [Int](repeating: 0, count: outputCount)
        var sizes = [Int](repeating: 0, count: outputCount)
        var weights = [Float](repeating: 0, count: outputCount * taps)
        for i in 0..<outputCount {
            let centre = scale * (Float(i) + 0.5)
            // Truncation toward zero, as the C++ cast.
            let lo = max(Int(centre - support + 0.5), 0)
            let size = min(max(min(Int(centre + support + 0.5), inputCount) - lo, 0), taps)
            var total: Float = 0
            for j in 0..<size {
                let x = abs((Float(j + lo) - centre + 0.5) * invScale)
                let w: Float = x < 1 ? 1 - x : 0
                weights[i * taps + j] = w
                total += w
            }
            if total != 0 { for j in 0..<size { weights[i * taps + j] /= total } }
            starts[i] = lo
            sizes[i] = size
        }
        return AxisWeights(inputCount: inputCount, outputCount: outputCount, taps: taps, starts: starts,
                           sizes: sizes, weights: weights)
    }
}

/// The `linear` and `seam` feature operators of docs/spec.md §3.
public enum FeatureResize {
    /// Bilinear resize with half-pixel centres, antialiased when shrinking, exactly
    /// `F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)`:
    /// the width first, then the height (as torch's separable kernel); an axis that keeps its size is copied.
    public static func linear(_ source: Tensor, height: Int, width: Int) -> Tensor {
        let out = Tensor(channels: source.channels, height: height, width: width)
        linear(source.data, channels: source.channels, height: source.height, width: source.width,
               into: out.data, height: height, width: width)
        return out
    }

    /// `linear` on raw CHW planes.
    static func linear(_ src: UnsafePointer<Float>, channels: Int, height h: Int, width w: Int,
                       into dst: UnsafeMutablePointer<Float>, height oh: Int, width ow: Int) {
        separable(src, channels: channels, height: h, width: w, into: dst, height: oh, width: ow,
                  horizontal: nil, vertical: nil)
    }

    /// A separable resampling of raw CHW planes, the width first, then the height (as torch's kernel).
    /// An axis with nil weights gets the uniform antialiased bilinear ones (`linear`), or is copied when it
    /// keeps its size.
    static func separable(_ src: UnsafePointer<Float>, channels: Int, height h: Int, width w: Int,
                          into dst: UnsafeMutablePointer<Float>, height oh: Int, width ow: Int,
                          horizontal: AxisWeights?, vertical: AxisWeights?) {
        guard channels > 0, oh > 0, ow > 0 else { return }
        precondition(h > 0 && w > 0, "cannot resize an empty plane to \(ow)x\(oh)")
        // Horizontal pass into a C × h × ow buffer (or straight through when the width is kept).
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: channels * h * ow)
        defer { rows.deallocate() }
        if let wx = horizontal ?? (ow == w ? nil : AxisWeights.antialiasedBilinear(inputCount: w, outputCount: ow)) {
            precondition(wx.inputCount == w && wx.outputCount == ow, "horizontal weights do not fit \(w) → \(ow)")
            wx.weights.withUnsafeBufferPointer { wp in
                for row in 0..<(channels * h) {
                    let s = src + row * w, d = rows + row * ow
                    for x in 0..<ow {
                        let base = wx.starts[x], k = x * wx.taps
                        var acc: Float = 0
                        for j in 0..<wx.sizes[x] { acc += s[base + j] * wp[k + j] }
                        d[x] = acc
                    }
                }
            }
        } else {
            rows.update(from: src, count: channels * h * w)
        }
        guard let wy = vertical ?? (oh == h ? nil : AxisWeights.antialiasedBilinear(inputCount: h, outputCount: oh)) else {
            dst.update(from: rows, count: channels * h * ow)
            return
        }
        precondition(wy.inputCount == h && wy.outputCount == oh, "vertical weights do not fit \(h) → \(oh)")
        wy.weights.withUnsafeBufferPointer { wp in
            for c in 0..<channels {
                let s = rows + c * h * ow, d = dst + c * oh * ow
                for y in 0..<oh {
                    let drow = d + y * ow
                    drow.update(repeating: 0, count: ow)
                    let k = y * wy.taps
                    for j in 0..<wy.sizes[y] {
                        let weight = wp[k + j], srow = s + (wy.starts[y] + j) * ow
                        for x in 0..<ow { drow[x] += weight * srow[x] }
                    }
                }
            }
        }
    }

    /// The `seam` operator after the search: `plan` (on the relu4_1 grid, H8 × W8) applied to every layer
    /// as the reference's `carve_width` (width first, then height on the transposed maps). A removed grid
    /// cell removes the block [s′y, s′y+s′) × [s′x, s′x+s′) at a layer of stride s (s′ = gridStride/s);
    /// rows past s′·H8 follow the last grid row; columns past s′·W8 are never removed. An inserted grid
    /// cell inserts s′ columns (rows) before its block, the average of the neighbouring blocks
    /// (`insertColumns`, `insertRows`). A layer off its target (⌊h/s⌋, ⌊w/s⌋) after that — or on an axis
    /// without seams — gets `linear`.
    ///
    /// - Parameters:
    ///   - features: the input's features per tap (CHW; stride from `Tap.stride`).
    ///   - gridHeight, gridWidth: the seam grid's size (relu4_1 of the input).
    ///   - outputHeight, outputWidth: the output image's size.
    public static func seam(_ features: [Tap: Tensor], plan: FeatureSeamPlan, gridStride: Int = 8,
                            gridHeight: Int, gridWidth: Int,
                            outputHeight: Int, outputWidth: Int) throws -> [Tap: Tensor] {
        if let r = plan.width ?? plan.widthInsertion?.rounds[0],
           r.width != gridWidth || r.height != gridHeight || r.direction != .vertical {
            throw FeatureResizeError(message: "width seams are on a \(r.width)x\(r.height) grid, expected \(gridWidth)x\(gridHeight)")
        }
        let carvedGridWidth = plan.widthAfterWidthPass ?? gridWidth
        if let r = plan.height ?? plan.heightInsertion?.rounds[0],
           r.width != carvedGridWidth || r.height != gridHeight || r.direction != .horizontal {
            throw FeatureResizeError(message: "height seams are on a \(r.width)x\(r.height) grid, expected \(carvedGridWidth)x\(gridHeight)")
        }
        var out: [Tap: Tensor] = [:]
        for (tap, f) in features {
            guard tap.stride <= gridStride, gridStride % tap.stride == 0 else {
                throw FeatureResizeError(message: "\(tap) (stride \(tap.stride)) is coarser than the seam grid (stride \(gridStride))")
            }
            let s = gridStride / tap.stride
            let target = (height: outputHeight / tap.stride, width: outputWidth / tap.stride)
            guard f.height >= s * gridHeight, f.width >= s * gridWidth else {
                throw FeatureResizeError(message: "\(tap) is \(f.width)x\(f.height), smaller than the seam grid \(gridWidth)x\(gridHeight) × \(s)")
            }
            // Width.
            var g: Tensor
            if let r = plan.width {
                g = carveColumns(f, removal: r, blockSize: s)
            } else if let i = plan.widthInsertion {
                g = insertColumns(f, insertion: i, blockSize: s)
            } else {
                g = linear(f, height: f.height, width: target.width)
            }
            if g.width != target.width { g = linear(g, height: g.height, width: target.width) }
            // Height.
            if let r = plan.height {
                g = carveRows(g, removal: r, blockSize: s)
            } else if let i = plan.heightInsertion {
                g = insertRows(g, insertion: i, blockSize: s)
            } else {
                g = linear(g, height: target.height, width: g.width)
            }
            if g.height != target.height { g = linear(g, height: target.height, width: g.width) }
            out[tap] = g
        }
        return out
    }

    /// Removes from each row of `f` the columns of its blocks that `removal` (vertical seams, grid
    /// H8 × W8) removed: every row loses blockSize · seams columns.
    static func carveColumns(_ f: Tensor, removal r: SeamRemoval, blockSize s: Int) -> Tensor {
        let k = r.seams.count
        let outWidth = f.width - s * k
        let out = Tensor(channels: f.channels, height: f.height, width: outWidth)
        var keep = [Int](repeating: 0, count: outWidth)  // kept source columns, per row
        for y in 0..<f.height {
            let gy = min(y / s, r.height - 1)
            var n = 0
            for x in 0..<f.width where x >= s * r.width || !r.removed[gy * r.width + x / s] {
                keep[n] = x
                n += 1
            }
            precondition(n == outWidth, "seam expansion kept \(n) columns, expected \(outWidth)")
            for c in 0..<f.channels {
                let src = f.plane(c) + y * f.width, dst = out.plane(c) + y * outWidth
                for i in 0..<outWidth { dst[i] = src[keep[i]] }
            }
        }
        return out
    }

    /// Removes from each column of `f` the rows of its blocks that `removal` (horizontal seams, grid
    /// H8 × W′) removed; columns past s·W′ follow the last grid column, rows past s·H8 are never removed.
    static func carveRows(_ f: Tensor, removal r: SeamRemoval, blockSize s: Int) -> Tensor {
        let k = r.seams.count
        let outHeight = f.height - s * k
        let out = Tensor(channels: f.channels, height: outHeight, width: f.width)
        var keep = [Int](repeating: 0, count: outHeight)
        for x in 0..<f.width {
            let gx = min(x / s, r.width - 1)
            var n = 0
            for y in 0..<f.height where y >= s * r.height || !r.removed[(y / s) * r.width + gx] {
                keep[n] = y
                n += 1
            }
            precondition(n == outHeight, "seam expansion kept \(n) rows, expected \(outHeight)")
            for c in 0..<f.channels {
                let src = f.plane(c), dst = out.plane(c)
                for i in 0..<outHeight { dst[i * f.width + x] = src[keep[i] * f.width + x] }
            }
        }
        return out
    }

    /// The targets T_l of docs/spec.md §3 for an output of outputHeight × outputWidth.
    ///
    /// - Parameters:
    ///   - features: the input's features at the reconstruction taps (relu4_1 must be among them for `seam`).
    ///   - mask: the protection mask (stride 16); nil protects nothing. `seam`: the 1000× seam energy.
    ///     `linear`: the protected non-uniform scale (`protectedLinear`); nil is the reference's plain
    ///     bilinear.
    ///   - context: cancellation and progress of the seam search.
    public static func targets(for features: [Tap: Tensor], operator op: FeatureOperator, mask: SemanticMask?,
                               outputHeight: Int, outputWidth: Int,
                               context: RunContext = .detached) throws -> [Tap: Tensor] {
        for tap in features.keys {
            let t = tap.outputSize(height: outputHeight, width: outputWidth)
            guard t.height >= 1, t.width >= 1 else {
                throw FeatureResizeError(message: "output \(outputWidth)x\(outputHeight) is too small for \(tap) (stride \(tap.stride))")
            }
        }
        switch op {
        case .linear:
            var out: [Tap: Tensor] = [:]
            for (tap, f) in features {
                let (h, w) = (outputHeight / tap.stride, outputWidth / tap.stride)
                if let mask {
                    out[tap] = protectedLinear(f, stride: tap.stride, mask: mask, height: h, width: w)
                } else {
                    out[tap] = linear(f, height: h, width: w)
                }
            }
            return out
        case .seam:
            guard let grid = features[.relu4_1] else { throw FeatureResizeError(message: "the seam operator needs relu4_1") }
            let h8 = grid.height, w8 = grid.width
            let mean = meanActivation(grid)
            let m8 = mask?.resampled(toStride: Tap.relu4_1.stride, width: w8, height: h8)
                ?? [Bool](repeating: false, count: h8 * w8)
            let target8 = Tap.relu4_1.outputSize(height: outputHeight, width: outputWidth)
            let plan = try SeamSearch.featureSeams(meanActivation: mean, mask: m8, width: w8, height: h8,
                                                   targetWidth: target8.width, targetHeight: target8.height,
                                                   context: context)
            return try seam(features, plan: plan, gridStride: Tap.relu4_1.stride, gridHeight: h8, gridWidth: w8,
                            outputHeight: outputHeight, outputWidth: outputWidth)
        }
    }
}
