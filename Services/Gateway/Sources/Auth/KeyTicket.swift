import APIKeys
import Synchronization

/// One admitted request's hold on its API key: its stream counts against the key's limit
/// until `finish`, which also counts the request's tokens in the key's window and usage.
/// Each choice of the request reports its tokens as it ends (`record`); the prompt is one
/// prompt however many choices read it, as OpenAI's `usage` counts it.
final class KeyTicket: Sendable {
    private struct Tally {
        var promptTokens = 0
        var completionTokens = 0
        var finished = false
    }

    let key: APIKeyRecord
    private let limiter: KeyLimiter
    private let onFinish: @Sendable (APIKeyUsage) -> Void
    private let tally = Mutex(Tally())

    init(
        key: APIKeyRecord, limiter: KeyLimiter, onFinish: @escaping @Sendable (APIKeyUsage) -> Void
    ) {
        self.key = key
        self.limiter = limiter
        self.onFinish = onFinish
    }

    /// Which queue of fair admission the request waits in (AdmissionQueue).
    var tenant: String { key.id }

    /// One choice's tokens (a choice that failed part-way counts what it generated).
    func record(promptTokens: Int, completionTokens: Int) {
        tally.withLock {
            $0.promptTokens = max($0.promptTokens, promptTokens)
            $0.completionTokens += completionTokens
        }
    }

    /// The request ended (answered, failed or abandoned); later calls do nothing.
    func finish() {
        let usage = tally.withLock { tally -> APIKeyUsage? in
            guard !tally.finished else { return nil }
            tally.finished = true
            return APIKeyUsage(
                requests: 1, promptTokens: tally.promptTokens,
                completionTokens: tally.completionTokens)
        }
        guard let usage else { return }
        limiter.finish(keyID: key.id, tokens: usage.promptTokens + usage.completionTokens)
        onFinish(usage)
    }
}
