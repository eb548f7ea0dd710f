import Foundation
import Glibc

/// Wall time per step of the network passes, summed over calls: what `deepresize bench engine --profile`
/// prints. A FeatureExtractor fills one when its `profile` is set (off by default: one clock read per step).
public struct EngineProfile: Sendable {
    public struct Entry: Sendable {
        public let name: String
        public var seconds: Double
        public var calls: Int
    }

    /// In the order the steps first ran.
    public private(set) var entries: [Entry] = []
    private var index: [String: Int] = [:]
    /// Time the calling thread's CPU time instead of the wall clock: with one compute thread, what the steps
    /// cost regardless of what else runs on the machine.
    public let cpuTime: Bool

    public init(cpuTime: Bool = false) { self.cpuTime = cpuTime }

    mutating func add(_ name: String, _ seconds: Double) {
        if let i = index[name] {
            entries[i].seconds += seconds
            entries[i].calls += 1
        } else {
            index[name] = entries.count
            entries.append(Entry(name: name, seconds: seconds, calls: 1))
        }
    }

    public var total: Double { entries.reduce(0) { $0 + $1.seconds } }
}

/// A clock for the profile: monotonic wall time, or the calling thread's CPU time.
struct StepClock {
    private let cpu: Bool
    private var mark: UInt64

    init(cpuTime: Bool = false) {
        cpu = cpuTime
        mark = 0
        mark = now()
    }

    private func now() -> UInt64 {
        guard cpu else { return DispatchTime.now().uptimeNanoseconds }
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    /// Seconds since the last lap (or the start).
    mutating func lap() -> Double {
        let t = now()
        defer { mark = t }
        return Double(t - mark) / 1e9
    }
}
