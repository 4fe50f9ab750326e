/// Something a cache holds: a shard on a worker's disk or in its memory, or a whole model
/// on a worker. `reloadSeconds` is what getting it back would cost if it were evicted
/// (see `ReloadCostModel`); size-and-cost-aware policies weigh it against `bytes`.
public struct CachedItem: Sendable, Hashable {
    public var key: String
    public var bytes: Int
    public var reloadSeconds: Double

    public init(key: String, bytes: Int, reloadSeconds: Double) {
        self.key = key
        self.bytes = bytes
        self.reloadSeconds = reloadSeconds
    }
}
