/// What a worker's shard cache holds and its budgets, sent with every heartbeat (and in
/// GetStatus), so the scheduler's slow loop knows which shards load from disk instead of
/// downloading and how much room each worker has. The worker writes it, the scheduler reads
/// it; the wire form converts in TesseraProto (ShardCacheReport+Domain.swift).
public struct ShardCacheReport: Sendable, Hashable {
    /// One verified shard file on the worker's disk.
    public struct Entry: Sendable, Hashable {
        public var sha256: String
        public var sizeBytes: UInt64
        /// Mapped in memory and able to serve.
        public var loaded: Bool
        /// Sessions are open on it (possibly after an unload); never evicted while true.
        public var inUse: Bool

        public init(sha256: String, sizeBytes: UInt64, loaded: Bool, inUse: Bool) {
            self.sha256 = sha256
            self.sizeBytes = sizeBytes
            self.loaded = loaded
            self.inUse = inUse
        }
    }

    /// Sorted by hash.
    public var shards: [Entry]
    public var diskBudgetBytes: UInt64
    /// Verified files plus room held for downloads under way.
    public var diskUsedBytes: UInt64
    public var memoryBudgetBytes: UInt64
    /// Charged to the memory budget: mapped shards and KV caches.
    public var memoryUsedBytes: UInt64

    public init(
        shards: [Entry] = [], diskBudgetBytes: UInt64 = 0, diskUsedBytes: UInt64 = 0,
        memoryBudgetBytes: UInt64 = 0, memoryUsedBytes: UInt64 = 0
    ) {
        self.shards = shards
        self.diskBudgetBytes = diskBudgetBytes
        self.diskUsedBytes = diskUsedBytes
        self.memoryBudgetBytes = memoryBudgetBytes
        self.memoryUsedBytes = memoryUsedBytes
    }

    /// Whether the shard is on this worker's disk (a load needs no download).
    public func holds(_ sha256: String) -> Bool { shards.contains { $0.sha256 == sha256 } }

    public var diskFreeBytes: UInt64 { diskBudgetBytes - min(diskBudgetBytes, diskUsedBytes) }
}
