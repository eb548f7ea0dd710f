import Engine
import Foundation
import Synchronization

/// A one-line progress bar on stderr for the CLI (only drawn when stderr is a terminal):
/// `seam [##########----------]  50%  100/200  loss 0.0123  ETA 3s`.
final class ProgressBar: Sendable {
    private struct State {
        var lastDraw = -1.0
        /// The ETA from the measured steps only (`StepPace`), not from the time since the start.
        var pace = StepPace()
        var last: StepProgress?
    }

    private let label: String
    private let start = Date()
    private let state = Mutex(State())
    private let width = 24

    init(label: String) { self.label = label }

    func update(_ progress: StepProgress) {
        let elapsed = Date().timeIntervalSince(start)
        let (due, eta) = state.withLock { state -> (Bool, Double?) in
            let eta = state.pace.remaining(progress, at: elapsed)
            state.last = progress
            // Redraw at most ten times a second, but always the final step.
            guard elapsed - state.lastDraw >= 0.1 || progress.step >= progress.total else { return (false, eta) }
            state.lastDraw = elapsed
            return (true, eta)
        }
        guard due else { return }
        draw(progress, eta: eta)
    }

    private func draw(_ progress: StepProgress, eta: Double?) {
        let fraction = progress.fraction
        let filled = Int((fraction * Double(width)).rounded())
        var line = "\r\(label) [" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
        line += String(format: " %3d%%  %d/%d", Int((fraction * 100).rounded()), progress.step, progress.total)
        if let loss = progress.loss { line += "  loss " + Self.loss(loss) }
        if let eta { line += String(format: "  ETA %.0fs", eta) }
        FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
    }

    /// How the bar and the CLI's summary write a loss, so the two read the same.
    static func loss(_ value: Double) -> String { String(format: "%.5g", value) }

    /// Ends the bar's line. `loss`: the final loss, drawn as the bar's last (the run may end with a loss its
    /// last step did not report: deep's image clamped to 0…255).
    func finish(loss: Double? = nil) {
        if let loss, var last = state.withLock({ $0.last }) {
            last.loss = loss
            draw(last, eta: nil)
        }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}

