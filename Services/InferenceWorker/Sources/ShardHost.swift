import Foundation
import GRPCCore
import Logging
import TesseraProto

/// The shards this worker hosts: finds a shard in the disk cache or downloads it, verifies
/// its hash, charges it to the memory budget and builds its stage. Concurrent requests for
/// the same shard share one load.
actor ShardHost {
    struct LoadResult: Sendable {
        var shard: HostedShard
        var downloaded: Bool
    }

    private var ready: [String: HostedShard] = [:]
    private var loading: [String: Task<LoadResult, any Error>] = [:]
    let files: ShardFiles
    let downloader: ShardDownloader
    let budget: MemoryBudget
    let threads: Int
    let state: WorkerState
    let logger: Logger

    init(files: ShardFiles, downloader: ShardDownloader, budget: MemoryBudget, threads: Int, state: WorkerState, logger: Logger) {
        self.files = files
        self.downloader = downloader
        self.budget = budget
        self.threads = threads
        self.state = state
        self.logger = logger
    }

    func shard(_ sha: String) -> HostedShard? { ready[sha] }

    /// Makes `ref` ready; returns at once when it already is.
    func load(_ ref: Tessera_V1_ShardRef, cacheManager: String) async throws -> LoadResult {
        let sha = ref.sha256.lowercased()
        guard ShardFiles.isValidHash(sha) else {
            throw RPCError.invalidArgument("shard.sha256 '\(ref.sha256)' is not 64 hexadecimal digits")
        }
        if let shard = ready[sha] {
            let asked = ref.layers
            if asked.last > 0, Int(asked.first) != shard.layers.lowerBound || Int(asked.last) != shard.layers.upperBound {
                throw RPCError.invalidArgument(
                    "shard \(sha) holds layers [\(shard.layers.lowerBound), \(shard.layers.upperBound)), not [\(asked.first), \(asked.last))")
            }
            return LoadResult(shard: shard, downloaded: false)
        }
        if let task = loading[sha] { return try await task.value }
        // An unstructured task: a caller that gives up must not abort the load others await.
        let task = Task { try await self.fetchAndMap(ref, sha: sha, cacheManager: cacheManager) }
        loading[sha] = task
        defer { loading[sha] = nil }
        let result = try await task.value
        ready[sha] = result.shard
        publish()
        logger.info(
            "shard ready",
            metadata: [
                "shard": "\(sha)", "layers": "[\(result.shard.layers.lowerBound), \(result.shard.layers.upperBound))",
                "downloaded": "\(result.downloaded)",
            ])
        return result
    }

    /// Stops offering the shard; sessions already using it finish first (see `HostedShard`).
    func unload(_ sha: String) throws {
        let sha = sha.lowercased()
        guard ShardFiles.isValidHash(sha) else { throw RPCError.invalidArgument("shard_sha256 '\(sha)' is not 64 hexadecimal digits") }
        guard ready.removeValue(forKey: sha) != nil else {
            throw RPCError(code: .notFound, message: "shard \(sha) is not loaded on this worker")
        }
        publish()
        logger.info("shard unloaded", metadata: ["shard": "\(sha)"])
    }

    private func publish() {
        state.readyShards = ready.values.map(\.ref)
    }

    private func fetchAndMap(_ ref: Tessera_V1_ShardRef, sha: String, cacheManager: String) async throws -> LoadResult {
        if ref.sizeBytes > budget.freeBytes {
            throw exhausted(needed: ref.sizeBytes, sha: sha)
        }
        try files.createDirectory()
        var downloaded = false
        if try await !files.cachedFileIsIntact(sha) {
            guard !cacheManager.isEmpty else {
                throw RPCError.invalidArgument("shard \(sha) is not cached on this worker and no cache_manager_address was given")
            }
            try await download(sha, from: cacheManager)
            downloaded = true
        }
        let path = files.path(for: sha)
        let size = files.size(of: path)
        guard budget.reserve(size) else { throw exhausted(needed: size, sha: sha) }
        let threads = self.threads, budget = self.budget
        do {
            let shard = try await Offload.run {
                try HostedShard(path: path, sha: sha, requested: ref, threads: threads, fileBytes: size, budget: budget)
            }
            return LoadResult(shard: shard, downloaded: downloaded)
        } catch {
            // HostedShard did not come to life, so its deinit will not give the bytes back.
            budget.release(size)
            throw error
        }
    }

    /// Downloads and verifies; a hash mismatch deletes the bytes and fetches once more.
    private func download(_ sha: String, from address: String) async throws {
        for attempt in 1...2 {
            try await downloader.download(sha, from: address)
            if try await files.promotePartial(sha) { return }
            logger.warning("downloaded shard does not match its hash", metadata: ["shard": "\(sha)", "attempt": "\(attempt)"])
        }
        throw RPCError(
            code: .dataLoss, message: "shard \(sha) from \(address) did not match its SHA-256 twice; the cache-manager's copy is damaged")
    }

    private func exhausted(needed: UInt64, sha: String) -> RPCError {
        RPCError(
            code: .resourceExhausted,
            message: "shard \(sha) needs \(needed >> 20) MiB but only \(budget.freeBytes >> 20) MiB of the worker's "
                + "\(budget.limit >> 20) MiB memory budget is free")
    }
}
