/// The slow loop's decision: which items should be warm for the next interval, given each
/// one's forecast request rate and a byte budget. Items are taken in order of forecast value
/// per byte, `rate × reloadSeconds / bytes` (requests per second saved, weighted by what a
/// miss costs, per byte of memory), while they fit in `budgetBytes` and are forecast at
/// least `minimumRate`. The fast loop then protects the warm set from eviction until the next
/// slow-loop run, and the caller pre-stages the members that are not yet warm.
public struct WarmSetPlanner: Sendable {
    /// Items forecast below this rate (requests/second) are not worth keeping warm ahead.
    public var minimumRate: Double

    public init(minimumRate: Double) {
        self.minimumRate = minimumRate
    }

    public struct Candidate: Sendable, Hashable {
        public var item: CachedItem
        public var rate: Double

        public init(item: CachedItem, rate: Double) {
            self.item = item
            self.rate = rate
        }

        var valuePerByte: Double {
            rate * item.reloadSeconds / Double(max(item.bytes, 1))
        }
    }

    /// The keys to keep warm, best first.
    public func warmSet(_ candidates: [Candidate], budgetBytes: Int) -> [String] {
        let ranked = candidates.sorted { left, right in
            let l = left.valuePerByte
            let r = right.valuePerByte
            return l != r ? l > r : left.item.key < right.item.key
        }
        var used = 0
        var chosen: [String] = []
        for candidate in ranked where candidate.rate >= minimumRate {
            if used + candidate.item.bytes > budgetBytes { continue }
            used += candidate.item.bytes
            chosen.append(candidate.item.key)
        }
        return chosen
    }
}
