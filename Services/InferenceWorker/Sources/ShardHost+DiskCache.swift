import Cluster
import Foundation
import ServiceKit

/// The disk side of `ShardHost`: downloads within the disk budget, prefetches, and the cache
/// report heartbeats carry.
extension ShardHost {
    /// Makes sure the verified file of `sha` is on disk, downloading it (after making room)
    /// when it is not; true when it downloaded. `bytes`: the size the scheduler named, 0 when
    /// unknown (room is then made after the download).
    func ensureOnDisk(_ sha: String, bytes: UInt64, cacheManager: ListenAddress?) async throws
        -> Bool
    {
        if let download = downloads[sha] {
            try await download.value
            return true
        }
        try files.createDirectory()
        if try await files.cachedFileIsIntact(sha) {
            disk.adopt(sha, bytes: files.size(of: files.path(for: sha)), at: Self.now())
            disk.used(sha, at: Self.now())
            return false
        }
        disk.forget(sha, at: Self.now())  // damaged (deleted by the check) or never there
        // Another caller may have started the download while the hash was checked.
        if let download = downloads[sha] {
            try await download.value
            return true
        }
        guard let cacheManager else {
            throw WorkerError.invalidRequest(
                "shard \(sha) is not cached on this worker and no cache_manager_address was given")
        }
        let victims = try disk.reserve(
            sha, bytes: bytes, protected: protectedShards(), at: Self.now())
        deleteEvicted(victims)
        let downloader = self.downloader
        // Unstructured for the same reason as loads: one download that every waiter shares.
        let task = Task { try await downloader.downloadVerified(sha, from: cacheManager) }
        downloads[sha] = task
        defer { downloads[sha] = nil }
        do {
            try await task.value
        } catch {
            disk.cancelled(sha)
            throw error
        }
        disk.stored(sha, bytes: files.size(of: files.path(for: sha)), at: Self.now())
        deleteEvicted(disk.overflow(protected: protectedShards().union([sha]), at: Self.now()))
        return true
    }

    /// Downloads `ref` to disk without loading it (`PrefetchShard`).
    func prefetch(_ ref: ShardReference, cacheManager: ListenAddress?) async throws -> Bool {
        let sha = ref.sha256.lowercased()
        guard ShardReference.isValidHash(sha) else {
            throw WorkerError.invalidRequest(
                "shard.sha256 '\(ref.sha256)' is not 64 hexadecimal digits")
        }
        let downloaded = try await ensureOnDisk(
            sha, bytes: ref.sizeBytes, cacheManager: cacheManager)
        if downloaded {
            logger.info("shard prefetched", metadata: ["shard": "\(sha)"])
        }
        return downloaded
    }

    /// What is on disk, loaded and in use, with both budgets.
    func cacheReport() -> ShardCacheReport {
        let inUse = shardsInUse()
        let entries = disk.files.keys.sorted().map { sha in
            ShardCacheReport.Entry(
                sha256: sha, sizeBytes: disk.files[sha] ?? 0, loaded: ready[sha] != nil,
                inUse: inUse.contains(sha))
        }
        let report = ShardCacheReport(
            shards: entries, diskBudgetBytes: disk.budgetBytes, diskUsedBytes: disk.usedBytes,
            memoryBudgetBytes: budget.limit, memoryUsedBytes: budget.usedBytes)
        WorkerMetrics.diskCache(report)
        return report
    }

    /// Never evicted from disk: loaded, loading, downloading, or held by sessions.
    func protectedShards() -> Set<String> {
        Set(ready.keys).union(loading.keys).union(downloads.keys).union(shardsInUse())
    }

    /// Shards that sessions hold: a loaded shard anyone but this host references, and an
    /// unloaded one that is still alive.
    func shardsInUse() -> Set<String> {
        var inUse: Set<String> = []
        for sha in Array(ready.keys) {
            // Taken out of the table for the check, so the table's reference is the only one
            // unless a session holds it too.
            guard var shard = ready.removeValue(forKey: sha) else { continue }
            if !isKnownUniquelyReferenced(&shard) { inUse.insert(sha) }
            ready[sha] = shard
        }
        for (sha, entry) in retired {
            if entry.shard != nil { inUse.insert(sha) } else { retired[sha] = nil }
        }
        return inUse
    }

    private func deleteEvicted(_ victims: [String]) {
        for sha in victims {
            try? FileManager.default.removeItem(atPath: files.path(for: sha))
            logger.info("shard evicted from disk", metadata: ["shard": "\(sha)"])
        }
    }

    /// Seconds on a monotonic clock, for the policy's bookkeeping.
    static func now() -> Double { ProcessInfo.processInfo.systemUptime }
}
