import Foundation

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

    public init() {}

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

/// A monotonic clock for the profile.
struct StepClock {
    private var mark = DispatchTime.now().uptimeNanoseconds

    /// Seconds since the last lap (or the start).
    mutating func lap() -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        defer { mark = now }
        return Double(now - mark) / 1e9
    }
}
