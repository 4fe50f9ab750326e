import CacheManager
import Foundation
import GRPCCore
import Integrity
import ServiceKit
import TesseraProto
import Testing

/// LoadShard / UnloadShard / GetStatus against a real cache-manager serving DownloadShard.
@Suite(.serialized) struct WorkerShardTests {
    /// A cache-manager over a fresh store holding the default model; returns it and the
    /// reference of the shard for `layers` (cut by the cache-manager).
    static func cacheManager(layers: Range<Int>) async throws -> (
        service: RunningService, store: String, shard: Tessera_V1_ShardRef
    ) {
        let store = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tessera-worker-cm-\(UUID().uuidString.prefix(8))"
        ).path
        var configuration = CacheManagerConfiguration()
        configuration.grpcAddress = loopbackAnyPort
        configuration.httpAddress = loopbackAnyPort
        configuration.storeDirectory = store
        let service = try await buildCacheManager(configuration, logger: quietLogger).start()
        let address = service.addresses.grpc
        #expect(
            try await eventually(timeout: .seconds(60)) { await HealthProbe.isServing(address) })
        let shard = try await ServiceClient.with(address) { client in
            let api = Tessera_V1_CacheManager.Client(wrapping: client)
            _ = try await api.importModel(.with { $0.path = WorkerFixtures.modelPath })
            return try await api.getShard(
                .with {
                    $0.model = ""
                    $0.layers = WorkerFixtures.range(layers)
                }
            ).shard
        }
        return (service, store, shard)
    }

    static func load(
        _ worker: ShardWorker, _ shard: Tessera_V1_ShardRef, from cacheManager: RunningService?
    ) async throws
        -> Tessera_V1_LoadShardResponse
    {
        try await worker.api { api in
            try await api.loadShard(
                .with {
                    $0.shard = shard
                    $0.cacheManagerAddress = cacheManager?.addresses.grpc.description ?? ""
                })
        }
    }

    static func flipByte(at offset: UInt64, in path: String) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: offset)
        let byte = try #require(try handle.read(upToCount: 1)).first!
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: Data([byte ^ 0xff]))
    }

    @Test func downloadsVerifiesCachesAcrossRestartsAndRefetchesDamagedFiles() async throws {
        let (cacheManager, store, shard) = try await Self.cacheManager(layers: 20..<30)
        let recorder = LogRecorder()
        var worker = try await ShardWorker.start(id: "loader", logger: recorder.logger)
        let cached = "\(worker.shardDirectory)/\(shard.sha256).gguf"

        // Three LoadShards at once: one download, all succeed.
        let firstWorker = worker
        let results = try await withThrowingTaskGroup(of: Tessera_V1_LoadShardResponse.self) {
            group in
            for _ in 0..<3 {
                group.addTask { try await Self.load(firstWorker, shard, from: cacheManager) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 3 && results.allSatisfy { $0.downloaded })
        #expect(recorder.entries("downloading shard").count == 1)
        #expect(try FileDigest.sha256Hex(ofFile: cached) == shard.sha256)
        let status = try await worker.status()
        #expect(status.readyShards.count == 1)
        #expect(status.readyShards.first?.layers == WorkerFixtures.range(20..<30))
        #expect(
            status.readyShards.first?.hasOutput_p == true
                && status.readyShards.first?.hasEmbedding_p == false)
        #expect(status.readyShards.first?.sizeBytes == shard.sizeBytes)

        // A restarted worker with the same directory uses its cached copy without downloading.
        await worker.service.shutdown()
        worker = try await ShardWorker.start(
            id: "loader", shardDirectory: worker.shardDirectory, logger: recorder.logger)
        #expect(try await worker.status().readyShards.isEmpty)  // cached is not loaded
        #expect(try await Self.load(worker, shard, from: cacheManager).downloaded == false)

        // A damaged cached file is noticed, deleted and fetched again.
        try await worker.api {
            _ = try await $0.unloadShard(.with { $0.shardSha256 = shard.sha256 })
        }
        #expect(try await worker.status().readyShards.isEmpty)
        try Self.flipByte(at: 1000, in: cached)
        #expect(try await Self.load(worker, shard, from: cacheManager).downloaded == true)
        #expect(try FileDigest.sha256Hex(ofFile: cached) == shard.sha256)

        // An interrupted download resumes from the partial file's length.
        try await worker.api {
            _ = try await $0.unloadShard(.with { $0.shardSha256 = shard.sha256 })
        }
        let partial = cached + ".partial"
        let prefix = try #require(FileHandle(forReadingAtPath: cached)).read(upToCount: 3_000_000)!
        try FileManager.default.removeItem(atPath: cached)
        try prefix.write(to: URL(fileURLWithPath: partial))
        #expect(try await Self.load(worker, shard, from: cacheManager).downloaded == true)
        #expect(recorder.entries("downloading shard").last?.metadata["offset"] == "3000000")
        #expect(try FileDigest.sha256Hex(ofFile: cached) == shard.sha256)
        #expect(!FileManager.default.fileExists(atPath: partial))

        // The cache-manager's own copy damaged: two mismatches are DATA_LOSS, nothing is kept.
        try await worker.api {
            _ = try await $0.unloadShard(.with { $0.shardSha256 = shard.sha256 })
        }
        try FileManager.default.removeItem(atPath: cached)
        try Self.flipByte(at: 5000, in: "\(store)/shards/\(shard.sha256).gguf")
        let lost = await rpcCode { _ = try await Self.load(worker, shard, from: cacheManager) }
        #expect(lost == .dataLoss)
        #expect(
            !FileManager.default.fileExists(atPath: cached)
                && !FileManager.default.fileExists(atPath: partial))
        #expect(try await worker.status().readyShards.isEmpty)

        await worker.service.shutdown()
        await cacheManager.shutdown()
    }

    @Test func refusesWhatItCannotHost() async throws {
        let shard = try WorkerFixtures.shard(20..<30)
        let worker = try await ShardWorker.start(id: "picky", memory: UInt64(shard.sizeBytes) / 2)
        let reference = try WorkerFixtures.reference(shard)
        let badHash = await rpcCode {
            _ = try await worker.api {
                try await $0.loadShard(.with { $0.shard.sha256 = "not-a-hash" })
            }
        }
        #expect(badHash == .invalidArgument)
        var unsized = reference
        unsized.sizeBytes = 0  // size unknown up front
        // Not cached and nowhere to download from.
        #expect(
            await rpcCode { _ = try await Self.load(worker, unsized, from: nil) }
                == .invalidArgument)
        // Bigger than the memory budget, known from the reference before any download.
        let tooBig = await rpcCode {
            _ = try await worker.api {
                try await $0.loadShard(
                    .with {
                        $0.shard = reference
                        $0.cacheManagerAddress = "127.0.0.1:1"
                    })
            }
        }
        #expect(tooBig == .resourceExhausted)
        // Nothing listens at the cache-manager address.
        let unreachable = await rpcCode {
            _ = try await worker.api {
                try await $0.loadShard(
                    .with {
                        $0.shard = unsized
                        $0.cacheManagerAddress = "127.0.0.1:1"
                    })
            }
        }
        #expect(unreachable == .unavailable)
        // Bigger than the budget, found out once it is on disk.
        try FileManager.default.linkItem(
            atPath: WorkerFixtures.path(of: shard),
            toPath: "\(worker.shardDirectory)/\(shard.sha256).gguf")
        #expect(
            await rpcCode { _ = try await Self.load(worker, unsized, from: nil) }
                == .resourceExhausted)
        // A loaded shard asked for with another layer range.
        let loaded = try WorkerFixtures.shard(0..<10)
        let roomy = try await ShardWorker.start(id: "roomy", shards: [loaded])
        var mislabelled = try WorkerFixtures.reference(loaded)
        mislabelled.layers = WorkerFixtures.range(0..<12)
        #expect(
            await rpcCode { _ = try await Self.load(roomy, mislabelled, from: nil) }
                == .invalidArgument)
        await roomy.service.shutdown()
        let notLoaded = await rpcCode {
            _ = try await worker.api {
                try await $0.unloadShard(.with { $0.shardSha256 = shard.sha256 })
            }
        }
        #expect(notLoaded == .notFound)
        await worker.service.shutdown()
    }

    @Test func readyShardsReachTheSchedulerInHeartbeats() async throws {
        let scheduler = try await startScheduler(heartbeat: .milliseconds(100))
        let shard = try WorkerFixtures.shard(0..<10)
        let worker = try await ShardWorker.start(
            id: "beating", shards: [shard], scheduler: scheduler.addresses.grpc)
        let address = scheduler.addresses.grpc
        #expect(
            try await eventually {
                try await listWorkers(address).first { $0.workerID == "beating" }?.readyShards.map(
                    \.sha256) == [shard.sha256]
            })
        try await worker.api {
            _ = try await $0.unloadShard(.with { $0.shardSha256 = shard.sha256 })
        }
        #expect(
            try await eventually {
                try await listWorkers(address).first { $0.workerID == "beating" }?.readyShards
                    .isEmpty == true
            })
        await worker.service.shutdown()
        await scheduler.shutdown()
    }
}
