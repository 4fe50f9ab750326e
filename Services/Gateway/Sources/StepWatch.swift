import Cluster
import GRPCCore
import Synchronization

/// Times the step a generation waits for against its `StallPolicy` limit; `expire()` throws
/// once one waits too long and a stage has stopped answering. It learns the pipeline's
/// decode speed from the single-token steps it times (median of the last 16).
final class StepWatch: Sendable {
    struct Timeout: Error, CustomStringConvertible {
        var step: UInt64
        var limit: Duration
        /// The stage that did not answer its health check, when one was found.
        var silentWorker: String? = nil
        var description: String {
            "the pipeline did not answer step \(step) within \(limit)"
                + (silentWorker.map { " and worker \($0) does not answer health checks" } ?? "")
        }

        /// DEADLINE_EXCEEDED naming the silent worker the way stages name a failed hop.
        var rpcError: RPCError {
            var metadata = Metadata()
            if let silentWorker {
                metadata.addString(silentWorker, forKey: MetadataKeys.failedWorker)
            }
            return RPCError(code: .deadlineExceeded, message: description, metadata: metadata)
        }
    }

    private struct Waiting {
        var step: UInt64
        var tokens: Int
        var since: ContinuousClock.Instant
        var limit: Duration
        /// `since + limit`, pushed back by a limit each time every stage proves alive.
        var deadline: ContinuousClock.Instant
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
            let now = ContinuousClock.now
            state.waiting = Waiting(
                step: step, tokens: tokens, since: now, limit: limit, deadline: now + limit)
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
    /// At a deadline it asks `silentStage` which stage no longer answers health checks: one
    /// that does not is a stall (`Timeout` naming it); when all answer the pipeline is only
    /// busy (a long queue under load) and the step gets another limit, up to the policy's
    /// ceiling in all. Returns only by throwing (`Timeout`, or cancellation).
    /// Without `silentStage` a step past its limit is a stall at once.
    func expire(silentStage: (@Sendable () async -> String?)? = nil) async throws {
        while true {
            guard let waiting = state.withLock({ $0.waiting }) else {
                try await Task.sleep(for: .milliseconds(250))
                continue
            }
            let now = ContinuousClock.now
            guard now >= waiting.deadline else {
                try await Task.sleep(until: waiting.deadline, clock: .continuous)
                continue
            }
            let waited = now - waiting.since
            if waited >= policy.ceiling {
                throw Timeout(step: waiting.step, limit: waited)
            }
            guard let silentStage else { throw Timeout(step: waiting.step, limit: waited) }
            if let silent = await silentStage() {
                throw Timeout(step: waiting.step, limit: waited, silentWorker: silent)
            }
            GatewayMetrics.slowStep()
            state.withLock { state in
                guard state.waiting?.step == waiting.step else { return }
                state.waiting?.deadline = ContinuousClock.now + waiting.limit
            }
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
