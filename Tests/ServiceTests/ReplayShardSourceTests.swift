import Foundation
import Integrity
import ServiceKit
import Testing
import Verifier

/// The verifier's shards come from the cache-manager as a worker's do: downloaded once,
/// re-hashed on every use, and refused when the bytes do not match their name.
@Suite(.serialized) struct ReplayShardSourceTests {
    @Test func fetchesVerifiesAndRefusesBytesWithTheWrongHash() async throws {
        let (cacheManager, store, shard) = try await WorkerShardTests.cacheManager(layers: 20..<30)
        let clients = ClientPool()
        let connections = Task { try await clients.run() }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("tessera-verifier-shards-\(UUID().uuidString.prefix(8))").path
        let source = CacheManagerShardSource(
            directory: directory, cacheManager: cacheManager.addresses.grpc, clients: clients,
            logger: quietLogger)
        let sha = shard.sha256

        let path = try await source.path(forShard: sha)
        #expect(path == "\(directory)/\(sha).gguf")
        #expect(try FileDigest.sha256Hex(ofFile: path) == sha)

        // A damaged cached copy is noticed and fetched again.
        try WorkerShardTests.flipByte(at: 1000, in: path)
        #expect(try await source.path(forShard: sha) == path)
        #expect(try FileDigest.sha256Hex(ofFile: path) == sha)

        // The cache-manager serving other bytes under the name: DATA_LOSS, nothing kept.
        try FileManager.default.removeItem(atPath: path)
        try WorkerShardTests.flipByte(at: 5000, in: "\(store)/shards/\(sha).gguf")
        let refused = await #expect(throws: ShardError.self) {
            try await source.path(forShard: sha)
        }
        #expect(refused?.rpcErrorCode == .dataLoss)
        #expect(refused?.description.contains("did not match its SHA-256") == true)
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(!FileManager.default.fileExists(atPath: path + ".partial"))

        await #expect(throws: ShardError.self) { try await source.path(forShard: "not-a-hash") }
        connections.cancel()
        await cacheManager.shutdown()
    }
}
