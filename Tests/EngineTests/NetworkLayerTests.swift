import CKernels
import Testing
import TestSupport
@testable import Engine

/// Each layer's forward against a plain reference and its backward against central finite differences,
/// on small random tensors (odd sizes, channel counts that are not multiples of the kernel's block of 8).
@Suite struct NetworkLayerTests {
    /// A padded activation in its own buffer, filled from CHW values.
    struct Activation {
        let buffer: Workbuffer
        let view: PaddedView
        init(_ c: Int, _ h: Int, _ w: Int, values: [Float]? = nil) {
            let g = PaddedGeometry(channels: c, height: h, width: w)
            buffer = Workbuffer(capacity: g.count)
            view = PaddedView(g, in: buffer)
            if let values { view.copyInterior(from: Tensor(channels: c, height: h, width: w, values: values)) }
        }

        var values: [Float] {
            let g = view.geometry
            let t = Tensor(channels: g.channels, height: g.height, width: g.width)
            view.copyInterior(to: t)
            return t.toArray()
        }
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Double {
        zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// Central differences of f at x, one element at a time (`elements`, default all); relative error of
    /// `analytic` against them.
    static func finiteDifferenceError(_ x: [Float], analytic: [Float], eps: Double, elements: [Int]? = nil,
                                      _ f: ([Float]) -> Double) -> Double {
        var num = 0.0, den = 0.0
        var y = x
        for i in elements ?? Array(0..<x.count) {
            // The step as float32 actually represents it.
            y[i] = Float(Double(x[i]) + eps)
            let hi = Double(y[i])
            let up = f(y)
            y[i] = Float(Double(x[i]) - eps)
            let lo = Double(y[i])
            let down = f(y)
            y[i] = x[i]
            let fd = (up - down) / (hi - lo)
            num += (fd - Double(analytic[i])) * (fd - Double(analytic[i]))
            den += fd * fd
        }
        return (num / max(den, 1e-300)).squareRoot()
    }

    /// Direct 3×3 convolution with zero padding, in Double.
    static func referenceConv(_ x: [Float], c: Int, h: Int, w: Int, weights: [Float], bias: [Float], o: Int) -> [Double] {
        var y = [Double](repeating: 0, count: o * h * w)
        for oc in 0..<o {
            for yy in 0..<h {
                for xx in 0..<w {
                    var s = Double(bias[oc])
                    for ic in 0..<c {
                        for ky in 0..<3 {
                            for kx in 0..<3 {
                                let sy = yy + ky - 1, sx = xx + kx - 1
                                guard sy >= 0, sy < h, sx >= 0, sx < w else { continue }
                                s += Double(weights[((oc * c + ic) * 3 + ky) * 3 + kx]) * Double(x[(ic * h + sy) * w + sx])
                            }
                        }
                    }
                    y[(oc * h + yy) * w + xx] = s
                }
            }
        }
        return y
    }

    static let algorithms = ConvolutionCase.allCases.filter(\.isSupported)

    /// A convolution with scratch for c→o and o→c at h×w.
    func convolution(_ algorithm: ConvolutionCase, _ c: Int, _ o: Int, _ h: Int, _ w: Int) -> Convolution {
        Convolution(threads: 2, shapes: [ConvolutionShape(algorithm: algorithm.algorithm(inChannels: c, outChannels: o),
                                                          inChannels: c, outChannels: o, height: h, width: w),
                                         ConvolutionShape(algorithm: algorithm.algorithm(inChannels: o, outChannels: c),
                                                          inChannels: o, outChannels: c, height: h, width: w)])
    }

    @Test(arguments: algorithms)
    func convolutionForwardMatchesDirectSum(algorithm: ConvolutionCase) {
        var rng = SeededRandom(seed: 1)
        // A width over one kernel step (48) and rows that wrap inside a step; odd and even sizes; ≥ 16
        // input channels (Winograd) and fewer (direct); output counts that are not multiples of 8; heights
        // and widths of every remainder modulo the Winograd tiles (2, 4), down to one row or column.
        for (c, o, h, w) in [(5, 11, 7, 9), (3, 16, 5, 61), (17, 3, 4, 3), (20, 11, 7, 9), (16, 24, 6, 61), (33, 9, 1, 35),
                             (16, 8, 2, 1), (24, 17, 13, 70), (18, 9, 3, 2), (64, 3, 9, 17)] {
            let x = rng.floats(c * h * w), wts = rng.floats(o * c * 9), b = rng.floats(o)
            let weights = ConvolutionWeights.make(wts, bias: b, inChannels: c, outChannels: o, algorithm: algorithm)
            let input = Activation(c, h, w, values: x), output = Activation(o, h, w)
            convolution(algorithm, c, o, h, w).run(input: input.view, output: output.view, weights: weights.forward,
                                                   epilogue: ConvEpilogue(bias: weights.bias))
            let ref = Self.referenceConv(x, c: c, h: h, w: w, weights: wts, bias: b, o: o)
            let got = output.values
            let err = Self.relativeError(got, ref)
            #expect(err < algorithm.tolerance(inChannels: c, outChannels: o), "\(algorithm) \(c)→\(o) \(h)x\(w): relative error \(err)")
            // The backward-to-input convolution o→c: the forward one with flipped, transposed weights.
            let g = rng.floats(o * h * w)
            var flipped = [Float](repeating: 0, count: o * c * 9)
            for oc in 0..<o { for ic in 0..<c { for k in 0..<9 { flipped[(ic * o + oc) * 9 + k] = wts[(oc * c + ic) * 9 + 8 - k] } } }
            let gradient = Activation(o, h, w, values: g), dx = Activation(c, h, w)
            convolution(algorithm, c, o, h, w).run(input: gradient.view, output: dx.view, weights: weights.backward, epilogue: ConvEpilogue())
            let refBack = Self.referenceConv(g, c: o, h: h, w: w, weights: flipped, bias: [Float](repeating: 0, count: c), o: c)
            let errBack = Self.relativeError(dx.values, refBack)
            #expect(errBack < algorithm.tolerance(inChannels: o, outChannels: c), "\(algorithm) backward \(o)→\(c) \(h)x\(w): relative error \(errBack)")
        }
    }

    /// Zero-sized and tiny layers: nothing is computed or written for an empty height or width, and the
    /// planning and scratch sizing accept them (no division by zero).
    @Test(arguments: algorithms)
    func convolutionOfEmptyAndTinyLayers(algorithm: ConvolutionCase) {
        for (h, w) in [(0, 5), (5, 0), (0, 0), (1, 1)] {
            let (c, o) = (16, 8)
            let weights = ConvolutionWeights.make([Float](repeating: 0.5, count: o * c * 9), bias: [Float](repeating: 1, count: o),
                                                  inChannels: c, outChannels: o, algorithm: algorithm)
            let input = Activation(c, h, w, values: [Float](repeating: 1, count: c * h * w)), output = Activation(o, h, w)
            convolution(algorithm, c, o, h, w).run(input: input.view, output: output.view, weights: weights.forward,
                                                   epilogue: ConvEpilogue(bias: weights.bias))
            let expected: Float = 9, allowed = Float(9 * algorithm.tolerance(inChannels: c, outChannels: o))
            #expect(output.values.allSatisfy { abs($0 - expected) <= allowed }, "\(algorithm) \(h)x\(w)")
        }
        var rows: Int32 = 0, blocks: Int32 = 0
        for (c, o, h, w) in [(0, 8, 4, 4), (16, 0, 4, 4), (16, 8, 0, 4), (16, 8, 4, 0)] {
            ck_wino_plan(4, 1, Int32(c), Int32(o), Int32(h), Int32(w), 2, &rows, &blocks)
            #expect(rows >= 1 && blocks >= 1)
            #expect(ck_wino_scratch_bytes(4, 1, Int32(c), Int32(o), Int32(w), rows, blocks) > 0)
        }
    }

    /// ‖a − b‖ / ‖b‖ in Double.
    static func relativeError(_ a: [Float], _ b: [Double]) -> Double {
        var num = 0.0, den = 0.0
        for (x, y) in zip(a, b) {
            num += (Double(x) - y) * (Double(x) - y)
            den += y * y
        }
        return (num / max(den, 1e-300)).squareRoot()
    }

    /// Conv + bias + ReLU, the engine's fused layer: backward (ReLU' then the flipped convolution) against
    /// finite differences of L(x) = Σ r · relu(conv(x) + b).
    /// (fp32 products only: with bf16 products the backward is the same code, checked against the exact
    /// flipped convolution above, and its rounding would swamp the differences.)
    @Test(arguments: algorithms.filter { $0.tolerance(inChannels: 16, outChannels: 16) < 1e-4 })
    func convolutionReLUBackwardMatchesFiniteDifferences(algorithm: ConvolutionCase) {
        var rng = SeededRandom(seed: 2)
        let (c, o, h, w) = (17, 19, 7, 9)  // ≥ 16 channels both ways: Winograd forward and backward
        let x = rng.floats(c * h * w), wts = rng.floats(o * c * 9, in: -0.2...0.2), b = rng.floats(o, in: -0.2...0.2)
        let r = rng.floats(o * h * w)
        let weights = ConvolutionWeights.make(wts, bias: b, inChannels: c, outChannels: o, algorithm: algorithm)
        let conv = convolution(algorithm, c, o, h, w)
        let forwardOut = Activation(o, h, w)
        func loss(_ x: [Float]) -> Double {
            let input = Activation(c, h, w, values: x)
            conv.run(input: input.view, output: forwardOut.view, weights: weights.forward,
                     epilogue: ConvEpilogue(bias: weights.bias, relu: true))
            return Self.dot(forwardOut.values, r)
        }
        _ = loss(x)
        forwardOut.view.zeroBorder()
        // d/d pre-activation = r · relu'(pre): the engine's masked copy against the ReLU output.
        let grad = Activation(o, h, w, values: [Float](repeating: 5, count: o * h * w))
        Elementwise.maskedCopy(Tensor(channels: o, height: h, width: w, values: r), ref: forwardOut.view, into: grad.view)
        let dx = Activation(c, h, w)
        conv.run(input: grad.view, output: dx.view, weights: weights.backward, epilogue: ConvEpilogue())
        // Finite differences of the same loss computed in Double (no float32 noise in the differences).
        func exactLoss(_ x: [Float]) -> Double {
            let pre = Self.referenceConv(x, c: c, h: h, w: w, weights: wts, bias: b, o: o)
            return zip(pre, r).reduce(0.0) { $0 + max($1.0, 0) * Double($1.1) }
        }
        // A small step keeps ReLU kinks out of the differences.
        // 150 elements, corners and borders included (the padding paths).
        let elements = Array(Set([0, w - 1, (h - 1) * w, c * h * w - 1] + (0..<146).map { _ in Int.random(in: 0..<x.count, using: &rng) }))
        let err = Self.finiteDifferenceError(x, analytic: dx.values, eps: 1e-5, elements: elements, exactLoss)
        #expect(err < 1e-2, "\(algorithm): relative error \(err)")
    }

    /// The fused backward epilogue: (flipped conv + injected gradient) masked by the ReLU below.
    @Test(arguments: algorithms)
    func fusedAddendAndMaskEqualSeparateSteps(algorithm: ConvolutionCase) {
        var rng = SeededRandom(seed: 3)
        let (c, o, h, w) = (9, 18, 5, 13)
        let wts = rng.floats(o * c * 9), b = [Float](repeating: 0, count: o)
        let weights = ConvolutionWeights.make(wts, bias: b, inChannels: c, outChannels: o, algorithm: algorithm)
        let conv = convolution(algorithm, c, o, h, w)
        let grad = Activation(o, h, w, values: rng.floats(o * h * w))
        let injected = rng.floats(c * h * w)
        let addend = Activation(c, h, w, values: injected)
        let ref = Activation(c, h, w, values: rng.floats(c * h * w).map { max($0, 0) })
        let fused = Activation(c, h, w), plain = Activation(c, h, w), fusedPlain = Activation(c, h, w)
        let copy = Tensor(channels: c, height: h, width: w)
        conv.run(input: grad.view, output: fused.view, weights: weights.backward,
                 epilogue: ConvEpilogue(addend: addend.view, maskRef: ref.view))
        // The same addend as a plain tensor, and the result copied out as the tap copies are.
        conv.run(input: grad.view, output: fusedPlain.view, weights: weights.backward,
                 epilogue: ConvEpilogue(addendPlain: Tensor(channels: c, height: h, width: w, values: injected), maskRef: ref.view,
                                        copy: copy))
        conv.run(input: grad.view, output: plain.view, weights: weights.backward, epilogue: ConvEpilogue())
        let refValues = ref.values
        let expected = zip(zip(plain.values, injected), refValues).map { $0.1 > 0 ? $0.0.0 + $0.0.1 : 0 }
        let err = zip(fused.values, expected).map { abs($0 - $1) }.max()!
        #expect(err < 1e-5)
        #expect(fusedPlain.values == fused.values)
        #expect(copy.toArray() == fused.values)
        #expect(refValues.contains(0) && refValues.contains { $0 > 0 })
    }

    /// The tap copy a convolution's epilogue writes (the direct kernel stores it as it goes, by padded row):
    /// equal to the output's interior at every width, down to rows shorter than one vector.
    @Test(arguments: algorithms)
    func tapCopyEqualsOutput(algorithm: ConvolutionCase) {
        var rng = SeededRandom(seed: 7)
        for (c, o, h, w) in [(3, 11, 5, 1), (3, 9, 4, 2), (3, 8, 3, 7), (3, 16, 6, 14), (3, 8, 7, 15), (3, 8, 2, 17), (17, 8, 5, 61)] {
            let weights = ConvolutionWeights.make(rng.floats(o * c * 9), bias: rng.floats(o), inChannels: c, outChannels: o, algorithm: algorithm)
            let input = Activation(c, h, w, values: rng.floats(c * h * w)), output = Activation(o, h, w)
            let copy = Tensor(channels: o, height: h, width: w, values: [Float](repeating: 9, count: o * h * w))
            convolution(algorithm, c, o, h, w).run(input: input.view, output: output.view, weights: weights.forward,
                                                   epilogue: ConvEpilogue(bias: weights.bias, relu: true, copy: copy))
            #expect(copy.toArray() == output.values, "\(algorithm) \(c)→\(o) \(h)x\(w)")
        }
    }

    /// A Winograd convolution zeroes the pad columns of the rows it writes, so its caller only zeroes the
    /// rows above and below (zeroEdgeRows): into a buffer full of another shape's values, the whole border
    /// comes out zero and the interior is the convolution's.
    @Test(arguments: algorithms.filter { if case .winograd = $0.algorithm(inChannels: 16, outChannels: 16) { true } else { false } })
    func winogradOutputLeavesOnlyEdgeRowsToZero(algorithm: ConvolutionCase) {
        var rng = SeededRandom(seed: 8)
        for (c, o, h, w) in [(16, 11, 7, 9), (17, 9, 13, 70), (16, 8, 1, 5), (16, 8, 3, 2)] {
            let weights = ConvolutionWeights.make(rng.floats(o * c * 9), bias: rng.floats(o), inChannels: c, outChannels: o, algorithm: algorithm)
            let input = Activation(c, h, w, values: rng.floats(c * h * w)), clean = Activation(o, h, w), dirty = Activation(o, h, w)
            let g = dirty.view.geometry
            dirty.buffer.base.update(repeating: 7, count: g.count)
            let conv = convolution(algorithm, c, o, h, w)
            conv.run(input: input.view, output: clean.view, weights: weights.forward, epilogue: ConvEpilogue(bias: weights.bias, relu: true))
            conv.run(input: input.view, output: dirty.view, weights: weights.forward, epilogue: ConvEpilogue(bias: weights.bias, relu: true))
            dirty.view.zeroEdgeRows()
            #expect(dirty.values == clean.values, "\(algorithm) \(h)x\(w): interior")
            var border: [Float] = []
            for ch in 0..<o {
                let plane = dirty.buffer.base + ch * g.stride
                for i in 0..<g.stride {
                    let p = i - Int(CK_GUARD), y = p / g.wp, x = p % g.wp
                    let interior = p >= 0 && y >= 1 && y <= h && x >= 1 && x <= w
                    if !interior { border.append(plane[i]) }
                }
            }
            #expect(border.allSatisfy { $0 == 0 }, "\(algorithm) \(h)x\(w): border")
        }
    }

    /// A max-pool fused into the Winograd convolution before it (the forward stores only the pooled values
    /// and each window's code): the same pooled values as the convolution followed by the separate pool, and
    /// the code-driven backward the same gradient as the one that reads the full-size output. Odd and even
    /// sizes (a last row or column outside every window), a band split over two threads, a channel of ties
    /// (zero weights: every output equals the bias) and a dead one (every output 0 after the ReLU).
    @Test(arguments: algorithms.filter { if case .winograd = $0.algorithm(inChannels: 16, outChannels: 16) { true } else { false } })
    func fusedMaxPoolEqualsSeparatePool(algorithm: ConvolutionCase) {
        var rng = SeededRandom(seed: 5)
        for (c, o, h, w) in [(16, 11, 7, 9), (17, 9, 13, 70), (16, 8, 8, 33), (16, 8, 1, 5), (16, 8, 3, 2), (20, 16, 38, 41)] {
            var wts = rng.floats(o * c * 9), b = rng.floats(o)
            for i in 0..<(c * 9) { wts[i] = 0 }  // output 0: the bias everywhere (ties)
            b[0] = 0.5
            b[1] = -1000  // output 1: dead
            let weights = ConvolutionWeights.make(wts, bias: b, inChannels: c, outChannels: o, algorithm: algorithm)
            let conv = convolution(algorithm, c, o, h, w)
            let input = Activation(c, h, w, values: rng.floats(c * h * w))
            let (ph, pw) = (h / 2, w / 2)
            let full = Activation(o, h, w), separate = Activation(o, ph, pw)
            conv.run(input: input.view, output: full.view, weights: weights.forward, epilogue: ConvEpilogue(bias: weights.bias, relu: true))
            Elementwise.maxPool(full.view, into: separate.view)
            let untouched = Activation(o, h, w, values: [Float](repeating: 7, count: o * h * w)), fused = Activation(o, ph, pw)
            let codes = PoolCodes(count: o * ph * pw)
            conv.run(input: input.view, output: untouched.view, weights: weights.forward,
                     epilogue: ConvEpilogue(bias: weights.bias, relu: true, pool: fused.view, poolCodes: codes))
            #expect(fused.values == separate.values, "\(algorithm) \(c)→\(o) \(h)x\(w): pooled values")
            #expect(untouched.values.allSatisfy { $0 == 7 }, "\(algorithm) \(h)x\(w): the full-size output is not stored")
            if ph > 0 && pw > 0 {
                #expect(codes.base[0] == 0, "ties go to the first position")
                #expect((0..<(ph * pw)).allSatisfy { codes.base[ph * pw + $0] == UInt8(CK_POOL_NONE) }, "a dead channel passes nothing")
            }
            let grad = Activation(o, ph, pw, values: rng.floats(o * ph * pw))
            let routed = Activation(o, h, w), unpooled = Activation(o, h, w, values: [Float](repeating: 3, count: o * h * w))
            Elementwise.maxPoolBackward(grad.view, ref: full.view, addend: nil, into: routed.view)
            Elementwise.unpool(grad.view, codes: codes, into: unpooled.view, threads: 2)
            #expect(unpooled.values == routed.values, "\(algorithm) \(c)→\(o) \(h)x\(w): backward")
        }
    }

    /// The backward convolution below a fused pool, reading the pooled gradient and the codes directly
    /// (F(4×4) only): the same result as unpooling into a buffer and convolving that, up to the rounding of
    /// the edge tiles (past the right edge the stored planes hold the next row's values, which cancel in
    /// exact arithmetic; the unpooled input has zeros there), and the exact convolution's accuracy.
    @Test(arguments: algorithms.filter { $0 == .winograd4 || $0 == .winograd4bf16 })
    func unpooledInputEqualsStoredUnpool(algorithm: ConvolutionCase) {
        var rng = SeededRandom(seed: 6)
        for (c, o, h, w) in [(16, 11, 7, 9), (17, 9, 13, 70), (16, 8, 8, 33), (16, 8, 1, 5), (16, 8, 3, 2), (24, 16, 38, 141)] {
            let (ph, pw) = (h / 2, w / 2)
            // Codes of every kind, dead windows included, and the pooled gradient they route.
            let codes = PoolCodes(count: c * ph * pw)
            for i in 0..<codes.count { codes.base[i] = UInt8(Int.random(in: 0...Int(CK_POOL_NONE), using: &rng)) }
            let grad = Activation(c, ph, pw, values: rng.floats(c * ph * pw))
            let stored = Activation(c, h, w)
            Elementwise.unpool(grad.view, codes: codes, into: stored.view)
            let wts = rng.floats(c * o * 9)
            // The backward convolution c → o of a forward o → c.
            let weights = ConvolutionWeights.make(wts, bias: [Float](repeating: 0, count: c), inChannels: o, outChannels: c, algorithm: algorithm)
            let conv = convolution(algorithm, o, c, h, w)
            let mask = Activation(o, h, w, values: rng.floats(o * h * w).map { max($0, 0) })
            let addend = rng.floats(o * h * w)
            let epilogue = ConvEpilogue(addendPlain: Tensor(channels: o, height: h, width: w, values: addend), maskRef: mask.view)
            let viaBuffer = Activation(o, h, w), direct = Activation(o, h, w)
            conv.run(input: stored.view, output: viaBuffer.view, weights: weights.backward, epilogue: epilogue)
            conv.runUnpooled(grad: grad.view, codes: codes, inputGeometry: stored.view.geometry, output: direct.view,
                             weights: weights.backward, epilogue: epilogue)
            var flipped = [Float](repeating: 0, count: o * c * 9)
            for oc in 0..<c { for ic in 0..<o { for k in 0..<9 { flipped[(ic * c + oc) * 9 + k] = wts[(oc * o + ic) * 9 + 8 - k] } } }
            let conv0 = Self.referenceConv(stored.values, c: c, h: h, w: w, weights: flipped, bias: [Float](repeating: 0, count: o), o: o)
            let maskValues = mask.values
            let exact = (0..<(o * h * w)).map { maskValues[$0] > 0 ? conv0[$0] + Double(addend[$0]) : 0 }
            let agreement = Self.relativeError(direct.values, viaBuffer.values.map(Double.init))
            let bound = algorithm == .winograd4 ? 1e-6 : 1e-2
            #expect(agreement < bound, "\(algorithm) \(c)→\(o) \(h)x\(w): against the stored unpool \(agreement)")
            let err = Self.relativeError(direct.values, exact)
            #expect(err < algorithm.tolerance(inChannels: c, outChannels: o), "\(algorithm) \(h)x\(w): against the exact sum \(err)")
        }
    }

    /// Max-pooling with floor sizes; backward (with an injected gradient at the pooled ReLU) against
    /// finite differences of L(x) = Σ r · pool(x) + Σ a · x for x > 0.
    @Test func maxPoolForwardAndBackward() {
        var rng = SeededRandom(seed: 4)
        let (c, h, w) = (3, 7, 9)
        // Distinct positive values (no ties, no ReLU kinks within eps) plus some zeros.
        var x = (0..<(c * h * w)).map { Float($0 % 61) * 0.0137 + 0.05 }
        x.shuffle(using: &rng)
        for i in stride(from: 0, to: x.count, by: 11) { x[i] = 0 }
        let (ph, pw) = (h / 2, w / 2)
        let r = rng.floats(c * ph * pw), a = rng.floats(c * h * w)
        let input = Activation(c, h, w, values: x), pooled = Activation(c, ph, pw)
        Elementwise.maxPool(input.view, into: pooled.view)
        let p = pooled.values
        for ch in 0..<c {
            for y in 0..<ph {
                for xx in 0..<pw {
                    let m = [x[(ch * h + 2 * y) * w + 2 * xx], x[(ch * h + 2 * y) * w + 2 * xx + 1],
                             x[(ch * h + 2 * y + 1) * w + 2 * xx], x[(ch * h + 2 * y + 1) * w + 2 * xx + 1]].max()!
                    #expect(p[(ch * ph + y) * pw + xx] == m)
                }
            }
        }
        let grad = Activation(c, ph, pw, values: r), dx = Activation(c, h, w)
        Elementwise.maxPoolBackward(grad.view, ref: input.view, addend: Tensor(channels: c, height: h, width: w, values: a),
                                    into: dx.view)
        // The loss as the engine sees it: x is a ReLU output, so the derivative is 0 where x = 0.
        let positive = x.map { $0 > 0 }
        func loss(_ y: [Float]) -> Double {
            let v = Activation(c, h, w, values: zip(y, positive).map { $1 ? $0 : 0 })
            let out = Activation(c, ph, pw)
            Elementwise.maxPool(v.view, into: out.view)
            return Self.dot(out.values, r) + zip(zip(y, a), positive).reduce(0.0) { $0 + ($1.1 ? Double($1.0.0 * $1.0.1) : 0) }
        }
        let err = Self.finiteDifferenceError(x, analytic: dx.values, eps: 1e-3, loss)
        #expect(err < 1e-2, "relative error \(err)")
    }

    /// Ties go to the first maximum in row-major order (PyTorch's rule); a window whose maximum is 0 (a
    /// dead ReLU) passes nothing; an odd last row and column get only the injected gradient.
    @Test func maxPoolBackwardTiesAndOddEdges() {
        let x: [Float] = [2, 2, 5,
                          2, 1, 0,
                          3, 4, 6]
        let input = Activation(1, 3, 3, values: x), grad = Activation(1, 1, 1, values: [10])
        let dx = Activation(1, 3, 3)
        Elementwise.maxPoolBackward(grad.view, ref: input.view, addend: Tensor(channels: 1, height: 3, width: 3, values: [Float](repeating: 1, count: 9)),
                                    into: dx.view)
        #expect(dx.values == [11, 1, 1,
                              1, 1, 0,
                              1, 1, 1])
        let dead = Activation(1, 2, 2, values: [0, 0, 0, 0]), out = Activation(1, 2, 2)
        Elementwise.maxPoolBackward(grad.view, ref: dead.view, addend: nil, into: out.view)
        #expect(out.values == [0, 0, 0, 0])
    }

    /// The vectorised backward (16 columns at a time) against the rule written out: many ties (values 0…3),
    /// dead windows, widths with a vector part, a scalar rest and an odd last column, with and without addend.
    @Test(arguments: [(2, 7, 37), (1, 6, 32), (3, 5, 50), (1, 4, 17)])
    func maxPoolBackwardVectorMatchesRule(c: Int, h: Int, w: Int) {
        var rng = SeededRandom(seed: UInt64(c * 1000 + h * 100 + w))
        let x = (0..<(c * h * w)).map { _ in Float(Int.random(in: 0...3, using: &rng)) }
        let (ph, pw) = (h / 2, w / 2)
        let r = rng.floats(c * ph * pw), a = rng.floats(c * h * w)
        for withAddend in [false, true] {
            var expected = [Float](repeating: 0, count: c * h * w)
            for ch in 0..<c {
                for y in 0..<h { for xx in 0..<w {
                    let i = (ch * h + y) * w + xx
                    expected[i] = withAddend && x[i] > 0 ? a[i] : 0
                } }
                for y in 0..<ph { for xx in 0..<pw {
                    let idx = [(2 * y, 2 * xx), (2 * y, 2 * xx + 1), (2 * y + 1, 2 * xx), (2 * y + 1, 2 * xx + 1)]
                        .map { (ch * h + $0.0) * w + $0.1 }
                    let m = idx.map { x[$0] }.max()!
                    let first = idx.first { x[$0] == m }!
                    if x[first] > 0 { expected[first] += r[(ch * ph + y) * pw + xx] }
                } }
            }
            let input = Activation(c, h, w, values: x), grad = Activation(c, ph, pw, values: r), dx = Activation(c, h, w)
            // The forward (vectorised 16 windows at a time as well) against the rule.
            let pooled = Activation(c, ph, pw)
            Elementwise.maxPool(input.view, into: pooled.view, threads: 2)
            var maxima = [Float](repeating: 0, count: c * ph * pw)
            for ch in 0..<c { for y in 0..<ph { for xx in 0..<pw {
                maxima[(ch * ph + y) * pw + xx] = [(2 * y, 2 * xx), (2 * y, 2 * xx + 1), (2 * y + 1, 2 * xx), (2 * y + 1, 2 * xx + 1)]
                    .map { x[(ch * h + $0.0) * w + $0.1] }.max()!
            } } }
            #expect(pooled.values == maxima, "forward \(c)x\(h)x\(w)")
            Elementwise.maxPoolBackward(grad.view, ref: input.view,
                                        addend: withAddend ? Tensor(channels: c, height: h, width: w, values: a) : nil,
                                        into: dx.view, threads: 2)
            #expect(dx.values == expected, "\(c)x\(h)x\(w) addend \(withAddend)")
        }
    }

    /// RGB [0,1] → the network's input (Caffe BGR ×255 − mean, torchvision's (x − mean)/std): forward values
    /// and backward against finite differences.
    @Test(arguments: Preprocessing.allCases)
    func preprocessingForwardAndBackward(_ preprocessing: Preprocessing) {
        var rng = SeededRandom(seed: 5)
        let (h, w) = (4, 5)
        let x = rng.floats(3 * h * w, in: 0...1), r = rng.floats(3 * h * w)
        let image = Tensor(channels: 3, height: h, width: w, values: x)
        let out = Activation(3, h, w)
        Elementwise.preprocess(rgb: image, preprocessing, into: out.view)
        let v = out.values
        switch preprocessing {
        case .caffeBGR:
            #expect(abs(v[0] - (x[2 * h * w] * 255 - 103.939)) < 1e-4)  // B from R's plane index 2
            #expect(abs(v[2 * h * w + 3] - (x[3] * 255 - 123.68)) < 1e-4)
        case .torchRGB:
            #expect(abs(v[0] - (x[0] - 0.485) / 0.229) < 1e-4)
            #expect(abs(v[2 * h * w + 3] - (x[2 * h * w + 3] - 0.406) / 0.225) < 1e-4)
        }
        let grad = Activation(3, h, w, values: r)
        let dx = Tensor(channels: 3, height: h, width: w)
        Elementwise.preprocessBackward(gradient: grad.view, preprocessing, into: dx)
        func loss(_ y: [Float]) -> Double {
            let o = Activation(3, h, w)
            Elementwise.preprocess(rgb: Tensor(channels: 3, height: h, width: w, values: y), preprocessing, into: o.view)
            return Self.dot(o.values, r)
        }
        let err = Self.finiteDifferenceError(x, analytic: dx.toArray(), eps: 1e-2, loss)
        #expect(err < 1e-2, "relative error \(err)")
    }
}

/// The convolution algorithms under test, each as the engine picks it for a layer (Winograd runs the
/// direct kernel below 16 input channels, as PackedWeights.algorithm does).
enum ConvolutionCase: String, CaseIterable, Sendable, CustomStringConvertible {
    case gemm, direct, winograd2, winograd4, winograd2bf16, winograd4bf16

    var description: String { rawValue }

    var isSupported: Bool {
        switch self {
        case .gemm: true
        case .direct: ck_has_avx512() != 0
        case .winograd2, .winograd4: ck_has_avx512_wino() != 0
        case .winograd2bf16, .winograd4bf16: ck_has_avx512_bf16() != 0
        }
    }

    /// As PackedWeights.algorithm picks for the Winograd kernel: the narrow direct kernel for ≤ 4 outputs,
    /// the direct kernel below 16 input channels.
    func algorithm(inChannels c: Int, outChannels o: Int) -> PackedWeights.Algorithm {
        switch self {
        case .gemm: return .gemmRows
        case .direct: return .direct
        default:
            guard o > 4 else { return .narrow }
            guard c >= 16 else { return .direct }
            return .winograd(tile: self == .winograd2 || self == .winograd2bf16 ? 2 : 4,
                             bf16: self == .winograd2bf16 || self == .winograd4bf16)
        }
    }

    /// Relative error (2-norm) allowed against the exact convolution of random data (measured: fp32 ≤ 2e-6,
    /// bf16 products F(2×2) ≈ 4e-3 and F(4×4) ≈ 2.5e-2, the latter from Bᵀ's entries up to 5).
    func tolerance(inChannels c: Int, outChannels o: Int) -> Double {
        switch algorithm(inChannels: c, outChannels: o) {
        case .winograd(tile: 2, bf16: true): 1e-2
        case .winograd(tile: _, bf16: true): 4e-2
        default: 1e-5
        }
    }
}

extension ConvolutionWeights {
    static func make(_ oihw: [Float], bias: [Float], inChannels: Int, outChannels: Int, algorithm: ConvolutionCase) -> ConvolutionWeights {
        oihw.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                ConvolutionWeights(name: "test", oihw: w.baseAddress!, bias: b.baseAddress!,
                                   inChannels: inChannels, outChannels: outChannels,
                                   forward: algorithm.algorithm(inChannels: inChannels, outChannels: outChannels),
                                   backward: algorithm.algorithm(inChannels: outChannels, outChannels: inChannels))
            }
        }
    }
}
