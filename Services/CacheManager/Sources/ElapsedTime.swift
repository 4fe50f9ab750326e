import Cluster
import Foundation

extension ContinuousClock.Instant {
    /// Seconds since this instant, with millisecond precision, for log lines.
    var secondsElapsed: String {
        String(format: "%.3f", duration(to: .now).inSeconds)
    }
}
