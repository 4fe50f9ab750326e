import Foundation
import GRPCCore
import ModelStore
import ServiceKit
import TesseraProto
import Testing

/// Bad input to the forward stream gets a status naming the problem, never a hang or crash.
@Suite(.serialized) struct WorkerForwardErrorTests {
    static let prompt: [Int32] = [504, 3575, 282, 4649]

    /// A two-worker pipeline [0,15) → [15,30).
    static func pipeline(memory: UInt64 = 1 << 30) async throws -> TestPipeline {
        let head = try WorkerFixtures.shard(0..<15)
        let tail = try WorkerFixtures.shard(15..<30)
        return TestPipeline(stages: [
            (try await ShardWorker.start(id: "head", shards: [head], memory: memory), head),
            (try await ShardWorker.start(id: "tail", shards: [tail], memory: memory), tail),
        ])
    }

    static func stop(_ pipeline: TestPipeline) async {
        for stage in pipeline.stages { await stage.worker.service.shutdown() }
    }

    @Test func badOpensAndStepsGetClearStatuses() async throws {
        let pipeline = try await Self.pipeline()
        let entry = pipeline.entry
        let tailWorker = pipeline.stages[1].worker
        let step0 = ForwardDriver.step(0, position: 0, tokens: Self.prompt)

        // A shard this worker does not host.
        var unknown = pipeline.open()
        unknown.shardSha256 = String(repeating: "ab", count: 32)
        let notHosted = await ForwardDriver.run(entry, open: unknown, first: step0)
        #expect(notHosted.error?.code == .failedPrecondition)
        #expect(notHosted.error?.message.contains("does not host shard") == true)

        // A step before open.
        let noOpen = await ForwardDriver.run(entry, open: nil, first: step0)
        #expect(noOpen.error?.code == .invalidArgument)
        #expect(noOpen.error?.message.contains("must start with open") == true)

        // Hidden states of the wrong width, sent straight to the last stage.
        let tailOpen = TestPipeline(stages: [pipeline.stages[1]]).open()
        var wide = step0
        wide.hidden = .with {
            $0.dtype = .f32
            $0.shape = [UInt32(Self.prompt.count), 100]
            $0.data = Data(count: Self.prompt.count * 100 * 4)
        }
        let badWidth = await ForwardDriver.run(
            tailWorker.service.addresses.grpc, open: tailOpen, first: wide)
        #expect(badWidth.error?.code == .invalidArgument)
        #expect(badWidth.error?.message.contains("width 100") == true)

        // Bytes that do not match the shape; F16 is accepted but must be the right size too.
        var short = step0
        short.hidden = .with {
            $0.dtype = .f16
            $0.shape = [UInt32(Self.prompt.count), 576]
            $0.data = Data(count: 10)
        }
        let shortData = await ForwardDriver.run(
            tailWorker.service.addresses.grpc, open: tailOpen, first: short)
        #expect(shortData.error?.code == .invalidArgument)

        // The last stage needs hidden states, the first one must not get any.
        let tokensToTail = await ForwardDriver.run(
            tailWorker.service.addresses.grpc, open: tailOpen, first: step0)
        #expect(tokensToTail.error?.code == .invalidArgument)

        // A position gap after a good first step.
        let gap = await ForwardDriver.run(entry, open: pipeline.open(), first: step0) { responses in
            ForwardDriver.step(1, position: Self.prompt.count + 5, tokens: [responses[0].token])
        }
        #expect(gap.responses.count == 1)
        #expect(gap.error?.code == .failedPrecondition)
        #expect(gap.error?.message.contains("position") == true)

        // Past the context (capped per session), and a token outside the vocabulary.
        let overflow = await ForwardDriver.run(
            entry, open: pipeline.open(contextLength: 3), first: step0)
        #expect(overflow.error?.code == .outOfRange)
        let badToken = await ForwardDriver.run(
            entry, open: pipeline.open(),
            first: ForwardDriver.step(0, position: 0, tokens: [49_152]))
        #expect(badToken.error?.code == .invalidArgument)

        // A stage that does not end the model needs a downstream; bad sampling values.
        var noDownstream = pipeline.open()
        noDownstream.downstream = []
        #expect(
            await ForwardDriver.run(entry, open: noDownstream, first: step0).error?.code
                == .invalidArgument)
        var badSampling = pipeline.open()
        badSampling.sampling.temperature = -1
        #expect(
            await ForwardDriver.run(entry, open: badSampling, first: step0).error?.code
                == .invalidArgument)
        var wrongLayers = pipeline.open()
        wrongLayers.layers = WorkerFixtures.range(0..<10)
        #expect(
            await ForwardDriver.run(entry, open: wrongLayers, first: step0).error?.code
                == .invalidArgument)

        // The next stage refusing its open comes back with its code and its worker's name.
        var badHop = pipeline.open()
        badHop.downstream[0].shardSha256 = String(repeating: "cd", count: 32)
        let refused = await ForwardDriver.run(entry, open: badHop, first: step0)
        #expect(refused.error?.code == .failedPrecondition)
        #expect(refused.failedWorker == "tail")

        // Nothing leaked: every session above is gone.
        for stage in pipeline.stages {
            #expect(try await stage.worker.status().load.activeSessions == 0)
        }
        await Self.stop(pipeline)
    }

    @Test func kvCachesCountAgainstTheMemoryBudgetAndAreFreedOnClose() async throws {
        let tail = try WorkerFixtures.shard(15..<30)
        // Room for the shard and one 2048-token KV cache of 15 layers (2 x 15 x 2048 x 192 x 2 bytes = 22.5 MiB).
        let kv: UInt64 = 2 * 15 * 2048 * 192 * 2
        let worker = try await ShardWorker.start(
            id: "small", shards: [tail], memory: UInt64(tail.sizeBytes) + kv + kv / 2)
        let pipeline = TestPipeline(stages: [(worker, tail)])
        let hidden = Tessera_V1_Tensor.with {
            $0.dtype = .f32
            $0.shape = [1, 576]
            $0.data = Data(count: 576 * 4)
        }
        var step = ForwardDriver.step(0, position: 0, tokens: [1])
        step.hidden = hidden

        // While one session holds its cache, a second one does not fit.
        let (release, releaseSink) = AsyncStream<Void>.makeStream()
        let holder = Task {
            await ForwardDriver.run(
                worker.service.addresses.grpc, open: pipeline.open(contextLength: 2048), first: step
            ) { _ in
                for await _ in release {}
                return nil
            }
        }
        #expect(try await eventually { try await worker.status().load.activeSessions == 1 })
        let second = await ForwardDriver.run(
            worker.service.addresses.grpc, open: pipeline.open(contextLength: 2048), first: step)
        #expect(second.error?.code == .resourceExhausted)
        #expect(second.error?.message.contains("memory budget") == true)

        releaseSink.finish()
        #expect(await holder.value.error == nil)
        #expect(try await eventually { try await worker.status().load.activeSessions == 0 })
        let third = await ForwardDriver.run(
            worker.service.addresses.grpc, open: pipeline.open(contextLength: 2048), first: step)
        #expect(third.error == nil && third.responses.count == 1)
        await worker.service.shutdown()
    }

    @Test func cancelledStreamsEndTheirSessionsAtEveryStage() async throws {
        let pipeline = try await Self.pipeline()
        let task = Task {
            await ForwardDriver.run(
                pipeline.entry, open: pipeline.open(),
                first: ForwardDriver.step(0, position: 0, tokens: Self.prompt)
            ) { _ in
                try? await Task.sleep(for: .seconds(60))  // hold the stream open until cancelled
                return nil
            }
        }
        for stage in pipeline.stages {
            #expect(
                try await eventually { try await stage.worker.status().load.activeSessions == 1 })
        }
        task.cancel()
        _ = await task.value
        for stage in pipeline.stages {
            #expect(
                try await eventually { try await stage.worker.status().load.activeSessions == 0 })
        }
        await Self.stop(pipeline)
    }

    @Test func aSessionWhoseCallerFallsSilentIsEndedAndFreed() async throws {
        let shard = try WorkerFixtures.shard(0..<30)
        let worker = try await ShardWorker.start(
            id: "idle", shards: [shard], sessionIdleTimeout: .seconds(1))
        let pipeline = TestPipeline(stages: [(worker, shard)])
        let silent = Task {
            await ForwardDriver.run(
                pipeline.entry, open: pipeline.open(),
                first: ForwardDriver.step(0, position: 0, tokens: Self.prompt)
            ) { _ in
                try? await Task.sleep(for: .seconds(60))  // the caller goes quiet without closing
                return nil
            }
        }
        #expect(try await eventually { try await worker.status().load.activeSessions == 1 })
        // Well before the caller would have closed: the worker ended the session itself.
        #expect(
            try await eventually(timeout: .seconds(20)) {
                try await worker.status().load.activeSessions == 0
            })
        silent.cancel()
        _ = await silent.value
        await worker.service.shutdown()
    }
}
