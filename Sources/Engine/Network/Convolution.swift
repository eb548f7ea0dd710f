import COpenBLAS
import CKernels
import Dispatch
import Synchronization

/// What a convolution does after the sums: out = acc (+ bias) (+ addend), ReLU, then masked by ref > 0.
/// `addend` may be the output itself (accumulate into what the output holds): every element is read
/// before it is written, by the same task.
struct ConvEpilogue {
    var bias: UnsafePointer<Float>?
    var relu = false
    /// Same geometry as the output.
    var addend: PaddedView?
    var maskRef: PaddedView?
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
    let weights: UnsafePointer<Float>
    let bias: UnsafePointer<Float>?
    let addend: UnsafeMutablePointer<Float>?
    let mask: UnsafeMutablePointer<Float>?
}

/// 3×3 convolution, padding 1, between padded activations of the same height and width, by the
/// algorithm the weights were packed for. Pad columns of the output hold garbage unless masked; callers
/// zero the border when the output feeds another layer.
struct Convolution {
    let threads: Int
    /// im2col tile (gemm).
    private let columns: Workbuffer?
    /// One Winograd scratch area per worker.
    private let scratch: [Workbuffer]
    private let scratchCount: Int

    /// Sized for convolutions with the given (input channels, output channels, width).
    init(kernel: ConvolutionKernel, threads: Int, layers: [(inChannels: Int, outChannels: Int, width: Int)]) {
        self.threads = threads
        let maxIn = layers.map(\.inChannels).max() ?? 1
        columns = kernel == .gemm ? Workbuffer(capacity: Self.columnsCapacity(maxInChannels: maxIn)) : nil
        let count = kernel == .winograd ? Self.scratchCapacity(layers: layers) : 0
        scratchCount = count
        scratch = count > 0 ? (0..<threads).map { _ in Workbuffer(capacity: count) } : []
    }

    static func columnsCapacity(maxInChannels: Int) -> Int {
        // Tiles of at most 2 Mi floats (8 MB), at least 256 positions.
        max(2 << 20, maxInChannels * 9 * 256)
    }

    static func scratchCapacity(layers: [(inChannels: Int, outChannels: Int, width: Int)]) -> Int {
        layers.filter { $0.inChannels >= 16 }
            .map { ck_winograd_scratch_count(Int32($0.inChannels), Int32($0.outChannels), Int32($0.width)) }.max() ?? 0
    }

    func run(input: PaddedView, output: PaddedView, weights: PackedWeights, epilogue: ConvEpilogue) {
        precondition(input.geometry.height == output.geometry.height && input.geometry.width == output.geometry.width)
        precondition(input.geometry.channels == weights.inChannels && output.geometry.channels == weights.outChannels)
        switch weights.algorithm {
        case .gemmRows: runGEMM(input: input, output: output, weights: weights.data, epilogue: epilogue)
        case .direct: runAVX512(input: input, output: output, weights: weights.data, epilogue: epilogue)
        case .winograd: runWinograd(input: input, output: output, weights: weights.data, epilogue: epilogue)
        }
    }

    private func runWinograd(input: PaddedView, output: PaddedView, weights: UnsafePointer<Float>, epilogue: ConvEpilogue) {
        let gi = input.geometry, go = output.geometry
        let c = gi.channels, o = go.channels, h = gi.height, w = gi.width
        precondition(Int(ck_winograd_scratch_count(Int32(c), Int32(o), Int32(w))) <= scratchCount, "Winograd scratch too small")
        let tileRows = (h + 1) / 2
        let rowsPerTask = Int(ck_winograd_rows_per_task(Int32(c), Int32(w)))
        let tasks = (tileRows + rowsPerTask - 1) / rowsPerTask
        let a = KernelArguments(input: input.origin, output: output.origin, weights: weights, bias: epilogue.bias,
                                addend: epilogue.addend?.origin, mask: epilogue.maskRef?.origin)
        let relu: Int32 = epilogue.relu ? 1 : 0
        let scratch = scratch.map { SharedFloats(base: $0.base) }
        parallelFor(tasks: tasks, threads: threads) { t, worker in
            let ty0 = t * rowsPerTask, ty1 = min(tileRows, ty0 + rowsPerTask)
            ck_conv3x3_winograd_avx512(a.input, Int32(c), gi.stride, Int32(h), Int32(w), a.weights, a.bias, Int32(o),
                                       a.output, go.stride, Int32(ty0), Int32(ty1), scratch[worker].base,
                                       relu, a.addend, a.mask)
        }
    }

    private func runAVX512(input: PaddedView, output: PaddedView, weights: UnsafePointer<Float>, epilogue: ConvEpilogue) {
        let gi = input.geometry, go = output.geometry
        let c = gi.channels, o = go.channels, wp = gi.wp
        let positions = go.positions
        let blocks = (o + 7) / 8
        // Position chunks sized so the input rows a chunk touches stay in L2; a multiple of 48 (the step).
        let budget = max(192, 65536 / max(1, c) - 2 * wp)
        let chunk = max(48, min(positions.count, budget) / 48 * 48)
        let chunks = (positions.count + chunk - 1) / chunk
        let groups = min(blocks, max(1, (4 * threads + chunks - 1) / chunks))
        let perGroup = (blocks + groups - 1) / groups
        let a = KernelArguments(input: input.origin, output: output.origin, weights: weights, bias: epilogue.bias,
                                addend: epilogue.addend?.origin, mask: epilogue.maskRef?.origin)
        let relu: Int32 = epilogue.relu ? 1 : 0
        parallelFor(tasks: chunks * groups, threads: threads) { t in
            let g = t / chunks, k = t % chunks
            let p0 = positions.lowerBound + k * chunk, p1 = min(positions.upperBound, p0 + chunk)
            let b0 = g * perGroup, b1 = min(blocks, b0 + perGroup)
            guard b0 < b1 else { return }
            ck_conv3x3_avx512(a.input, Int32(c), gi.stride, Int32(wp), a.weights, a.bias, Int32(o),
                              a.output, go.stride, p0, p1, Int32(b0), Int32(b1), relu, a.addend, a.mask)
        }
    }

    private func runGEMM(input: PaddedView, output: PaddedView, weights: UnsafePointer<Float>, epilogue: ConvEpilogue) {
        guard let columns else { preconditionFailure("gemm convolution without an im2col buffer") }
        ck_flush_denormals()
        let gi = input.geometry, go = output.geometry
        let c = gi.channels, o = go.channels, wp = gi.wp, k = c * 9
        let positions = go.positions
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
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(o), Int32(n), Int32(k),
                        1, weights, Int32(k), col, Int32(n), beta, outOrigin + p0, Int32(go.stride))
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
