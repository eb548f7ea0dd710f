import Foundation
import ImageCodecs
import Synchronization
import Testing
@testable import Engine

/// The 163×121 LadyBird crop the network tests use.
private func ladybird() throws -> Tensor { try NetworkFixtures.ladybird() }

private func close(_ a: Double, _ b: Double, _ tolerance: Double) -> Bool { abs(a - b) <= tolerance * abs(b) }

@Suite("Deep: resizer (real weights)", .serialized)
struct DeepResizerTests {
    /// The PyTorch reference (bench/reference/deep_resize_ref.py, torch 2.15, 2 threads) on the same crop,
    /// by Tests/EngineTests/python/deep_reference_fixture.py: `loss_iter0` (initial) and
    /// `loss_end_clamped` (final, after `iterations` L-BFGS iterations and the clamp) with their
    /// evaluation counts. The photo's relu5_1 grid is 7×10: its mask is empty (mask_fraction 0 there too).
    /// The 200×140 enlargement is `linear`: the reference's `seam` falls back to linear on growing axes
    /// (same numbers, checked), while ours inserts seams there (DeepSeamInsertionTests).
    static let reference: [(w: Int, h: Int, op: FeatureOperator, iterations: Int, evaluations: Int,
                            initial: DeepLossTerms, final: DeepLossTerms)] = [
        (w: 100, h: 121, op: .seam, iterations: 5, evaluations: 8,
         initial: DeepLossTerms(total: 0.8967543840408325, reconstruction: 0.8695583343505859, perceptual: 0.2671003043651581, regularization: 0.0486026257276535),
         final: DeepLossTerms(total: 0.47699058055877686, reconstruction: 0.45402613282203674, perceptual: 0.21720699965953827, regularization: 0.12437444925308228)),
        (w: 120, h: 90, op: .seam, iterations: 5, evaluations: 8,
         initial: DeepLossTerms(total: 0.782813549041748, reconstruction: 0.7696389555931091, perceptual: 0.126287043094635, regularization: 0.05458517745137215),
         final: DeepLossTerms(total: 0.4488854706287384, reconstruction: 0.43200087547302246, perceptual: 0.1564660370349884, regularization: 0.12379781901836395)),
        (w: 100, h: 121, op: .linear, iterations: 5, evaluations: 8,
         initial: DeepLossTerms(total: 0.20471398532390594, reconstruction: 0.17751792073249817, perceptual: 0.2671003043651581, regularization: 0.0486026257276535),
         final: DeepLossTerms(total: 0.1279456913471222, reconstruction: 0.11941774189472198, perceptual: 0.07847626507282257, regularization: 0.06803233921527863)),
        (w: 200, h: 140, op: .linear, iterations: 3, evaluations: 6,
         initial: DeepLossTerms(total: 0.12657824158668518, reconstruction: 0.11836777627468109, perceptual: 0.07837586104869843, regularization: 0.03728809207677841),
         final: DeepLossTerms(total: 0.11377129703760147, reconstruction: 0.10695372521877289, perceptual: 0.06444200873374939, regularization: 0.03733731061220169)),
    ]

    @Test("initial L and its terms equal the PyTorch reference (1e-4); a few iterations track it")
    func matchesReference() throws {
        let network = try NetworkFixtures.network(deepestTap: .relu5_1)
        let input = try ladybird()
        for r in Self.reference {
            let out = try DeepResizer.resize(rgb: input, width: r.w, height: r.h,
                                             options: .reference(featureOperator: r.op, iterations: r.iterations),
                                             network: network)
            let rep = out.report
            let label = "\(r.op) \(r.w)x\(r.h)"
            #expect(close(rep.initial.total, r.initial.total, 1e-4), "\(label) L0 \(rep.initial.total) vs \(r.initial.total)")
            #expect(close(rep.initial.reconstruction, r.initial.reconstruction, 1e-4), "\(label) L_rec0 \(rep.initial.reconstruction) vs \(r.initial.reconstruction)")
            #expect(close(rep.initial.perceptual, r.initial.perceptual, 1e-4), "\(label) L_per0 \(rep.initial.perceptual) vs \(r.initial.perceptual)")
            #expect(close(rep.initial.regularization, r.initial.regularization, 1e-4), "\(label) L_reg0 \(rep.initial.regularization) vs \(r.initial.regularization)")
            #expect(rep.initial.smoothness == 0 && rep.final.smoothness == 0, "\(label): the reference's objective has no L_smooth")
            #expect(rep.iterations == r.iterations)
            #expect(rep.evaluations == r.evaluations, "\(label) evaluations")
            // Float rounding differs from torch's from the first step on: a few iterations stay within 1 %.
            #expect(close(rep.finalClamped.total, r.final.total, 1e-2), "\(label) L \(rep.finalClamped.total) vs \(r.final.total)")
            #expect(out.mask.fraction == 0)
            #expect(out.image.height == r.h && out.image.width == r.w)
        }
    }

    /// The LadyBird crop's features (to relu5_1), its seam targets for a 40 × 32 output, its colour
    /// statistics and the bilinear start at that size.
    private func smallObjectiveInputs() throws
        -> (VGGNetwork, [Tap: Tensor], [Tap: Tensor], [Double], [Double], [Float]) {
        let network = try NetworkFixtures.network(deepestTap: .relu5_1)
        let input = try ladybird()
        let extractor = try FeatureExtractor(network: network, height: 121, width: 163, deepestTap: .relu5_1)
        let features = try extractor.forward(image: input, to: .relu5_1).mapValues { $0.clone() }
        var rec: [Tap: Tensor] = [:]
        for tap in DeepObjective.reconstructionTaps { rec[tap] = features[tap]! }
        let targets = try FeatureResize.targets(for: rec, operator: .seam, mask: nil, outputHeight: 32, outputWidth: 40)
        let (mean, std) = DeepLoss.channelStatistics(input)
        return (network, features, targets, mean, std, FeatureResize.linear(input, height: 32, width: 40).toArray())
    }

    @Test("the objective's gradient with respect to R = central differences (real network)")
    func objectiveGradient() throws {
        // A small output so the test is quick; seam targets and all four terms on.
        let (network, features, targets, mean, std, x) = try smallObjectiveInputs()
        // L as a whole, then each term alone (through the network for L_rec and L_per).
        for weights in [DeepLossWeights(), DeepLossWeights(alpha: 1, beta: 0, gamma: 0),
                        DeepLossWeights(alpha: 0, beta: 1, gamma: 0), DeepLossWeights(alpha: 0, beta: 0, gamma: 1)] {
        let objective = try DeepObjective(network: network, height: 32, width: 40, targets: targets, inputFeatures: features,
                                          inputMean: mean, inputStd: std, weights: weights)
        var g = [Float](repeating: 0, count: x.count)
        _ = try x.withUnsafeBufferPointer { xp in try g.withUnsafeMutableBufferPointer { try objective.evaluate(xp, gradient: $0) } }
        // Random directions see mostly ReLU kinks and the TV's √(·+1e-8) corners at this step size (their
        // directional derivative is tiny); directions with a part along g measure it. A wrong gradient
        // (a missing factor, a wrong layer) still shows.
        let gMax = g.map { abs($0) }.max()!
        var state: UInt64 = 99
        for mix: Float in [0, 0.5, 1] {
            let v: [Float] = g.map { gi in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return gi / gMax + mix * (Float(Double(state >> 11) / Double(1 << 53)) * 2 - 1)
            }
            // The TV's √(dx² + dy² + 1e-8) bends within 1e-4 of flat spots (the photo has many): a smaller step there.
            let h: Float = weights.alpha == 0 && weights.beta == 0 ? 1e-5 : 1e-3
            let plus = zip(x, v).map { $0 + h * $1 }, minus = zip(x, v).map { $0 - h * $1 }
            let fp = try plus.withUnsafeBufferPointer { try objective.evaluate($0, gradient: nil).total }
            let fm = try minus.withUnsafeBufferPointer { try objective.evaluate($0, gradient: nil).total }
            var predicted = 0.0
            for i in x.indices { predicted += Double(g[i]) * (Double(plus[i]) - Double(minus[i])) }
            let err = abs((fp - fm) - predicted) / abs(fp - fm)
            #expect(err < 1e-2, "\(weights), random part \(mix): measured \(fp - fm), gradient \(predicted), relative error \(err)")
        }
        }
    }

    @Test("the terms at the point last evaluated are reused; at any other point they are evaluated")
    func termsAtPoint() throws {
        let (network, features, targets, mean, std, x) = try smallObjectiveInputs()
        // The objective on an extractor handed to it (the resizer's anchor pass runs on the same one).
        let shared = try FeatureExtractor(network: network, height: 32, width: 40, deepestTap: .relu4_1)
        let objective = try DeepObjective(extractor: shared, targets: targets, inputFeatures: features,
                                          inputMean: mean, inputStd: std)
        var y = x
        y[17] += 0.25
        var g = [Float](repeating: 0, count: x.count)
        let atX = try x.withUnsafeBufferPointer { xp in try g.withUnsafeMutableBufferPointer { try objective.evaluate(xp, gradient: $0) } }
        #expect(objective.timings.evaluations == 1)
        #expect(try x.withUnsafeBufferPointer { try objective.terms(at: $0) } == atX)
        #expect(objective.timings.evaluations == 1, "the same point again: no evaluation")
        // What it reuses (taken with a gradient) is what a forward pass alone gives.
        #expect(try x.withUnsafeBufferPointer { try objective.evaluate($0, gradient: nil) } == atX)
        let atY = try y.withUnsafeBufferPointer { try objective.terms(at: $0) }
        #expect(objective.timings.evaluations == 3, "one coordinate differs: evaluated")
        #expect(atY != atX)
        #expect(try y.withUnsafeBufferPointer { try objective.evaluate($0, gradient: nil) } == atY)
        // An objective needs the features to relu4_1, and backward passes.
        let shallow = try FeatureExtractor(network: network, height: 32, width: 40, deepestTap: .relu3_1)
        let forwardOnly = try FeatureExtractor(network: network, height: 32, width: 40, deepestTap: .relu4_1, backward: false)
        for unfit in [shallow, forwardOnly] {
            #expect(throws: FeatureResizeError.self) {
                _ = try DeepObjective(extractor: unfit, targets: targets, inputFeatures: features, inputMean: mean, inputStd: std)
            }
        }
        // The reference's options keep torch's first step; the method's default is the loss fraction.
        #expect(DeepResizeOptions.reference().firstStep == .torch)
        #expect(DeepResizeOptions().firstStep == .lossFraction(0.5, largestChange: 1))
    }

    @Test("an adopted forward pass stands in for the first evaluation's at exactly that point, and only there")
    func adoptedForward() throws {
        let (network, features, targets, mean, std, x) = try smallObjectiveInputs()
        func evaluations(adopting point: [Float]?) throws -> [(DeepLossTerms, [Float])] {
            let extractor = try FeatureExtractor(network: network, height: 32, width: 40, deepestTap: .relu4_1)
            let objective = try DeepObjective(extractor: extractor, targets: targets, inputFeatures: features,
                                              inputMean: mean, inputStd: std)
            if let point {
                let image = Tensor(channels: 3, height: 32, width: 40, values: point)
                objective.adoptLastForward(of: image, features: try extractor.forward(image: image, to: .relu4_1))
            }
            var out: [(DeepLossTerms, [Float])] = []
            for _ in 0..<2 {  // the second at the same point follows a backward: it must run its own pass
                var g = [Float](repeating: 0, count: x.count)
                let t = try x.withUnsafeBufferPointer { xp in try g.withUnsafeMutableBufferPointer { try objective.evaluate(xp, gradient: $0) } }
                out.append((t, g))
            }
            #expect(objective.timings.forwardPasses == (point == x ? 1 : 2), "adopting \(point == nil ? "nothing" : point == x ? "x" : "another point")")
            return out
        }
        let plain = try evaluations(adopting: nil)
        var elsewhere = x
        elsewhere[5] += 0.125
        for run in [try evaluations(adopting: x), try evaluations(adopting: elsewhere)] {
            for (a, b) in zip(run, plain) {
                #expect(a.0 == b.0)
                #expect(a.1 == b.1, "the gradient of an evaluation on an adopted pass differs")
            }
        }
    }

    @Test("progress every iteration, cancellation, output in [0,1], RGBA keeps a resized alpha")
    func progressCancelAndImage() throws {
        let network = try NetworkFixtures.network(deepestTap: .relu5_1)
        // A synthetic 64×48 RGBA image: a disc on a gradient, alpha a ramp.
        var pixels = [UInt8](repeating: 0, count: 64 * 48 * 4)
        for y in 0..<48 { for x in 0..<64 {
            let i = (y * 64 + x) * 4
            let inDisc = (x - 40) * (x - 40) + (y - 24) * (y - 24) < 120
            pixels[i] = inDisc ? 230 : UInt8(x * 3)
            pixels[i + 1] = inDisc ? 40 : UInt8(y * 4)
            pixels[i + 2] = UInt8((x + y) % 256)
            pixels[i + 3] = UInt8(x * 4)
        } }
        let image = RasterImage(width: 64, height: 48, channels: 4, pixels: pixels)
        let steps = Mutex<[StepProgress]>([])
        let context = RunContext(report: { p in steps.withLock { $0.append(p) } })
        // From the plain bilinear resize, so that every iteration has work to do (the pixel seams of this
        // smooth scene are a start the optimiser barely moves from).
        var options = DeepResizeOptions(iterations: 4)
        options.start = .bilinear
        let out = try DeepResizer.resize(image, width: 40, height: 48, options: options,
                                         network: network, context: context)
        #expect(out.image.width == 40 && out.image.height == 48 && out.image.channels == 4)
        let report = try #require(out.report)
        let seen = steps.withLock { $0 }
        #expect(seen.map(\.step) == Array(1...report.iterations))
        #expect(seen.allSatisfy { $0.total == 4 && $0.loss != nil })
        #expect(report.finalClamped.total < report.initial.total)
        // Alpha: a left-to-right ramp stays a ramp.
        let a0 = out.image.pixels[3], a1 = out.image.pixels[39 * 4 + 3]
        #expect(a0 < 20 && a1 > 230, "alpha \(a0) … \(a1)")

        let cancelAfterTwo = RunContext(report: { p in steps.withLock { $0.append(p) } },
                                        isCancelled: { steps.withLock { $0.count } >= seen.count + 2 })
        #expect(throws: OperationCancelled.self) {
            var long = options
            long.iterations = 50
            _ = try DeepResizer.resize(image, width: 40, height: 48, options: long,
                                       network: network, context: cancelAfterTwo)
        }
        #expect(steps.withLock { $0.count } == seen.count + 2)
    }

    @Test("the report's loss curve has one point per iteration; early stop reaches the optimiser and the report")
    func traceAndEarlyStop() throws {
        let network = try NetworkFixtures.network(deepestTap: .relu5_1)
        let input = try ladybird()
        let out = try DeepResizer.resize(rgb: input, width: 101, height: 75, options: DeepResizeOptions(iterations: 5),
                                         network: network)
        let trace = out.report.trace
        #expect(trace.map(\.iteration) == Array(1...5))
        #expect(zip(trace, trace.dropFirst()).allSatisfy { $0.loss >= $1.loss && $0.evaluations < $1.evaluations && $0.seconds <= $1.seconds })
        #expect(trace.last!.evaluations == out.report.evaluations)
        #expect(abs(trace.last!.loss - out.report.final.total) <= 1e-6 * out.report.final.total)
        #expect(out.report.evaluationTimes.evaluations == out.report.evaluations)
        #expect(out.report.evaluationTimes.forward > 0 && out.report.evaluationTimes.backward > 0)
        #expect(out.report.evaluationTimes.total <= out.report.optimizeSeconds)

        // A rule that any iteration meets (less than 100 % progress over one iteration) stops after the first:
        // progress 1 of 50, then done.
        let steps = Mutex<[StepProgress]>([])
        let stopped = try DeepResizer.resize(rgb: input, width: 101, height: 75,
                                             options: DeepResizeOptions(iterations: 50, earlyStop: LBFGSStall(window: 1, tolerance: 1)),
                                             network: network, context: RunContext(report: { p in steps.withLock { $0.append(p) } }))
        #expect(stopped.report.stop == "stalled" && stopped.report.iterations == 1)
        #expect(steps.withLock { $0.map(\.step) } == [1] && steps.withLock { $0[0].total } == 50)
    }

    @Test("R0 from the targets' own geometry starts far nearer the answer than the bilinear resize")
    func geometryStart() throws {
        let network = try NetworkFixtures.network(deepestTap: .relu5_1)
        let input = try ladybird()
        for (w, h) in [(100, 121), (163, 80), (220, 121)] {
            var bilinear = DeepResizeOptions(iterations: 1)
            bilinear.start = .bilinear
            bilinear.seamTearLimit = nil
            // The seams do the whole change (here they would stop early and leave most of it to the scale,
            // whose start is the bilinear resize's).
            var geometry = DeepResizeOptions(iterations: 1)
            geometry.seamTearLimit = nil
            let fromGeometry = try DeepResizer.resize(rgb: input, width: w, height: h, options: geometry, network: network).report
            let fromBilinear = try DeepResizer.resize(rgb: input, width: w, height: h, options: bilinear, network: network).report
            // Same targets, so the same objective: only the start differs.
            #expect(fromGeometry.initial.reconstruction < 0.5 * fromBilinear.initial.reconstruction,
                    "\(w)×\(h): L_rec0 \(fromGeometry.initial.reconstruction) vs bilinear \(fromBilinear.initial.reconstruction)")
            #expect(fromGeometry.initial.total < fromBilinear.initial.total)
        }
    }

    @Test("the report says where the seams stopped and the scale took over; with no limit they do it all")
    func seamedSize() throws {
        let network = try NetworkFixtures.network(deepestTap: .relu5_1)
        let input = try ladybird()
        let stopped = try DeepResizer.resize(rgb: input, width: 100, height: 121, options: DeepResizeOptions(iterations: 1),
                                             network: network).report
        let seamed = try #require(stopped.seamedWidth)
        #expect(seamed > 100 && seamed <= input.width && stopped.seamedHeight == 121)
        var all = DeepResizeOptions(iterations: 1)
        all.seamTearLimit = nil
        let carved = try DeepResizer.resize(rgb: input, width: 100, height: 121, options: all, network: network).report
        #expect(carved.seamedWidth == nil && carved.seamedHeight == nil)
    }

    @Test("an image request that keeps the aspect ratio is the uniform scale; otherwise only the other axis is reconstructed")
    func geometry() throws {
        let network = try NetworkFixtures.network(deepestTap: .relu5_1)
        var pixels = [UInt8](repeating: 0, count: 128 * 96 * 3)
        for i in pixels.indices { pixels[i] = UInt8((i * 37 + i / 384 * 11) % 256) }
        let image = RasterImage(width: 128, height: 96, channels: 3, pixels: pixels)
        let same = try DeepResizer.resize(image, width: 64, height: 48, options: DeepResizeOptions(iterations: 2), network: network)
        #expect(same.report == nil && same.mask == nil && same.geometry.isUniform)
        #expect(same.image == Resampler.resize(image, width: 64, height: 48))
        let other = try DeepResizer.resize(image, width: 48, height: 32, options: DeepResizeOptions(iterations: 2), network: network)
        let report = try #require(other.report)
        // 128×96 → 48×32: scaled to 48×36 (the width fits), then only the height is content-aware.
        #expect(report.inputWidth == 48 && report.inputHeight == 36 && report.sourceWidth == 128 && report.sourceHeight == 96)
        #expect(other.image.width == 48 && other.image.height == 32)
        // The reference's geometry hands the whole change to the operator.
        let whole = try DeepResizer.resize(image, width: 48, height: 32, options: .reference(iterations: 1), network: network)
        #expect(whole.report?.inputWidth == 128 && whole.report?.inputHeight == 96)
    }

    @Test("too small images and bad settings are errors")
    func errors() throws {
        let network = try NetworkFixtures.network(deepestTap: .relu5_1)
        let small = Tensor(channels: 3, height: 15, width: 40)
        #expect(throws: DeepResizeError.self) { _ = try DeepResizer.resize(rgb: small, width: 20, height: 20, network: network) }
        let ok = Tensor(channels: 3, height: 32, width: 32)
        #expect(throws: DeepResizeError.self) { _ = try DeepResizer.resize(rgb: ok, width: 7, height: 20, network: network) }
        #expect(throws: DeepResizeError.self) {
            _ = try DeepResizer.resize(rgb: ok, width: 16, height: 16, options: DeepResizeOptions(iterations: 0), network: network)
        }
    }
}

@Suite("Deep: resizer memory estimate")
struct DeepResizerMemoryTests {
    @Test("peak estimate grows with the input and is dominated by the input-sized setup for large inputs")
    func estimate() {
        let small = DeepResizer.estimatedPeakBytes(inputWidth: 640, inputHeight: 480, outputWidth: 400, outputHeight: 300)
        let large = DeepResizer.estimatedPeakBytes(inputWidth: 1920, inputHeight: 1080, outputWidth: 400, outputHeight: 300)
        // relu1_1 alone at 1920×1080 is 64 × 1920 × 1080 × 4 B ≈ 531 MB, and the extractor keeps several such.
        #expect(large > 1_000_000_000)
        #expect(small > 100_000_000 && small < large / 4)
    }
}
