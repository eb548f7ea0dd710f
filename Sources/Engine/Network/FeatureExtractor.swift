import COpenBLAS
import CKernels

/// A misuse of a FeatureExtractor (wrong shapes, a gradient for a tap the forward did not reach, …).
public struct FeatureExtractorError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Runs a `VGGNetwork` forward to a tap and backward to the input image, for one input size, in a
/// workspace allocated once: every activation the backward needs, the gradient buffers, the tap outputs
/// and the input gradient live here and are reused by every call, so an optimiser step allocates nothing.
/// One extractor per thread (not Sendable); the network is shared.
public final class FeatureExtractor {
    public let network: VGGNetwork
    public let height: Int
    public let width: Int
    /// The deepest tap this workspace is sized for.
    public let deepestTap: Tap
    public let threads: Int
    /// False for a forward-only extractor (`init(…, backward: false)`).
    public let canRunBackward: Bool

    private enum Step {
        case convReLU(conv: Int, tap: Tap?)
        case maxPool
    }

    private let steps: [Step]
    /// Geometry of each step's output; index 0 of `activations` is the preprocessed input.
    private let geometries: [PaddedGeometry]
    private let activations: [Workbuffer]
    /// Gradient buffers for the backward steps no free activation buffer can take (see backwardBuffers).
    private let gradients: [Workbuffer]
    /// Whether the activations still hold the last forward's values (a backward reuses those it is done
    /// with as gradient buffers).
    private var activationsIntact = false
    private let convolution: Convolution
    /// The max-pool steps computed by the convolution before them (see fusedPoolSteps), with the codes
    /// their backward routes by (empty for a forward-only extractor).
    private let fusedPools: [Int: PoolCodes]
    /// The fused pools whose backward the convolution below does as it reads (`runUnpooled`): no buffer
    /// ever holds their full-size gradient (see backwardBuffers).
    private let unpoolingSteps: Set<Int>
    private let tapTensors: [Tap: Tensor]
    private let inputGradient: Tensor
    /// Steps run by the last forward (nil before the first).
    private var forwardDepth: Int?
    /// Set it (to an empty profile) to have every step of forward and backward timed into it.
    public var profile: EngineProfile?
    /// Called by backward with each convolution's incoming gradient (d loss / d its pre-activation) just
    /// before that convolution runs: index into network.convs, the gradient (EngineAccuracy).
    var backwardObserver: ((Int, PaddedView) -> Void)?

    /// Each convolution step of the last forward: index into network.convs, its input activation (valid
    /// until the next forward) and its output's geometry (EngineAccuracy).
    var convolutionSteps: [(conv: Int, input: PaddedView, output: PaddedGeometry)] {
        steps.indices.prefix(forwardDepth ?? 0).compactMap { s in
            guard case let .convReLU(conv, _) = steps[s] else { return nil }
            return (conv, view(s), geometries[s + 1])
        }
    }

    /// - threads: compute threads (the Dispatch workers every kernel splits its work over).
    ///   - backward: false for an extractor that only runs forward passes (the deep method's pass over its
    ///     input): it allocates no gradient buffers and no scratch for the backward convolutions, and
    ///     `backward` throws.
    public init(network: VGGNetwork, height: Int, width: Int, deepestTap: Tap? = nil, threads: Int = 2,
                backward: Bool = true) throws(FeatureExtractorError) {
        let deepest = deepestTap ?? network.deepestTap
        guard deepest <= network.deepestTap else {
            throw FeatureExtractorError("tap \(deepest) is deeper than the network was loaded for (\(network.deepestTap))")
        }
        let tapSize = deepest.outputSize(height: height, width: width)
        guard height > 0, width > 0, tapSize.height > 0, tapSize.width > 0 else {
            throw FeatureExtractorError("input \(width)x\(height) is too small for \(deepest) (at least \(deepest.stride)x\(deepest.stride))")
        }
        guard threads >= 1 else { throw FeatureExtractorError("threads must be at least 1") }
        self.network = network
        self.height = height
        self.width = width
        self.deepestTap = deepest
        self.threads = threads
        self.canRunBackward = backward

        let plan = Self.plan(network.architecture, height: height, width: width, deepestTap: deepest)
        let (steps, geometries) = (plan.steps, plan.geometries)
        let shapes = Self.convolutionShapes(network: network, steps: steps, geometries: geometries, backward: backward)
        self.steps = steps
        self.geometries = geometries
        // (A fused pool's input activation is allocated but written only if a backward uses its buffer: the
        // pages of a large buffer are mapped as they are first written, so an unused one costs no memory.)
        activations = geometries.map { Workbuffer(capacity: $0.count) }
        let fused = Self.fusedPoolSteps(steps, algorithm: { network.convs[$0].forward.algorithm })
        let unpooling = Self.unpoolingSteps(fused, steps: steps, backwardAlgorithm: { network.convs[$0].backwardWeights?.algorithm })
        unpoolingSteps = unpooling
        gradients = backward ? Self.gradientCapacities(steps: steps, geometries: geometries, unpooling: unpooling).map { Workbuffer(capacity: $0) } : []
        convolution = Convolution(threads: threads, shapes: shapes)
        var taps: [Tap: Tensor] = [:]
        for (s, step) in steps.enumerated() {
            if case let .convReLU(_, tap?) = step {
                let g = geometries[s + 1]
                taps[tap] = Tensor(channels: g.channels, height: g.height, width: g.width)
            }
        }
        tapTensors = taps
        fusedPools = Dictionary(uniqueKeysWithValues: fused.map { s in
            let g = geometries[s + 1]
            return (s, PoolCodes(count: backward ? g.channels * g.height * g.width : 0))
        })
        inputGradient = Tensor(channels: 3, height: backward ? height : 0, width: backward ? width : 0)
    }

    /// The steps and activation geometries (index 0: the preprocessed input) up to `deepestTap`.
    private static func plan(_ architecture: Architecture, height: Int, width: Int, deepestTap: Tap)
        -> (steps: [Step], geometries: [PaddedGeometry]) {
        var steps: [Step] = []
        var geometries = [PaddedGeometry(channels: 3, height: height, width: width)]
        var convIndex = 0
        let layers = architecture.layers
        var i = 0
        while i < layers.count {
            let g = geometries.last!
            switch layers[i] {
            case let .conv(_, c, o):
                // The architectures are fixed tables (vgg16, vgg19), not user input.
                guard i + 1 < layers.count, case let .relu(tap) = layers[i + 1] else {
                    preconditionFailure("architecture: a convolution must be followed by a ReLU")
                }
                precondition(c == g.channels, "architecture: channel mismatch")
                steps.append(.convReLU(conv: convIndex, tap: tap))
                geometries.append(PaddedGeometry(channels: o, height: g.height, width: g.width))
                convIndex += 1
                i += 2
                if tap == deepestTap { i = layers.count }
            case .maxPool:
                steps.append(.maxPool)
                geometries.append(PaddedGeometry(channels: g.channels, height: g.height / 2, width: g.width / 2))
                i += 1
            case .relu:
                preconditionFailure("architecture: a ReLU must follow a convolution")
            }
        }
        return (steps, geometries)
    }

    /// The max-pool steps the convolution before them computes in its epilogue: those after a Winograd
    /// convolution whose output is no tap. That convolution then stores only the pooled values and each
    /// window's code, never its full-size output (the largest activation of each block): the pool's
    /// separate pass over it, and the backward's, go (docs/engine.md).
    private static func fusedPoolSteps(_ steps: [Step], algorithm: (Int) -> PackedWeights.Algorithm) -> [Int] {
        steps.indices.filter { s in
            guard s > 0, case .maxPool = steps[s], case let .convReLU(conv, nil) = steps[s - 1],
                  case .winograd = algorithm(conv) else { return false }
            return true
        }
    }

    /// The fused pools whose backward the convolution below can do as it reads: F(4×4) backward weights.
    private static func unpoolingSteps(_ fused: [Int], steps: [Step], backwardAlgorithm: (Int) -> PackedWeights.Algorithm?) -> Set<Int> {
        Set(fused.filter { s in
            guard case let .convReLU(conv, _) = steps[s - 1], case .winograd(tile: 4, _)? = backwardAlgorithm(conv) else { return false }
            return true
        })
    }

    /// The activation buffers a run writes: every one but the inputs of fused pools, which only a backward
    /// may write (as gradient buffers; `backward` false: never).
    private static func writtenActivations(steps: [Step], geometries: [PaddedGeometry], fused: [Int], unpooling: Set<Int>,
                                           backward: Bool) -> Set<Int> {
        var written = Set(geometries.indices).subtracting(fused)
        guard backward else { return written }
        for (s, step) in steps.enumerated() {
            guard case .convReLU(_, _?) = step else { continue }
            let plan = backwardBuffers(last: s, geometries: geometries, capacities: nil, unpooling: unpooling)
            for case let .activation(i) in [plan.start] + plan.outputs { written.insert(i) }
        }
        return written
    }

    /// Every convolution (forward, and backward where the network has its weights) the steps run.
    private static func convolutionShapes(algorithms: (Int) -> (forward: PackedWeights.Algorithm, backward: PackedWeights.Algorithm?),
                                          steps: [Step], geometries: [PaddedGeometry]) -> [ConvolutionShape] {
        var shapes: [ConvolutionShape] = []
        for (s, step) in steps.enumerated() {
            guard case let .convReLU(conv, _) = step else { continue }
            let gi = geometries[s], go = geometries[s + 1]
            let (forward, backward) = algorithms(conv)
            shapes.append(ConvolutionShape(algorithm: forward, inChannels: gi.channels, outChannels: go.channels,
                                           height: gi.height, width: gi.width))
            if let backward {
                shapes.append(ConvolutionShape(algorithm: backward, inChannels: go.channels, outChannels: gi.channels,
                                               height: gi.height, width: gi.width))
            }
        }
        return shapes
    }

    private static func convolutionShapes(network: VGGNetwork, steps: [Step], geometries: [PaddedGeometry],
                                          backward: Bool) -> [ConvolutionShape] {
        convolutionShapes(algorithms: { (network.convs[$0].forward.algorithm, backward ? network.convs[$0].backwardWeights?.algorithm : nil) },
                          steps: steps, geometries: geometries)
    }

    /// Bytes an extractor of this size allocates (activations, gradients, tap outputs, input gradient, and
    /// its convolutions' scratch: the gemm kernel's im2col tile, Winograd's per-worker buffers), so a caller
    /// can refuse sizes before allocating them. Backward convolutions are counted up to `gradientTap`
    /// (default relu4_1), as `VGGNetwork` packs them; none, and no gradient buffers, when `backward` is
    /// false (a forward-only extractor).
    public static func workspaceBytes(architecture: Architecture = .vgg16, kernel: ConvolutionKernel = .best,
                                      precision: EnginePrecision = .auto, height: Int, width: Int, deepestTap: Tap,
                                      gradientTap: Tap? = nil, threads: Int = 2, backward: Bool = true) -> Int {
        guard height > 0, width > 0 else { return 0 }
        let plan = plan(architecture, height: height, width: width, deepestTap: deepestTap)
        let convs = architecture.convolutions
        let lastGradient = architecture.layerIndex(of: min(gradientTap ?? .relu4_1, deepestTap)) ?? architecture.layers.count
        let differentiable = architecture.layers.indices.filter {
            if case .conv = architecture.layers[$0] { $0 < lastGradient } else { false }
        }.count
        let shapes = convolutionShapes(algorithms: { i in
            let (_, c, o) = convs[i]
            guard i < differentiable else { return (kernel == .gemm ? .gemmRows : .direct, nil) }
            return (PackedWeights.algorithm(kernel: kernel, precision: precision, inChannels: c, outChannels: o, backward: false),
                    backward ? PackedWeights.algorithm(kernel: kernel, precision: precision, inChannels: o, outChannels: c, backward: true) : nil)
        }, steps: plan.steps, geometries: plan.geometries)
        let fused = fusedPoolSteps(plan.steps, algorithm: { i in
            let (_, c, o) = convs[i]
            return i < differentiable
                ? PackedWeights.algorithm(kernel: kernel, precision: precision, inChannels: c, outChannels: o, backward: false)
                : (kernel == .gemm ? .gemmRows : .direct)
        })
        let unpooling = unpoolingSteps(fused, steps: plan.steps, backwardAlgorithm: { i in
            let (_, c, o) = convs[i]
            return i < differentiable
                ? PackedWeights.algorithm(kernel: kernel, precision: precision, inChannels: o, outChannels: c, backward: true) : nil
        })
        // Large buffers are mapped and their pages faulted in as first written: a large buffer no step
        // writes costs no memory, and is not counted (a small one is zeroed, so resident, when allocated).
        // (The backward's buffers assume F(4×4) weights, as VGGNetwork packs them by default; with
        // `winogradTile: 2`, a benchmark setting, the first pool's full-size gradient needs a buffer this
        // does not count.)
        let written = writtenActivations(steps: plan.steps, geometries: plan.geometries, fused: fused, unpooling: unpooling,
                                         backward: backward)
        let activations = plan.geometries.indices.filter { written.contains($0) || !zeroedFloatsAreMapped(plan.geometries[$0].count) }
            .map { plan.geometries[$0].count }.reduce(0, +)
        let gradients = backward ? gradientCapacities(steps: plan.steps, geometries: plan.geometries, unpooling: unpooling).reduce(0, +) : 0
        let poolCodes = backward ? fused.map { plan.geometries[$0 + 1].count }.reduce(0, +) : 0
        var taps = 0
        for (s, step) in plan.steps.enumerated() {
            if case .convReLU(_, _?) = step {
                let g = plan.geometries[s + 1]
                taps += g.channels * g.height * g.width
            }
        }
        return 4 * (activations + gradients + taps + (backward ? 3 * height * width : 0)) + poolCodes
            + Convolution.workspaceBytes(threads: threads, shapes: shapes)
    }

    /// The shape of a tap's features for this extractor's input size.
    public func shape(of tap: Tap) -> (channels: Int, height: Int, width: Int)? {
        tapTensors[tap].map { ($0.channels, $0.height, $0.width) }
    }

    /// Runs the network on `image` (3 planes R, G, B in [0,1], height×width) up to `tap`; returns every tap
    /// up to and including it. The returned tensors belong to the extractor: valid until the next forward.
    public func forward(image: Tensor, to tap: Tap) throws(FeatureExtractorError) -> [Tap: Tensor] {
        guard image.channels == 3, image.height == height, image.width == width else {
            throw FeatureExtractorError("image is \(image.channels)x\(image.height)x\(image.width), the extractor expects 3x\(height)x\(width)")
        }
        guard tap <= deepestTap else { throw FeatureExtractorError("tap \(tap) is deeper than this extractor's \(deepestTap)") }
        BLASThreading.callerOnly()
        ck_flush_denormals()
        var clock = StepClock(cpuTime: profile?.cpuTime ?? false)
        let profiling = profile != nil
        Elementwise.preprocess(rgb: image, network.preprocessing, into: view(0))
        if profiling { profile!.add("forward: preprocess", clock.lap()) }
        var result: [Tap: Tensor] = [:]
        for (s, step) in steps.enumerated() {
            let input = view(s), output = view(s + 1)
            switch step {
            case let .convReLU(conv, stepTap):
                let p = network.convs[conv]
                // A tap's features are copied out by the epilogue as they are stored.
                let t = stepTap.flatMap { tapTensors[$0] }
                var epilogue = ConvEpilogue(bias: p.bias, relu: true, copy: t)
                let pooled = fusedPools[s + 1].map { codes in (view: view(s + 2), codes: codes) }
                if let pooled {
                    epilogue.pool = pooled.view
                    epilogue.poolCodes = canRunBackward ? pooled.codes : nil
                }
                convolution.run(input: input, output: output, weights: p.forward, epilogue: epilogue)
                if profiling { profile!.add("forward: \(p.name) \(p.forward.algorithm.label)\(pooled == nil ? "" : " + max-pool")", clock.lap()) }
                // (Winograd writes only the interior, but a backward may have used this buffer for another shape.)
                if let pooled {
                    pooled.view.zeroBorder(threads: threads)
                } else if case .winograd = p.forward.algorithm {
                    output.zeroEdgeRows()
                } else {
                    output.zeroBorder(threads: threads)
                }
                if let stepTap, let t { result[stepTap] = t }
                if profiling { profile!.add("forward: borders, tap copies", clock.lap()) }
                if stepTap == tap {
                    forwardDepth = s + 1
                    activationsIntact = true
                    return result
                }
            case .maxPool:
                if fusedPools[s] != nil { continue }  // done by the convolution before it
                Elementwise.maxPool(input, into: output, threads: threads)
                if profiling { profile!.add("forward: max-pool", clock.lap()) }
            }
        }
        preconditionFailure("tap \(tap) not in the network")
    }

    /// Backpropagates `gradients` (d loss / d tap features, each shaped like the tap) to the input image
    /// of the last forward: returns d loss / d RGB (3×height×width), owned by the extractor (valid until
    /// the next backward). Taps must not be deeper than the last forward's.
    public func backward(gradients injected: [Tap: Tensor]) throws(FeatureExtractorError) -> Tensor {
        guard canRunBackward else { throw FeatureExtractorError("this extractor was made for forward passes only") }
        guard let depth = forwardDepth else { throw FeatureExtractorError("backward before forward") }
        guard activationsIntact || injected.isEmpty else {
            throw FeatureExtractorError("a second backward needs a forward first (the backward reuses the activations)")
        }
        for (tap, g) in injected {
            guard let t = tapTensors[tap], let s = stepIndex(of: tap), s < depth else {
                throw FeatureExtractorError("gradient for \(tap), which the last forward did not reach")
            }
            guard tap <= network.gradientTap else {
                throw FeatureExtractorError("gradient for \(tap), past the network's gradient tap \(network.gradientTap)")
            }
            guard g.channels == t.channels, g.height == t.height, g.width == t.width else {
                throw FeatureExtractorError("gradient for \(tap) is \(g.channels)x\(g.height)x\(g.width), expected \(t.channels)x\(t.height)x\(t.width)")
            }
        }
        BLASThreading.callerOnly()
        ck_flush_denormals()
        // Start at the deepest tap that has a gradient (nothing deeper contributes); d pre-activation =
        // injected · ReLU'.
        guard let last = injected.keys.compactMap({ stepIndex(of: $0) }).max() else {
            inputGradient.fill(0)
            return inputGradient
        }
        guard case let .convReLU(_, lastTap?) = steps[last] else { preconditionFailure("taps are ConvReLU steps") }
        var clock = StepClock(cpuTime: profile?.cpuTime ?? false)
        let profiling = profile != nil
        let buffers = Self.backwardBuffers(last: last, geometries: geometries, capacities: gradients.map(\.capacity),
                                           unpooling: unpoolingSteps)
        activationsIntact = false
        var current = buffers.start  // holds the gradient of step s's output
        let start = bufferView(current, geometries[last + 1])
        Elementwise.maskedCopy(injected[lastTap]!, ref: view(last + 1), into: start, threads: threads)
        if profiling { profile!.add("backward: borders, gradient copies", clock.lap()) }
        // Invariant at step s: the current buffer holds, for a ConvReLU, d loss / d pre-activation; for a
        // max-pool, d loss / d pool output — except after a fused pool's backward that was left to the
        // convolution below (`unpooled`): then that convolution builds its input from the pooled gradient.
        var unpooled: (grad: PaddedView, codes: PoolCodes)?
        for s in stride(from: last, through: 0, by: -1) {
            // (Not after an unpooling step: then `current` holds the smaller pooled gradient.)
            var grad: PaddedView { bufferView(current, geometries[s + 1]) }
            let next = buffers.outputs[last - s]
            switch steps[s] {
            case let .convReLU(conv, _):
                let below = bufferView(next, geometries[s])
                let p = network.convs[conv]
                var epilogue = ConvEpilogue()
                if s > 0, case let .convReLU(_, belowTap) = steps[s - 1] {
                    // Fused: + the gradient injected at the ReLU below, then that ReLU's derivative.
                    epilogue.addendPlain = belowTap.flatMap { injected[$0] }
                    epilogue.maskRef = view(s)
                }
                if profiling { profile!.add("backward: borders, gradient copies", clock.lap()) }
                let label = "backward: \(p.name) \(p.backward.algorithm.label)\(unpooled == nil ? "" : " + max-pool")"
                if let source = unpooled, let observer = backwardObserver {
                    // Diagnostics want the full-size gradient: store it in a buffer of its own first (allocated
                    // per call and counted by no estimate: a diagnostics path only).
                    let stored = PaddedView(geometries[s + 1], in: Workbuffer(capacity: geometries[s + 1].count))
                    Elementwise.unpool(source.grad, codes: source.codes, into: stored, threads: threads)
                    observer(conv, stored)
                    convolution.run(input: stored, output: below, weights: p.backward, epilogue: epilogue)
                    unpooled = nil
                } else if let source = unpooled {
                    precondition(below.base != source.grad.base, "the convolution's output would overwrite the pooled gradient")
                    convolution.runUnpooled(grad: source.grad, codes: source.codes, inputGeometry: geometries[s + 1], output: below,
                                            weights: p.backward, epilogue: epilogue)
                    unpooled = nil
                } else {
                    backwardObserver?(conv, grad)
                    convolution.run(input: grad, output: below, weights: p.backward, epilogue: epilogue)
                }
                if profiling { profile!.add(label, clock.lap()) }
                if case .winograd = p.backward.algorithm { below.zeroEdgeRows() } else { below.zeroBorder(threads: threads) }
                if profiling { profile!.add("backward: borders, gradient copies", clock.lap()) }
            case .maxPool:
                // The pool's input is a ReLU output (step s−1 is a ConvReLU).
                guard case let .convReLU(_, belowTap) = steps[s - 1] else { preconditionFailure("pool after a pool") }
                if let codes = fusedPools[s] {
                    // (A fused pool follows no tap: there is no addend.)
                    if unpoolingSteps.contains(s) {
                        unpooled = (grad, codes)  // the convolution below reads it; `next` is `current`
                        current = next
                        continue
                    }
                    Elementwise.unpool(grad, codes: codes, into: bufferView(next, geometries[s]), threads: threads)
                    if profiling { profile!.add("backward: max-pool", clock.lap()) }
                    current = next
                    continue
                }
                Elementwise.maxPoolBackward(grad, ref: view(s), addend: belowTap.flatMap { injected[$0] }, into: bufferView(next, geometries[s]),
                                            threads: threads)
                if profiling { profile!.add("backward: max-pool", clock.lap()) }
            }
            current = next
        }
        Elementwise.preprocessBackward(gradient: bufferView(current, geometries[0]), network.preprocessing,
                                       into: inputGradient)
        if profiling { profile!.add("backward: preprocess", clock.lap()) }
        return inputGradient
    }

    /// Where a backward pass keeps each gradient. The gradient of step s's output (geometry s+1) is the
    /// input of step s, which writes the gradient of its input (geometry s). Once step s runs, the
    /// activations after it (indices ≥ s+1) are no longer needed (each activation i is last read by step i,
    /// as its ReLU mask or its pool's argmax), so step s writes into the smallest of them that fits and
    /// does not hold its input; only what fits none goes to a gradient buffer (the start of a backward from
    /// the deepest tap; the full-size gradient below the first pool where that pool's backward is stored,
    /// i.e. with other kernels than F(4×4)). With the fused pools no full-size gradient buffer is left: the
    /// first pool's full-size gradient is never stored, and its input activation, which the forward never
    /// writes, takes conv1_2's backward output (and a backward from relu1_1's start).
    private enum Buffer: Equatable { case activation(Int), gradient(Int) }

    /// The buffers of a backward starting at step `last`: the start's, then the output of steps last … 0.
    /// `capacities`: the gradient buffers' (nil: unlimited, for sizing them). An unpooling step writes
    /// nothing: its "output" is the buffer holding the pooled gradient, which the convolution below reads
    /// and so must not write into.
    private static func backwardBuffers(last: Int, geometries: [PaddedGeometry], capacities: [Int]?,
                                        unpooling: Set<Int>) -> (start: Buffer, outputs: [Buffer], needs: [Int]) {
        var needs: [Int] = []
        func gradientBuffer(_ count: Int, excluding: Buffer?) -> Buffer {
            for k in 0... {
                if excluding == .gradient(k) { continue }
                if let capacities {
                    if k < capacities.count && capacities[k] >= count { return .gradient(k) }
                    if k >= capacities.count { preconditionFailure("gradient buffers sized too small") }
                } else {
                    if k >= needs.count { needs.append(0) }
                    needs[k] = max(needs[k], count)
                    return .gradient(k)
                }
            }
            preconditionFailure("unreachable")
        }
        // The start may take an activation past the tap (a fused pool's input, never written by the forward:
        // a backward from relu1_1 then needs no full-size gradient buffer); not the tap's own, its ReLU mask.
        func smallestFree(_ range: Range<Int>, fitting count: Int, excluding: Buffer?) -> Buffer? {
            range.filter { geometries[$0].count >= count && excluding != .activation($0) }
                .min { geometries[$0].count < geometries[$1].count }.map { Buffer.activation($0) }
        }
        let start = smallestFree(min(last + 2, geometries.count)..<geometries.count, fitting: geometries[last + 1].count, excluding: nil)
            ?? gradientBuffer(geometries[last + 1].count, excluding: nil)
        var holding = start
        var outputs: [Buffer] = []
        for s in stride(from: last, through: 0, by: -1) {
            if unpooling.contains(s) {
                outputs.append(holding)
                continue
            }
            let count = geometries[s].count
            let out = smallestFree((s + 1)..<geometries.count, fitting: count, excluding: holding)
                ?? gradientBuffer(count, excluding: holding)
            outputs.append(out)
            holding = out
        }
        return (start, outputs, needs)
    }

    /// The gradient buffers' sizes (floats) for a backward from any tap.
    private static func gradientCapacities(steps: [Step], geometries: [PaddedGeometry], unpooling: Set<Int>) -> [Int] {
        var capacities: [Int] = []
        for (s, step) in steps.enumerated() {
            guard case .convReLU(_, _?) = step else { continue }
            let needs = backwardBuffers(last: s, geometries: geometries, capacities: nil, unpooling: unpooling).needs
            for (k, n) in needs.enumerated() {
                if k < capacities.count { capacities[k] = max(capacities[k], n) } else { capacities.append(n) }
            }
        }
        return capacities
    }

    private func bufferView(_ b: Buffer, _ g: PaddedGeometry) -> PaddedView {
        switch b {
        case let .activation(i): PaddedView(g, in: activations[i])
        case let .gradient(k): PaddedView(g, in: gradients[k])
        }
    }

    private func stepIndex(of tap: Tap) -> Int? {
        steps.firstIndex { if case let .convReLU(_, t) = $0 { t == tap } else { false } }
    }

    private func view(_ i: Int) -> PaddedView { PaddedView(geometries[i], in: activations[i]) }


}
