import Foundation

extension ContinuousClock.Instant {
    /// Seconds since this instant, with millisecond precision, for log lines.
    var secondsElapsed: String {
        let elapsed = duration(to: .now).components
        return String(format: "%.3f", Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
    }
}
