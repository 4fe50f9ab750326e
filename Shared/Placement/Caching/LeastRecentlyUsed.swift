/// Evicts the item whose last use is oldest. An item the policy never saw (found on disk at
/// start-up and not yet recorded) counts as used at -infinity, so it goes first.
public struct LeastRecentlyUsed: CachePolicy {
    public var name: String { "lru" }
    private var lastUse: [String: Double] = [:]

    public init() {}

    public mutating func recordAccess(_ key: String, at time: Double) { lastUse[key] = time }

    public mutating func recordInsert(_ item: CachedItem, at time: Double) {
        lastUse[item.key] = time
    }

    public mutating func recordEviction(_ key: String, at time: Double) {
        lastUse[key] = nil
    }

    public func victims(
        toFree bytes: Int, free: Int, resident: [CachedItem], protected: Set<String>,
        at time: Double
    ) -> [String]? {
        let ranked = resident.sorted { left, right in
            let l = lastUse[left.key] ?? -Double.infinity
            let r = lastUse[right.key] ?? -Double.infinity
            return l != r ? l < r : left.key < right.key
        }
        return takeVictims(from: ranked, toFree: bytes, free: free, protected: protected)
    }
}
