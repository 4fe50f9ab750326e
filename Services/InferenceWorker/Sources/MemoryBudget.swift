import Synchronization

/// The bytes this worker promised the scheduler it would stay within: mapped shard files and
/// reserved KV caches are charged here, so a shard or session that does not fit is refused
/// up front (RESOURCE_EXHAUSTED) instead of pushing the machine into swap.
final class MemoryBudget: Sendable {
    let limit: UInt64
    private let charged = Mutex<UInt64>(0)

    init(limit: UInt64) {
        self.limit = limit
    }

    /// Charges `bytes` if they fit; false (and nothing charged) when they would exceed the limit.
    func reserve(_ bytes: UInt64) -> Bool {
        charged.withLock { used in
            guard bytes <= limit, used <= limit - bytes else { return false }
            used += bytes
            return true
        }
    }

    func release(_ bytes: UInt64) {
        charged.withLock { used in used -= min(used, bytes) }
    }

    var usedBytes: UInt64 { charged.withLock { $0 } }
    var freeBytes: UInt64 { limit - min(limit, usedBytes) }
}
