import CKernels
import Glibc

/// The internal activation layout (see ckernels.h): per channel a plane of (H+2)×(W+2) floats with a zero
/// border, so a 3×3 tap is a constant offset from any position and both convolution kernels run without
/// bounds checks. Planes start CK_GUARD floats before their origin and are `stride` floats apart.
struct PaddedGeometry: Equatable {
    let channels: Int
    let height: Int
    let width: Int

    var wp: Int { width + 2 }
    /// Floats from one plane's start to the next (64-byte multiple; room for vector overrun past the end).
    var stride: Int { (Int(CK_GUARD) + (height + 2) * wp + Int(CK_TAIL) + 15) / 16 * 16 }
    var count: Int { channels * stride }
    /// The flattened positions the convolutions compute: rows 1…H, all columns.
    var positions: Range<Int> { wp..<((height + 1) * wp) }

    /// Offset of (channel, interior y, interior x) from the buffer's start.
    func index(_ c: Int, _ y: Int, _ x: Int) -> Int { c * stride + Int(CK_GUARD) + (y + 1) * wp + x + 1 }
    /// Offset of plane 0's origin (padded row 0, column 0) from the buffer's start.
    var origin: Int { Int(CK_GUARD) }
}

/// A 64-byte aligned, zero-initialised float buffer owned by a workspace.
final class Workbuffer {
    let capacity: Int
    let base: UnsafeMutablePointer<Float>

    init(capacity: Int) {
        self.capacity = capacity
        base = alignedFloats(capacity)
        base.initialize(repeating: 0, count: max(1, capacity))
    }

    deinit { free(base) }
}

/// A padded activation: a geometry over a buffer.
struct PaddedView {
    let geometry: PaddedGeometry
    let base: UnsafeMutablePointer<Float>

    init(_ geometry: PaddedGeometry, in buffer: Workbuffer) {
        precondition(geometry.count <= buffer.capacity, "workspace buffer too small")
        self.geometry = geometry
        base = buffer.base
    }

    var origin: UnsafeMutablePointer<Float> { base + geometry.origin }

    func zeroBorder() {
        ck_zero_border(base, Int32(geometry.channels), geometry.stride, Int32(geometry.height), Int32(geometry.width))
    }

    /// Copies the interior into a plain CHW tensor of the same shape.
    func copyInterior(to t: Tensor) {
        let g = geometry
        for c in 0..<g.channels {
            for y in 0..<g.height {
                (t.data + (c * g.height + y) * g.width).update(from: base + g.index(c, y, 0), count: g.width)
            }
        }
    }

    /// Copies a plain CHW tensor into the interior (the border is left as is).
    func copyInterior(from t: Tensor) {
        let g = geometry
        for c in 0..<g.channels {
            for y in 0..<g.height {
                (base + g.index(c, y, 0)).update(from: t.data + (c * g.height + y) * g.width, count: g.width)
            }
        }
    }
}

enum Elementwise {
    static let caffeMeanBGR: [Float] = [103.939, 116.779, 123.68]

    /// RGB [0,1] planar → BGR ×255 − mean, into the interior of `dst` (3 channels); border zeroed.
    static func caffePreprocess(rgb: Tensor, into dst: PaddedView) {
        let g = dst.geometry
        for k in 0..<3 {
            let src = rgb.plane(2 - k)
            let mean = caffeMeanBGR[k]
            for y in 0..<g.height {
                let s = src + y * g.width, d = dst.base + g.index(k, y, 0)
                for x in 0..<g.width { d[x] = s[x] * 255 - mean }
            }
        }
        dst.zeroBorder()
    }

    /// Backward of `caffePreprocess`: d/dRGB[c] = 255 · d/dBGR[2−c].
    static func caffePreprocessBackward(gradient src: PaddedView, into rgb: Tensor) {
        let g = src.geometry
        for c in 0..<3 {
            let dst = rgb.plane(c)
            for y in 0..<g.height {
                let s = src.base + g.index(2 - c, y, 0), d = dst + y * g.width
                for x in 0..<g.width { d[x] = s[x] * 255 }
            }
        }
    }

    /// dst = (dst + addend) where ref > 0, else 0, over the interior; `addend` is a plain CHW tensor or nil.
    static func addAndMask(_ dst: PaddedView, addend: Tensor?, ref: PaddedView) {
        let g = dst.geometry
        for c in 0..<g.channels {
            for y in 0..<g.height {
                let d = dst.base + g.index(c, y, 0), r = ref.base + g.index(c, y, 0)
                if let addend {
                    let a = addend.data + (c * g.height + y) * g.width
                    for x in 0..<g.width { d[x] = r[x] > 0 ? d[x] + a[x] : 0 }
                } else {
                    for x in 0..<g.width { d[x] = r[x] > 0 ? d[x] : 0 }
                }
            }
        }
    }

    /// 2×2/2 max-pooling (floor sizes): src (C, H, W) → dst (C, ⌊H/2⌋, ⌊W/2⌋); dst border zeroed.
    static func maxPool(_ src: PaddedView, into dst: PaddedView) {
        let gs = src.geometry, gd = dst.geometry
        for c in 0..<gd.channels {
            for y in 0..<gd.height {
                let r0 = src.base + gs.index(c, 2 * y, 0), r1 = r0 + gs.wp
                let d = dst.base + gd.index(c, y, 0)
                for x in 0..<gd.width {
                    d[x] = max(max(r0[2 * x], r0[2 * x + 1]), max(r1[2 * x], r1[2 * x + 1]))
                }
            }
        }
        dst.zeroBorder()
    }

    /// Backward of max-pooling into the pre-pool activation `ref` (a ReLU output), fused with what follows
    /// in the backward order: dst = (routed gradient + addend) where ref > 0, else 0. The gradient of each
    /// window goes to its first maximum (row-major), as PyTorch does. dst border zeroed.
    static func maxPoolBackward(_ grad: PaddedView, ref: PaddedView, addend: Tensor?, into dst: PaddedView) {
        let gs = dst.geometry, gd = grad.geometry
        // Everything not routed: only the addend.
        for c in 0..<gs.channels {
            for y in 0..<gs.height {
                let d = dst.base + gs.index(c, y, 0)
                if let addend {
                    let a = addend.data + (c * gs.height + y) * gs.width
                    let r = ref.base + gs.index(c, y, 0)
                    for x in 0..<gs.width { d[x] = r[x] > 0 ? a[x] : 0 }
                } else {
                    d.update(repeating: 0, count: gs.width)
                }
            }
        }
        for c in 0..<gd.channels {
            for y in 0..<gd.height {
                let r0 = ref.base + gs.index(c, 2 * y, 0), r1 = r0 + gs.wp
                let d0 = dst.base + gs.index(c, 2 * y, 0), d1 = d0 + gs.wp
                let g = grad.base + gd.index(c, y, 0)
                for x in 0..<gd.width {
                    let a = r0[2 * x], b = r0[2 * x + 1], e = r1[2 * x], f = r1[2 * x + 1]
                    let m = max(max(a, b), max(e, f))
                    guard m > 0 else { continue }  // ReLU'(max) = 0: nothing routed
                    let v = g[x]
                    if a == m { d0[2 * x] += v } else if b == m { d0[2 * x + 1] += v } else if e == m { d1[2 * x] += v } else { d1[2 * x + 1] += v }
                }
            }
        }
        dst.zeroBorder()
    }
}
