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
    /// Floats from one plane's start to the next (64-byte multiple): the (H+2) rows, three more zero rows
    /// (F(4×4) Winograd patches of the last tile row reach row H+4) and room for vector overrun.
    var stride: Int { (Int(CK_GUARD) + (height + 5) * wp + Int(CK_TAIL) + 15) / 16 * 16 }
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
        base = zeroedFloats(capacity)
    }

    deinit { releaseZeroedFloats(base, count: capacity) }
}

/// The codes a fused max-pool writes (ck_epilogue.pool): one byte per window, C × ⌊H/2⌋ × ⌊W/2⌋, naming
/// the window's first maximum (0…3, row-major) or CK_POOL_NONE. The backward routes each window's
/// gradient by them instead of reading the pool's full-size input again.
final class PoolCodes: @unchecked Sendable {
    let count: Int
    let base: UnsafeMutablePointer<UInt8>

    init(count: Int) {
        self.count = count
        base = .allocate(capacity: max(1, count))
        base.initialize(repeating: UInt8(CK_POOL_NONE), count: max(1, count))
    }

    deinit { base.deallocate() }
}

/// A float pointer handed to parallel loops. unchecked Sendable: each task touches its own channels.
struct SharedFloats: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
}

/// Read-only bytes handed to parallel loops (pool codes).
struct SharedBytes: @unchecked Sendable {
    let base: UnsafePointer<UInt8>
}

/// A padded activation: a geometry over a buffer. unchecked Sendable: a view into a workspace that
/// parallel loops split by channel, every task writing its own channels.
struct PaddedView: @unchecked Sendable {
    let geometry: PaddedGeometry
    let base: UnsafeMutablePointer<Float>

    init(_ geometry: PaddedGeometry, in buffer: Workbuffer) {
        precondition(geometry.count <= buffer.capacity, "workspace buffer too small")
        self.geometry = geometry
        base = buffer.base
    }

    var origin: UnsafeMutablePointer<Float> { base + geometry.origin }

    /// What zeroBorder leaves to a Winograd convolution's output (rows above and below the image, guard
    /// zones; the convolution zeroed the pad columns of the rows it wrote). Serial: a few memsets.
    func zeroEdgeRows() {
        let g = geometry
        ck_zero_edge_rows(base, Int32(g.channels), g.stride, Int32(g.height), Int32(g.width))
    }

    func zeroBorder(threads: Int = 1) {
        let g = geometry, view = self
        parallelFor(tasks: g.channels, threads: threads) { c in
            ck_zero_border(view.base + c * g.stride, 1, g.stride, Int32(g.height), Int32(g.width))
        }
    }

    /// Copies the interior into a plain CHW tensor of the same shape.
    func copyInterior(to t: Tensor, threads: Int = 1) {
        let g = geometry, view = self, dst = SharedFloats(base: t.data)
        parallelFor(tasks: g.channels, threads: threads) { c in
            for y in 0..<g.height {
                (dst.base + (c * g.height + y) * g.width).update(from: view.base + g.index(c, y, 0), count: g.width)
            }
        }
    }

    /// Copies a plain CHW tensor into the interior (the border is left as is).
    func copyInterior(from t: Tensor, threads: Int = 1) {
        let g = geometry, view = self, src = SharedFloats(base: t.data)
        parallelFor(tasks: g.channels, threads: threads) { c in
            for y in 0..<g.height {
                (view.base + g.index(c, y, 0)).update(from: src.base + (c * g.height + y) * g.width, count: g.width)
            }
        }
    }
}

enum Elementwise {
    /// RGB [0,1] planar → the network's input (`preprocessing`), into the interior of `dst` (3 channels);
    /// border zeroed.
    static func preprocess(rgb: Tensor, _ preprocessing: Preprocessing, into dst: PaddedView) {
        let g = dst.geometry
        for k in 0..<3 {
            let src = rgb.plane(preprocessing.source(k))
            let scale = preprocessing.scale(k), offset = preprocessing.offset(k)
            for y in 0..<g.height {
                let s = src + y * g.width, d = dst.base + g.index(k, y, 0)
                for x in 0..<g.width { d[x] = s[x] * scale - offset }
            }
        }
        dst.zeroBorder()
    }

    /// Backward of `preprocess`: d/dRGB[source(k)] = scale(k) · d/d(input channel k).
    static func preprocessBackward(gradient src: PaddedView, _ preprocessing: Preprocessing, into rgb: Tensor) {
        let g = src.geometry
        for k in 0..<3 {
            let dst = rgb.plane(preprocessing.source(k)), scale = preprocessing.scale(k)
            for y in 0..<g.height {
                let s = src.base + g.index(k, y, 0), d = dst + y * g.width
                for x in 0..<g.width { d[x] = s[x] * scale }
            }
        }
    }

    /// dst = source where ref > 0, else 0, over the interior: d loss / d pre-activation from a gradient
    /// injected at a ReLU's output (`ref`), in one pass. dst border zeroed.
    static func maskedCopy(_ source: Tensor, ref: PaddedView, into dst: PaddedView, threads: Int = 1) {
        let g = dst.geometry
        precondition(source.channels == g.channels && source.height == g.height && source.width == g.width
                     && ref.geometry == g, "masked copy shapes")
        let src = SharedFloats(base: source.data)
        parallelFor(tasks: g.channels, threads: threads) { c in
            ck_masked_copy(src.base, ref.origin, g.stride, Int32(g.height), Int32(g.width), dst.origin, g.stride, Int32(c), Int32(c + 1))
        }
        dst.zeroBorder(threads: threads)
    }

    /// 2×2/2 max-pooling (floor sizes): src (C, H, W) → dst (C, ⌊H/2⌋, ⌊W/2⌋); dst border zeroed.
    static func maxPool(_ src: PaddedView, into dst: PaddedView, threads: Int = 1) {
        let gs = src.geometry, gd = dst.geometry
        parallelFor(tasks: gd.channels, threads: threads) { c in
            ck_maxpool2x2(src.origin, gs.stride, Int32(gs.height), Int32(gs.width), dst.origin, gd.stride,
                          Int32(c), Int32(c + 1))
        }
        dst.zeroBorder(threads: threads)
    }

    /// Backward of a max-pool whose forward was fused into the convolution before it: each window's
    /// gradient goes where its code says, 0 elsewhere (the values maxPoolBackward gives without addend).
    /// dst border zeroed.
    static func unpool(_ grad: PaddedView, codes: PoolCodes, into dst: PaddedView, threads: Int = 1) {
        let gs = dst.geometry, gd = grad.geometry
        precondition(gd == PaddedGeometry(channels: gs.channels, height: gs.height / 2, width: gs.width / 2), "pooled gradient shape")
        precondition(codes.count >= gs.channels * (gs.height / 2) * (gs.width / 2), "pool codes too small")
        let k = UnsafePointer(codes.base)
        let shared = SharedBytes(base: k)
        parallelFor(tasks: gs.channels, threads: threads) { c in
            ck_unpool2x2(grad.origin, gd.stride, shared.base, Int32(gs.height), Int32(gs.width), dst.origin, gs.stride,
                         Int32(c), Int32(c + 1))
        }
        dst.zeroBorder(threads: threads)
    }

    /// Backward of max-pooling into the pre-pool activation `ref` (a ReLU output), fused with what follows
    /// in the backward order: dst = (routed gradient + addend) where ref > 0, else 0. The gradient of each
    /// window goes to its first maximum (row-major), as PyTorch does. dst border zeroed.
    static func maxPoolBackward(_ grad: PaddedView, ref: PaddedView, addend: Tensor?, into dst: PaddedView, threads: Int = 1) {
        let gs = dst.geometry, gd = grad.geometry, addend = addend.map { SharedFloats(base: $0.data) }
        parallelFor(tasks: gs.channels, threads: threads) { c in
            ck_maxpool2x2_backward(grad.origin, gd.stride, ref.origin, ref.geometry.stride, Int32(gs.height), Int32(gs.width),
                                   addend?.base, dst.origin, gs.stride, Int32(c), Int32(c + 1))
        }
        dst.zeroBorder(threads: threads)
    }
}
