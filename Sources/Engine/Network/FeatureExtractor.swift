import COpenBLAS
import CKernels

/// A misuse of a FeatureExtractor (wrong shapes, a gradient for a tap the forward did not reach, …).
public struct FeatureExtractorError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Runs a `VGGNetwork` forward to a tap and backward to the input image, for one input size, in a
/// workspace allocated once: every activation the backward needs, two gradient buffers, the tap outputs
/// and the input gradient live here and are reused by every call, so an optimiser step allocates nothing.
/// One extractor per thread (not Sendable); the network is shared.
public final class FeatureExtractor {
    public let network: VGGNetwork
    public let height: Int
    public let width: Int
    /// The deepest tap this workspace is sized for.
    public let deepestTap: Tap
    public let threads: Int

    private enum Step {
        case convReLU(conv: Int, tap: Tap?)
        case maxPool
    }

    private let steps: [Step]
    /// Geometry of each step's output; index 0 of `activations` is the preprocessed input.
    private let geometries: [PaddedGeometry]
    private let activations: [Workbuffer]
    private let gradients: (Workbuffer, Workbuffer)
    private let convolution: Convolution
    private let tapTensors: [Tap: Tensor]
    private let inputGradient: Tensor
    /// Steps run by the last forward (nil before the first).
    private var forwardDepth: Int?
    /// Set it (to an empty profile) to have every step of forward and backward timed into it.
    public var profile: EngineProfile?

    /// - threads: compute threads (OpenBLAS's for the gemm kernel, Dispatch workers for avx512).
    public init(network: VGGNetwork, height: Int, width: Int, deepestTap: Tap? = nil, threads: Int = 2) throws(FeatureExtractorError) {
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

        let plan = Self.plan(network.architecture, height: height, width: width, deepestTap: deepest)
        let (steps, geometries) = (plan.steps, plan.geometries)
        let shapes = Self.convolutionShapes(network: network, steps: steps, geometries: geometries)
        self.steps = steps
        self.geometries = geometries
        activations = geometries.map { Workbuffer(capacity: $0.count) }
        let largest = geometries.map(\.count).max()!
        gradients = (Workbuffer(capacity: largest), Workbuffer(capacity: largest))
        convolution = Convolution(threads: threads, shapes: shapes)
        var taps: [Tap: Tensor] = [:]
        for (s, step) in steps.enumerated() {
            if case let .convReLU(_, tap?) = step {
                let g = geometries[s + 1]
                taps[tap] = Tensor(channels: g.channels, height: g.height, width: g.width)
            }
        }
        tapTensors = taps
        inputGradient = Tensor(channels: 3, height: height, width: width)
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

    private static func convolutionShapes(network: VGGNetwork, steps: [Step], geometries: [PaddedGeometry]) -> [ConvolutionShape] {
        convolutionShapes(algorithms: { (network.convs[$0].forward.algorithm, network.convs[$0].backwardWeights?.algorithm) },
                          steps: steps, geometries: geometries)
    }

    /// Bytes an extractor of this size allocates (activations, gradients, tap outputs, input gradient, and
    /// its convolutions' scratch: the gemm kernel's im2col tile, Winograd's per-worker buffers), so a caller
    /// can refuse sizes before allocating them. Backward convolutions are counted up to `gradientTap`
    /// (default relu4_1), as `VGGNetwork` packs them.
    public static func workspaceBytes(architecture: Architecture = .vgg16, kernel: ConvolutionKernel = .best,
                                      precision: EnginePrecision = .auto, height: Int, width: Int, deepestTap: Tap,
                                      gradientTap: Tap? = nil, threads: Int = 2) -> Int {
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
                    PackedWeights.algorithm(kernel: kernel, precision: precision, inChannels: o, outChannels: c, backward: true))
        }, steps: plan.steps, geometries: plan.geometries)
        let activations = plan.geometries.map(\.count).reduce(0, +)
        let gradients = 2 * plan.geometries.map(\.count).max()!
        var taps = 0
        for (s, step) in plan.steps.enumerated() {
            if case .convReLU(_, _?) = step {
                let g = plan.geometries[s + 1]
                taps += g.channels * g.height * g.width
            }
        }
        return 4 * (activations + gradients + taps + 3 * height * width)
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
        openblas_set_num_threads(Int32(threads))
        ck_flush_denormals()
        var clock = StepClock()
        let profiling = profile != nil
        Elementwise.caffePreprocess(rgb: image, into: view(0))
        if profiling { profile!.add("forward: preprocess", clock.lap()) }
        var result: [Tap: Tensor] = [:]
        for (s, step) in steps.enumerated() {
            let input = view(s), output = view(s + 1)
            switch step {
            case let .convReLU(conv, stepTap):
                let p = network.convs[conv]
                // A tap's features are copied out by the epilogue as they are stored.
                let t = stepTap.flatMap { tapTensors[$0] }
                convolution.run(input: input, output: output, weights: p.forward,
                                epilogue: ConvEpilogue(bias: p.bias, relu: true, copy: t))
                if profiling { profile!.add("forward: \(p.name) \(p.forward.algorithm.label)", clock.lap()) }
                if !Convolution.writesInteriorOnly(p.forward.algorithm) { output.zeroBorder(threads: threads) }
                if let stepTap, let t { result[stepTap] = t }
                if profiling { profile!.add("forward: borders, tap copies", clock.lap()) }
                if stepTap == tap {
                    forwardDepth = s + 1
                    return result
                }
            case .maxPool:
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
        guard let depth = forwardDepth else { throw FeatureExtractorError("backward before forward") }
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
        openblas_set_num_threads(Int32(threads))
        ck_flush_denormals()
        var current = 0  // which gradient buffer holds the gradient of step (s)'s output
        // Start at the deepest tap that has a gradient (nothing deeper contributes); d pre-activation =
        // injected · ReLU'.
        guard let last = injected.keys.compactMap({ stepIndex(of: $0) }).max() else {
            inputGradient.fill(0)
            return inputGradient
        }
        guard case let .convReLU(_, lastTap?) = steps[last] else { preconditionFailure("taps are ConvReLU steps") }
        var clock = StepClock()
        let profiling = profile != nil
        let start = gradView(current, geometries[last + 1])
        start.copyInterior(from: injected[lastTap]!, threads: threads)
        Elementwise.addAndMask(start, addend: nil, ref: view(last + 1), threads: threads)
        start.zeroBorder(threads: threads)
        if profiling { profile!.add("backward: borders, gradient copies", clock.lap()) }
        // Invariant at step s: the current buffer holds, for a ConvReLU, d loss / d pre-activation; for a
        // max-pool, d loss / d pool output.
        for s in stride(from: last, through: 0, by: -1) {
            let grad = gradView(current, geometries[s + 1])
            let next = 1 - current
            let below = gradView(next, geometries[s])
            switch steps[s] {
            case let .convReLU(conv, _):
                let p = network.convs[conv]
                var epilogue = ConvEpilogue()
                if s > 0, case let .convReLU(_, belowTap) = steps[s - 1] {
                    // Fused: + the gradient injected at the ReLU below, then that ReLU's derivative.
                    epilogue.addendPlain = belowTap.flatMap { injected[$0] }
                    epilogue.maskRef = view(s)
                }
                if profiling { profile!.add("backward: borders, gradient copies", clock.lap()) }
                convolution.run(input: grad, output: below, weights: p.backward, epilogue: epilogue)
                if profiling { profile!.add("backward: \(p.name) \(p.backward.algorithm.label)", clock.lap()) }
                below.zeroBorder(threads: threads)
                if profiling { profile!.add("backward: borders, gradient copies", clock.lap()) }
            case .maxPool:
                // The pool's input is a ReLU output (step s−1 is a ConvReLU).
                guard case let .convReLU(_, belowTap) = steps[s - 1] else { preconditionFailure("pool after a pool") }
                Elementwise.maxPoolBackward(grad, ref: view(s), addend: belowTap.flatMap { injected[$0] }, into: below,
                                            threads: threads)
                if profiling { profile!.add("backward: max-pool", clock.lap()) }
            }
            current = next
        }
        Elementwise.caffePreprocessBackward(gradient: gradView(current, geometries[0]), into: inputGradient)
        if profiling { profile!.add("backward: preprocess", clock.lap()) }
        return inputGradient
    }

    private func stepIndex(of tap: Tap) -> Int? {
        steps.firstIndex { if case let .convReLU(_, t) = $0 { t == tap } else { false } }
    }

    private func view(_ i: Int) -> PaddedView { PaddedView(geometries[i], in: activations[i]) }

    private func gradView(_ which: Int, _ g: PaddedGeometry) -> PaddedView {
        PaddedView(g, in: which == 0 ? gradients.0 : gradients.1)
    }

}
