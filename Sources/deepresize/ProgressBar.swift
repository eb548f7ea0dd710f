import Engine
import Foundation
import Synchronization

/// A one-line progress bar on stderr for the CLI (only drawn when stderr is a terminal):
/// `seam [##########----------]  50%  100/200  loss 0.0123  ETA 3s`.
final class ProgressBar: Sendable {
    private let label: String
    private let start = Date()
    private let lastDraw = Mutex<Double>(-1)
    private let width = 24

    init(label: String) { self.label = label }

    func update(_ progress: StepProgress) {
        let elapsed = Date().timeIntervalSince(start)
        let due = lastDraw.withLock { last -> Bool in
            // Redraw at most ten times a second, but always the final step.
            guard elapsed - last >= 0.1 || progress.step >= progress.total else { return false }
            last = elapsed
            return true
        }
        guard due else { return }
        let fraction = progress.fraction
        let filled = Int((fraction * Double(width)).rounded())
        var line = "\r\(label) [" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]"
        line += String(format: " %3d%%  %d/%d", Int((fraction * 100).rounded()), progress.step, progress.total)
        if let loss = progress.loss { line += String(format: "  loss %.5g", loss) }
        if fraction > 0.01 && fraction < 1 {
            line += String(format: "  ETA %.0fs", elapsed * (1 - fraction) / fraction)
        }
        FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
    }

    func finish() { FileHandle.standardError.write(Data("\n".utf8)) }
}

