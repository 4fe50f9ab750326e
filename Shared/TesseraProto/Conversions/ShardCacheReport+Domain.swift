import Cluster

// The one place `ShardCacheReport` crosses the wire, both ways (the worker sends, the
// scheduler reads).

extension ShardCacheReport {
    public init(_ wire: Tessera_V1_ShardCacheReport) {
        self.init(
            shards: wire.shards.map {
                Entry(
                    sha256: $0.sha256, sizeBytes: $0.sizeBytes, loaded: $0.loaded, inUse: $0.inUse)
            },
            diskBudgetBytes: wire.diskBudgetBytes, diskUsedBytes: wire.diskUsedBytes,
            memoryBudgetBytes: wire.memoryBudgetBytes, memoryUsedBytes: wire.memoryUsedBytes)
    }
}

extension Tessera_V1_ShardCacheReport {
    public init(_ report: ShardCacheReport) {
        self.init()
        shards = report.shards.map { entry in
            .with {
                $0.sha256 = entry.sha256
                $0.sizeBytes = entry.sizeBytes
                $0.loaded = entry.loaded
                $0.inUse = entry.inUse
            }
        }
        diskBudgetBytes = report.diskBudgetBytes
        diskUsedBytes = report.diskUsedBytes
        memoryBudgetBytes = report.memoryBudgetBytes
        memoryUsedBytes = report.memoryUsedBytes
    }
}
