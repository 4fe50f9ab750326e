import Logging
import ServiceKit

/// Shards fetched from the cache-manager by SHA-256 into the verifier's own disk cache, the
/// way a worker fetches them (`ShardFiles`, `ShardDownloader`: resumable, hash-checked, a
/// mismatch refused). A cached file is re-hashed on every use, so damaged bytes never run.
/// Concurrent replays asking for the same shard share one download.
public actor CacheManagerShardSource: ShardSource {
    let files: ShardFiles
    let downloader: ShardDownloader
    let cacheManager: ListenAddress
    private var loading: [String: Task<String, any Error>] = [:]

    public init(
        directory: String, cacheManager: ListenAddress, clients: ClientPool, logger: Logger
    ) {
        files = ShardFiles(directory: directory)
        downloader = ShardDownloader(clients: clients, files: files, logger: logger)
        self.cacheManager = cacheManager
    }

    public func path(forShard sha256: String) async throws -> String {
        let sha = sha256.lowercased()
        guard ShardReference.isValidHash(sha) else {
            throw ShardError.internalFailure("'\(sha256)' is not a shard SHA-256")
        }
        if let task = loading[sha] { return try await task.value }
        // Unstructured so a replay that gives up does not abort a download others await.
        let task = Task { try await self.fetch(sha) }
        loading[sha] = task
        defer { loading[sha] = nil }
        return try await task.value
    }

    private func fetch(_ sha: String) async throws -> String {
        try files.createDirectory()
        if try await !files.cachedFileIsIntact(sha) {
            try await downloader.downloadVerified(sha, from: cacheManager)
        }
        return files.path(for: sha)
    }
}
