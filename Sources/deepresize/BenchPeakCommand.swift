import ArgumentParser
import Dispatch
import Engine
import Foundation
import Glibc

/// `deepresize bench peak`: the arithmetic peak of this machine, a loop of nothing but 512-bit FMA (fp32)
/// or vdpbf16ps (bf16 products summed in fp32) on 1 and N threads. Wall time gives what the threads got;
/// each thread's CPU time gives what a core does when it runs (the two differ on a shared machine).
struct BenchPeakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peak",
        abstract: "Peak GFLOP/s of 512-bit FMA and vdpbf16ps loops (the machine's physical limit).")

    @Option(help: "Threads of the multi-threaded run.")
    var threads: Int = 2

    @Option(help: "Seconds per run (about).")
    var seconds: Double = 1

    @Flag(help: "Print one JSON object per line instead of the table.")
    var json = false

    func validate() throws {
        guard threads >= 1, seconds > 0 else { throw ValidationError("--threads ≥ 1, --seconds > 0") }
    }

    struct Result {
        let kind: String, threads: Int
        /// FLOPs / wall seconds, and Σ over threads of FLOPs / that thread's CPU seconds.
        let wall: Double, cpu: Double
    }

    func run() throws {
        guard EngineInfo.hasAVX512 else { throw ValidationError("this CPU has no AVX-512: no peak loop to run") }
        var results: [Result] = []
        for bf16 in EngineInfo.hasBF16 ? [false, true] : [false] {
            // Calibrate: iterations for ~`seconds` on one thread.
            let probe = 2_000_000
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = Self.loop(bf16: bf16, iterations: probe)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            let iterations = max(probe, Int(Double(probe) * seconds / max(dt, 1e-6)))
            for n in Set([1, threads]).sorted() {
                results.append(Self.measure(bf16: bf16, threads: n, iterations: iterations))
            }
        }
        if json {
            for r in results {
                let o: [String: Any] = ["kind": r.kind, "threads": r.threads, "gflops_wall": r.wall / 1e9, "gflops_cpu": r.cpu / 1e9]
                print(String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self))
            }
        } else {
            print("peak loops (512-bit, 16 independent chains), GFLOP/s: by wall time, and by each thread's CPU time")
            for r in results {
                print("  \(r.kind.padding(toLength: 10, withPad: " ", startingAt: 0)) \(r.threads) thread(s): "
                      + String(format: "%7.1f wall  %7.1f per CPU time", r.wall / 1e9, r.cpu / 1e9))
            }
        }
    }

    static func loop(bf16: Bool, iterations: Int) -> Float {
        EngineInfo.peakLoop(bf16: bf16, iterations: iterations)
    }

    private final class Times: @unchecked Sendable {  // each thread writes its own slot
        var cpu: [Double]
        init(_ n: Int) { cpu = [Double](repeating: 0, count: n) }
    }

    static func measure(bf16: Bool, threads: Int, iterations: Int) -> Result {
        let times = Times(threads)
        let start = DispatchTime.now().uptimeNanoseconds
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var a = timespec(), b = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a)
            let sum = loop(bf16: bf16, iterations: iterations)
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b)
            if sum.isNaN { print("") }  // keeps the result alive
            times.cpu[t] = Double(b.tv_sec - a.tv_sec) + Double(b.tv_nsec - a.tv_nsec) * 1e-9
        }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let flops = Double(iterations) * EngineInfo.peakFLOPsPerIteration(bf16: bf16)
        return Result(kind: bf16 ? "vdpbf16ps" : "fma fp32", threads: threads, wall: flops * Double(threads) / wall,
                      cpu: times.cpu.reduce(0) { $0 + flops / max($1, 1e-9) })
    }
}
