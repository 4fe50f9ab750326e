import Foundation
import GRPCCore
import Inference
import ServiceKit
import TesseraProto
import Testing

@testable import InferenceWorker

/// A worker serves a bounded number of sessions (its slots): one more is refused with
/// RESOURCE_EXHAUSTED naming the worker, never queued or crashed; the slot frees when a
/// session ends. A count derived from memory follows the shards and the served context.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct WorkerSessionSlotTests {
    static let prompt: [Int32] = [504, 3575, 282, 4649]

    @Test func aSessionBeyondTheLimitIsRefusedUntilOneEnds() async throws {
        let head = try WorkerFixtures.shard(0..<15)
        let tail = try WorkerFixtures.shard(15..<30)
        let pipeline = TestPipeline(stages: [
            (try await ShardWorker.start(id: "slots-head", shards: [head]), head),
            (try await ShardWorker.start(id: "slots-tail", shards: [tail], maxSessions: 1), tail),
        ])
        let tailWorker = pipeline.stages[1].worker
        let status = try await tailWorker.status()
        #expect(status.capabilities.sessionSlots == 1)
        #expect(status.load.sessionSlots == 1)
        let step0 = ForwardDriver.step(0, position: 0, tokens: Self.prompt)

        // One session holds the tail's only slot until `release` is set.
        let release = OneShot<Void>()
        let holder = Task {
            await ForwardDriver.run(pipeline.entry, open: pipeline.open(), first: step0) { _ in
                try? await release.value
                return nil
            }
        }
        #expect(try await eventually { try await tailWorker.status().load.activeSessions == 1 })

        let refused = await ForwardDriver.run(pipeline.entry, open: pipeline.open(), first: step0)
        #expect(refused.error?.code == .resourceExhausted)
        #expect(refused.failedWorker == "slots-tail")
        #expect(refused.error?.message.contains("at most 1 sessions at once") == true)
        // The head gave its own slot back when the tail refused.
        #expect(
            try await eventually {
                try await pipeline.stages[0].worker.status().load.activeSessions == 1
            })

        release.set(())
        #expect(await holder.value.error == nil)
        #expect(try await eventually { try await tailWorker.status().load.activeSessions == 0 })
        let admitted = await ForwardDriver.run(
            pipeline.entry, open: pipeline.open(), first: step0)
        #expect(admitted.error == nil)
        #expect(admitted.responses.count == 1)
        for stage in pipeline.stages { await stage.worker.service.shutdown() }
    }

    @Test func aDerivedCountIsTheKVCachesAtTheServedContextThatFitBesideTheShards() async throws {
        let whole = try WorkerFixtures.shard(0..<30)
        let budget: UInt64 = 400 << 20
        let worker = try await ShardWorker.start(
            id: "slots-derived", shards: [whole], memory: budget)
        // Loaded by hand, without a served context: only the cap applies.
        #expect(try await worker.status().load.sessionSlots == UInt32(SessionSlots.derivedCap))

        // The scheduler's LoadShard says the context it serves: the count follows at once.
        let response = try await worker.api {
            try await $0.loadShard(
                .with {
                    $0.shard = try WorkerFixtures.reference(whole)
                    $0.contextLength = 2048
                })
        }
        let hp = try ModelHyperparameters(gguf: try WorkerFixtures.modelFile())
        let perSession = UInt64(2 * 30 * 2048 * hp.kvWidth * 2)
        let expected = Int((budget - UInt64(whole.sizeBytes)) / perSession)
        #expect((1...SessionSlots.derivedCap).contains(expected))
        #expect(Int(response.sessionSlots) == expected)
        let status = try await worker.status()
        #expect(Int(status.load.sessionSlots) == expected)
        #expect(Int(status.capabilities.sessionSlots) == expected)
        await worker.service.shutdown()

        // At least one, at most the cap.
        #expect(SessionSlots.derived(budgetBytes: 100, shardBytes: 200, sessionBytes: 50) == 1)
        #expect(
            SessionSlots.derived(budgetBytes: 1 << 40, shardBytes: 0, sessionBytes: 1)
                == SessionSlots.derivedCap)
        #expect(SessionSlots.derived(budgetBytes: 1000, shardBytes: 100, sessionBytes: 300) == 3)
    }
}
