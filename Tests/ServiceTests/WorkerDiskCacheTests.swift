import Cluster
import Foundation
import GRPCCore
import ServiceKit
import TesseraProto
import Testing

/// The worker's shard cache on disk (issue 14): the disk budget, evictions that never touch a
/// loaded or in-use shard, PrefetchShard, refusals, and a full disk mid-download.
@Suite(.serialized) struct WorkerDiskCacheTests {
    static func shard(_ layers: Range<Int>, from cacheManager: RunningService) async throws
        -> Tessera_V1_ShardRef
    {
        try await ServiceClient.with(cacheManager.addresses.grpc) { client in
            try await Tessera_V1_CacheManager.Client(wrapping: client).getShard(
                .with { $0.layers = WorkerFixtures.range(layers) }
            ).shard
        }
    }

    static func prefetch(
        _ worker: ShardWorker, _ shard: Tessera_V1_ShardRef, from cacheManager: RunningService?
    ) async throws -> Tessera_V1_PrefetchShardResponse {
        try await worker.api { api in
            try await api.prefetchShard(
                .with {
                    $0.shard = shard
                    $0.cacheManagerAddress = cacheManager?.addresses.grpc.description ?? ""
                })
        }
    }

    static func onDisk(_ worker: ShardWorker, _ shard: Tessera_V1_ShardRef) -> Bool {
        FileManager.default.fileExists(atPath: "\(worker.shardDirectory)/\(shard.sha256).gguf")
    }

    static func entry(_ status: Tessera_V1_GetStatusResponse, _ shard: Tessera_V1_ShardRef)
        -> Tessera_V1_CachedShard?
    {
        status.cache.shards.first { $0.sha256 == shard.sha256 }
    }

    /// The heartbeat's report survives the wire both ways (the worker sends, the scheduler reads).
    @Test func theCacheReportCrossesTheWire() {
        let report = ShardCacheReport(
            shards: [
                .init(
                    sha256: String(repeating: "a", count: 64), sizeBytes: 7, loaded: true,
                    inUse: true),
                .init(
                    sha256: String(repeating: "b", count: 64), sizeBytes: 9, loaded: false,
                    inUse: false),
            ],
            diskBudgetBytes: 100, diskUsedBytes: 16, memoryBudgetBytes: 50, memoryUsedBytes: 7)
        #expect(ShardCacheReport(Tessera_V1_ShardCacheReport(report)) == report)
        #expect(report.holds(String(repeating: "b", count: 64)) && report.diskFreeBytes == 84)
        #expect(ShardCacheReport(Tessera_V1_ShardCacheReport()) == ShardCacheReport())
    }

    @Test func evictsWithinTheBudgetButNeverALoadedShard() async throws {
        let (cacheManager, _, a) = try await WorkerShardTests.cacheManager(layers: 0..<10)
        let b = try await Self.shard(10..<20, from: cacheManager)
        let c = try await Self.shard(20..<30, from: cacheManager)
        // Room for A and one of B, C: never all three.
        let budget = a.sizeBytes + max(b.sizeBytes, c.sizeBytes) + (1 << 20)
        #expect(budget < a.sizeBytes + b.sizeBytes + c.sizeBytes)
        let worker = try await ShardWorker.start(id: "disk", diskBudget: budget)

        #expect(try await WorkerShardTests.load(worker, a, from: cacheManager).downloaded)
        #expect(try await Self.prefetch(worker, b, from: cacheManager).downloaded)
        #expect(try await Self.prefetch(worker, b, from: cacheManager).downloaded == false)
        var status = try await worker.status()
        #expect(status.readyShards.map(\.sha256) == [a.sha256])  // prefetched is not loaded
        #expect(Self.entry(status, a)?.loaded == true && Self.entry(status, b)?.loaded == false)
        #expect(Self.entry(status, b)?.sizeBytes == b.sizeBytes)
        #expect(status.cache.diskBudgetBytes == budget)
        #expect(status.cache.diskUsedBytes == a.sizeBytes + b.sizeBytes)
        #expect(status.cache.memoryBudgetBytes == 1 << 30)
        #expect(status.cache.memoryUsedBytes >= a.sizeBytes)

        // C needs room: B (on disk, not loaded) goes, A (loaded) stays.
        #expect(try await Self.prefetch(worker, c, from: cacheManager).downloaded)
        #expect(!Self.onDisk(worker, b) && Self.onDisk(worker, a) && Self.onDisk(worker, c))
        #expect(try await WorkerShardTests.load(worker, c, from: cacheManager).downloaded == false)
        status = try await worker.status()
        #expect(status.cache.shards.map(\.sha256).sorted() == [a.sha256, c.sha256].sorted())
        #expect(status.cache.diskUsedBytes <= budget)

        // With A and C loaded nothing may go: B is refused, and nothing of it is left.
        let refused = await rpcFailure {
            _ = try await Self.prefetch(worker, b, from: cacheManager)
        }
        #expect(refused?.code == .resourceExhausted)
        #expect(refused?.message.contains("loaded or in use") == true)
        #expect(!Self.onDisk(worker, b))
        #expect(
            !FileManager.default.fileExists(
                atPath: "\(worker.shardDirectory)/\(b.sha256).gguf.partial"))
        #expect(Self.onDisk(worker, a) && Self.onDisk(worker, c))
        // LoadShard is refused the same way.
        #expect(
            await rpcCode { _ = try await WorkerShardTests.load(worker, b, from: cacheManager) }
                == .resourceExhausted)

        // Unloaded, A may go.
        try await worker.api { _ = try await $0.unloadShard(.with { $0.shardSha256 = a.sha256 }) }
        #expect(try await Self.prefetch(worker, b, from: cacheManager).downloaded)
        #expect(!Self.onDisk(worker, a) && Self.onDisk(worker, b) && Self.onDisk(worker, c))

        await worker.service.shutdown()
        await cacheManager.shutdown()
    }

    @Test func refusesBadPrefetches() async throws {
        let (cacheManager, _, whole) = try await WorkerShardTests.cacheManager(layers: 0..<30)
        let worker = try await ShardWorker.start(id: "small-disk", diskBudget: whole.sizeBytes / 2)
        let tooBig = await rpcFailure {
            _ = try await Self.prefetch(worker, whole, from: cacheManager)
        }
        #expect(tooBig?.code == .resourceExhausted)
        #expect(tooBig?.message.contains("whole") == true)
        #expect(
            await rpcCode { _ = try await Self.prefetch(worker, .init(), from: cacheManager) }
                == .invalidArgument)
        var badHash = whole
        badHash.sha256 = "abc"
        #expect(
            await rpcCode { _ = try await Self.prefetch(worker, badHash, from: cacheManager) }
                == .invalidArgument)
        // Not cached, nowhere to fetch from.
        #expect(
            await rpcCode { _ = try await Self.prefetch(worker, whole, from: nil) }
                == .invalidArgument)
        await worker.service.shutdown()
        await cacheManager.shutdown()
    }

    /// A shard a session still uses stays on disk after an unload, until the session ends.
    @Test func neverEvictsAShardInUse() async throws {
        let (cacheManager, _, whole) = try await WorkerShardTests.cacheManager(layers: 0..<30)
        let other = try await Self.shard(0..<10, from: cacheManager)
        let worker = try await ShardWorker.start(
            id: "in-use", diskBudget: whole.sizeBytes + other.sizeBytes / 2)
        #expect(try await WorkerShardTests.load(worker, whole, from: cacheManager).downloaded)

        let started = OneShot<Void>()
        let release = OneShot<Void>()
        let fixture = try WorkerFixtures.shard(0..<30)
        #expect(fixture.sha256 == whole.sha256)  // the cutter is deterministic
        let pipeline = TestPipeline(stages: [(worker, fixture)])
        let session = Task {
            await ForwardDriver.run(
                pipeline.entry, open: pipeline.open(),
                first: ForwardDriver.step(0, position: 0, tokens: [1, 2, 3])
            ) { _ in
                started.set(())
                _ = try? await release.value
                return nil
            }
        }
        try await started.value
        var status = try await worker.status()
        #expect(
            Self.entry(status, whole)?.loaded == true && Self.entry(status, whole)?.inUse == true)
        try await worker.api {
            _ = try await $0.unloadShard(.with { $0.shardSha256 = whole.sha256 })
        }
        status = try await worker.status()
        #expect(
            Self.entry(status, whole)?.loaded == false && Self.entry(status, whole)?.inUse == true)
        let refused = await rpcCode {
            _ = try await Self.prefetch(worker, other, from: cacheManager)
        }
        #expect(refused == .resourceExhausted)
        #expect(Self.onDisk(worker, whole))

        release.set(())
        #expect(await session.value.error == nil)
        // Once the session let go of it, the unloaded shard may be evicted.
        #expect(
            try await eventually(timeout: .seconds(30)) {
                (try? await Self.prefetch(worker, other, from: cacheManager)) != nil
            })
        #expect(!Self.onDisk(worker, whole) && Self.onDisk(worker, other))
        await worker.service.shutdown()
        await cacheManager.shutdown()
    }

    /// ENOSPC mid-download (the partial file is a link to /dev/full): the partial file is
    /// removed, the load refused with RESOURCE_EXHAUSTED, and a later load downloads cleanly.
    @Test func aFullDiskRefusesCleanlyAndKeepsNoPartialFile() async throws {
        let (cacheManager, _, shard) = try await WorkerShardTests.cacheManager(layers: 20..<30)
        let worker = try await ShardWorker.start(id: "full-disk")
        let partial = "\(worker.shardDirectory)/\(shard.sha256).gguf.partial"
        try FileManager.default.createSymbolicLink(
            atPath: partial, withDestinationPath: "/dev/full")
        let full = await rpcFailure {
            _ = try await WorkerShardTests.load(worker, shard, from: cacheManager)
        }
        #expect(full?.code == .resourceExhausted)
        #expect(full?.message.contains("disk is full") == true)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: partial)) == nil)
        #expect(!Self.onDisk(worker, shard))
        var status = try await worker.status()
        #expect(status.readyShards.isEmpty && status.cache.shards.isEmpty)
        #expect(status.cache.diskUsedBytes == 0)
        #expect(try await WorkerShardTests.load(worker, shard, from: cacheManager).downloaded)
        status = try await worker.status()
        #expect(status.cache.shards.map(\.sha256) == [shard.sha256])
        await worker.service.shutdown()
        await cacheManager.shutdown()
    }
}
