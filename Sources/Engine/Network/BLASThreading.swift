import COpenBLAS

/// How the engine uses OpenBLAS's threads: not at all. After a threaded call OpenBLAS's workers keep
/// polling with `sched_yield` for about 2^28 cycles (`OPENBLAS_THREAD_TIMEOUT`) before they sleep, and on
/// a 2-core machine that polling takes CPU from the engine's own workers running the next convolution: a
/// deep run whose Gram terms and L-BFGS ran OpenBLAS on 2 threads spent 17 % of its CPU samples in
/// `sched_yield` and took 10 % longer (BENCHMARKS.md, "OpenBLAS's polling threads"). A threaded `ssyrk` or
/// `sgemm` also rounds by its split, so the Gram terms would depend on a process-wide setting any caller
/// may change. So the engine splits its work over its own workers and calls OpenBLAS on the calling
/// thread. (The pool OpenBLAS starts when it loads polls once, about 0.1 s of CPU per process, unless
/// `OPENBLAS_NUM_THREADS=1` is in the environment: the container and `scripts/serve` set it.)
enum BLASThreading {
    /// OpenBLAS runs on the calling thread. The setting is process-wide and cheap to repeat: the network's
    /// passes, the Gram terms, the gemm kernel and L-BFGS set it before they call OpenBLAS.
    static func callerOnly() { openblas_set_num_threads(1) }
}
