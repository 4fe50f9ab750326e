import Foundation

/// Greedy-Dual-Size-Frequency (Cherkasova 1998), Tessera's eviction policy (the fast loop).
///
/// Each resident item has a priority `H = L + frequency × reloadSeconds / gigabytes`, set
/// when it is inserted or used; the lowest `H` goes first. `L` is an aging clock: on each
/// eviction it rises to the evicted item's `H`, so an item that was hot long ago but is no
/// longer used sinks below newer ones instead of staying forever (plain LFU's weakness).
/// Dividing by size prefers keeping many small items over one large one when they cost the
/// same to reload per byte; multiplying by the reload cost keeps items that are slow to get
/// back (a shard that must be downloaded over a slow link, not just read from disk).
///
/// Frequency: classic GDSF counts uses while resident and starts again at 1 when an item
/// returns. With `frequencyHalfLife` the count is remembered across evictions and decays
/// (halving every `frequencyHalfLife` seconds without use), so a popular model evicted under
/// pressure comes back with its popularity instead of as a stranger, and yesterday's
/// favourite still fades.
public struct GreedyDualSizeFrequency: CachePolicy {
    public var name: String { "tessera" }
    public let frequencyHalfLife: Double?
    /// The aging clock `L`.
    public private(set) var clock: Double = 0
    private var entries: [String: Entry] = [:]
    /// Decayed use counts, kept across evictions when `frequencyHalfLife` is set.
    private var history: [String: (count: Double, time: Double)] = [:]

    struct Entry {
        var frequency: Double
        var valuePerUse: Double  // reloadSeconds / gigabytes
        var priority: Double
    }

    public init(frequencyHalfLife: Double? = nil) {
        precondition(frequencyHalfLife.map { $0 > 0 } ?? true, "half-life must be positive")
        self.frequencyHalfLife = frequencyHalfLife
    }

    /// `H` of a resident item, nil for one the policy does not hold.
    public func priority(of key: String) -> Double? { entries[key]?.priority }

    public mutating func recordInsert(_ item: CachedItem, at time: Double) {
        let gigabytes = max(Double(item.bytes), 1) / 1e9
        let value = item.reloadSeconds / gigabytes
        let frequency = use(item.key, at: time)
        entries[item.key] = Entry(
            frequency: frequency, valuePerUse: value, priority: clock + frequency * value)
    }

    public mutating func recordAccess(_ key: String, at time: Double) {
        guard var entry = entries[key] else { return }
        entry.frequency = frequencyHalfLife == nil ? entry.frequency + 1 : use(key, at: time)
        entry.priority = clock + entry.frequency * entry.valuePerUse
        entries[key] = entry
    }

    public mutating func recordEviction(_ key: String, at time: Double) {
        if let entry = entries.removeValue(forKey: key) { clock = max(clock, entry.priority) }
    }

    /// Counts one use and returns the frequency to rank with.
    private mutating func use(_ key: String, at time: Double) -> Double {
        guard let halfLife = frequencyHalfLife else { return 1 }
        var count = 1.0
        if let past = history[key] {
            count += past.count * pow(2, -max(0, time - past.time) / halfLife)
        }
        history[key] = (count, time)
        return count
    }

    public func victims(
        toFree bytes: Int, free: Int, resident: [CachedItem], protected: Set<String>,
        at time: Double
    ) -> [String]? {
        // An item the policy never saw ranks as if just inserted at the current clock.
        func rank(_ item: CachedItem) -> Double {
            if let entry = entries[item.key] { return entry.priority }
            return clock + item.reloadSeconds / (max(Double(item.bytes), 1) / 1e9)
        }
        let ranked = resident.sorted { left, right in
            let l = rank(left)
            let r = rank(right)
            return l != r ? l < r : left.key < right.key
        }
        return takeVictims(from: ranked, toFree: bytes, free: free, protected: protected)
    }
}
