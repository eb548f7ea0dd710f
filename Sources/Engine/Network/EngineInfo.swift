import COpenBLAS
import CKernels
import Foundation

/// What the engine runs on, for benchmarks and logs.
public enum EngineInfo {
    /// OpenBLAS's kernel family (e.g. "Haswell", "SkylakeX"); OPENBLAS_CORETYPE overrides its CPU detection.
    public static var blasCoreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// The OPENBLAS_CORETYPE environment variable, if set.
    public static var blasCoreTypeOverride: String? { ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] }

    public static var hasAVX512: Bool { ck_has_avx512() != 0 }

    /// AVX512_BF16 (vdpbf16ps): the bf16 Winograd products.
    public static var hasBF16: Bool { ck_has_avx512_bf16() != 0 }

    /// The peak loop (CKernels peak.c): `iterations` rounds of 16 independent 512-bit FMA or vdpbf16ps
    /// chains on the calling thread; returns a checksum. Needs `hasAVX512` (and `hasBF16` for bf16).
    public static func peakLoop(bf16: Bool, iterations: Int) -> Float {
        bf16 ? ck_peak_bf16(iterations) : ck_peak_fma(iterations)
    }

    /// FLOPs of one round of `peakLoop` (a vdpbf16ps lane does 2 products and 2 sums).
    public static func peakFLOPsPerIteration(bf16: Bool) -> Double { ck_peak_flops_per_iteration(bf16 ? 1 : 0) }
}
