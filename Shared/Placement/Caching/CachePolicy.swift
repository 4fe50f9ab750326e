/// An eviction policy: it watches accesses, inserts and evictions, and when room is needed
/// says which resident items to drop. It only ranks; the caller owns the bytes and decides
/// what is protected (in use, pinned, or inside its minimum keep-alive), so the same policy
/// value serves a worker's disk cache, the scheduler's model placement and the simulation.
public protocol CachePolicy: Sendable {
    /// Short name used in flags and benchmark rows: "lru", "lfu", "tessera".
    var name: String { get }
    mutating func recordAccess(_ key: String, at time: Double)
    mutating func recordInsert(_ item: CachedItem, at time: Double)
    mutating func recordEviction(_ key: String, at time: Double)
    /// Keys to evict, in order, so that `bytes` more fit in `free`; never a key in `protected`
    /// (in use, pinned, or inside its minimum keep-alive); nil when that is impossible.
    func victims(
        toFree bytes: Int, free: Int, resident: [CachedItem], protected: Set<String>,
        at time: Double
    ) -> [String]?
}

extension CachePolicy {
    /// Walks `ranked` (cheapest to lose first) until `bytes` fit, skipping protected items.
    /// Every policy ranks differently but stops the same way, so the stopping lives here.
    func takeVictims(
        from ranked: [CachedItem], toFree bytes: Int, free: Int, protected: Set<String>
    ) -> [String]? {
        var available = free
        var chosen: [String] = []
        for item in ranked where available < bytes {
            if protected.contains(item.key) { continue }
            chosen.append(item.key)
            available += item.bytes
        }
        return available >= bytes ? chosen : nil
    }
}

/// The policies by their flag names, for `--cache-policy` style options and the benchmark.
public enum CachePolicies {
    public static let names = ["lru", "lfu", "tessera"]

    public static func named(_ name: String) -> (any CachePolicy)? {
        switch name {
        case "lru": return LeastRecentlyUsed()
        case "lfu": return LeastFrequentlyUsed()
        case "tessera", "gdsf": return GreedyDualSizeFrequency()
        default: return nil
        }
    }
}
