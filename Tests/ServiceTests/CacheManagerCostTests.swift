import Foundation
import Placement
import ServiceKit
import TesseraProto
import Testing

@testable import Scheduler

/// The model's cost from the GGUF to the optimizer, through the cache-manager's manifest, as
/// the scheduler reads it. SmolLM2's output head is tied to its token embedding: a stage
/// holding both ends stores the table once (as its shard does), a split pipeline twice.
@Suite(.serialized, .timeLimit(.minutes(3))) struct CacheManagerCostTests {
    typealias H = CacheManagerHarness
    typealias F = ShardCutterFixtures

    @Test func aTiedTableCountsOnceInASingleStageAndTwiceWhenSplit() async throws {
        let store = try F.temporaryDirectory("store")
        defer { try? FileManager.default.removeItem(atPath: store) }
        let service = try await H.startServing(store: store, preload: [F.modelPath])
        let served = try await H.with(service) { api in
            let manifest = try await api.getModel(.init())
            #expect(manifest.tiedOutput)  // SmolLM2 has no output.weight
            let source = ModelSource(
                cacheManager: api, cacheManagerAddress: service.addresses.grpc,
                modelName: "smollm2-135m")
            return try await source.load()
        }
        await service.shutdown()

        let model = try F.model()
        let table = model.tensor(named: "token_embd.weight")!.byteCount
        let tensors = model.tensors.reduce(0) { $0 + $1.byteCount }
        #expect(model.tensor(named: "output.weight") == nil)
        #expect(served.profile.tiedEmbeddingBytes == table)

        let workers = ["a", "b"].map {
            WorkerProfile(
                id: $0, memoryBudgetBytes: 1 << 30, speed: WorkerSpeed(bytesPerSecond: 10e9))
        }
        let single = try #require(
            Placement.predict(stages: [("a", 0..<30)], model: served.profile, workers: workers))
        let split = try #require(
            Placement.predict(
                stages: [("a", 0..<15), ("b", 15..<30)], model: served.profile, workers: workers))
        // One stage holds every tensor of the file once; split, the last stage holds its own copy.
        #expect(single.stages[0].shardBytes == tensors)
        #expect(split.stages.reduce(0) { $0 + $1.shardBytes } == tensors + table)
        print(
            "SmolLM2 single-stage weights: \(single.stages[0].shardBytes) bytes (table \(table), would be \(tensors + table) if counted twice)"
        )
    }
}
