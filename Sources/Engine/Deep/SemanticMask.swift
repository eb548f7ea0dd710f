/// The protection mask of docs/spec.md §2, on the grid of the mask layer (relu5_1, stride 16).
public struct SemanticMask: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// Row-major height × width, true = protected.
    public let cells: [Bool]
    /// Stride of the grid in input pixels (16 for relu5_1).
    public let stride: Int

    public init(width: Int, height: Int, cells: [Bool], stride: Int = 16) {
        precondition(cells.count == width * height, "mask cells \(cells.count) != \(width)x\(height)")
        self.width = width
        self.height = height
        self.cells = cells
        self.stride = stride
    }

    /// Share of protected cells.
    public var fraction: Double { cells.isEmpty ? 0 : Double(cells.count { $0 }) / Double(cells.count) }

    /// How the thresholded activation is cleaned by the two 3 × 3 binary steps (docs/spec.md §2).
    public enum Cleanup: String, Sendable, Equatable {
        /// The reference's: an opening (every blob smaller than 3 × 3 cells goes), then a closing.
        case openThenClose
        /// A closing first, which joins the patches one subject's activation falls into (a maple leaf's
        /// lobes, a dragonfly's wings and body), then the opening, which still drops isolated cells. Opened
        /// first, such a subject falls apart into blobs smaller than 3 × 3 cells and vanishes. (The closing
        /// clears the frame's ring, as scipy's does, so the opening then drops a subject only three cells
        /// deep at the frame's edge; counting the outside as set in the closing was judged blind and not
        /// kept: docs/spec.md §2.)
        case closeThenOpen
    }

    /// docs/spec.md §2 from the mask layer's features of the input (C × H16 × W16): a = Σ_c features.
    public init(features: Tensor, stride: Int = 16, cleanup: Cleanup) {
        let plane = features.height * features.width
        var a = [Double](repeating: 0, count: plane)
        for c in 0..<features.channels {
            let p = features.plane(c)
            for i in 0..<plane { a[i] += Double(p[i]) }
        }
        self.init(activation: a, width: features.width, height: features.height, stride: stride, cleanup: cleanup)
    }

    /// docs/spec.md §2 from the channel sum `activation` (row-major height × width): a_n = (a − min)/(max − min)
    /// (a flat field gives a_n = 0, as the reference's max(…, 1e-12)), M = a_n > mean + std (std 1/N),
    /// then a 3×3 binary opening and a 3×3 closing in the order `cleanup` says, outside the grid false
    /// (scipy.ndimage semantics).
    public init(activation a: [Double], width: Int, height: Int, stride: Int = 16, cleanup: Cleanup) {
        precondition(a.count == width * height, "activation \(a.count) != \(width)x\(height)")
        let lo = a.min() ?? 0, hi = a.max() ?? 0
        let span = max(hi - lo, 1e-12)
        let n = a.map { ($0 - lo) / span }
        let count = Double(max(n.count, 1))
        let mean = n.reduce(0, +) / count
        let variance = n.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / count
        let threshold = mean + variance.squareRoot()
        let raw = n.map { $0 > threshold }
        let open = { (m: [Bool]) in Self.dilate(Self.erode(m, width: width, height: height), width: width, height: height) }
        let close = { (m: [Bool]) in Self.erode(Self.dilate(m, width: width, height: height), width: width, height: height) }
        let cells = switch cleanup {
        case .openThenClose: close(open(raw))
        case .closeThenOpen: open(close(raw))
        }
        self.init(width: width, height: height, cells: cells, stride: stride)
    }

    /// The mask carried to a grid of stride `s` and size height × width by nearest:
    /// M_s[y,x] = M[min(y·s/stride, H−1), min(x·s/stride, W−1)] (integer division).
    public func resampled(toStride s: Int, width w: Int, height h: Int) -> [Bool] {
        guard width > 0, height > 0 else { return [Bool](repeating: false, count: w * h) }
        var out = [Bool](repeating: false, count: w * h)
        for y in 0..<h {
            let my = min(y * s / stride, height - 1)
            for x in 0..<w {
                out[y * w + x] = cells[my * width + min(x * s / stride, width - 1)]
            }
        }
        return out
    }

    /// 3×3 binary erosion, cells outside the grid false (scipy `binary_erosion`, border_value 0): a cell
    /// survives only if its whole 3×3 neighbourhood is inside and set, so the outer ring always clears.
    static func erode(_ m: [Bool], width: Int, height: Int) -> [Bool] {
        var out = [Bool](repeating: false, count: m.count)
        guard width >= 3, height >= 3 else { return out }
        for y in 1..<(height - 1) {
            for x in 1..<(width - 1) {
                var all = true
                for dy in -1...1 where all { for dx in -1...1 where !m[(y + dy) * width + x + dx] { all = false } }
                out[y * width + x] = all
            }
        }
        return out
    }

    /// 3×3 binary dilation, cells outside the grid false (scipy `binary_dilation`, border_value 0).
    static func dilate(_ m: [Bool], width: Int, height: Int) -> [Bool] {
        var out = [Bool](repeating: false, count: m.count)
        for y in 0..<height {
            for x in 0..<width {
                var any = false
                for yy in max(0, y - 1)...min(height - 1, y + 1) where !any {
                    for xx in max(0, x - 1)...min(width - 1, x + 1) where m[yy * width + xx] { any = true }
                }
                out[y * width + x] = any
            }
        }
        return out
    }
}
