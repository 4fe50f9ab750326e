import Foundation
import ModelStore

/// Shows `ModelFetcher`'s progress on stderr: on a terminal, a bar redrawn in place; in a
/// log or a pipe, one line per quarter, so the output stays short and readable.
// @unchecked: `tessera eval`'s variant builder reports from its own thread; a lock guards
// the state.
final class FetchProgressView: @unchecked Sendable {
    private let terminal = isatty(STDERR_FILENO) != 0
    private let lock = NSLock()
    private var drawn = false
    private var lastQuarter: [String: Int] = [:]

    func update(_ progress: ModelFetcher.Progress) {
        guard progress.total > 0 else { return }
        // The download total can be an estimate: never show more than all of it.
        let fraction = min(1, Double(progress.bytes) / Double(progress.total))
        let amounts = String(
            format: "%5.1f / %.1f MB %3d%%",
            min(Double(progress.bytes), Double(progress.total)) / 1e6,
            Double(progress.total) / 1e6, Int(fraction * 100))
        update(step: progress.step.rawValue, fraction: fraction, detail: amounts)
    }

    /// Any long task in the same bar (`tessera model variants` uses it too): `step` names
    /// what is being done, `detail` follows the bar.
    func update(step name: String, fraction rawFraction: Double, detail: String) {
        lock.withLock { draw(step: name, fraction: rawFraction, detail: detail) }
    }

    private func draw(step name: String, fraction rawFraction: Double, detail: String) {
        let fraction = min(1, max(0, rawFraction))
        let step = name.count < 11 ? name.padding(toLength: 11, withPad: " ", startingAt: 0) : name
        if terminal {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar =
                String(repeating: "#", count: filled)
                + String(repeating: "-", count: width - filled)
            write("\r\u{1B}[2Ktessera: \(step) [\(bar)] \(detail)")
            drawn = true
        } else {
            let quarter = Int(fraction * 4)
            guard quarter > (lastQuarter[name] ?? -1) else { return }
            lastQuarter[name] = quarter
            write("tessera: \(step) \(detail)\n")
        }
    }

    /// Ends the bar's line before other output follows it.
    func finishLine() {
        lock.withLock {
            if drawn { write("\n") }
            drawn = false
        }
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
