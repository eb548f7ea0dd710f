import Engine
import Testing

/// `DeepResizer.estimatedPeakBytes` against peaks measured on the real thing: the server's memory budget
/// reserves this number per `deep` job, so it must stay close to what a run really takes.
@Suite("Deep: resizer memory estimate against measured peaks")
struct DeepMemoryEstimateTests {
    /// Release build, winograd kernel, 2 engine threads, `--iterations 3` (the peak comes in the setup and
    /// the first evaluations): peak RSS of `deepresize resize --method deep` (`/usr/bin/time -v`) less the
    /// process at rest with the weights loaded (172 MB, the idle server's VmRSS), for requests whose working
    /// image is the input as given (only the aspect changes). docs/operations.md ("Memory") has the table;
    /// these are its numbers in MB.
    static let measured: [(input: (Int, Int), output: (Int, Int), megabytes: Double)] = [
        ((640, 480), (384, 480), 521),
        ((640, 480), (896, 480), 1201),
        ((1154, 865), (700, 866), 1738),
        ((1154, 865), (1000, 1000), 2801),
        ((533, 300), (400, 300), 348),  // a 5640×3172 JPEG, scaled to cover 400×300 first
    ]

    /// High is the safe side (a reservation a little too large); low would let jobs overrun the budget.
    /// Since the pools were fused (fewer buffers touched), removals measure 20–27 % under the estimate.
    @Test("the estimate stays within -10 % … +30 % of the measured job memory")
    func estimateTracksMeasuredPeaks() {
        for run in Self.measured {
            let estimate = DeepResizer.estimatedPeakBytes(inputWidth: run.input.0, inputHeight: run.input.1,
                                                          outputWidth: run.output.0, outputHeight: run.output.1, threads: 2)
            let ratio = Double(estimate) / (run.megabytes * 1e6)
            #expect(ratio > 0.90 && ratio < 1.30,
                    "\(run.input) → \(run.output): estimate \(estimate / 1_000_000) MB, measured \(Int(run.megabytes)) MB (ratio \(ratio))")
        }
    }
}

/// The estimate runs before any size check (the server's memory budget asks for it at submission), so it
/// must answer for every size, even those the method refuses: a layer narrower than one Winograd tile once
/// divided by zero in the F(2×2) kernel's rows-per-task function and killed the process with SIGFPE.
@Suite("Deep: memory estimate for degenerate sizes")
struct DeepMemoryEstimateDegenerateTests {
    @Test("sizes under one tile at some layer give an estimate, not a signal",
          arguments: [((1, 1), (100, 100)), ((160, 120), (7, 100)), ((15, 200), (15, 200)), ((1, 20000), (1, 1)),
                      ((16, 16), (1, 1)), ((0, 0), (8, 8)), ((8, 8), (0, 0)), ((2, 3), (2, 3))])
    func tinySizes(input: (Int, Int), output: (Int, Int)) {
        let estimate = DeepResizer.estimatedPeakBytes(inputWidth: input.0, inputHeight: input.1,
                                                      outputWidth: output.0, outputHeight: output.1, threads: 2)
        #expect(estimate >= 0)
        for width in [0, 1, 2, 7, 15] {
            #expect(FeatureExtractor.workspaceBytes(height: 40, width: width, deepestTap: .relu5_1, threads: 2) >= 0)
        }
    }
}
