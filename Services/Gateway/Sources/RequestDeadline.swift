import GRPCCore

/// The deadline a gRPC client set on its call (the `grpc-timeout` header). The server cancels
/// the call when it passes; a request waiting for a session slot gives up a little before,
/// so the client reads an error that says it waited in the queue rather than a bare timeout.
struct RequestDeadline: Sendable {
    /// What the client allowed the call.
    var timeout: Duration
    /// When it runs out, on this gateway's clock (from when the call arrived).
    var instant: ContinuousClock.Instant

    /// How much before the client's deadline a queued request gives up: the answer must
    /// reach the client before its own timer fires.
    static let margin: Duration = .milliseconds(100)

    /// When a wait must end for the answer to arrive in time.
    var waitEnd: ContinuousClock.Instant { instant - min(Self.margin, timeout / 10) }

    init(timeout: Duration, now: ContinuousClock.Instant = .now) {
        self.timeout = timeout
        instant = now + timeout
    }

    /// The call's deadline, if its client set one.
    init?(_ metadata: Metadata, now: ContinuousClock.Instant = .now) {
        guard let text = metadata[stringValues: "grpc-timeout"].first(where: { _ in true }),
            let timeout = Self.parse(text)
        else { return nil }
        self.init(timeout: timeout, now: now)
    }

    /// A `grpc-timeout` value: one to eight digits and a unit (H, M, S, m, u, n).
    static func parse(_ text: String) -> Duration? {
        guard let unit = text.last, (2...9).contains(text.count),
            let value = Int64(text.dropLast()), value >= 0
        else { return nil }
        switch unit {
        case "H": return .seconds(value * 3600)
        case "M": return .seconds(value * 60)
        case "S": return .seconds(value)
        case "m": return .milliseconds(value)
        case "u": return .microseconds(value)
        case "n": return .nanoseconds(value)
        default: return nil
        }
    }
}
