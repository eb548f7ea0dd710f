/// How a long-running operation (seam carving, the deep optimiser) reports progress and learns that it
/// should stop. Operations call `report` after each step and `checkCancelled()` between steps.
public struct StepProgress: Sendable, Equatable {
    public var step: Int
    public var total: Int
    /// The objective value, for optimisers; nil for methods without one.
    public var loss: Double?

    public init(step: Int, total: Int, loss: Double? = nil) {
        self.step = step
        self.total = total
        self.loss = loss
    }

    public var fraction: Double { total > 0 ? min(1, Double(step) / Double(total)) : 0 }
}

/// The time left of a stepped run at the pace of the steps measured so far. The first report only starts
/// the clock: what ran before it (decoding, a network's first pass, a mask) is not the pace of a step, and
/// counting it made the first estimates several times too long.
public struct StepPace: Sendable {
    private var first: (step: Int, time: Double)?

    public init() {}

    /// Seconds left after `progress`, reported at `time` (seconds, any origin); nil until a step has been
    /// measured, and once the run is complete.
    public mutating func remaining(_ progress: StepProgress, at time: Double) -> Double? {
        guard let first else {
            self.first = (progress.step, time)
            return nil
        }
        let steps = progress.step - first.step
        guard steps > 0, progress.step < progress.total, time > first.time else { return nil }
        return (time - first.time) / Double(steps) * Double(progress.total - progress.step)
    }
}

/// Thrown by an operation that noticed its cancellation between two steps.
public struct OperationCancelled: Error, Sendable, CustomStringConvertible {
    public init() {}
    public var description: String { "operation canceled" }
}

public struct RunContext: Sendable {
    public var report: @Sendable (StepProgress) -> Void
    public var isCancelled: @Sendable () -> Bool

    public init(report: @escaping @Sendable (StepProgress) -> Void = { _ in },
                isCancelled: @escaping @Sendable () -> Bool = { false }) {
        self.report = report
        self.isCancelled = isCancelled
    }

    /// No progress reporting, never cancelled.
    public static let detached = RunContext()

    public func checkCancelled() throws {
        if isCancelled() { throw OperationCancelled() }
    }
}
