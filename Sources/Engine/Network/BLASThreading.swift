import COpenBLAS

/// How the engine uses OpenBLAS's threads: not at all. After a threaded call OpenBLAS's workers keep
/// polling with `sched_yield` for about 2^28 cycles (`OPENBLAS_THREAD_TIMEOUT`) before they sleep, and on
/// a 2-core machine that polling takes CPU from the engine's own workers running the next convolution: a
/// deep run whose Gram terms and L-BFGS ran OpenBLAS on 2 threads spent 17 % of its CPU samples in
/// `sched_yield` and took 10 % longer (BENCHMARKS.md, "OpenBLAS's polling threads"). A threaded sum (a dot
/// product) also rounds differently from a single one, so results would depend on the setting. So the
/// engine splits its work over its own workers and calls OpenBLAS on the calling thread.
enum BLASThreading {
    /// OpenBLAS runs on the calling thread. The setting is process-wide and cheap to repeat: every entry
    /// point that calls OpenBLAS (a network pass, the Gram terms, L-BFGS) sets it first.
    static func callerOnly() { openblas_set_num_threads(1) }
}
