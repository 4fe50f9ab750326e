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

    /// Charges `bytes` for `what` (named in the error) or throws when they do not fit.
    func charge(_ bytes: UInt64, for what: String) throws(WorkerError) {
        guard reserve(bytes) else { throw exhausted(needing: bytes, for: what) }
    }

    /// The refusal for `what`, which needs `bytes` more than are free.
    func exhausted(needing bytes: UInt64, for what: String) -> WorkerError {
        .notEnoughMemory(
            "\(what) needs \(bytes >> 20) MiB but only \(freeBytes >> 20) MiB of the worker's "
                + "\(limit >> 20) MiB memory budget is free")
    }

    func release(_ bytes: UInt64) {
        charged.withLock { used in used -= min(used, bytes) }
    }

    var usedBytes: UInt64 { charged.withLock { $0 } }
    var freeBytes: UInt64 { limit - min(limit, usedBytes) }
}
