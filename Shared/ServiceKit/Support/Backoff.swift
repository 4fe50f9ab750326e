import Cluster
import Foundation

/// Exponential backoff with full jitter, capped: used for registration and reconnects so
/// that start order does not matter and a restarting peer is not stampeded.
public struct Backoff: Sendable {
    public var initial: Duration
    public var maximum: Duration
    public var multiplier: Double
    private var attempt = 0

    public init(
        initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5),
        multiplier: Double = 2
    ) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
    }

    /// The delay before the next attempt.
    public mutating func next() -> Duration {
        let ceiling = min(maximum.inSeconds, initial.inSeconds * pow(multiplier, Double(attempt)))
        attempt += 1
        return .milliseconds(Int(Double.random(in: ceiling / 2...ceiling) * 1000))
    }

    public mutating func reset() { attempt = 0 }
}
