/// Counts thrash: an item evicted and loaded again within `window` seconds. Each such
/// reload is one event; a healthy cache has few, a cache too small for its working set (or a
/// policy fighting the slow loop) has many.
public struct ThrashDetector: Sendable {
    public let window: Double
    public private(set) var events = 0
    private var evictedAt: [String: Double] = [:]

    public init(window: Double) {
        precondition(window >= 0, "window must not be negative")
        self.window = window
    }

    public mutating func recordEviction(_ key: String, at time: Double) {
        evictedAt[key] = time
    }

    /// Records a load; true when it is a thrash event (reload within the window).
    @discardableResult
    public mutating func recordLoad(_ key: String, at time: Double) -> Bool {
        guard let evicted = evictedAt.removeValue(forKey: key) else { return false }
        guard time - evicted <= window else { return false }
        events += 1
        return true
    }

    /// Forgets evictions older than the window (bounded memory for long runs).
    public mutating func prune(at time: Double) {
        evictedAt = evictedAt.filter { time - $0.value <= window }
    }
}
