import APIKeys
import ServiceKit
import Synchronization

/// Each key's use in the last minute, against its limits: requests admitted (kept only for
/// keys with a requests-per-minute limit, so at most that many), tokens per second (at most
/// 60 buckets) and generations running now. A request is admitted or refused here before it
/// does any work; `finish` gives its stream back and counts its tokens.
final class KeyLimiter: Sendable {
    static let window: Duration = .seconds(60)

    private struct KeyUse {
        var admitted: [ContinuousClock.Instant] = []
        /// Tokens per whole second since `epoch`.
        var tokens: [(second: Int64, count: Int)] = []
        var streams = 0
    }

    private let epoch = ContinuousClock.now
    private let uses = Mutex([String: KeyUse]())

    /// Admits one request of `key` (counting it and its stream), or says which limit it hit.
    func admit(_ key: APIKeyRecord) -> Result<Void, GatewayError> {
        let now = ContinuousClock.now
        let limits = key.limits
        return uses.withLock { uses -> Result<Void, GatewayError> in
            var use = uses[key.id] ?? KeyUse()
            prune(&use, now: now)
            defer { uses[key.id] = use }
            if limits.concurrentStreams > 0 && use.streams >= limits.concurrentStreams {
                return .failure(
                    refusal(
                        key, "concurrent streams", limit: limits.concurrentStreams,
                        used: use.streams, retryAfter: .seconds(1)))
            }
            if limits.requestsPerMinute > 0 && use.admitted.count >= limits.requestsPerMinute {
                let freeAt =
                    use.admitted[use.admitted.count - limits.requestsPerMinute] + Self.window
                return .failure(
                    refusal(
                        key, "requests per minute", limit: limits.requestsPerMinute,
                        used: use.admitted.count, retryAfter: freeAt - now))
            }
            let tokens = use.tokens.reduce(0) { $0 + $1.count }
            if limits.tokensPerMinute > 0 && tokens >= limits.tokensPerMinute {
                return .failure(
                    refusal(
                        key, "tokens per minute", limit: limits.tokensPerMinute, used: tokens,
                        retryAfter: tokenRetry(use, limit: limits.tokensPerMinute, now: now)))
            }
            if limits.requestsPerMinute > 0 { use.admitted.append(now) }
            use.streams += 1
            return .success(())
        }
    }

    /// A request of `keyID` ended after using `tokens`.
    func finish(keyID: String, tokens: Int) {
        let now = ContinuousClock.now
        let second = (now - epoch).components.seconds
        uses.withLock { uses in
            guard var use = uses[keyID] else { return }
            use.streams = max(0, use.streams - 1)
            if tokens > 0 {
                if let last = use.tokens.last, last.second == second {
                    use.tokens[use.tokens.count - 1].count += tokens
                } else {
                    use.tokens.append((second, tokens))
                }
            }
            prune(&use, now: now)
            if use.streams == 0 && use.admitted.isEmpty && use.tokens.isEmpty {
                uses.removeValue(forKey: keyID)
            } else {
                uses[keyID] = use
            }
        }
    }

    /// Generations of `keyID` running now.
    func streams(of keyID: String) -> Int {
        uses.withLock { $0[keyID]?.streams ?? 0 }
    }

    private func prune(_ use: inout KeyUse, now: ContinuousClock.Instant) {
        use.admitted.removeAll { now - $0 >= Self.window }
        let oldest = (now - epoch).components.seconds - Self.window.components.seconds
        use.tokens.removeAll { $0.second < oldest }
    }

    /// How long until enough of the window's tokens age out to bring it under `limit`.
    private func tokenRetry(_ use: KeyUse, limit: Int, now: ContinuousClock.Instant) -> Duration {
        var remaining = use.tokens.reduce(0) { $0 + $1.count }
        for bucket in use.tokens {
            remaining -= bucket.count
            if remaining < limit {
                let expires = epoch + .seconds(bucket.second + 1) + Self.window
                return max(.seconds(1), expires - now)
            }
        }
        return .seconds(1)
    }

    private func refusal(
        _ key: APIKeyRecord, _ limitName: String, limit: Int, used: Int, retryAfter: Duration
    ) -> GatewayError {
        let seconds = max(1, Int((retryAfter.inSeconds).rounded(.up)))
        return GatewayError(
            .keyRateLimited,
            "rate limit reached for the API key '\(key.name)' on \(limitName): limit \(limit), "
                + "used \(used); retry in \(seconds) s",
            retryAfter: .seconds(seconds))
    }
}
