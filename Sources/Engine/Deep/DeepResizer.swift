public import ImageCodecs
import Synchronization

/// Where the optimisation starts.
public enum DeepStart: String, Sendable, CaseIterable {
    /// The targets' own geometry applied to the image: for `seam`, the image's pixels carved (or grown) by
    /// the relu1_1 seams; for `linear` with `protect`, the protected warp. R0 then already has the
    /// proportions and the sharpness the targets ask for (docs/spec.md, "The start").
    case geometry
    /// The reference's R0 = clamp(bilinear(I)), whatever the operator.
    case bilinear
}

/// Which image's global statistics (the Gram term's matrices, the regulariser's colour mean and
/// standard deviation) the output is held to.
public enum DeepStatisticsSource: String, Sendable, CaseIterable {
    /// The input's, as the reference: when seams remove most of one region (a sky), the remaining part is
    /// pushed toward the whole input's colours, which tints flat areas (docs/spec.md).
    case input
    /// The resized content's: the targets' Gram matrices and R0's colour statistics.
    case output
}

/// Settings of the deep method (docs/spec.md; docs/api.md `operator`, `protect`, `iterations`).
public struct DeepResizeOptions: Sendable, Equatable {
    public var featureOperator: FeatureOperator = .seam
    /// Seam operator: the mask adds its 1000× penalty (the reference always does). Linear: the protected
    /// non-uniform scale for the targets and R0; false is the reference's plain bilinear.
    public var protect: Bool = true
    /// The mask's cleanup (docs/spec.md §2): a closing before the opening keeps subjects whose activation is
    /// patchy (judged blind: docs/gallery.md, "The mask closed before it is opened"); the reference opens first.
    public var maskCleanup: SemanticMask.Cleanup = .closeThenOpen
    public var iterations: Int = DeepResizeOptions.defaultIterations
    /// The loss weights: the spec's α, β, γ, and δ = `smoothness` for the curvature prior where R0 is smooth
    /// (docs/spec.md §4; `DeepLossWeights()` alone has δ = 0, as the reference).
    public var weights: DeepLossWeights
    /// δ of the curvature prior: in a blind A/B on the 84 review cases against δ = 0, better in 12 (faint
    /// cross-hatching gone from skies, walls and blurred backgrounds at 3×), worse in none, equal in 72.
    public static let smoothness = 100.0
    /// Compute threads of the network passes.
    public var threads: Int = 2
    /// Early stop on stalled progress (ours); nil: the whole budget runs.
    public var earlyStop: LBFGSStall? = DeepResizeOptions.defaultEarlyStop
    /// Seam operator: one-pixel seams (`FeatureResize.layeredSeamPlans`: searched on the pixels, removed or
    /// inserted); false removes 8 × 8 blocks of the relu4_1 seams at relu1_1 as the reference does.
    public var refineSeams = true
    public var start: DeepStart = .geometry
    /// One-pixel seams (`refineSeams`): removed or inserted only until they would start to tear edges
    /// (`SeamTears`, this limit); the protected scale does the rest of the change. Nil lets the seams do
    /// all of it; the reference's block seams ignore it.
    public var seamTearLimit: Double? = SeamTears.limit
    /// One-pixel seams: the weight of the image's own edges (averaged over each relu4_1 cell) in the relu4_1
    /// seams' energy, relative to the largest; 0 leaves the features' energy alone (docs/spec.md, "Seam
    /// energy").
    public var edgeWeight: Double = 1
    public var statistics: DeepStatisticsSource = .output
    /// One-pixel seams: near the image's lines relu4_1's target is the carved start's own features, so that
    /// a line crossed by seams stays whole (`EdgeAnchor`); false samples the input's everywhere.
    public var anchorLines = true
    /// One-pixel seams: at the output's borders on every axis that changed size every target is the carved
    /// start's own features (`BorderAnchor`: the network's zero padding makes a border cell unlike any
    /// interior one); false samples the input's there too.
    public var anchorBorders = true
    /// One-pixel seams that insert: where they inserted pixels every target is the start's own features
    /// (`InsertionAnchor`: sampled between two textured columns, the features describe no image, and the
    /// reconstruction drew them hazy); false samples the input's there too.
    public var anchorInsertions = true
    /// Scale the source uniformly first and leave only the remaining change of aspect to the operator
    /// (`ResizeGeometry`); false hands the whole change to the operator, as the reference does.
    public var uniformFirst = true
    /// The largest working image (its memory grows with it); nil: no limit.
    public var maxWorkingPixels: Int?
    /// The first line search's trial step. Measured (BENCHMARKS.md, "Deep v2"): from the geometry start
    /// torch's 1/‖g‖₁ (t = 0.18 on LadyBird 640×480 → 384×480) took the first line search 4 evaluations;
    /// half the loss over the slope (t = 116 there) is accepted at once, at the same L after 20 iterations.
    public var firstStep: LBFGSFirstStep = .lossFraction(0.5, largestChange: 1)

    /// Measured (BENCHMARKS.md, "Deep v2"): from the geometry start, L after 20 iterations is below the
    /// bilinear start's after 100, and the curve flattens past it.
    public static let defaultIterations = 20

    /// Measured (BENCHMARKS.md, "Early stop"): ends a run once L fell by less than 0.1 % over the last
    /// 10 iterations.
    public static let defaultEarlyStop = LBFGSStall(window: 10, tolerance: 1e-3)

    /// What the PyTorch reference does (docs/spec.md, "Where deepresize departs"): the whole change to the
    /// operator, relu4_1 seams as 8 × 8 blocks, R0 the bilinear resize, the mask opened before it is closed,
    /// every iteration run.
    public static func reference(featureOperator: FeatureOperator = .seam, protect: Bool = true,
                                 iterations: Int = defaultIterations, threads: Int = 2) -> DeepResizeOptions {
        var options = DeepResizeOptions(featureOperator: featureOperator, protect: protect, iterations: iterations,
                                        threads: threads, earlyStop: nil)
        options.refineSeams = false
        options.start = .bilinear
        options.statistics = .input
        options.uniformFirst = false
        options.anchorLines = false
        options.anchorBorders = false
        options.anchorInsertions = false
        options.firstStep = .torch
        options.weights.delta = 0
        options.maskCleanup = .openThenClose
        return options
    }

    /// `weights` given replace all four, δ included (`DeepLossWeights()` alone has δ = 0).
    public init(featureOperator: FeatureOperator = .seam, protect: Bool = true,
                iterations: Int = DeepResizeOptions.defaultIterations,
                weights: DeepLossWeights = DeepLossWeights(delta: DeepResizeOptions.smoothness), threads: Int = 2,
                earlyStop: LBFGSStall? = DeepResizeOptions.defaultEarlyStop) {
        self.featureOperator = featureOperator
        self.protect = protect
        self.iterations = iterations
        self.weights = weights
        self.threads = threads
        self.earlyStop = earlyStop
    }
}

/// One point of a run's loss curve: after an L-BFGS iteration.
public struct DeepResizeTracePoint: Sendable, Equatable, Codable {
    /// The progress step (1…iterations).
    public var iteration: Int
    /// Evaluations so far (the first one included).
    public var evaluations: Int
    /// L at the accepted point (before the clamp).
    public var loss: Double
    /// Since the optimisation started.
    public var seconds: Double
}

/// What a run did (the reference's `--report-json` fields).
public struct DeepResizeReport: Sendable, Equatable, Codable {
    public var featureOperator: String
    /// The image as given, before the uniform scale of `ResizeGeometry` (the same as the input when the
    /// caller hands `resize(rgb:…)` its working image directly).
    public var sourceWidth: Int
    public var sourceHeight: Int
    public var protect: Bool
    public var inputWidth: Int
    public var inputHeight: Int
    public var outputWidth: Int
    public var outputHeight: Int
    public var iterationsRequested: Int
    public var iterations: Int
    public var evaluations: Int
    /// Why L-BFGS stopped (`LBFGSStop`).
    public var stop: String
    /// L and its terms at R0 (the first evaluation).
    public var initial: DeepLossTerms
    /// At the optimiser's result, before the clamp.
    public var final: DeepLossTerms
    /// At the output (clamped to [0,1]).
    public var finalClamped: DeepLossTerms
    /// Share of protected cells of the relu5_1 mask.
    public var maskFraction: Double
    /// `seam` with one-pixel seams: the energy of the relu4_1 seams that avoid the mask over that of the seams
    /// found without it (`LayeredSeamPlans.maskCostRatio`); nil when not compared.
    public var seamMaskCostRatio: Double? = nil
    /// True when the seams were found without the mask (avoiding it cost more than
    /// `FeatureResize.maskCostLimit` times as much: it walled them in).
    public var seamsSetMaskAside: Bool { (seamMaskCostRatio ?? 0) > FeatureResize.maskCostLimit }
    /// `seam`: true when the seams of a shortened axis stopped short where the mask spans at least
    /// `FeatureResize.subjectSpan` of it, and were searched there again without it, doing its whole change
    /// (`LayeredSeamPlans.subjectSpansAxis`); nil when they did not.
    public var seamsSubjectSpansAxis: Bool? = nil
    /// `seam`: the size the one-pixel seams reached before they would have torn edges (`SeamTears`); the
    /// protected scale did the rest. Nil when the seams did the whole change.
    public var seamedWidth: Int? = nil
    public var seamedHeight: Int? = nil
    /// L after every iteration (the loss curve).
    public var trace: [DeepResizeTracePoint]
    /// Where the optimisation's evaluations spent their time (summed).
    public var evaluationTimes: DeepObjectiveTimings
    /// The optimisation's time outside the evaluations: L-BFGS's own vector work (and the progress
    /// callback).
    public var lbfgsSeconds: Double
    public var setupSeconds: Double
    public var optimizeSeconds: Double
    public var totalSeconds: Double
}

public struct DeepResizeError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "deep resize: \(message)" }
}

/// The output of `DeepResizer.resize(rgb:…)`.
public struct DeepResizeOutput {
    /// 3 × height × width, R, G, B in [0,1].
    public let image: Tensor
    public let report: DeepResizeReport
    /// The relu5_1 mask of the input (stride 16).
    public let mask: SemanticMask
    /// The `alpha` plane given to `resize(rgb:alpha:…)`, carried through the output's geometry (the seams and
    /// the protected scale, or the warp); nil without one.
    public var alpha: Tensor? = nil
}

/// The deep method: reconstructs the output from the input's resized VGG features by L-BFGS from the
/// linearly scaled input (docs/spec.md §2–§5, reproducing the PyTorch reference).
public enum DeepResizer {
    /// Smallest input: relu5_1 (stride 16) must have a cell. Smallest output: relu4_1 (stride 8) must.
    public static let minimumInputSide = 16
    public static let minimumOutputSide = 8

    /// Resizes `rgb` (3 planes R, G, B in [0,1], any size ≥ 16×16) to width × height.
    ///
    /// - Parameters:
    ///   - network: VGG weights loaded at least to relu5_1 (shared, read-only).
    ///   - context: progress after every L-BFGS iteration (step, iterations, L); cancellation with
    ///     `OperationCancelled` between evaluations (so between iterations too) and during the seam search.
    ///   - alpha: an opacity plane (1 × the input's size) to carry through the same geometry as the colour,
    ///     so that what was transparent stays so (not reconstructed: it has no features).
    public static func resize(rgb input: Tensor, alpha: Tensor? = nil, width: Int, height: Int,
                              options: DeepResizeOptions = DeepResizeOptions(),
                              network: VGGNetwork, context: RunContext = .detached) throws -> DeepResizeOutput {
        let clock = ContinuousClock()
        let start = clock.now
        guard input.channels == 3 else { throw DeepResizeError("input has \(input.channels) channels, expected 3 (RGB)") }
        if let alpha, alpha.channels != 1 || alpha.height != input.height || alpha.width != input.width {
            throw DeepResizeError("alpha is \(alpha.channels)×\(alpha.width)x\(alpha.height), expected 1×\(input.width)x\(input.height)")
        }
        guard input.width >= minimumInputSide, input.height >= minimumInputSide else {
            throw DeepResizeError("input \(input.width)x\(input.height) is too small (at least \(minimumInputSide)x\(minimumInputSide))")
        }
        guard width >= minimumOutputSide, height >= minimumOutputSide else {
            throw DeepResizeError("output \(width)x\(height) is too small (at least \(minimumOutputSide)x\(minimumOutputSide))")
        }
        guard options.iterations >= 1 else { throw DeepResizeError("iterations must be at least 1, got \(options.iterations)") }
        guard network.deepestTap >= .relu5_1 else {
            throw DeepResizeError("the network must be loaded to relu5_1 for the mask (it stops at \(network.deepestTap))")
        }
        try context.checkCancelled()

        let (objective, mask, r0, seams, carriedAlpha) = try prepare(
            input: input, alpha: alpha, width: width, height: height, options: options, network: network, context: context)
        var x = r0
        let setupEnd = clock.now
        let seconds = { (d: Duration) in Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        let trace = TraceRecorder(start: setupEnd)
        let run = try solve(objective, &x, iterations: options.iterations, options: options, trace: trace,
                            context: context)
        let optimizeEnd = clock.now
        let timings = objective.timings  // before the two evaluations for the report
        let final = try x.withUnsafeBufferPointer { try objective.terms(at: $0) }
        for i in x.indices { x[i] = min(max(x[i], 0), 1) }
        let finalClamped = try x.withUnsafeBufferPointer { try objective.terms(at: $0) }

        let output = Tensor(channels: 3, height: height, width: width, values: x)
        var report = DeepResizeReport(
            featureOperator: options.featureOperator.rawValue, sourceWidth: input.width, sourceHeight: input.height,
            protect: options.protect,
            inputWidth: input.width, inputHeight: input.height, outputWidth: width, outputHeight: height,
            iterationsRequested: options.iterations, iterations: run.result.iterations,
            evaluations: run.result.evaluations, stop: run.result.stop.rawValue, initial: run.first, final: final,
            finalClamped: finalClamped, maskFraction: mask.fraction, trace: trace.points, evaluationTimes: timings,
            lbfgsSeconds: max(0, seconds(optimizeEnd - setupEnd) - timings.total),
            setupSeconds: seconds(setupEnd - start),
            optimizeSeconds: seconds(optimizeEnd - setupEnd), totalSeconds: seconds(clock.now - start))
        report.seamMaskCostRatio = seams?.maskCostRatio
        if seams?.subjectSpansAxis == true { report.seamsSubjectSpansAxis = true }
        if let seamed = seams?.seamed, seamed != PixelSize(width: width, height: height) {
            report.seamedWidth = seamed.width
            report.seamedHeight = seamed.height
        }
        return DeepResizeOutput(image: output, report: report, mask: mask, alpha: carriedAlpha)
    }

    /// L-BFGS on `objective` from `x`: progress after every iteration (into the trace too), cancellation
    /// between evaluations.
    private static func solve(_ objective: DeepObjective, _ x: inout [Float], iterations: Int,
                              options: DeepResizeOptions, trace: TraceRecorder,
                              context: RunContext) throws -> (result: LBFGSResult, first: DeepLossTerms) {
        var first: DeepLossTerms?
        var lbfgs = LBFGSOptions(iterations: iterations)
        lbfgs.finalClamp = nil  // clamped by the caller, after the pre-clamp terms are taken
        lbfgs.stall = options.earlyStop
        lbfgs.firstStep = options.firstStep
        let traced = RunContext(report: { p in
            trace.record(iteration: p.step, loss: p.loss ?? .nan)
            context.report(p)
        }, isCancelled: context.isCancelled)
        let result = try LBFGS.minimize(&x, options: lbfgs, context: traced) { xp, g in
            // Also between the evaluations of a line search (up to ~25 of them): a cancelled job stops sooner.
            try context.checkCancelled()
            let terms = try objective.evaluate(xp, gradient: g)
            if first == nil { first = terms }
            trace.countEvaluation()
            return terms.total
        }
        return (result, first!)
    }

    /// About how many bytes a run allocates at its peak, so a caller can refuse sizes first: the setup
    /// (an input-sized extractor to relu5_1 plus copies of its taps and the targets), the handover (the
    /// input's taps still alive while the output-sized objective is built) or the optimisation (an
    /// output-sized extractor to relu4_1, targets and their gradients, L-BFGS's ~30 vectors of 3·h·w),
    /// whichever is largest.
    public static func estimatedPeakBytes(inputWidth: Int, inputHeight: Int, outputWidth: Int, outputHeight: Int,
                                          kernel: ConvolutionKernel = .best, threads: Int = 2) -> Int {
        // The taps' channels come from the network's own description (VGG-16 and VGG-19 have the same).
        let architecture = Architecture.vgg16
        func tapBytes(_ taps: [Tap], height: Int, width: Int) -> Int {
            taps.reduce(0) { total, tap in
                let size = tap.outputSize(height: height, width: width)
                return total + 4 * architecture.channels(of: tap) * size.height * size.width
            }
        }
        let targets = tapBytes(DeepObjective.reconstructionTaps, height: outputHeight, width: outputWidth)
        let setup = FeatureExtractor.workspaceBytes(kernel: kernel, height: inputHeight, width: inputWidth,
                                                    deepestTap: .relu5_1, threads: threads, backward: false)
            + tapBytes(Tap.allCases, height: inputHeight, width: inputWidth) + targets
        let outputWorkspace = FeatureExtractor.workspaceBytes(kernel: kernel, height: outputHeight, width: outputWidth,
                                                              deepestTap: .relu4_1, threads: threads)
        // The end of the setup: the objective (its workspace, targets and their gradients) is built while
        // the input's features are still alive.
        let handover = tapBytes(Tap.allCases, height: inputHeight, width: inputWidth) + outputWorkspace + 2 * targets
        let optimisation = outputWorkspace + 2 * targets + 30 * 4 * 3 * outputHeight * outputWidth
        return max(setup, handover, optimisation)
    }

    /// Setup: the input's features (one pass to relu5_1), the mask, the targets, the objective and R0.
    /// A function of its own so the input-sized features are freed before the optimisation runs.
    private static func prepare(input: Tensor, alpha: Tensor?, width: Int, height: Int, options: DeepResizeOptions,
                                network: VGGNetwork, context: RunContext) throws
        -> (DeepObjective, SemanticMask, [Float], seams: SeamOutcome?, alpha: Tensor?) {
        let inputFeatures: [Tap: Tensor]
        do {
            let extractor = try FeatureExtractor(network: network, height: input.height, width: input.width,
                                                 deepestTap: .relu5_1, threads: options.threads, backward: false)
            // Copied out: the extractor's tensors die with its (input-sized) workspace.
            inputFeatures = try extractor.forward(image: input, to: .relu5_1).mapValues { $0.clone() }
        }
        let mask = SemanticMask(features: inputFeatures[.relu5_1]!, cleanup: options.maskCleanup)
        var reconstruction: [Tap: Tensor] = [:]
        for tap in DeepObjective.reconstructionTaps { reconstruction[tap] = inputFeatures[tap]! }
        // The seam search reports seams, not iterations: only its cancellation goes through.
        let searchContext = RunContext(report: { _ in }, isCancelled: context.isCancelled)
        let protection = options.protect ? mask : nil
        var targets: [Tap: Tensor]
        var sourceMap: SourceMap?
        var seams: SeamOutcome?
        if options.featureOperator == .seam && options.refineSeams {
            let layered = try FeatureResize.layeredSeamPlans(features: reconstruction, mask: protection, image: input,
                                                             edgeWeight: options.edgeWeight, outputHeight: height,
                                                             outputWidth: width, tearLimit: options.seamTearLimit,
                                                             context: searchContext)
            seams = SeamOutcome(maskCostRatio: layered.maskCostRatio, subjectSpansAxis: layered.subjectSpansAxis,
                                seamed: PixelSize(width: layered.seamedWidth, height: layered.seamedHeight))
            let map = try layered.sourceMap(inputHeight: input.height, inputWidth: input.width,
                                            outputHeight: height, outputWidth: width)
            var t: [Tap: Tensor] = [:]
            for (tap, f) in reconstruction { t[tap] = map.sample(f, stride: tap.stride, threads: options.threads) }
            targets = t
            sourceMap = map
        } else {
            targets = try FeatureResize.targets(for: reconstruction, operator: options.featureOperator, mask: protection,
                                                outputHeight: height, outputWidth: width, context: searchContext)
        }
        /// The targets' geometry applied to pixel planes: the image (R0) and its alpha.
        func carried(_ planes: Tensor) throws -> Tensor {
            switch options.featureOperator {
            case .seam:
                // The pixels through the source map (the relu1_1 seams, then the protected scale where they
                // stopped); with block seams, the relu4_1 seams as 8 × 8 pixel blocks.
                if let sourceMap { return sourceMap.sample(planes, stride: 1, threads: options.threads) }
                return try FeatureResize.targets(for: [.relu1_1: planes, .relu4_1: reconstruction[.relu4_1]!],
                                                 operator: .seam, mask: protection, outputHeight: height,
                                                 outputWidth: width, context: searchContext)[.relu1_1]!
            case .linear where options.protect:
                return FeatureResize.protectedLinear(planes, stride: 1, mask: mask, height: height, width: width)
            case .linear:
                return FeatureResize.linear(planes, height: height, width: width)
            }
        }
        let start = options.start == .geometry ? try carried(input) : FeatureResize.linear(input, height: height, width: width)
        // The alpha follows the output's geometry whatever the start: a plain scale of it beside carved
        // colour showed pixels that were transparent in the input (an opaque crescent of hidden green
        // beside a disc).
        let carriedAlpha = try alpha.map(carried)
        // R0, where L-BFGS starts, is the start in [0, 1] (the sampling can overshoot 1 by a rounding): clamped
        // here, so that the anchor's pass below is R0's own and the first evaluation can reuse it.
        for i in 0..<start.count { start.data[i] = min(max(start.data[i], 0), 1) }
        // The objective's extractor, made now: the anchor's pass below runs on it too.
        let extractor = try FeatureExtractor(network: network, height: height, width: width, deepestTap: .relu4_1,
                                             threads: options.threads)
        var startFeatures: [Tap: Tensor]?
        // Parts of the targets follow R0's own features (its pass is the first evaluation's too). Where seams
        // only remove: relu4_1 near the image's lines (EdgeAnchor: lines crossed by seams stay whole). On
        // every axis that changed size: every tap at its borders (BorderAnchor: the network's zero padding).
        // Where seams insert: every tap around the inserted pixels (InsertionAnchor: no haze in textured
        // regions).
        let onlyRemoves = width <= input.width && height <= input.height
        let anchorsLines = options.anchorLines && onlyRemoves
        let anchorsBorders = options.anchorBorders && (width != input.width || height != input.height)
        let anchorsInsertions = options.anchorInsertions && !onlyRemoves
        if let sourceMap, anchorsLines || anchorsBorders || anchorsInsertions {
            let carved = try extractor.forward(image: start, to: .relu4_1)
            startFeatures = carved
            for tap in DeepObjective.reconstructionTaps {
                guard let sampled = targets[tap], let own = carved[tap] else { continue }
                var weights: [Float]?
                if anchorsLines && EdgeAnchor.taps.contains(tap) {
                    weights = EdgeAnchor.weights(input: input, map: sourceMap, stride: tap.stride)
                }
                if anchorsBorders {
                    let border = BorderAnchor.weights(height: sampled.height, width: sampled.width,
                                                      rows: height != input.height, columns: width != input.width)
                    weights = weights.map { BorderAnchor.combined($0, border) } ?? border
                }
                if anchorsInsertions {
                    let inserted = InsertionAnchor.weights(map: sourceMap, stride: tap.stride)
                    weights = weights.map { BorderAnchor.combined($0, inserted) } ?? inserted
                }
                if let weights { EdgeAnchor.blend(into: sampled, carved: own, weights: weights, threads: options.threads) }
            }
        }
        // The Gram matrices and colour statistics the output is held to: the input's (the reference), or
        // those of the resized content itself (the targets and R0), which keep the proportions the seams
        // left (a sky that lost half its rows is not pushed back toward the whole input's colours).
        let (gramFeatures, statsImage) = options.statistics == .input ? (inputFeatures, input) : (targets, start)
        let (mean, std) = DeepLoss.channelStatistics(statsImage)
        let objective = try DeepObjective(extractor: extractor, targets: targets, inputFeatures: gramFeatures,
                                          inputMean: mean, inputStd: std, weights: options.weights,
                                          smoothWeights: options.weights.delta != 0 ? SmoothRegions.weights(of: start) : nil)
        // The first evaluation is at R0: its forward pass is the anchor's.
        if let startFeatures { objective.adoptLastForward(of: start, features: startFeatures) }
        let r0 = start.toArray()
        return (objective, mask, r0, seams, carriedAlpha)
    }

    /// The geometry `resize(_:…)` follows for a source of `source` pixels (memory estimates use it too).
    public static func geometry(source: PixelSize, target: PixelSize, options: DeepResizeOptions) -> ResizeGeometry {
        if options.uniformFirst {
            return ResizeGeometry(source: source, target: target, maxWorkingPixels: options.maxWorkingPixels,
                                  minimumWorkingSide: minimumInputSide)
        }
        // The reference: the operator does the whole change, on the source (scaled down to the limit).
        var working = source
        if let limit = options.maxWorkingPixels, source.area > limit {
            let f = (Double(limit) / Double(source.area)).squareRoot()
            working = PixelSize(width: max(1, Int(Double(source.width) * f)), height: max(1, Int(Double(source.height) * f)))
        }
        return ResizeGeometry(source: source, target: target, working: working)
    }

    /// The deep method on an 8-bit image, with its geometry: the image is first scaled uniformly
    /// (`ResizeGeometry`, Lanczos); when that already gives the target (the request keeps the aspect
    /// ratio) it is the answer and nothing is reconstructed, else `resize(rgb:…)` changes the rest of the
    /// aspect. An alpha channel follows the colour's geometry (the same seams and scale, or warp).
    public static func resize(_ image: RasterImage, width: Int, height: Int, options: DeepResizeOptions = DeepResizeOptions(),
                              network: VGGNetwork, context: RunContext = .detached) throws -> DeepResizeResult {
        guard image.channels == 3 || image.channels == 4 else {
            throw DeepResizeError("image has \(image.channels) channels, expected 3 (RGB) or 4 (RGBA)")
        }
        guard image.width >= 1, image.height >= 1, image.pixels.count == image.width * image.height * image.channels else {
            throw DeepResizeError("image pixel buffer holds \(image.pixels.count) bytes, expected \(image.width * image.height * image.channels)")
        }
        guard width >= 1, height >= 1 else { throw DeepResizeError("output \(width)x\(height) is empty") }
        let geometry = geometry(source: PixelSize(width: image.width, height: image.height),
                                target: PixelSize(width: width, height: height), options: options)
        if geometry.isUniform {
            return DeepResizeResult(image: Resampler.resize(image, width: width, height: height, threads: options.threads),
                                    geometry: geometry, report: nil, mask: nil, working: nil)
        }
        let working = geometry.working == geometry.source
            ? image : Resampler.resize(image, width: geometry.working.width, height: geometry.working.height, threads: options.threads)
        var alpha: Tensor?
        if working.channels == 4 {
            let plane = Tensor(channels: 1, height: working.height, width: working.width)
            for i in 0..<(working.width * working.height) { plane.data[i] = Float(working.pixels[i * 4 + 3]) }
            alpha = plane
        }
        let out = try resize(rgb: Tensor(rgbOf: working), alpha: alpha, width: width, height: height, options: options,
                             network: network, context: context)
        guard var rgb = out.image.rgbImage() else { throw DeepResizeError("empty output") }
        if let a = out.alpha {
            var pixels = [UInt8](repeating: 0, count: width * height * 4)
            for i in 0..<(width * height) {
                for c in 0..<3 { pixels[i * 4 + c] = rgb.pixels[i * 3 + c] }
                pixels[i * 4 + 3] = UInt8(min(max(a.data[i], 0), 255).rounded())
            }
            rgb = RasterImage(width: width, height: height, channels: 4, pixels: pixels)
        }
        var report = out.report
        report.sourceWidth = image.width
        report.sourceHeight = image.height
        return DeepResizeResult(image: rgb, geometry: geometry, report: report, mask: out.mask, working: working)
    }
}

/// What `DeepResizer.resize(_:…)` made of an 8-bit image.
public struct DeepResizeResult {
    public let image: RasterImage
    public let geometry: ResizeGeometry
    /// The reconstruction's report; nil when the uniform scale was the answer (the request kept the aspect
    /// ratio, so there was nothing content-aware to do and the optimiser did not run).
    public let report: DeepResizeReport?
    /// The relu5_1 mask of the working image; nil when nothing was reconstructed.
    public let mask: SemanticMask?
    /// The image the reconstruction started from (the source after the uniform scale).
    public let working: RasterImage?

    /// One line for logs and the CLI: what was done.
    public var summary: String {
        guard report != nil else {
            return "uniform scale \(geometry.source) → \(geometry.target): the aspect ratio is kept, nothing to reconstruct"
        }
        let scaled = geometry.working == geometry.source ? "" : "uniform scale \(geometry.source) → \(geometry.working), then "
        var line = scaled + "reconstructed \(geometry.working) → \(geometry.target)"
        if let report, report.seamsSubjectSpansAxis == true {
            line += "; the mask spans half or more of the narrowed axis: seams without it did all of that axis"
        }
        if let report, report.seamsSetMaskAside, let ratio = report.seamMaskCostRatio {
            line += "; the seams set the mask aside (avoiding it cost them \(Int(((ratio - 1) * 100).rounded())) % more)"
        }
        if let report, let w = report.seamedWidth, let h = report.seamedHeight {
            line += "; seams to \(PixelSize(width: w, height: h)) (more would tear edges), the protected scale the rest"
        }
        return line
    }
}

/// The loss curve of a run, written from the progress callback (which may run on any thread).
private final class TraceRecorder: Sendable {
    private let start: ContinuousClock.Instant
    private let state = Mutex<(evaluations: Int, points: [DeepResizeTracePoint])>((0, []))

    init(start: ContinuousClock.Instant) { self.start = start }

    func countEvaluation() { state.withLock { $0.evaluations += 1 } }

    func record(iteration: Int, loss: Double) {
        let d = ContinuousClock.now - start
        let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        state.withLock {
            $0.points.append(DeepResizeTracePoint(iteration: iteration, evaluations: $0.evaluations, loss: loss,
                                                  seconds: seconds))
        }
    }

    var points: [DeepResizeTracePoint] { state.withLock { $0.points } }
}

extension Architecture {
    /// The channels of `tap`: the output channels of the convolution its ReLU follows (0 when the stack has
    /// no such tap).
    func channels(of tap: Tap) -> Int {
        guard let relu = layerIndex(of: tap) else { return 0 }
        for layer in layers[..<relu].reversed() {
            if case let .conv(_, _, outChannels) = layer { return outChannels }
        }
        return 0
    }
}

/// What the seam operator's geometry decided, for the report (`LayeredSeamPlans`).
struct SeamOutcome {
    let maskCostRatio: Double?
    let subjectSpansAxis: Bool
    let seamed: PixelSize
}
