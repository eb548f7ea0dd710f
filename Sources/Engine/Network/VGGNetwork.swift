import Foundation
import CKernels
import Glibc

/// Which convolution implementation a network prepares its weights for.
public enum ConvolutionKernel: String, Sendable, CaseIterable {
    /// im2col in bounded tiles + OpenBLAS `cblas_sgemm` (any CPU).
    case gemm
    /// Direct 3×3 convolution with a hand-written AVX-512 micro-kernel (CKernels), threads from Dispatch.
    case avx512
    /// Winograd F(2×2, 3×3) on the same AVX-512 micro-kernel (2.25× fewer multiplications); layers with
    /// fewer than 16 input channels (the first) run the direct kernel.
    case winograd

    /// The fastest kernel this CPU runs.
    public static var best: ConvolutionKernel { ck_has_avx512() != 0 ? .winograd : .gemm }

    public var isSupported: Bool { self == .gemm || ck_has_avx512() != 0 }
}

/// How one direction of a convolution is computed, and its weights in that algorithm's layout.
struct PackedWeights: @unchecked Sendable {  // unchecked: points into a ConvolutionWeights, read-only after load
    enum Algorithm { case gemmRows, direct, winograd }
    let algorithm: Algorithm
    let inChannels: Int
    let outChannels: Int
    let data: UnsafeMutablePointer<Float>

    /// `oihw` [O][C][3][3] of the forward convolution C→O; `flip` packs the backward one O→C.
    init(oihw w: UnsafePointer<Float>, inChannels c: Int, outChannels o: Int, flip: Bool, kernel: ConvolutionKernel) {
        let ins = flip ? o : c, outs = flip ? c : o
        inChannels = ins
        outChannels = outs
        switch kernel {
        case .gemm:
            algorithm = .gemmRows
            data = alignedFloats(o * c * 9)
            if flip {
                // Rows [C][O·9]: W'[c][o][k] = W[o][c][8−k].
                for ci in 0..<c {
                    for oi in 0..<o {
                        for k in 0..<9 { data[(ci * o + oi) * 9 + k] = w[(oi * c + ci) * 9 + (8 - k)] }
                    }
                }
            } else {
                data.update(from: w, count: o * c * 9)
            }
        case .avx512, .winograd:
            if kernel == .winograd && ins >= 16 {
                algorithm = .winograd
                data = alignedFloats(ck_winograd_packed_count(Int32(outs), Int32(ins)))
                ck_winograd_pack_weights(w, Int32(o), Int32(c), flip ? 1 : 0, data)
            } else {
                algorithm = .direct
                data = alignedFloats(ck_packed_count(Int32(outs), Int32(ins)))
                ck_pack_weights(w, Int32(o), Int32(c), flip ? 1 : 0, data)
            }
        }
    }
}

/// One convolution's parameters in the layouts a kernel needs, built once and only read afterwards.
final class ConvolutionWeights: @unchecked Sendable {  // unchecked: written only in init, read-only after
    let name: String
    let inChannels: Int
    let outChannels: Int
    let kernel: ConvolutionKernel
    let bias: UnsafeMutablePointer<Float>
    /// The convolution C→O.
    let forward: PackedWeights
    /// The backward-to-input convolution O→C (flipped taps, transposed channels).
    let backward: PackedWeights

    /// `oihw`: [O][C][3][3] floats; `bias`: O floats.
    init(name: String, oihw w: UnsafePointer<Float>, bias b: UnsafePointer<Float>, inChannels c: Int, outChannels o: Int,
         kernel: ConvolutionKernel) {
        self.name = name
        inChannels = c
        outChannels = o
        self.kernel = kernel
        bias = alignedFloats(o)
        bias.update(from: b, count: o)
        forward = PackedWeights(oihw: w, inChannels: c, outChannels: o, flip: false, kernel: kernel)
        backward = PackedWeights(oihw: w, inChannels: c, outChannels: o, flip: true, kernel: kernel)
    }

    deinit {
        free(bias)
        free(forward.data)
        free(backward.data)
    }
}

/// A VGG feature stack with loaded, immutable weights. Share one instance between threads; each thread
/// runs its own `FeatureExtractor`.
public final class VGGNetwork: Sendable {
    public let architecture: Architecture
    public let preprocessing: Preprocessing
    public let kernel: ConvolutionKernel
    /// The deepest tap this network was loaded for (later convolutions are not kept).
    public let deepestTap: Tap
    let convs: [ConvolutionWeights]

    /// The default weights location: $DEEPRESIZE_WEIGHTS, else weights/vgg16-imagenet.safetensors under
    /// `root` (default: the current directory).
    public static func defaultWeightsPath(repositoryRoot root: String? = nil) -> String {
        if let env = ProcessInfo.processInfo.environment["DEEPRESIZE_WEIGHTS"], !env.isEmpty { return env }
        return (root ?? FileManager.default.currentDirectoryPath) + "/weights/vgg16-imagenet.safetensors"
    }

    /// Loads and validates a safetensors file (names, shapes, dtypes, offsets; for the VGG-16 ImageNet
    /// weights also four known values), keeping the convolutions up to `deepestTap`.
    public init(weightsPath path: String, kernel: ConvolutionKernel = .best, deepestTap: Tap = .relu5_1) throws(WeightsError) {
        guard kernel.isSupported else {
            throw WeightsError(path: path, reason: "kernel \(kernel.rawValue) is not supported on this CPU")
        }
        let file = try SafeTensorsFile(path: path)
        let archName = file.metadata["arch"] ?? "vgg16"
        guard let arch = Architecture.named(archName) else {
            throw WeightsError(path: path, reason: "unknown arch \"\(archName)\" in the metadata (vgg16, vgg19)")
        }
        let pre = file.metadata["preprocess"] ?? Preprocessing.caffeBGR.rawValue
        guard let preprocessing = Preprocessing(rawValue: pre) else {
            throw WeightsError(path: path, reason: "unsupported preprocess \"\(pre)\" in the metadata (caffe-bgr)")
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
        if arch.name == "vgg16" {
            // The ImageNet VGG-16 (SPEC §1): catches a wrong or corrupted file with the right layout.
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
        var convs: [ConvolutionWeights] = []
        for layer in arch.layers[...last] {
            guard case let .conv(name, c, o) = layer else { continue }
            convs.append(ConvolutionWeights(name: name, oihw: file.floats("\(name).weight")!.baseAddress!,
                                            bias: file.floats("\(name).bias")!.baseAddress!,
                                            inChannels: c, outChannels: o, kernel: kernel))
        }
        self.architecture = arch
        self.preprocessing = preprocessing
        self.kernel = kernel
        self.deepestTap = deepestTap
        self.convs = convs
    }
}
