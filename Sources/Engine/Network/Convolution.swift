import COpenBLAS
import CKernels
import Dispatch
import Synchronization

/// What a convolution does after the sums: out = acc (+ bias) (+ addend) (+ addendPlain), ReLU, then
/// masked by ref > 0; the result also copied to `copy` when given. `addend` may be the output itself
/// (accumulate into what the output holds): every element is read before it is written, by the same task.
struct ConvEpilogue {
    var bias: UnsafePointer<Float>?
    var relu = false
    /// Same geometry as the output.
    var addend: PaddedView?
    /// A plain C×H×W tensor of the output's shape (an injected gradient).
    var addendPlain: Tensor?
    var maskRef: PaddedView?
    /// Receives the output's interior as a plain C×H×W tensor (a tap's features).
    var copy: Tensor?
    /// Winograd only: the 2×2/2 max-pool of the output, written into this activation's interior (its
    /// border untouched), with each window's code into `poolCodes` when given; the full-size output is
    /// not stored (the pool's backward then needs the codes, not the output).
    var pool: PaddedView?
    var poolCodes: PoolCodes?
}

/// Runs `body(0..<tasks)` on `threads` workers, each with denormals flushed. Tasks are handed out one at a
/// time from a shared counter, so a worker that the OS pauses (a busy machine) does not hold the others up.
func parallelFor(tasks: Int, threads: Int, _ body: @Sendable (Int) -> Void) {
    parallelFor(tasks: tasks, threads: threads) { task, _ in body(task) }
}

/// The same, telling the body which worker (0..<threads) runs the task, for per-worker scratch memory.
func parallelFor(tasks: Int, threads: Int, _ body: @Sendable (_ task: Int, _ worker: Int) -> Void) {
    if threads <= 1 || tasks <= 1 {
        ck_flush_denormals()
        for t in 0..<tasks { body(t, 0) }
        return
    }
    let next = TaskCounter()
    DispatchQueue.concurrentPerform(iterations: min(threads, tasks)) { worker in
        ck_flush_denormals()
        while true {
            let t = next.take()
            guard t < tasks else { break }
            body(t, worker)
        }
    }
}

private final class TaskCounter: Sendable {
    private let value = Atomic<Int>(0)
    func take() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
}

/// The pointers one convolution's tasks share. unchecked Sendable: the tasks only read the inputs and
/// write disjoint ranges (positions × output-channel blocks) of the output, and all finish before return.
private struct KernelArguments: @unchecked Sendable {
    let input: UnsafeMutablePointer<Float>
    let output: UnsafeMutablePointer<Float>
    let weights: UnsafeRawPointer
    let bias: UnsafePointer<Float>?
    let addend: UnsafeMutablePointer<Float>?
    let mask: UnsafeMutablePointer<Float>?
}

/// A ck_epilogue handed to parallel tasks. unchecked Sendable: its pointers are only read by the tasks
/// (addend, mask) or written at disjoint positions (copyPlain), as KernelArguments.
private struct EpilogueArguments: @unchecked Sendable {
    let value: ck_epilogue
    init(_ value: ck_epilogue) { self.value = value }
}

/// A ck_unpool_source handed to parallel tasks. unchecked Sendable: its pointers are only read.
private struct UnpoolArguments: @unchecked Sendable {
    let value: ck_unpool_source
    init(_ value: ck_unpool_source) { self.value = value }
}

/// A read-only raw pointer for parallel tasks (packed weights).
private struct SharedRaw: @unchecked Sendable {
    let base: UnsafeRawPointer
}

/// How a Winograd convolution's output is split into tasks: bands of `rows` tile rows × groups of
/// `blocks` output blocks of 8 (ck_wino_plan's cost model for the thread count).
struct WinogradPlan: Equatable {
    let tile: Int
    let bf16: Bool
    let rows: Int
    let blocks: Int
    /// Scratch bytes one task needs.
    let scratchBytes: Int

    init(tile: Int, bf16: Bool, inChannels c: Int, outChannels o: Int, height h: Int, width w: Int, threads: Int) {
        var rows: Int32 = 1, blocks: Int32 = 1
        ck_wino_plan(Int32(tile), bf16 ? 1 : 0, Int32(c), Int32(o), Int32(h), Int32(w), Int32(threads), &rows, &blocks)
        self.tile = tile
        self.bf16 = bf16
        self.rows = Int(rows)
        self.blocks = Int(blocks)
        scratchBytes = ck_wino_scratch_bytes(Int32(tile), bf16 ? 1 : 0, Int32(c), Int32(o), Int32(w), rows, blocks)
    }
}

/// One convolution a workspace will run: its weights' algorithm and the activation size.
struct ConvolutionShape {
    let algorithm: PackedWeights.Algorithm
    let inChannels: Int
    let outChannels: Int
    let height: Int
    let width: Int

    func plan(threads: Int) -> WinogradPlan? {
        guard case let .winograd(tile, bf16) = algorithm else { return nil }
        return WinogradPlan(tile: tile, bf16: bf16, inChannels: inChannels, outChannels: outChannels,
                            height: height, width: width, threads: threads)
    }
}

/// 3×3 convolution, padding 1, between padded activations of the same height and width, by the
/// algorithm the weights were packed for. Pad columns of the output hold garbage unless masked; callers
/// zero the border when the output feeds another layer. Owns per-worker scratch memory, sized up front
/// for the shapes given at init (and grown if a run needs more): one per workspace, not Sendable.
final class Convolution {
    let threads: Int
    /// im2col tile (gemm).
    private var columns: Workbuffer?
    /// One Winograd scratch area per worker.
    private var scratch: [Workbuffer] = []
    /// Plans by shape, so a run does not redo the cost model.
    private var plans: [PlanKey: WinogradPlan] = [:]

    private struct PlanKey: Hashable {
        let algorithm: PackedWeights.Algorithm
        let inChannels, outChannels, height, width: Int
    }

    init(threads: Int, shapes: [ConvolutionShape]) {
        self.threads = threads
        let maxIn = shapes.filter { $0.algorithm == .gemmRows }.map(\.inChannels).max()
        if let maxIn { columns = Workbuffer(capacity: Self.columnsCapacity(maxInChannels: maxIn)) }
        let bytes = shapes.compactMap { plan(for: $0)?.scratchBytes }.max() ?? 0
        if bytes > 0 { scratch = (0..<threads).map { _ in Workbuffer(capacity: (bytes + 3) / 4) } }
    }

    static func columnsCapacity(maxInChannels: Int) -> Int {
        // Tiles of at most 2 Mi floats (8 MB), at least 256 positions.
        max(2 << 20, maxInChannels * 9 * 256)
    }

    /// Bytes a Convolution for these shapes allocates (im2col tile, scratch per worker).
    static func workspaceBytes(threads: Int, shapes: [ConvolutionShape]) -> Int {
        let maxIn = shapes.filter { $0.algorithm == .gemmRows }.map(\.inChannels).max()
        let columns = maxIn.map { 4 * columnsCapacity(maxInChannels: $0) } ?? 0
        let scratch = shapes.compactMap { $0.plan(threads: threads)?.scratchBytes }.max() ?? 0
        return columns + threads * (scratch + 3) / 4 * 4
    }

    private func plan(for shape: ConvolutionShape) -> WinogradPlan? {
        let key = PlanKey(algorithm: shape.algorithm, inChannels: shape.inChannels, outChannels: shape.outChannels,
                          height: shape.height, width: shape.width)
        if let p = plans[key] { return p }
        guard let p = shape.plan(threads: threads) else { return nil }
        plans[key] = p
        return p
    }

    func run(input: PaddedView, output: PaddedView, weights: PackedWeights, epilogue: ConvEpilogue) {
        precondition(input.geometry.height == output.geometry.height && input.geometry.width == output.geometry.width)
        precondition(input.geometry.channels == weights.inChannels && output.geometry.channels == weights.outChannels)
        let g = output.geometry
        for t in [epilogue.addendPlain, epilogue.copy].compactMap({ $0 }) {
            precondition(t.channels == g.channels && t.height == g.height && t.width == g.width, "epilogue tensor shape")
        }
        if let pool = epilogue.pool {
            precondition(pool.geometry == PaddedGeometry(channels: g.channels, height: g.height / 2, width: g.width / 2),
                         "pooled output shape")
            precondition(epilogue.poolCodes.map { $0.count >= pool.geometry.channels * pool.geometry.height * pool.geometry.width } ?? true,
                         "pool codes too small")
        }
        if case .winograd = weights.algorithm {
            runWinograd(input: input, output: output, weights: weights, epilogue: epilogue)
            return
        }
        precondition(epilogue.pool == nil, "a fused pool needs a Winograd convolution")
        // The other kernels know bias, addend, ReLU and mask: a plain addend is staged in the output (which
        // the epilogue then accumulates into), the copy made afterwards.
        var e = epilogue
        if let plain = e.addendPlain {
            precondition(e.addend == nil, "two addends")
            output.copyInterior(from: plain, threads: threads)
            e.addend = output
            e.addendPlain = nil
        }
        let w = weights.data.assumingMemoryBound(to: Float.self)
        switch weights.algorithm {
        case .gemmRows: runGEMM(input: input, output: output, weights: w, epilogue: e)
        case .direct: runAVX512(input: input, output: output, weights: w, epilogue: e)
        case .narrow: runNarrow(input: input, output: output, weights: w, epilogue: e)
        case .winograd: preconditionFailure("handled above")
        }
        if let copy = e.copy { output.copyInterior(to: copy, threads: threads) }
    }

    /// Whether `runUnpooled` can run these weights (F(4×4) Winograd).
    static func canRunUnpooled(_ weights: PackedWeights) -> Bool {
        if case .winograd(tile: 4, _) = weights.algorithm { true } else { false }
    }

    /// The convolution of the gradient a fused max-pool's backward would store (Elementwise.unpool of
    /// `grad` by `codes`, `inputGeometry` its shape) without storing it: the patches are built from the
    /// pooled gradient as they are read, so the full-size gradient never goes through memory.
    func runUnpooled(grad: PaddedView, codes: PoolCodes, inputGeometry gi: PaddedGeometry, output: PaddedView,
                     weights: PackedWeights, epilogue: ConvEpilogue) {
        precondition(Self.canRunUnpooled(weights), "the unpooled input needs F(4×4) weights")
        precondition(grad.geometry == PaddedGeometry(channels: gi.channels, height: gi.height / 2, width: gi.width / 2), "pooled gradient shape")
        precondition(codes.count >= gi.channels * (gi.height / 2) * (gi.width / 2), "pool codes too small")
        precondition(gi.height == output.geometry.height && gi.width == output.geometry.width)
        precondition(gi.channels == weights.inChannels && output.geometry.channels == weights.outChannels)
        let source = UnpoolArguments(ck_unpool_source(grad: UnsafePointer(grad.origin), gradStride: grad.geometry.stride,
                                                      codes: UnsafePointer(codes.base)))
        runWinograd(inputGeometry: gi, input: nil, unpooled: source, output: output, weights: weights, epilogue: epilogue)
    }

    private func runWinograd(input: PaddedView, output: PaddedView, weights: PackedWeights, epilogue: ConvEpilogue) {
        runWinograd(inputGeometry: input.geometry, input: input, unpooled: nil, output: output, weights: weights, epilogue: epilogue)
    }

    private func runWinograd(inputGeometry gi: PaddedGeometry, input: PaddedView?, unpooled: UnpoolArguments?, output: PaddedView,
                             weights: PackedWeights, epilogue: ConvEpilogue) {
        let go = output.geometry
        let c = gi.channels, o = go.channels, h = gi.height, w = gi.width
        let shape = ConvolutionShape(algorithm: weights.algorithm, inChannels: c, outChannels: o, height: h, width: w)
        guard let plan = plan(for: shape) else { preconditionFailure("not a Winograd convolution") }
        let tile = plan.tile
        let tileRows = (h + tile - 1) / tile, blocks = (o + 7) / 8
        guard tileRows > 0, w > 0, blocks > 0 else { return }
        if scratch.isEmpty || scratch[0].capacity * 4 < plan.scratchBytes {
            scratch = (0..<threads).map { _ in Workbuffer(capacity: (plan.scratchBytes + 3) / 4) }
        }
        let bands = (tileRows + plan.rows - 1) / plan.rows, groups = (blocks + plan.blocks - 1) / plan.blocks
        let e = EpilogueArguments(ck_epilogue(bias: epilogue.bias, relu: epilogue.relu ? 1 : 0,
                                              addend: epilogue.addend.map { UnsafePointer($0.origin) },
                                              addendPlain: epilogue.addendPlain.map { UnsafePointer($0.data) },
                                              maskref: epilogue.maskRef.map { UnsafePointer($0.origin) },
                                              copyPlain: epilogue.copy?.data,
                                              pool: epilogue.pool?.origin, poolStride: epilogue.pool?.geometry.stride ?? 0,
                                              poolCodes: epilogue.poolCodes?.base, poolOnly: epilogue.pool == nil ? 0 : 1))
        let input = input.map { SharedFloats(base: $0.origin) }, output = SharedFloats(base: output.origin)
        let weights = SharedRaw(base: UnsafeRawPointer(weights.data)), bf16: Int32 = plan.bf16 ? 1 : 0
        let scratch = scratch.map { SharedFloats(base: $0.base) }
        parallelFor(tasks: bands * groups, threads: threads) { t, worker in
            // Group-major: the workers take consecutive bands of the same output group, so the slice of U they
            // read is shared in L3 rather than fetched once per band.
            let group = t / bands, band = t % bands
            let ty0 = band * plan.rows, ty1 = min(tileRows, ty0 + plan.rows)
            let ob0 = group * plan.blocks, ob1 = min(blocks, ob0 + plan.blocks)
            withUnsafePointer(to: e.value) { ep in
                if let input {
                    ck_wino_conv(Int32(tile), bf16, input.base, Int32(c), gi.stride, Int32(h), Int32(w), weights.base, Int32(o),
                                 output.base, go.stride, Int32(ty0), Int32(ty1), Int32(ob0), Int32(ob1), scratch[worker].base, ep)
                } else if let unpooled {
                    withUnsafePointer(to: unpooled.value) { up in
                        ck_wino_conv_unpooled(bf16, up, Int32(c), Int32(h), Int32(w), weights.base, Int32(o), output.base, go.stride,
                                              Int32(ty0), Int32(ty1), Int32(ob0), Int32(ob1), scratch[worker].base, ep)
                    }
                }
            }
        }
    }

    private func runAVX512(input: PaddedView, output: PaddedView, weights: UnsafePointer<Float>, epilogue: ConvEpilogue) {
        let gi = input.geometry, go = output.geometry
        let c = gi.channels, o = go.channels, wp = gi.wp
        let positions = go.positions
        let blocks = (o + 7) / 8
        guard go.width > 0, !positions.isEmpty, blocks > 0 else { return }
        // Position chunks sized so the input rows a chunk touches stay in L2; a multiple of 48 (the step).
        let budget = max(192, 65536 / max(1, c) - 2 * wp)
        let chunk = max(48, min(positions.count, budget) / 48 * 48)
        let chunks = (positions.count + chunk - 1) / chunk
        let groups = min(blocks, max(1, (4 * threads + chunks - 1) / chunks))
        let perGroup = (blocks + groups - 1) / groups
        let a = KernelArguments(input: input.origin, output: output.origin, weights: UnsafeRawPointer(weights), bias: epilogue.bias,
                                addend: epilogue.addend?.origin, mask: epilogue.maskRef?.origin)
        let relu: Int32 = epilogue.relu ? 1 : 0
        parallelFor(tasks: chunks * groups, threads: threads) { t in
            let g = t / chunks, k = t % chunks
            let p0 = positions.lowerBound + k * chunk, p1 = min(positions.upperBound, p0 + chunk)
            let b0 = g * perGroup, b1 = min(blocks, b0 + perGroup)
            guard b0 < b1 else { return }
            ck_conv3x3_avx512(a.input, Int32(c), gi.stride, Int32(wp), a.weights.assumingMemoryBound(to: Float.self), a.bias, Int32(o),
                              a.output, go.stride, p0, p1, Int32(b0), Int32(b1), relu, a.addend, a.mask)
        }
    }

    private func runNarrow(input: PaddedView, output: PaddedView, weights: UnsafePointer<Float>, epilogue: ConvEpilogue) {
        precondition(epilogue.addend == nil && epilogue.maskRef == nil && !epilogue.relu, "the narrow kernel has no addend, mask or ReLU")
        let gi = input.geometry, go = output.geometry
        let c = gi.channels, o = go.channels, wp = gi.wp
        let positions = go.positions
        guard go.width > 0, !positions.isEmpty, o > 0 else { return }
        // Chunks of whole register-block steps (128 positions for 3 outputs, else 96), about 4 per thread.
        let step = o == 3 ? 128 : 96
        let chunk = max(step, (positions.count / (4 * threads) + step - 1) / step * step)
        let chunks = (positions.count + chunk - 1) / chunk
        let a = KernelArguments(input: input.origin, output: output.origin, weights: UnsafeRawPointer(weights), bias: epilogue.bias,
                                addend: nil, mask: nil)
        parallelFor(tasks: chunks, threads: threads) { k in
            let p0 = positions.lowerBound + k * chunk, p1 = min(positions.upperBound, p0 + chunk)
            ck_conv3x3_narrow_avx512(a.input, Int32(c), gi.stride, Int32(wp), a.weights.assumingMemoryBound(to: Float.self),
                                     a.bias, Int32(o), a.output, go.stride, p0, p1)
        }
    }

    private func runGEMM(input: PaddedView, output: PaddedView, weights: UnsafePointer<Float>, epilogue: ConvEpilogue) {
        if columns == nil || columns!.capacity < Self.columnsCapacity(maxInChannels: input.geometry.channels) {
            columns = Workbuffer(capacity: Self.columnsCapacity(maxInChannels: input.geometry.channels))
        }
        guard let columns else { preconditionFailure("gemm convolution without an im2col buffer") }
        ck_flush_denormals()
        let gi = input.geometry, go = output.geometry
        let c = gi.channels, o = go.channels, wp = gi.wp, k = c * 9
        let positions = go.positions
        guard o > 0, !positions.isEmpty else { return }
        let chunk = max(1, min(positions.count, columns.capacity / k))
        let offsets = [-wp - 1, -wp, -wp + 1, -1, 0, 1, wp - 1, wp, wp + 1]
        let inOrigin = input.origin, outOrigin = output.origin, col = columns.base
        let accumulate = epilogue.addend?.base == output.base
        var rest = epilogue
        if accumulate { rest.addend = nil }
        var p0 = positions.lowerBound
        while p0 < positions.upperBound {
            let n = min(chunk, positions.upperBound - p0)
            // im2col: in the padded layout every (channel, tap) row is one contiguous run.
            for ci in 0..<c {
                let plane = inOrigin + ci * gi.stride + p0
                for t in 0..<9 { (col + (ci * 9 + t) * n).update(from: plane + offsets[t], count: n) }
            }
            // An addend that is the output itself is accumulated by the GEMM (beta = 1).
            let beta: Float = accumulate ? 1 : 0
            // OpenBLAS on the calling thread (BLASThreading): the output channels split over the workers,
            // each an sgemm of its rows of the weights against the shared columns (the sums' rounding
            // follows the split, so the output depends on `threads`, as it did on OpenBLAS's).
            let rows = (o + threads - 1) / threads
            let a = KernelArguments(input: col, output: outOrigin + p0, weights: UnsafeRawPointer(weights), bias: nil,
                                    addend: nil, mask: nil)
            let stride = go.stride
            BLASThreading.callerOnly()
            parallelFor(tasks: (o + rows - 1) / rows, threads: threads) { part in
                let o0 = part * rows, count = min(rows, o - o0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), Int32(n), Int32(k),
                            1, a.weights.assumingMemoryBound(to: Float.self) + o0 * k, Int32(k), a.input, Int32(n), beta,
                            a.output + o0 * stride, Int32(stride))
            }
            applyEpilogue(rest, output: output, range: p0..<(p0 + n))
            p0 += n
        }
    }

    private func applyEpilogue(_ e: ConvEpilogue, output: PaddedView, range: Range<Int>) {
        let go = output.geometry
        for oc in 0..<go.channels {
            let d = output.origin + oc * go.stride
            let b = e.bias?[oc] ?? 0
            let a = e.addend.map { $0.origin + oc * go.stride }
            let m = e.maskRef.map { $0.origin + oc * go.stride }
            for p in range {
                var v = d[p] + b
                if let a { v += a[p] }
                if e.relu { v = max(v, 0) }
                if let m, !(m[p] > 0) { v = 0 }
                d[p] = v
            }
        }
    }
}
