import Foundation
import Synchronization

/// What the gateway produced in one wall-clock second: tokens streamed to clients, first
/// tokens (with their summed time to first token) and generations that ended.
struct ThroughputSample: Sendable, Equatable {
    /// Unix time of the second's start.
    var second: Int64
    var tokens = 0
    var firstTokens = 0
    var timeToFirstTokenTotal: Duration = .zero
    var finished = 0

    /// The mean time to first token of the requests whose first token came this second.
    var meanTimeToFirstToken: Duration? {
        firstTokens > 0 ? timeToFirstTokenTotal / firstTokens : nil
    }
}

/// Per-second counts for the last `seconds` seconds, in a ring indexed by the second: a
/// record touches one bucket under a lock (no timer, no task), and a read fills the seconds
/// nothing happened in with zeros. Older seconds are overwritten.
final class ThroughputHistory: Sendable {
    let seconds: Int
    private let buckets: Mutex<[ThroughputSample]>

    init(seconds: Int = 120) {
        self.seconds = max(2, seconds)
        buckets = Mutex(Array(repeating: ThroughputSample(second: -1), count: max(2, seconds)))
    }

    func recordTokens(_ count: Int = 1, at time: Date = Date()) {
        update(at: time) { $0.tokens += count }
    }

    func recordFirstToken(after wait: Duration, at time: Date = Date()) {
        update(at: time) {
            $0.firstTokens += 1
            $0.timeToFirstTokenTotal += wait
        }
    }

    func recordFinished(at time: Date = Date()) {
        update(at: time) { $0.finished += 1 }
    }

    /// The `count` whole seconds before the one `now` is in (that one is still filling),
    /// oldest first, zeros where nothing was recorded.
    func samples(count: Int, now: Date = Date()) -> [ThroughputSample] {
        let current = Self.second(of: now)
        let count = min(max(0, count), seconds - 1)
        let stored = buckets.withLock { $0 }
        var result: [ThroughputSample] = []
        result.reserveCapacity(count)
        var second = current - Int64(count)
        while second < current {
            let bucket = stored[index(of: second)]
            result.append(bucket.second == second ? bucket : ThroughputSample(second: second))
            second += 1
        }
        return result
    }

    private func update(at time: Date, _ change: (inout ThroughputSample) -> Void) {
        let second = Self.second(of: time)
        let slot = index(of: second)
        buckets.withLock { buckets in
            if buckets[slot].second != second { buckets[slot] = ThroughputSample(second: second) }
            change(&buckets[slot])
        }
    }

    private func index(of second: Int64) -> Int {
        Int(((second % Int64(seconds)) + Int64(seconds)) % Int64(seconds))
    }

    private static func second(of time: Date) -> Int64 {
        Int64(time.timeIntervalSince1970.rounded(.down))
    }
}
