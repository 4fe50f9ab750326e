import Foundation
import ModelStore

/// Shows `ModelFetcher`'s progress on stderr: on a terminal, a bar redrawn in place; in a
/// log or a pipe, one line per quarter, so the output stays short and readable.
final class FetchProgressView {
    private let terminal = isatty(STDERR_FILENO) != 0
    private var drawn = false
    private var lastQuarter: [ModelFetcher.Progress.Step: Int] = [:]

    func update(_ progress: ModelFetcher.Progress) {
        guard progress.total > 0 else { return }
        // The download total can be an estimate: never show more than all of it.
        let fraction = min(1, Double(progress.bytes) / Double(progress.total))
        let amounts = String(
            format: "%5.1f / %.1f MB %3d%%",
            min(Double(progress.bytes), Double(progress.total)) / 1e6,
            Double(progress.total) / 1e6, Int(fraction * 100))
        let step = progress.step.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)
        if terminal {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar =
                String(repeating: "#", count: filled)
                + String(repeating: "-", count: width - filled)
            write("\r\u{1B}[2Ktessera: \(step) [\(bar)] \(amounts)")
            drawn = true
        } else {
            let quarter = Int(fraction * 4)
            guard quarter > (lastQuarter[progress.step] ?? -1) else { return }
            lastQuarter[progress.step] = quarter
            write("tessera: \(step) \(amounts)\n")
        }
    }

    /// Ends the bar's line before other output follows it.
    func finishLine() {
        if drawn { write("\n") }
        drawn = false
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
