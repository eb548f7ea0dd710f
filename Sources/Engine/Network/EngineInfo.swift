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
}
