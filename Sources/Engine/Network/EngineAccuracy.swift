/// How far a network's arithmetic (its kernel and precision) is from a reference's (the fp32 direct
/// kernel): each convolution on its own, given the reference's input, forward and backward, and the whole
/// network (taps, input gradient) for a loss of feature matching. What `deepresize bench accuracy` prints
/// and NetworkPrecisionTests bound.
public struct EngineAccuracyReport: Sendable {
    public struct Layer: Sendable {
        /// conv1_1 …
        public let name: String
        /// "forward" or "backward".
        public let direction: String
        /// The candidate's algorithm ("F4 bf16", "direct", …).
        public let algorithm: String
        /// ‖candidate − reference‖ / ‖reference‖ of the convolution's output (bias included, before ReLU).
        public let relativeError: Double
    }

    public var layers: [Layer] = []
    /// The whole forward pass: each tap's relative error.
    public var taps: [(tap: Tap, relativeError: Double)] = []
    /// L = Σ_l ¼ ‖Φ_l − T_l‖² / ‖T_l‖² over relu1_1 … relu4_1 (the deep method's L_rec), both networks.
    public var loss: (candidate: Double, reference: Double) = (0, 0)
    /// d L / d image of both: relative error and cosine.
    public var gradientError = 0.0
    public var gradientCosine = 0.0
}

public enum EngineAccuracy {
    public static let taps: [Tap] = [.relu1_1, .relu2_1, .relu3_1, .relu4_1]

    /// Compares `candidate` with `reference` on `image` (RGB in [0,1]). `targets`: T_l for the taps,
    /// shaped as the image's features (e.g. a larger version of the photo's features resized down).
    public static func measure(candidate: VGGNetwork, reference: VGGNetwork, image: Tensor, targets: [Tap: Tensor],
                               threads: Int = 2) throws -> EngineAccuracyReport {
        let h = image.height, w = image.width
        let ref = try FeatureExtractor(network: reference, height: h, width: w, deepestTap: .relu4_1, threads: threads)
        let cand = try FeatureExtractor(network: candidate, height: h, width: w, deepestTap: .relu4_1, threads: threads)
        var report = EngineAccuracyReport()

        // Whole network, forward and backward, each with its own features in the loss's gradient.
        func lossAndGradient(_ e: FeatureExtractor) throws -> (Double, [Tap: [Float]], [Float]) {
            let phi = try e.forward(image: image, to: .relu4_1)
            var loss = 0.0
            var injected: [Tap: Tensor] = [:]
            for tap in taps {
                let f = phi[tap]!, t = targets[tap]!
                precondition(f.count == t.count, "target for \(tap) has the wrong shape")
                let norm = max(t.sumOfSquares(), .leastNormalMagnitude)
                let g = Tensor(channels: f.channels, height: f.height, width: f.width)
                var sum = 0.0
                for i in 0..<f.count {
                    let d = Double(f.data[i]) - Double(t.data[i])
                    sum += d * d
                    g.data[i] = Float(0.5 * d / norm)
                }
                loss += 0.25 * sum / norm
                injected[tap] = g
            }
            let features = phi.mapValues { $0.toArray() }
            return (loss, features, try e.backward(gradients: injected).toArray())
        }
        let (lr, fr, gr) = try lossAndGradient(ref)
        let (lc, fc, gc) = try lossAndGradient(cand)
        report.loss = (lc, lr)
        report.taps = taps.map { ($0, relativeError(fc[$0]!, fr[$0]!)) }
        report.gradientError = relativeError(gc, gr)
        report.gradientCosine = cosine(gc, gr)

        // Each convolution alone: forward on the reference's input activation, backward on the reference's
        // incoming gradient (captured during its backward), candidate and reference kernels side by side.
        _ = try ref.forward(image: image, to: .relu4_1)
        let steps = ref.convolutionSteps
        var inputs: [Int: (Workbuffer, PaddedGeometry, PaddedGeometry)] = [:]
        for step in steps {
            let copy = Workbuffer(capacity: step.input.geometry.count)
            copy.base.update(from: step.input.base, count: step.input.geometry.count)
            inputs[step.conv] = (copy, step.input.geometry, step.output)
        }
        var gradients: [Int: Workbuffer] = [:]
        ref.backwardObserver = { conv, grad in
            let copy = Workbuffer(capacity: grad.geometry.count)
            copy.base.update(from: grad.base, count: grad.geometry.count)
            gradients[conv] = copy
        }
        _ = try lossAndGradient(ref)
        ref.backwardObserver = nil
        for step in steps {
            let (buffer, gi, go) = inputs[step.conv]!
            let rc = reference.convs[step.conv], cc = candidate.convs[step.conv]
            let shapes = [rc.forward, cc.forward, rc.backward, cc.backward].map { weights in
                ConvolutionShape(algorithm: weights.algorithm, inChannels: weights.inChannels, outChannels: weights.outChannels,
                                 height: gi.height, width: gi.width)
            }
            let convolution = Convolution(threads: threads, shapes: shapes)
            func run(_ weights: PackedWeights, _ input: PaddedView, _ out: PaddedGeometry, bias: UnsafePointer<Float>?) -> [Float] {
                let o = Workbuffer(capacity: out.count)
                let view = PaddedView(out, in: o)
                convolution.run(input: input, output: view, weights: weights, epilogue: ConvEpilogue(bias: bias))
                let t = Tensor(channels: out.channels, height: out.height, width: out.width)
                view.copyInterior(to: t)
                return t.toArray()
            }
            let input = PaddedView(gi, in: buffer)
            report.layers.append(.init(name: rc.name, direction: "forward", algorithm: cc.forward.algorithm.label,
                                       relativeError: relativeError(run(cc.forward, input, go, bias: cc.bias),
                                                                    run(rc.forward, input, go, bias: rc.bias))))
            if let g = gradients[step.conv] {
                let grad = PaddedView(go, in: g)
                report.layers.append(.init(name: rc.name, direction: "backward", algorithm: cc.backward.algorithm.label,
                                           relativeError: relativeError(run(cc.backward, grad, gi, bias: nil),
                                                                        run(rc.backward, grad, gi, bias: nil))))
            }
        }
        return report
    }

    /// ‖a − b‖ / ‖b‖ in Double.
    public static func relativeError(_ a: [Float], _ b: [Float]) -> Double {
        var num = 0.0, den = 0.0
        for (x, y) in zip(a, b) {
            num += (Double(x) - Double(y)) * (Double(x) - Double(y))
            den += Double(y) * Double(y)
        }
        return (num / max(den, 1e-300)).squareRoot()
    }

    public static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var ab = 0.0, aa = 0.0, bb = 0.0
        for (x, y) in zip(a, b) {
            ab += Double(x) * Double(y)
            aa += Double(x) * Double(x)
            bb += Double(y) * Double(y)
        }
        return ab / max((aa * bb).squareRoot(), 1e-300)
    }
}
