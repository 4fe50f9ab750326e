import Synchronization

/// Times the step a generation waits for against its `StallPolicy` limit; `expire()` throws
/// once one waits too long. It learns the pipeline's decode speed from the single-token
/// steps it times (median of the last 16).
final class StepWatch: Sendable {
    struct Timeout: Error, CustomStringConvertible {
        var step: UInt64
        var limit: Duration
        var description: String { "the pipeline did not answer step \(step) within \(limit)" }
    }

    private struct Waiting {
        var step: UInt64
        var tokens: Int
        var since: ContinuousClock.Instant
        var limit: Duration
    }

    private struct State {
        var tokens: [UInt64: Int] = [:]
        var waiting: Waiting?
        var decodeSeconds: [Double] = []
    }

    static let window = 16
    /// Measured steps needed before they replace the scheduler's prediction.
    static let minimumSamples = 3

    private let policy: StallPolicy
    private let predictedSecondsPerToken: Double?
    private let state = Mutex(State())

    init(policy: StallPolicy, predictedSecondsPerToken: Double?) {
        self.policy = policy
        self.predictedSecondsPerToken = predictedSecondsPerToken
    }

    func sent(_ step: UInt64, tokens: Int) { state.withLock { $0.tokens[step] = tokens } }

    /// The generation now waits for `step` (or, closing, for the stream to end).
    func awaiting(_ step: UInt64) {
        state.withLock { state in
            let tokens = state.tokens[step] ?? 1
            let limit = policy.limit(tokens: tokens, secondsPerToken: expectedSeconds(state))
            state.waiting = Waiting(step: step, tokens: tokens, since: .now, limit: limit)
        }
    }

    func answered() {
        state.withLock { state in
            guard let waiting = state.waiting else { return }
            state.waiting = nil
            state.tokens[waiting.step] = nil
            guard waiting.tokens == 1 else { return }
            state.decodeSeconds.append((ContinuousClock.now - waiting.since).inSeconds)
            if state.decodeSeconds.count > Self.window { state.decodeSeconds.removeFirst() }
        }
    }

    /// The limit of the step waited for now (tests, logs).
    var currentLimit: Duration? { state.withLock { $0.waiting?.limit } }

    /// Sleeps until the awaited step's deadline and checks again (the step may have been
    /// answered and another awaited meanwhile), so a healthy stream costs a wake-up per limit
    /// (two seconds or more), not one per step; between steps it looks four times a second.
    /// Returns only by throwing (`Timeout`, or cancellation).
    func expire() async throws {
        while true {
            guard let waiting = state.withLock({ $0.waiting }) else {
                try await Task.sleep(for: .milliseconds(250))
                continue
            }
            let deadline = waiting.since + waiting.limit
            if ContinuousClock.now >= deadline {
                throw Timeout(step: waiting.step, limit: waiting.limit)
            }
            try await Task.sleep(until: deadline, clock: .continuous)
        }
    }

    private func expectedSeconds(_ state: State) -> Double? {
        guard state.decodeSeconds.count >= Self.minimumSamples else {
            return predictedSecondsPerToken
        }
        let sorted = state.decodeSeconds.sorted()
        return sorted[sorted.count / 2]
    }
}
