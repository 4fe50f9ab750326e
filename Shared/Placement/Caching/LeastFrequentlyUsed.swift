/// Evicts the item used least often while resident (in-cache LFU: the count starts again
/// when an item comes back, so a model that was popular yesterday does not squat forever).
/// Ties go to the least recently used, then to the key, so the order is deterministic.
public struct LeastFrequentlyUsed: CachePolicy {
    public var name: String { "lfu" }
    private var uses: [String: Int] = [:]
    private var lastUse: [String: Double] = [:]

    public init() {}

    public mutating func recordAccess(_ key: String, at time: Double) {
        uses[key, default: 0] += 1
        lastUse[key] = time
    }

    public mutating func recordInsert(_ item: CachedItem, at time: Double) {
        uses[item.key] = 1
        lastUse[item.key] = time
    }

    public mutating func recordEviction(_ key: String, at time: Double) {
        uses[key] = nil
        lastUse[key] = nil
    }

    public func victims(
        toFree bytes: Int, free: Int, resident: [CachedItem], protected: Set<String>,
        at time: Double
    ) -> [String]? {
        let ranked = resident.sorted { left, right in
            let lu = uses[left.key] ?? 0
            let ru = uses[right.key] ?? 0
            if lu != ru { return lu < ru }
            let lt = lastUse[left.key] ?? -Double.infinity
            let rt = lastUse[right.key] ?? -Double.infinity
            return lt != rt ? lt < rt : left.key < right.key
        }
        return takeVictims(from: ranked, toFree: bytes, free: free, protected: protected)
    }
}
