import GRPCCore
import Logging
import ServiceKit

/// Logs a run of failed attempts at one thing (heartbeats, registration) without flooding: the
/// first failure, then a reminder every `reminderInterval` with how long and how many, a new
/// line only when the kind of error changes (its gRPC code), and one line when it ends. A two-minute scheduler
/// outage is a handful of lines per worker, not one every retry.
struct FailureStreak {
    let subject: String
    var reminderInterval: Duration = .seconds(60)
    private var started: ContinuousClock.Instant?
    private var lastLogged: ContinuousClock.Instant?
    private var lastKind = ""
    private(set) var attempts = 0

    init(_ subject: String, reminderInterval: Duration = .seconds(60)) {
        self.subject = subject
        self.reminderInterval = reminderInterval
    }

    mutating func failed(_ error: any Error, logger: Logger, now: ContinuousClock.Instant = .now) {
        attempts += 1
        let text = Self.summary(of: error)
        let kind = (error as? RPCError).map { "\($0.code)" } ?? text
        guard let started, let lastLogged else {
            started = now
            lastLogged = now
            lastKind = kind
            logger.notice("\(subject) failed; retrying", metadata: ["error": "\(text)"])
            return
        }
        guard kind != lastKind || now - lastLogged >= reminderInterval else { return }
        self.lastLogged = now
        lastKind = kind
        logger.notice(
            "\(subject) failing",
            metadata: [
                "for": "\(Self.seconds(now - started)) s", "attempts": "\(attempts)",
                "error": "\(text)",
            ])
    }

    /// The thing worked again: one line if it had been failing.
    mutating func ended(logger: Logger, now: ContinuousClock.Instant = .now) {
        guard let started else { return }
        logger.notice(
            "\(subject) recovered",
            metadata: ["after": "\(Self.seconds(now - started)) s", "attempts": "\(attempts)"])
        self = FailureStreak(subject, reminderInterval: reminderInterval)
    }

    /// Code and message, without the transport's nested cause (whose details vary between
    /// otherwise identical failures, as the message itself may).
    private static func summary(of error: any Error) -> String {
        guard let rpc = error as? RPCError else { return "\(error)" }
        return "\(rpc.code): \(rpc.message)"
    }

    private static func seconds(_ duration: Duration) -> Double {
        (duration.inSeconds * 10).rounded() / 10
    }
}
