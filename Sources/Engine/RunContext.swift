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
