import Foundation
import CKernels
import Glibc

/// Which convolution implementation a network prepares its weights for.
public enum ConvolutionKernel: String, Sendable, CaseIterable {
    /// im2col in bounded tiles + OpenBLAS `cblas_sgemm` (any CPU).
    case gemm
    /// Direct 3×3 convolution with a hand-written AVX-512 micro-kernel (CKernels), threads from Dispatch.
    case avx512
    /// Winograd F(4×4, 3×3) (4× fewer multiplications than direct) with fp32 or bf16 products, as
    /// `EnginePrecision` says; layers with fewer than 16 input channels (the first) run the direct kernel.
    case winograd

    /// The fastest kernel this CPU runs.
    public static var best: ConvolutionKernel { ck_has_avx512_wino() != 0 ? .winograd : (ck_has_avx512() != 0 ? .avx512 : .gemm) }

    public var isSupported: Bool {
        switch self {
        case .gemm: true
        case .avx512: ck_has_avx512() != 0
        case .winograd: ck_has_avx512_wino() != 0
        }
    }
}

/// The arithmetic of the Winograd convolutions' products (the transforms and all sums stay fp32).
/// Measured (BENCHMARKS.md, "Engine 2"): the forward pass needs fp32 products. The gradient of L_rec is
/// 2(Φ − T), so an error in the features Φ enters it directly: bf16 products in the forward pass (0.3–1.4 %
/// error in the taps) turn the gradient by cos 0.996–0.998 against the fp32 one, under the 0.999 asked for;
/// bf16 products in the backward pass only (≈ 1 % per layer there) keep it at cos ≥ 0.9998. bf16 in only
/// the last two forward convolutions (conv3_3, conv4_1) meets the bar (cos ≥ 0.99928 on 10 photos) but is
/// not used: it saves 6 % of an evaluation, but the input's relu4_1 moves and the seams with it (Garden's
/// final L +2.8 %), and with the same geometry (linear) L-BFGS took up to 9 % more evaluations (docs/engine.md).
public enum EnginePrecision: String, Sendable, CaseIterable {
    /// `bf16` where the CPU has AVX512_BF16, else `fp32`: the fastest arithmetic that meets the bar.
    case auto
    /// fp32 products everywhere.
    case fp32
    /// bf16 products (fp32 accumulation, vdpbf16ps) in the backward pass, fp32 in the forward pass.
    case bf16

    /// Whether this CPU runs it (`bf16` needs AVX512_BF16; `auto` runs everywhere).
    public var isSupported: Bool { self != .bf16 || ck_has_avx512_bf16() != 0 }

    /// What `auto` is on this CPU (`fp32` or `bf16`); the others as they are.
    public var resolved: EnginePrecision {
        self == .auto ? (ck_has_avx512_bf16() != 0 ? .bf16 : .fp32) : self
    }

    /// Whether the backward (or forward) convolutions use bf16 products on this CPU.
    func bf16Products(backward: Bool) -> Bool { backward && resolved == .bf16 }
}

extension PackedWeights.Algorithm {
    /// For profiles and logs: "gemm", "direct", "F4 bf16", …
    var label: String {
        switch self {
        case .gemmRows: "gemm"
        case .direct: "direct"
        case .narrow: "direct narrow"
        case let .winograd(tile, bf16): "F\(tile) \(bf16 ? "bf16" : "fp32")"
        }
    }
}

/// How one direction of a convolution is computed, and its weights in that algorithm's layout.
struct PackedWeights: @unchecked Sendable {  // unchecked: points into a ConvolutionWeights, read-only after load
    enum Algorithm: Equatable, Hashable {
        case gemmRows, direct
        /// The direct kernel for a few output channels (ck_conv3x3_narrow_avx512; direct's weights).
        case narrow
        /// F(tile×tile, 3×3), tile 2 or 4, with bf16 or fp32 products.
        case winograd(tile: Int, bf16: Bool)
    }
    let algorithm: Algorithm
    let inChannels: Int
    let outChannels: Int
    let data: UnsafeMutableRawPointer

    /// The algorithm a kernel and precision use for a convolution of `ins` → `outs` channels: for the
    /// Winograd kernel F(4×4), except the direct kernel below 16 input channels (the first layer: 8.0 ms
    /// against F(4×4)'s 10.8 ms single-threaded at 400×300, its stores dominate) and the narrow direct
    /// kernel for ≤ 4 outputs (the backward of the first layer, where Winograd's transforms of 64 input
    /// channels would cost more than its 3 outputs' products).
    static func algorithm(kernel: ConvolutionKernel, precision: EnginePrecision, inChannels ins: Int, outChannels outs: Int,
                          backward: Bool) -> Algorithm {
        switch kernel {
        case .gemm: .gemmRows
        case .avx512: .direct
        case .winograd: outs <= 4 ? .narrow : (ins < 16 ? .direct : .winograd(tile: 4, bf16: precision.bf16Products(backward: backward)))
        }
    }

    /// `oihw` [O][C][3][3] of the forward convolution C→O; `flip` packs the backward one O→C.
    init(oihw w: UnsafePointer<Float>, inChannels c: Int, outChannels o: Int, flip: Bool, algorithm: Algorithm) {
        let ins = flip ? o : c, outs = flip ? c : o
        inChannels = ins
        outChannels = outs
        self.algorithm = algorithm
        switch algorithm {
        case .gemmRows:
            let rows = alignedFloats(o * c * 9)
            if flip {
                // Rows [C][O·9]: W'[c][o][k] = W[o][c][8−k].
                for ci in 0..<c {
                    for oi in 0..<o {
                        for k in 0..<9 { rows[(ci * o + oi) * 9 + k] = w[(oi * c + ci) * 9 + (8 - k)] }
                    }
                }
            } else {
                rows.update(from: w, count: o * c * 9)
            }
            data = UnsafeMutableRawPointer(rows)
        case .direct, .narrow:
            let packed = alignedFloats(ck_packed_count(Int32(outs), Int32(ins)))
            ck_pack_weights(w, Int32(o), Int32(c), flip ? 1 : 0, packed)
            data = UnsafeMutableRawPointer(packed)
        case let .winograd(tile, bf16):
            let bytes = ck_wino_packed_bytes(Int32(tile), bf16 ? 1 : 0, Int32(outs), Int32(ins))
            data = UnsafeMutableRawPointer(alignedFloats((bytes + 3) / 4))
            ck_wino_pack(Int32(tile), bf16 ? 1 : 0, w, Int32(o), Int32(c), flip ? 1 : 0, data)
        }
    }

    /// Bytes `data` holds.
    var bytes: Int {
        switch algorithm {
        case .gemmRows: 4 * inChannels * outChannels * 9
        case .direct, .narrow: 4 * ck_packed_count(Int32(outChannels), Int32(inChannels))
        case let .winograd(tile, bf16): ck_wino_packed_bytes(Int32(tile), bf16 ? 1 : 0, Int32(outChannels), Int32(inChannels))
        }
    }
}

/// One convolution's parameters in the layouts its algorithms need, built once and only read afterwards.
final class ConvolutionWeights: @unchecked Sendable {  // unchecked: written only in init, read-only after
    let name: String
    let inChannels: Int
    let outChannels: Int
    let bias: UnsafeMutablePointer<Float>
    /// The convolution C→O.
    let forward: PackedWeights
    /// The backward-to-input convolution O→C (flipped taps, transposed channels); nil for a layer past the
    /// network's gradient tap.
    let backwardWeights: PackedWeights?

    var backward: PackedWeights {
        guard let backwardWeights else { preconditionFailure("\(name): no backward weights (past the gradient tap)") }
        return backwardWeights
    }

    /// `oihw`: [O][C][3][3] floats; `bias`: O floats.
    init(name: String, oihw w: UnsafePointer<Float>, bias b: UnsafePointer<Float>, inChannels c: Int, outChannels o: Int,
         forward: PackedWeights.Algorithm, backward: PackedWeights.Algorithm?) {
        self.name = name
        inChannels = c
        outChannels = o
        bias = alignedFloats(o)
        bias.update(from: b, count: o)
        self.forward = PackedWeights(oihw: w, inChannels: c, outChannels: o, flip: false, algorithm: forward)
        backwardWeights = backward.map { PackedWeights(oihw: w, inChannels: c, outChannels: o, flip: true, algorithm: $0) }
    }

    /// Both directions as `kernel` and `precision` choose.
    convenience init(name: String, oihw w: UnsafePointer<Float>, bias b: UnsafePointer<Float>, inChannels c: Int, outChannels o: Int,
                     kernel: ConvolutionKernel, precision: EnginePrecision = .fp32) {
        self.init(name: name, oihw: w, bias: b, inChannels: c, outChannels: o,
                  forward: PackedWeights.algorithm(kernel: kernel, precision: precision, inChannels: c, outChannels: o, backward: false),
                  backward: PackedWeights.algorithm(kernel: kernel, precision: precision, inChannels: o, outChannels: c, backward: true))
    }

    deinit {
        free(bias)
        free(forward.data)
        if let backwardWeights { free(backwardWeights.data) }
    }
}

/// A VGG feature stack with loaded, immutable weights. Share one instance between threads; each thread
/// runs its own `FeatureExtractor`.
public final class VGGNetwork: Sendable {
    public let architecture: Architecture
    public let preprocessing: Preprocessing
    public let kernel: ConvolutionKernel
    public let precision: EnginePrecision
    /// The deepest tap this network was loaded for (later convolutions are not kept).
    public let deepestTap: Tap
    /// The deepest tap a backward pass may start from. The convolutions past it are packed for the forward
    /// pass only, with the direct kernel (9 weights each, not 36: they run once per job, for the mask).
    public let gradientTap: Tap
    let convs: [ConvolutionWeights]

    /// The default weights location: $DEEPRESIZE_WEIGHTS, else weights/vgg16-imagenet.safetensors under
    /// `root` (default: the current directory).
    public static func defaultWeightsPath(repositoryRoot root: String? = nil) -> String {
        if let env = ProcessInfo.processInfo.environment["DEEPRESIZE_WEIGHTS"], !env.isEmpty { return env }
        return (root ?? FileManager.default.currentDirectoryPath) + "/weights/vgg16-imagenet.safetensors"
    }

    /// Loads and validates a safetensors file (names, shapes, dtypes, offsets; for the VGG-16 ImageNet
    /// weights also four known values), keeping the convolutions up to `deepestTap`, with backward weights
    /// up to `gradientTap` (default: relu4_1, the deepest the deep method differentiates, or `deepestTap`).
    /// For measurement only (`bench engine`, `bench accuracy`): `bf16Forward`, forward convolutions (by name,
    /// or "all") with bf16 products too, which the method does not use (see EnginePrecision); `winogradTile`
    /// 2, F(2×2) instead of F(4×4).
    public init(weightsPath path: String, kernel: ConvolutionKernel = .best, precision: EnginePrecision = .auto,
                deepestTap: Tap = .relu5_1, gradientTap: Tap? = nil, bf16Forward: Set<String> = [],
                winogradTile: Int = 4) throws(WeightsError) {
        guard kernel.isSupported else {
            throw WeightsError(path: path, reason: "kernel \(kernel.rawValue) is not supported on this CPU")
        }
        guard precision.isSupported, bf16Forward.isEmpty || ck_has_avx512_bf16() != 0 else {
            throw WeightsError(path: path, reason: "bf16 products are not supported on this CPU (no AVX512_BF16)")
        }
        guard winogradTile == 2 || winogradTile == 4 else {
            throw WeightsError(path: path, reason: "Winograd tile \(winogradTile): 2 or 4")
        }
        let gradientTap = min(gradientTap ?? .relu4_1, deepestTap)
        let file = try SafeTensorsFile(path: path)
        // The architecture is read off the tensors; an "arch" in the metadata must agree with them.
        if file.entries.keys.contains(where: { $0.hasPrefix("features.") }) {
            throw WeightsError(path: path, reason: "tensors are named features.N (torchvision's layout): convert the file"
                               + " with scripts/convert-vgg (docs/deep.md, VGG-19)")
        }
        let arch = Architecture.recognised(tensorNames: file.entries.keys)
        let names = Set(arch.convolutions.map(\.name))
        if let unknown = bf16Forward.subtracting(names).subtracting(["all"]).sorted().first {
            throw WeightsError(path: path, reason: "bf16 forward: no convolution \(unknown) in \(arch.name)")
        }
        if let named = file.metadata["arch"], named != arch.name {
            throw WeightsError(path: path, reason: "the metadata says arch \"\(named)\" but the tensors are \(arch.name)'s")
        }
        let pre = file.metadata["preprocess"] ?? Preprocessing.caffeBGR.rawValue
        guard let preprocessing = Preprocessing(rawValue: pre) else {
            throw WeightsError(path: path, reason: "unsupported preprocess \"\(pre)\" in the metadata ("
                               + Preprocessing.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        for (name, i, o) in arch.convolutions {
            guard let w = file.entries["\(name).weight"] else { throw WeightsError(path: path, reason: "missing \(name).weight") }
            guard let b = file.entries["\(name).bias"] else { throw WeightsError(path: path, reason: "missing \(name).bias") }
            guard w.shape == [o, i, 3, 3] else {
                throw WeightsError(path: path, reason: "\(name).weight has shape \(w.shape), expected [\(o), \(i), 3, 3]")
            }
            guard b.shape == [o] else {
                throw WeightsError(path: path, reason: "\(name).bias has shape \(b.shape), expected [\(o)]")
            }
        }
        if arch == .vgg16 && preprocessing == .caffeBGR {
            // The ImageNet VGG-16 (docs/spec.md §1): catches a wrong or corrupted file with the right layout.
            let known: [(String, Float)] = [("conv1_1.weight", 0.42947057), ("conv1_1.bias", 0.73429835),
                                            ("conv5_3.weight", 0.00040788), ("conv5_3.bias", 0.18837857)]
            for (name, value) in known {
                let got = file.floats(name)![0]
                guard abs(got - value) <= 1e-6 else {
                    throw WeightsError(path: path, reason: "\(name)[0] = \(got), expected \(value): not the ImageNet VGG-16 weights")
                }
            }
        }
        for (name, _, _) in arch.convolutions {
            let w = file.floats("\(name).weight")!
            guard w.allSatisfy({ $0.isFinite }) else {
                throw WeightsError(path: path, reason: "\(name).weight holds non-finite values")
            }
        }

        let last = arch.layerIndex(of: deepestTap) ?? arch.layers.count - 1
        let lastGradient = arch.layerIndex(of: gradientTap) ?? last
        var convs: [ConvolutionWeights] = []
        for (index, layer) in arch.layers[...last].enumerated() {
            guard case let .conv(name, c, o) = layer else { continue }
            let differentiable = index < lastGradient
            var forward = differentiable
                ? PackedWeights.algorithm(kernel: kernel, precision: precision, inChannels: c, outChannels: o, backward: false)
                : (kernel == .gemm ? .gemmRows : .direct)
            let forwardBF16 = bf16Forward.contains(name) || bf16Forward.contains("all")
            if case let .winograd(_, bf16) = forward { forward = .winograd(tile: winogradTile, bf16: bf16 || forwardBF16) }
            var backward = differentiable
                ? PackedWeights.algorithm(kernel: kernel, precision: precision, inChannels: o, outChannels: c, backward: true) : nil
            if case let .winograd(_, bf16)? = backward { backward = .winograd(tile: winogradTile, bf16: bf16) }
            convs.append(ConvolutionWeights(name: name, oihw: file.floats("\(name).weight")!.baseAddress!,
                                            bias: file.floats("\(name).bias")!.baseAddress!,
                                            inChannels: c, outChannels: o, forward: forward, backward: backward))
        }
        self.architecture = arch
        self.preprocessing = preprocessing
        self.kernel = kernel
        self.precision = precision
        self.deepestTap = deepestTap
        self.gradientTap = gradientTap
        self.convs = convs
    }

    /// One line for the start-up log: the architecture, its input convention and the arithmetic this CPU runs.
    public var engineDescription: String {
        let kernelText = switch kernel {
        case .gemm: "im2col + OpenBLAS sgemm"
        case .avx512: "direct 3×3, AVX-512"
        case .winograd: "Winograd F(4×4,3×3), AVX-512"
        }
        let products = precision.resolved == .bf16 ? "bf16 products (vdpbf16ps) in the backward pass, fp32 forward" : "fp32 products"
        return "\(architecture.name) (\(preprocessing.rawValue) input), \(kernelText), engine_precision \(precision.rawValue): \(products)"
    }

    /// Bytes of the packed weights (both directions) and biases.
    public var weightBytes: Int {
        convs.reduce(0) { $0 + $1.forward.bytes + ($1.backwardWeights?.bytes ?? 0) + 4 * $1.outChannels }
    }
}
