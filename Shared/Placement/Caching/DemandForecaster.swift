import Foundation

/// Forecasts each key's request rate (requests/second) for the slow loop: Holt's linear
/// method (an exponentially weighted level plus an exponentially weighted trend) over fixed
/// time buckets.
///
/// Requests are counted into buckets of `bucketSeconds`; when a bucket closes every known key
/// gets an observation `x = count / bucketSeconds` (zero when it had no requests, so an idle
/// key's rate decays) and
///
///     level' = α·x + (1 − α)·(level + trend·bucketSeconds)
///     trend' = β·(level' − level)/bucketSeconds + (1 − β)·trend
///
/// with `α = 1 − 2^(−bucketSeconds / halfLife)` and `β = 1 − 2^(−bucketSeconds / trendHalfLife)`,
/// so an observation's weight halves every `halfLife` seconds. A key's first bucket sets its
/// level to that observation and its trend to zero. Buckets are needed because counts, not
/// inter-arrival gaps, give an unbiased rate; the trend lets the slow loop stage a model
/// whose demand is rising before it is the most requested.
public struct DemandForecaster: Sendable {
    public let halfLife: Double
    public let trendHalfLife: Double
    public let bucketSeconds: Double
    let alpha: Double
    let beta: Double

    struct State: Sendable {
        var level: Double
        var trend: Double
    }

    private var states: [String: State] = [:]
    private var pending: [String: Int] = [:]
    /// Start of the open bucket; nil until the first record.
    private var bucketStart: Double?

    /// `bucketSeconds` defaults to a quarter of `halfLife`: short enough to follow a shift
    /// within one half-life, long enough that most buckets of a busy key are not empty.
    public init(halfLife: Double, trendHalfLife: Double, bucketSeconds: Double? = nil) {
        precondition(halfLife > 0 && trendHalfLife > 0, "half-lives must be positive")
        self.halfLife = halfLife
        self.trendHalfLife = trendHalfLife
        let bucket = bucketSeconds ?? halfLife / 4
        precondition(bucket > 0, "bucketSeconds must be positive")
        self.bucketSeconds = bucket
        alpha = 1 - pow(2, -bucket / halfLife)
        beta = 1 - pow(2, -bucket / trendHalfLife)
    }

    /// Counts `count` requests for `key` at `time` (times must not go backwards by more than
    /// a bucket; a late record lands in the open bucket).
    public mutating func record(_ key: String, count: Int, at time: Double) {
        advance(to: time)
        if bucketStart == nil { bucketStart = time }
        pending[key, default: 0] += count
    }

    /// Closes every bucket that ended by `time`.
    public mutating func advance(to time: Double) {
        guard var start = bucketStart else { return }
        while time >= start + bucketSeconds {
            closeBucket()
            start += bucketSeconds
            // Nothing pending and every rate at rest: jump the remaining empty buckets.
            if pending.isEmpty && states.values.allSatisfy({ $0.level == 0 && $0.trend == 0 }) {
                let skipped = ((time - start) / bucketSeconds).rounded(.down)
                start += skipped * bucketSeconds
            }
        }
        bucketStart = start
    }

    private mutating func closeBucket() {
        for key in Set(states.keys).union(pending.keys) {
            let x = Double(pending[key] ?? 0) / bucketSeconds
            guard let old = states[key] else {
                states[key] = State(level: x, trend: 0)
                continue
            }
            let level = alpha * x + (1 - alpha) * (old.level + old.trend * bucketSeconds)
            let trend = beta * (level - old.level) / bucketSeconds + (1 - beta) * old.trend
            // Rates below one request a day are rest: keeps idle keys from drifting forever.
            if abs(level) < 1e-5 && abs(trend) < 1e-9 {
                states[key] = State(level: 0, trend: 0)
            } else {
                states[key] = State(level: level, trend: trend)
            }
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// The mean rate expected over `[time, time + horizon]`, never negative. A key never
    /// recorded is 0.
    public func rate(_ key: String, at time: Double, horizon: Double) -> Double {
        var advanced = self
        advanced.advance(to: time)
        return advanced.forecast(key, at: time, horizon: horizon)
    }

    /// Every key with its forecast rate, highest first (ties by key).
    public func ranked(at time: Double, horizon: Double) -> [(key: String, rate: Double)] {
        var advanced = self
        advanced.advance(to: time)
        var rows: [(key: String, rate: Double)] = []
        for key in Set(advanced.states.keys).union(advanced.pending.keys) {
            rows.append((key: key, rate: advanced.forecast(key, at: time, horizon: horizon)))
        }
        rows.sort { $0.rate != $1.rate ? $0.rate > $1.rate : $0.key < $1.key }
        return rows
    }

    /// Level and trend as of the last closed bucket, extrapolated to the middle of the horizon.
    /// A key seen only in the open bucket has no level yet: its partial count is the estimate.
    private func forecast(_ key: String, at time: Double, horizon: Double) -> Double {
        let lastClose = bucketStart ?? time
        guard let state = states[key] else {
            let seen = Double(pending[key] ?? 0)
            return seen / max(time - lastClose, bucketSeconds)
        }
        let ahead = max(0, time - lastClose) + horizon / 2
        return max(0, state.level + state.trend * ahead)
    }
}
