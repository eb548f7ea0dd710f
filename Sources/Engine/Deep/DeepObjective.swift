import Glibc

/// Where an objective's evaluations spent their time: wall seconds summed over all evaluations so far.
public struct DeepObjectiveTimings: Sendable, Equatable, Codable {
    public var evaluations = 0
    /// Copying x in, the network forward to relu4_1.
    public var forward = 0.0
    /// Network forward passes run (one per evaluation, less one when the first reuses the setup's pass).
    public var forwardPasses = 0
    /// L_rec and its gradient with respect to the features.
    public var reconstruction = 0.0
    /// L_per (Gram) and its gradient with respect to the features.
    public var perceptual = 0.0
    /// The network backward to the image, copying the gradient out.
    public var backward = 0.0
    /// L_reg and L_smooth, and adding their gradients.
    public var regularization = 0.0

    public init() {}

    /// All of it.
    public var total: Double { forward + reconstruction + perceptual + backward + regularization }
}

/// L(R) of docs/spec.md §4 with its gradient with respect to R, for one output size: one forward to relu4_1
/// and one backward per evaluation (d L/d Φ injected at relu1_1 … relu4_1), the regulariser's gradient
/// added directly. Owns its workspace (extractor, gradient tensors, Gram scratch): one per job, not
/// Sendable.
public final class DeepObjective {
    public static let reconstructionTaps: [Tap] = [.relu1_1, .relu2_1, .relu3_1, .relu4_1]
    public static let gramTaps: [Tap] = [.relu3_1, .relu4_1]

    public let height: Int
    public let width: Int
    public let weights: DeepLossWeights
    /// The terms of the last evaluation that completed, at the point the objective now holds (nil before
    /// the first, during an evaluation and after one that threw).
    public private(set) var lastTerms: DeepLossTerms?
    public private(set) var timings = DeepObjectiveTimings()

    private let extractor: FeatureExtractor
    private let targets: [Tap: Tensor]
    private let targetNorms: [Tap: Double]
    /// The input's Gram matrices (1 × C × C) and their ‖·‖², per Gram tap.
    private let inputGrams: [Tap: Tensor]
    private let inputGramNorms: [Tap: Double]
    private let inputMean: [Double]
    private let inputStd: [Double]
    private let image: Tensor
    private let featureGradients: [Tap: Tensor]
    /// C × C scratch per Gram tap (the taps' terms run side by side).
    private let gramScratch: [Tap: Tensor]
    private let regularizerGradient: Tensor
    /// `SmoothRegions` of R0, for L_smooth; nil when δ is 0.
    private let smoothWeights: [Float]?
    /// `adoptLastForward`: the image of the extractor's last forward and its features, until the first
    /// evaluation.
    private var adopted: (values: [Float], features: [Tap: Tensor])?

    /// - Parameters:
    ///   - targets: T_l for relu1_1 … relu4_1, each (⌊h/s⌋, ⌊w/s⌋).
    ///   - inputFeatures: the relu3_1 and relu4_1 whose Gram matrices the output's should match: the input's
    ///     (the reference) or the targets' (`DeepStatisticsSource`); ignored when β = 0.
    ///   - inputMean, inputStd: the per-channel RGB statistics (std 1/N) the output's should match: the
    ///     input image's, or R0's.
    public convenience init(network: VGGNetwork, height: Int, width: Int, targets: [Tap: Tensor], inputFeatures: [Tap: Tensor],
                            inputMean: [Double], inputStd: [Double], weights: DeepLossWeights = DeepLossWeights(),
                            smoothWeights: [Float]? = nil, threads: Int = 2) throws {
        try self.init(extractor: FeatureExtractor(network: network, height: height, width: width, deepestTap: .relu4_1,
                                                  threads: threads),
                      targets: targets, inputFeatures: inputFeatures, inputMean: inputMean, inputStd: inputStd, weights: weights,
                      smoothWeights: smoothWeights)
    }

    /// The same on an output-sized extractor the caller already has (to relu4_1 at least): its workspace
    /// is a few hundred MB, and a fresh one costs its page faults again. The objective takes it over.
    /// - smoothWeights: `SmoothRegions.weights(of: R0)`, needed when `weights.delta` is not 0.
    public init(extractor: FeatureExtractor, targets: [Tap: Tensor], inputFeatures: [Tap: Tensor],
                inputMean: [Double], inputStd: [Double], weights: DeepLossWeights = DeepLossWeights(),
                smoothWeights: [Float]? = nil) throws {
        guard extractor.canRunBackward else {
            throw FeatureResizeError(message: "the objective needs an extractor that runs backward passes")
        }
        guard extractor.deepestTap >= .relu4_1 else {
            throw FeatureResizeError(message: "the objective needs an extractor to relu4_1 (it stops at \(extractor.deepestTap))")
        }
        self.extractor = extractor
        let height = extractor.height, width = extractor.width
        self.height = height
        self.width = width
        self.weights = weights
        var norms: [Tap: Double] = [:]
        var grads: [Tap: Tensor] = [:]
        for tap in Self.reconstructionTaps {
            guard let t = targets[tap], let shape = extractor.shape(of: tap) else {
                throw FeatureResizeError(message: "no target for \(tap)")
            }
            guard t.channels == shape.channels, t.height == shape.height, t.width == shape.width else {
                throw FeatureResizeError(message: "target for \(tap) is \(t.channels)x\(t.height)x\(t.width), the network gives \(shape.channels)x\(shape.height)x\(shape.width) for \(width)x\(height)")
            }
            norms[tap] = t.sumOfSquares()
            grads[tap] = Tensor(channels: shape.channels, height: shape.height, width: shape.width)
        }
        self.targets = targets
        targetNorms = norms
        featureGradients = grads
        var grams: [Tap: Tensor] = [:], gramNorms: [Tap: Double] = [:], scratch: [Tap: Tensor] = [:]
        if weights.beta != 0 {
            for tap in Self.gramTaps {
                guard let f = inputFeatures[tap] else { throw FeatureResizeError(message: "the Gram term needs the input's \(tap)") }
                let g = Tensor(channels: 1, height: f.channels, width: f.channels)
                DeepLoss.gram(f, into: g.data)
                gramNorms[tap] = g.sumOfSquares()
                grams[tap] = g
                scratch[tap] = Tensor(channels: 1, height: f.channels, width: f.channels)
            }
        }
        inputGrams = grams
        inputGramNorms = gramNorms
        gramScratch = scratch
        guard inputMean.count == 3, inputStd.count == 3 else { throw FeatureResizeError(message: "RGB statistics need 3 channels") }
        self.inputMean = inputMean
        self.inputStd = inputStd
        image = Tensor(channels: 3, height: height, width: width)
        regularizerGradient = Tensor(channels: 3, height: height, width: width)
        if weights.delta != 0 {
            guard let smoothWeights, smoothWeights.count == height * width else {
                throw FeatureResizeError(message: "δ ≠ 0 needs one smoothness weight per output pixel")
            }
            self.smoothWeights = smoothWeights
        } else {
            self.smoothWeights = nil
        }
    }

    /// L at `x` (planar RGB, 3·height·width); writes ∇L into `gradient` (same layout) when given.
    public func evaluate(_ x: UnsafeBufferPointer<Float>, gradient: UnsafeMutableBufferPointer<Float>?) throws -> DeepLossTerms {
        precondition(x.count == image.count, "x has \(x.count) values, expected \(image.count)")
        let clock = ContinuousClock()
        var mark = clock.now
        func lap() -> Double {
            let now = clock.now, d = now - mark
            mark = now
            return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        }
        lastTerms = nil  // image no longer holds the point they were taken at
        image.data.update(from: x.baseAddress!, count: image.count)
        let phi: [Tap: Tensor]
        if let adopted, memcmp(adopted.values, image.data, image.count * MemoryLayout<Float>.stride) == 0 {
            phi = adopted.features
        } else {
            phi = try extractor.forward(image: image, to: .relu4_1)
            timings.forwardPasses += 1
        }
        adopted = nil  // only until the first evaluation: any later one may follow a backward
        timings.forward += lap()
        let w = weights
        var rec = 0.0
        for tap in Self.reconstructionTaps {
            rec += w.layerWeight * DeepLoss.reconstruction(features: phi[tap]!, target: targets[tap]!,
                                                           targetSquaredNorm: targetNorms[tap]!,
                                                           scale: w.alpha * w.layerWeight,
                                                           gradient: gradient == nil ? nil : featureGradients[tap],
                                                           threads: extractor.threads)
        }
        timings.reconstruction += lap()
        var per = 0.0
        if w.beta != 0 {
            let terms = Self.gramTaps.map { tap in
                DeepLoss.GramTerm(features: phi[tap]!, inputGram: inputGrams[tap]!, inputGramSquaredNorm: inputGramNorms[tap]!,
                                  gradient: gradient == nil ? nil : featureGradients[tap], scratch: gramScratch[tap]!)
            }
            for d in DeepLoss.gramDistances(terms, scale: w.beta * 0.5, threads: extractor.threads) { per += 0.5 * d }
        }
        timings.perceptual += lap()
        var reg = 0.0, smooth = 0.0
        if let gradient {
            let dR = try extractor.backward(gradients: featureGradients)
            precondition(gradient.count == dR.count, "gradient buffer has \(gradient.count) values, expected \(dR.count)")
            gradient.baseAddress!.update(from: dR.data, count: dR.count)
            timings.backward += lap()
            let g = regularizerGradient
            g.fill(0)
            reg = DeepLoss.totalVariation(image, scale: w.gamma, addGradientTo: g)
                + DeepLoss.statistics(image, inputMean: inputMean, inputStd: inputStd, scale: w.gamma, addGradientTo: g)
            if let smoothWeights { smooth = DeepLoss.curvature(image, weights: smoothWeights, scale: w.delta, addGradientTo: g) }
            for i in 0..<g.count { gradient[i] += g.data[i] }
        } else {
            reg = DeepLoss.totalVariation(image) + DeepLoss.statistics(image, inputMean: inputMean, inputStd: inputStd)
            if let smoothWeights { smooth = DeepLoss.curvature(image, weights: smoothWeights) }
        }
        let terms = DeepLossTerms(total: w.alpha * rec + w.beta * per + w.gamma * reg + w.delta * smooth,
                                  reconstruction: rec, perceptual: per, regularization: reg, smoothness: smooth)
        lastTerms = terms
        timings.regularization += lap()
        timings.evaluations += 1
        return terms
    }

    /// The extractor's last pass was a forward of `image` to relu4_1 (`features` is what it returned) and
    /// nothing ran on it since: the first evaluation, when it is at exactly this point, uses that pass
    /// instead of running it again (the resizer's anchor pass is a forward of R0, where L-BFGS starts).
    func adoptLastForward(of image: Tensor, features: [Tap: Tensor]) {
        precondition(image.count == self.image.count, "the adopted pass is of another size")
        adopted = (image.toArray(), features)
    }

    /// The terms at `x`: the last evaluation's when it was at exactly this point (L-BFGS's accepted point
    /// usually is its last evaluation), else those of a forward pass.
    public func terms(at x: UnsafeBufferPointer<Float>) throws -> DeepLossTerms {
        precondition(x.count == image.count, "x has \(x.count) values, expected \(image.count)")
        if let lastTerms, memcmp(image.data, x.baseAddress!, image.count * MemoryLayout<Float>.stride) == 0 {
            return lastTerms
        }
        return try evaluate(x, gradient: nil)
    }
}
