import Cluster
import Foundation
import Logging
import ServiceKit

/// The shards this worker hosts: finds a shard in the disk cache or downloads it (making room
/// within the disk budget, `ShardDiskCache`), verifies its hash, charges it to the memory
/// budget and builds its stage. Concurrent requests for the same shard share one load, and
/// a load and a prefetch of the same shard share one download.
actor ShardHost {
    struct LoadResult: Sendable {
        var shard: HostedShard
        var downloaded: Bool
    }

    var ready: [String: HostedShard] = [:]
    var loading: [String: Task<LoadResult, any Error>] = [:]
    var downloads: [String: Task<Void, any Error>] = [:]
    var disk: ShardDiskCache
    /// Unloaded shards that sessions may still be using: alive until the last one ends.
    var retired: [String: RetiredShard] = [:]
    /// Tokens per session the scheduler reserves KV memory for (LoadShard's context_length),
    /// once it said: a session slot count derived from memory counts KV caches of this size.
    private var servedContextLength: Int?
    let files: ShardFiles
    let downloader: ShardDownloader
    let budget: MemoryBudget
    let threads: Int
    let batching: BatchLimits
    let state: WorkerState
    let logger: Logger
    /// The test-only faulty worker maps a modified copy of each verified file (`ShardWeightFaults`).
    let mappedPath: ShardPathMapping?

    init(
        files: ShardFiles, downloader: ShardDownloader, budget: MemoryBudget, threads: Int,
        batching: BatchLimits = BatchLimits(), state: WorkerState, logger: Logger,
        mappedPath: ShardPathMapping? = nil, diskBudget: UInt64 = 4096 << 20
    ) {
        var disk = ShardDiskCache(budgetBytes: diskBudget)
        disk.adoptFiles(in: files.directory, at: Self.now())
        self.disk = disk
        self.mappedPath = mappedPath
        self.batching = batching
        self.files = files
        self.downloader = downloader
        self.budget = budget
        self.threads = threads
        self.state = state
        self.logger = logger
    }

    func shard(_ sha: String) -> HostedShard? { ready[sha] }

    /// Makes `ref` ready, downloading it from `cacheManager` when it is not cached; returns
    /// at once when it already is. `contextLength`: the session context the scheduler serves.
    func load(_ ref: ShardReference, cacheManager: ListenAddress?, contextLength: Int? = nil)
        async throws -> LoadResult
    {
        let sha = ref.sha256.lowercased()
        guard ShardReference.isValidHash(sha) else {
            throw WorkerError.invalidRequest(
                "shard.sha256 '\(ref.sha256)' is not 64 hexadecimal digits")
        }
        if let contextLength, contextLength > 0, contextLength != servedContextLength {
            servedContextLength = contextLength
            deriveSessionSlots()
        }
        if let shard = ready[sha] {
            if let asked = ref.layers, asked != shard.layers {
                throw WorkerError.invalidRequest(
                    "shard \(sha) holds layers \(shard.layers.layerSpan), not \(asked.layerSpan)")
            }
            return LoadResult(shard: shard, downloaded: false)
        }
        if let task = loading[sha] { return try await task.value }
        // Unstructured so a caller that gives up does not abort the load others await; owned:
        // this caller awaits it to the end (`value` ignores cancellation), then drops it below.
        let task = Task { try await self.fetchAndMap(ref, sha: sha, cacheManager: cacheManager) }
        loading[sha] = task
        defer { loading[sha] = nil }
        let result = try await task.value
        ready[sha] = result.shard
        publish()
        logger.info(
            "shard ready",
            metadata: [
                "shard": "\(sha)", "layers": "\(result.shard.layers.layerSpan)",
                "downloaded": "\(result.downloaded)",
            ])
        return result
    }

    /// Stops offering the shard; sessions already using it finish first (see `HostedShard`).
    func unload(_ sha: String) throws(WorkerError) {
        let sha = sha.lowercased()
        guard ShardReference.isValidHash(sha) else {
            throw .invalidRequest("shard_sha256 '\(sha)' is not 64 hexadecimal digits")
        }
        guard let shard = ready.removeValue(forKey: sha) else { throw .shardNotLoaded(sha256: sha) }
        retired[sha] = RetiredShard(shard: shard)
        publish()
        logger.info("shard unloaded", metadata: ["shard": "\(sha)"])
    }

    private func publish() {
        state.readyShards = ready.values.map(\.ref)
        deriveSessionSlots()
    }

    /// The session slots follow the memory the shards leave (unless --max-sessions fixed them).
    private func deriveSessionSlots() {
        state.slots.derive(
            budgetBytes: budget.limit, shards: Array(ready.values),
            contextLength: servedContextLength)
    }

    private func fetchAndMap(_ ref: ShardReference, sha: String, cacheManager: ListenAddress?)
        async throws -> LoadResult
    {
        if ref.sizeBytes > budget.freeBytes {
            throw budget.exhausted(needing: ref.sizeBytes, for: "shard \(sha)")
        }
        let downloaded = try await ensureOnDisk(
            sha, bytes: ref.sizeBytes, cacheManager: cacheManager)
        let verified = files.path(for: sha)
        let path = try await mappedPath?(verified, sha) ?? verified
        let size = files.size(of: path)
        try budget.charge(size, for: "shard \(sha)")
        let threads = self.threads
        let batching = self.batching
        let budget = self.budget
        do {
            let shard = try await Offload.run {
                try HostedShard(
                    path: path, sha: sha, requested: ref, threads: threads, fileBytes: size,
                    budget: budget, batching: batching)
            }
            return LoadResult(shard: shard, downloaded: downloaded)
        } catch {
            // HostedShard did not come to life, so its deinit will not give the bytes back.
            budget.release(size)
            throw error
        }
    }
}

/// A shard taken out of service whose sessions may still hold it; `weak`, so it does not keep
/// the shard alive, and its file stays protected from eviction while the shard lives.
struct RetiredShard {
    weak var shard: HostedShard?
}
