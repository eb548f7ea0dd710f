extension FeatureResize {
    /// Expands the seams `insertion` put into the relu4_1 grid (vertical, grid H8 × W) to a layer `f` whose
    /// grid cells are s × s blocks (s = s′ of docs/spec.md §3), round after round. For every grid cell (y, x) a
    /// round duplicated, each row of its blocks gets, before the block [s·x, s·x+s), s new columns: new
    /// column j = ½ (f[s·x − s + j] + f[s·x + j]), the block to the left and the duplicated block column by
    /// column (f[s·x + j] itself when x = 0). So the new block is the average of its two neighbouring blocks
    /// in the output, which at s = 1 (relu4_1) is the grid's rule and the pixel method's rule: the new cell
    /// is the average of its two neighbours. Rows past s·H8 follow the last grid row; columns past s·W are
    /// never duplicated (they stay at the end). Every row gains s · (seams inserted) columns.
    static func insertColumns(_ f: Tensor, insertion: SeamInsertion, blockSize s: Int) -> Tensor {
        var g = f
        for r in insertion.rounds {
            let outWidth = g.width + s * r.seams.count
            let out = Tensor(channels: g.channels, height: g.height, width: outWidth)
            var sources = [(Int, Int)](repeating: (0, 0), count: outWidth)
            for y in 0..<g.height {
                let gy = min(y / s, r.height - 1)
                insertionSources(length: g.width, gridCount: r.width, blockSize: s, into: &sources) {
                    r.removed[gy * r.width + $0]
                }
                for c in 0..<g.channels {
                    let src = g.plane(c) + y * g.width, dst = out.plane(c) + y * outWidth
                    for i in 0..<outWidth { dst[i] = average(src, sources[i], stride: 1) }
                }
            }
            g = out
        }
        return g
    }

    /// `insertColumns` on the rows (horizontal seams, grid H × W′): new rows above the duplicated blocks,
    /// row j = ½ (f[s·y − s + j] + f[s·y + j]); columns past s·W′ follow the last grid column, rows past
    /// s·H are never duplicated. Every column gains s · (seams inserted) rows.
    static func insertRows(_ f: Tensor, insertion: SeamInsertion, blockSize s: Int) -> Tensor {
        var g = f
        for r in insertion.rounds {
            let outHeight = g.height + s * r.seams.count
            let out = Tensor(channels: g.channels, height: outHeight, width: g.width)
            var sources = [(Int, Int)](repeating: (0, 0), count: outHeight)
            for x in 0..<g.width {
                let gx = min(x / s, r.width - 1)
                insertionSources(length: g.height, gridCount: r.height, blockSize: s, into: &sources) {
                    r.removed[$0 * r.width + gx]
                }
                for c in 0..<g.channels {
                    let src = g.plane(c) + x, dst = out.plane(c) + x
                    for i in 0..<outHeight { dst[i * g.width] = average(src, sources[i], stride: g.width) }
                }
            }
            g = out
        }
        return g
    }

    /// For one line of `length` values whose first `gridCount` blocks of `s` are grid cells, the pair of
    /// source indices each output index averages (a == b: a plain copy): before a block whose cell
    /// `duplicated` marks, its s columns each averaged with the one s before (itself in block 0).
    private static func insertionSources(length: Int, gridCount: Int, blockSize s: Int,
                                         into sources: inout [(Int, Int)], duplicated: (Int) -> Bool) {
        var n = 0
        for i in 0..<length {
            if i % s == 0, i < s * gridCount, duplicated(i / s) {
                for j in 0..<s {
                    sources[n] = (i >= s ? i - s + j : i + j, i + j)
                    n += 1
                }
            }
            sources[n] = (i, i)
            n += 1
        }
        precondition(n == sources.count, "seam insertion produced \(n) values, expected \(sources.count)")
    }

    @inline(__always)
    private static func average(_ src: UnsafeMutablePointer<Float>, _ pair: (Int, Int), stride: Int) -> Float {
        pair.0 == pair.1 ? src[pair.0 * stride] : 0.5 * (src[pair.0 * stride] + src[pair.1 * stride])
    }
}
