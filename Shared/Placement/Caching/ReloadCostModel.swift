/// Seconds to make an item warm again, the cost term of `GreedyDualSizeFrequency` and the
/// fast loop's "load where the reload cost is least".
///
/// From the worker's own disk: `bytes / diskBytesPerSecond + loadSeconds` (read, check the
/// SHA-256, map). Not on disk: the download comes first, `bytes / linkBytesPerSecond`, and
/// then the same load. The defaults are the order of magnitude measured on the local
/// cluster (see docs/caching.md); the scheduler can pass measured rates instead.
public struct ReloadCostModel: Sendable, Hashable {
    public var diskBytesPerSecond: Double
    public var linkBytesPerSecond: Double
    /// Fixed cost per load: open, validate the header, allocate, hand to the engine.
    public var loadSeconds: Double

    public init(
        diskBytesPerSecond: Double = 400e6, linkBytesPerSecond: Double = 100e6,
        loadSeconds: Double = 0.05
    ) {
        precondition(diskBytesPerSecond > 0 && linkBytesPerSecond > 0, "rates must be positive")
        self.diskBytesPerSecond = diskBytesPerSecond
        self.linkBytesPerSecond = linkBytesPerSecond
        self.loadSeconds = loadSeconds
    }

    public func fromDisk(bytes: Int) -> Double {
        Double(bytes) / diskBytesPerSecond + loadSeconds
    }

    public func download(bytes: Int) -> Double {
        Double(bytes) / linkBytesPerSecond + fromDisk(bytes: bytes)
    }

    public func seconds(bytes: Int, onDisk: Bool) -> Double {
        onDisk ? fromDisk(bytes: bytes) : download(bytes: bytes)
    }

    /// The item as a policy sees it, priced for where its bytes are now.
    public func item(key: String, bytes: Int, onDisk: Bool) -> CachedItem {
        CachedItem(key: key, bytes: bytes, reloadSeconds: seconds(bytes: bytes, onDisk: onDisk))
    }
}
