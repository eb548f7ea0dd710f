import CKernels
import COpenBLAS

/// The weights of docs/spec.md §4: L = α·L_rec + β·L_per + γ·L_reg + δ·L_smooth.
public struct DeepLossWeights: Sendable, Equatable {
    public var alpha: Double = 1
    public var beta: Double = 0.1
    public var gamma: Double = 0.01
    /// The curvature prior where R0 is smooth (`SmoothRegions`, `DeepLoss.curvature`; docs/spec.md §4); 0: none.
    public var delta: Double = 0
    /// w_l of each reconstruction layer (docs/spec.md §4: 1/4 for the four layers).
    public var layerWeight: Double = 0.25

    public init(alpha: Double = 1, beta: Double = 0.1, gamma: Double = 0.01, delta: Double = 0) {
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.delta = delta
    }
}

/// One evaluation's loss and its terms (each unweighted, as the reference's report).
public struct DeepLossTerms: Sendable, Equatable, Codable {
    public var total: Double
    public var reconstruction: Double
    public var perceptual: Double
    public var regularization: Double
    /// L_smooth (0 when δ is 0).
    public var smoothness: Double

    public init(total: Double, reconstruction: Double, perceptual: Double, regularization: Double, smoothness: Double = 0) {
        self.total = total
        self.reconstruction = reconstruction
        self.perceptual = perceptual
        self.regularization = regularization
        self.smoothness = smoothness
    }
}

/// The terms of docs/spec.md §4 one by one, each with its analytic gradient, normalised exactly as the
/// reference (`deep_resize_ref.py`, `terms`). Values accumulate in Double; gradients are Float.
/// "scale" multiplies a term's gradient (the weight it enters L with).
public enum DeepLoss {
    /// ‖Φ − T‖² / ‖T‖²; writes scale · 2(Φ − T)/‖T‖² into `gradient` (overwrites) when given.
    /// - targetSquaredNorm: ‖T‖² (precomputed once per target).
    /// - threads: the sum is taken in fixed chunks and added in order, so the value does not depend on it.
    public static func reconstruction(features phi: Tensor, target: Tensor, targetSquaredNorm: Double,
                                      scale: Double = 1, gradient: Tensor? = nil, threads: Int = 1) -> Double {
        precondition(phi.count == target.count, "features and target differ in size")
        let n = phi.count
        let norm = max(targetSquaredNorm, .leastNormalMagnitude)
        if let gradient { precondition(gradient.count == n, "gradient differs in size") }
        let k = Float(2 * scale / norm)
        let a = SharedFloats(base: phi.data), b = SharedFloats(base: target.data)
        let g = gradient.map { SharedFloats(base: $0.data) }
        // In Double: the line search compares losses that differ in the 7th digit.
        let chunk = 1 << 16, chunks = (n + chunk - 1) / chunk
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: max(chunks, 1))
        defer { sums.deallocate() }
        let out = ChunkSums(base: sums)
        parallelFor(tasks: chunks, threads: threads) { c in
            let at = c * chunk, count = min(chunk, n - at)
            out.base[c] = ck_squared_difference(a.base + at, b.base + at, count, k, g.map { $0.base + at })
        }
        var sum = 0.0
        for c in 0..<chunks { sum += sums[c] }
        return sum / norm
    }

    /// G = F Fᵀ / (C·H·W) with F the C × (H·W) matrix of `features` (row-major C × C into `into`).
    public static func gram(_ f: Tensor, into g: UnsafeMutablePointer<Float>) {
        let c = f.channels, hw = f.height * f.width
        guard c > 0 else { return }
        guard hw > 0 else { g.update(repeating: 0, count: c * c); return }
        BLASThreading.callerOnly()  // one split of the sums, whoever calls
        // Symmetric: the upper triangle (half sgemm's products: 9 against 15 ms for 256 × 11,520 on two
        // threads), then mirrored.
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, blasint(c), blasint(hw),
                    1 / Float(f.count), f.data, blasint(hw), 0, g, blasint(c))
        for i in 1..<c {
            for j in 0..<i { g[i * c + j] = g[j * c + i] }
        }
    }

    /// ‖G(F) − P‖² / ‖P‖² for the input's Gram matrix P; adds scale · d/dF = scale · 4 (G − P) F / (N ‖P‖²)
    /// (N = C·H·W of F) to `gradient` when given. `scratch` holds C·C floats (G, then G − P).
    public static func gramDistance(features f: Tensor, inputGram p: UnsafePointer<Float>, inputGramSquaredNorm: Double,
                                    scale: Double = 1, addGradientTo gradient: Tensor? = nil,
                                    scratch: UnsafeMutablePointer<Float>) -> Double {
        let c = f.channels, hw = f.height * f.width
        gram(f, into: scratch)
        var sum = 0.0
        for i in 0..<(c * c) {
            let d = scratch[i] - p[i]
            scratch[i] = d
            sum += Double(d) * Double(d)
        }
        let norm = max(inputGramSquaredNorm, .leastNormalMagnitude)
        if let gradient, hw > 0 {
            precondition(gradient.count == f.count, "gradient differs in size")
            let k = Float(4 * scale / (Double(f.count) * norm))
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(c), blasint(hw), blasint(c),
                        k, scratch, blasint(c), f.data, blasint(hw), 1, gradient.data, blasint(hw))
        }
        return sum / norm
    }

    /// One Gram tap's operands for `gramDistances`. unchecked Sendable: a term reads its own features and
    /// input Gram and writes only its own gradient and scratch.
    struct GramTerm: @unchecked Sendable {
        let features: Tensor
        /// 1 × C × C.
        let inputGram: Tensor
        let inputGramSquaredNorm: Double
        let gradient: Tensor?
        /// 1 × C × C.
        let scratch: Tensor
    }

    /// `gramDistance` of each term, the terms side by side on `threads` workers. The Gram taps cost about
    /// the same (C²·H·W: relu3_1's 256² · HW/16 and relu4_1's 512² · HW/64), so one per worker, each on
    /// OpenBLAS's calling thread (`BLASThreading`); the values do not depend on `threads`.
    static func gramDistances(_ terms: [GramTerm], scale: Double, threads: Int) -> [Double] {
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: max(terms.count, 1))
        defer { sums.deallocate() }
        let out = ChunkSums(base: sums)
        parallelFor(tasks: terms.count, threads: threads) { i in
            let t = terms[i]
            out.base[i] = gramDistance(features: t.features, inputGram: t.inputGram.data,
                                       inputGramSquaredNorm: t.inputGramSquaredNorm, scale: scale,
                                       addGradientTo: t.gradient, scratch: t.scratch.data)
        }
        return (0..<terms.count).map { sums[$0] }
    }

    /// mean over c, y, x of √(dx² + dy² + 1e-8), forward differences per channel, 0 at the last
    /// column/row; adds scale · its gradient to `gradient` when given.
    public static func totalVariation(_ r: Tensor, scale: Double = 1, addGradientTo gradient: Tensor? = nil) -> Double {
        let h = r.height, w = r.width
        let n = Double(r.count)
        guard r.count > 0 else { return 0 }
        var sum = 0.0
        let k = scale / n
        for c in 0..<r.channels {
            let p = r.plane(c)
            let g = gradient?.plane(c)
            for y in 0..<h {
                for x in 0..<w {
                    let i = y * w + x
                    let dx: Float = x + 1 < w ? p[i + 1] - p[i] : 0
                    let dy: Float = y + 1 < h ? p[i + w] - p[i] : 0
                    let q = (Double(dx) * Double(dx) + Double(dy) * Double(dy) + 1e-8).squareRoot()
                    sum += q
                    if let g {
                        let ux = Float(k * Double(dx) / q), uy = Float(k * Double(dy) / q)
                        g[i] -= ux + uy
                        if x + 1 < w { g[i + 1] += ux }
                        if y + 1 < h { g[i + w] += uy }
                    }
                }
            }
        }
        return sum / n
    }

    /// L_smooth = (1/N) Σ_c Σ_x m(x)·(∇²R)(x)², the 5-point Laplacian at interior pixels weighted by `m`
    /// (`SmoothRegions`, one weight per pixel); adds scale · its gradient to `gradient` when given:
    /// 2·m·∇²R·(4 at the pixel, −1 at each of its four neighbours). A ramp has no curvature and pays nothing.
    public static func curvature(_ r: Tensor, weights m: [Float], scale: Double = 1, addGradientTo gradient: Tensor? = nil) -> Double {
        let h = r.height, w = r.width
        precondition(m.count == h * w, "one weight per pixel")
        guard h > 2, w > 2, r.count > 0 else { return 0 }
        let n = Double(r.count)
        let k = Float(2 * scale / n)
        var sum = 0.0
        for c in 0..<r.channels {
            let p = r.plane(c)
            let g = gradient?.plane(c)
            for y in 1..<(h - 1) {
                for x in 1..<(w - 1) {
                    let i = y * w + x
                    guard m[i] > 0 else { continue }
                    let l = 4 * p[i] - p[i - 1] - p[i + 1] - p[i - w] - p[i + w]
                    sum += Double(m[i]) * Double(l) * Double(l)
                    if let g {
                        let t = k * m[i] * l
                        g[i] += 4 * t
                        g[i - 1] -= t
                        g[i + 1] -= t
                        g[i - w] -= t
                        g[i + w] -= t
                    }
                }
            }
        }
        return sum / n
    }

    /// Per-channel mean and standard deviation (1/N) in Double.
    public static func channelStatistics(_ r: Tensor) -> (mean: [Double], std: [Double]) {
        let plane = r.height * r.width
        var mean = [Double](repeating: 0, count: r.channels), std = mean
        guard plane > 0 else { return (mean, std) }
        for c in 0..<r.channels {
            let p = r.plane(c)
            var s = 0.0
            for i in 0..<plane { s += Double(p[i]) }
            let m = s / Double(plane)
            var v = 0.0
            for i in 0..<plane { let d = Double(p[i]) - m; v += d * d }
            mean[c] = m
            std[c] = (v / Double(plane)).squareRoot()
        }
        return (mean, std)
    }

    /// Σ_c |mean_c R − mean_c I| + |std_c R − std_c I| (std 1/N); adds scale · its subgradient to
    /// `gradient` when given, with sign(0) = 0 as torch's `abs` backward. A channel whose std is 0
    /// contributes no std gradient (torch would give NaN there).
    public static func statistics(_ r: Tensor, inputMean: [Double], inputStd: [Double], scale: Double = 1,
                                  addGradientTo gradient: Tensor? = nil) -> Double {
        precondition(inputMean.count == r.channels && inputStd.count == r.channels, "statistics per channel")
        let (mean, std) = channelStatistics(r)
        let plane = r.height * r.width
        var sum = 0.0
        for c in 0..<r.channels {
            let dm = mean[c] - inputMean[c], ds = std[c] - inputStd[c]
            sum += abs(dm) + abs(ds)
            guard let g = gradient?.plane(c), plane > 0 else { continue }
            let sm = signum(dm), ss = signum(ds)
            let constant = Float(scale * sm / Double(plane))
            let slope = std[c] > 0 ? scale * ss / (Double(plane) * std[c]) : 0
            let p = r.plane(c)
            for i in 0..<plane { g[i] += constant + Float(slope * (Double(p[i]) - mean[c])) }
        }
        return sum
    }

    private static func signum(_ v: Double) -> Double { v > 0 ? 1 : (v < 0 ? -1 : 0) }
}

/// One Double per chunk of a parallel sum. unchecked Sendable: each task writes its own chunk's slot.
private struct ChunkSums: @unchecked Sendable {
    let base: UnsafeMutablePointer<Double>
}
