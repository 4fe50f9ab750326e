import Foundation
import GRPCCore
import Inference
import ModelStore
import ServiceKit
import TesseraProto
import Testing

/// The pipelined forward stream through real workers on 127.0.0.1, compared with the
/// single-process engine on the same model.
@Suite(.serialized) struct WorkerForwardTests {
    static let prompts = ["plain-story", "chat-fact"]
    static let generated = 24

    /// Three workers [0,10) → [10,20) → [20,30), the stream opened at the first.
    static func threeWorkerPipeline(maxActivationBytes: Int? = nil) async throws -> TestPipeline {
        let ranges = [0..<10, 10..<20, 20..<30]
        var stages: [(worker: ShardWorker, shard: ShardInfo)] = []
        for (index, range) in ranges.enumerated() {
            let shard = try WorkerFixtures.shard(range)
            stages.append(
                (
                    try await ShardWorker.start(
                        id: "w\(index)", shards: [shard], maxActivationBytes: maxActivationBytes),
                    shard
                ))
        }
        return TestPipeline(stages: stages)
    }

    static func stop(_ pipeline: TestPipeline) async {
        for stage in pipeline.stages { await stage.worker.service.shutdown() }
    }

    @Test func threeWorkerChainMatchesTheSingleProcessEngine() async throws {
        let pipeline = try await Self.threeWorkerPipeline()
        for name in Self.prompts {
            let prompt = try WorkerFixtures.prompt(name)
            let reference = try WorkerFixtures.referenceTokens(
                prompt: prompt, count: Self.generated)
            let outcome = await ForwardDriver.generate(
                pipeline, open: pipeline.open(topLogits: 5), prompt: prompt, count: Self.generated,
                prefillLogits: true)
            #expect(outcome.error == nil, "\(name): \(String(describing: outcome.error))")
            #expect(outcome.tokens == reference.tokens, "\(name)")

            // The full logits of the prefill are the engine's, bit for bit (F32 activations).
            let first = try #require(outcome.responses.first)
            let identical =
                first.logits.map(\.bitPattern) == reference.prefillLogits.map(\.bitPattern)
            #expect(identical, "\(name): prefill logits differ from the engine's")
            // Greedy: the sampled token is the top logit.
            #expect(first.topLogits.count == 5 && first.topLogits[0].tokenID == first.tokenID)
            #expect(outcome.responses.dropFirst().allSatisfy { $0.logits.isEmpty })

            // One timing per stage, first stage first; the hops carry [tokens, 576] F32 rows.
            for (index, response) in outcome.responses.enumerated() {
                #expect(response.step == UInt64(index))
                #expect(response.timings.map(\.workerID) == ["w0", "w1", "w2"])
                #expect(response.timings.allSatisfy { $0.computeSeconds > 0 })
            }
            let decode = outcome.responses[1].timings
            #expect(decode[0].bytesSent >= 576 * 4 && decode[0].bytesSent < 576 * 4 + 64)
            #expect(decode[1].bytesSent >= 576 * 4 && decode[1].bytesSent < 576 * 4 + 64)
            #expect(outcome.responses[0].timings[0].bytesSent >= UInt64(prompt.count * 576 * 4))
        }
        // Sessions ended with their streams; their timings reached the heartbeat load, and
        // so did each decode hop to the next stage (none from the last stage).
        for (index, stage) in pipeline.stages.enumerated() {
            let status = try await stage.worker.status()
            #expect(status.load.activeSessions == 0)
            #expect(
                status.load.recentSteps.contains {
                    $0.layers == WorkerFixtures.range(stage.shard.layers) && $0.tokens == 1
                })
            #expect(status.readyShards.map(\.sha256) == [stage.shard.sha256])
            let next = index + 1 < pipeline.stages.count ? "w\(index + 1)" : nil
            #expect(Set(status.load.recentLinks.map(\.toWorkerID)) == Set([next].compactMap { $0 }))
            #expect(
                status.load.recentLinks.allSatisfy {
                    $0.roundTripSeconds >= 0 && $0.bytes >= 576 * 4
                })
        }
        await Self.stop(pipeline)
    }

    @Test func oneWorkerPipelineMatchesTheSingleProcessEngine() async throws {
        let shard = try WorkerFixtures.shard(0..<30)
        let worker = try await ShardWorker.start(id: "solo", shards: [shard])
        let pipeline = TestPipeline(stages: [(worker, shard)])
        for name in Self.prompts {
            let prompt = try WorkerFixtures.prompt(name)
            let reference = try WorkerFixtures.referenceTokens(
                prompt: prompt, count: Self.generated)
            let outcome = await ForwardDriver.generate(
                pipeline, open: pipeline.open(), prompt: prompt, count: Self.generated)
            #expect(outcome.error == nil)
            #expect(outcome.tokens == reference.tokens, "\(name)")
            #expect(
                outcome.responses.allSatisfy {
                    $0.timings.count == 1 && $0.timings[0].workerID == "solo"
                })
        }
        await worker.service.shutdown()
    }

    static let seeded = Tessera_V1_SamplingParams.with {
        $0.temperature = 0.9
        $0.topK = 40
        $0.topP = 0.95
        $0.minP = 0.05
        $0.repeatPenalty = 1.1
        $0.seed = 1234
    }

    static var seededParameters: SamplingParameters {
        SamplingParameters(
            temperature: 0.9, topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 1.1, repeatLastN: 64,
            seed: 1234)
    }

    @Test func seededSamplingRepeatsAcrossRunsAndReplays() async throws {
        let pipeline = try await Self.threeWorkerPipeline()
        let prompt = try WorkerFixtures.prompt("plain-story")
        let open = pipeline.open(sampling: Self.seeded)
        let first = await ForwardDriver.generate(
            pipeline, open: open, prompt: prompt, count: Self.generated)
        let second = await ForwardDriver.generate(
            pipeline, open: open, prompt: prompt, count: Self.generated)
        #expect(first.error == nil && second.error == nil)
        #expect(first.tokens.count == Self.generated)
        #expect(first.tokens == second.tokens)
        // The same draws as the engine with the same parameters (randomness keyed by seed and position).
        let reference = try WorkerFixtures.referenceTokens(
            prompt: prompt, count: Self.generated, parameters: Self.seededParameters)
        #expect(first.tokens == reference.tokens)

        // Rewind within the stream: after 24 tokens, go back to position P+11 and feed
        // token 11 again; tokens 12... come out the same (every stage truncates its cache).
        let tokens = first.tokens
        let replayFrom = 11
        let rewound = await ForwardDriver.run(
            pipeline.entry, open: open, first: ForwardDriver.step(0, position: 0, tokens: prompt)
        ) { responses in
            let count = responses.count
            guard let last = responses.last else { return nil }
            if count < Self.generated {
                return ForwardDriver.step(
                    UInt64(count), position: prompt.count + count - 1, tokens: [last.token])
            }
            if count == Self.generated {
                return ForwardDriver.step(
                    UInt64(count), position: prompt.count + replayFrom, tokens: [tokens[replayFrom]]
                )
            }
            let replayed = count - Self.generated  // tokens after the rewind so far
            guard replayed < Self.generated - replayFrom - 1 else { return nil }
            return ForwardDriver.step(
                UInt64(count), position: prompt.count + replayFrom + replayed, tokens: [last.token])
        }
        #expect(rewound.error == nil)
        #expect(Array(rewound.tokens.prefix(Self.generated)) == tokens)
        #expect(
            Array(rewound.tokens.dropFirst(Self.generated))
                == Array(tokens.dropFirst(replayFrom + 1)))

        // A fresh session prefilled with the prompt plus the first 12 tokens in one step (as
        // a failover resumes) draws the same tokens after them: prefill and decode give the
        // same bits, so even a seeded draw near a boundary cannot change.
        let resumeAt = 12
        let resumed = await ForwardDriver.run(
            pipeline.entry, open: open,
            first: ForwardDriver.step(
                0, position: 0, tokens: prompt + Array(tokens.prefix(resumeAt)))
        ) { responses in
            guard let last = responses.last, responses.count < Self.generated - resumeAt else {
                return nil
            }
            return ForwardDriver.step(
                UInt64(responses.count), position: prompt.count + resumeAt + responses.count - 1,
                tokens: [last.token])
        }
        #expect(resumed.error == nil)
        #expect(resumed.tokens == Array(tokens.dropFirst(resumeAt)))
        await Self.stop(pipeline)
    }

    @Test func halfPrecisionActivationsHalveTheBytesPerHop() async throws {
        let pipeline = try await Self.threeWorkerPipeline()
        let prompt = try WorkerFixtures.prompt("plain-story")
        let reference = try WorkerFixtures.referenceTokens(prompt: prompt, count: 8)
        let outcome = await ForwardDriver.generate(
            pipeline, open: pipeline.open(activation: .f16), prompt: prompt, count: 8)
        #expect(outcome.error == nil)
        let decode = try #require(outcome.responses.last).timings
        #expect(decode[0].bytesSent >= 576 * 2 && decode[0].bytesSent < 576 * 2 + 64)
        // Rounding hidden states to f16 twice barely moves the logits: the first tokens agree
        // (the third is a near-tie, 7388 against 1767, that the rounding can flip).
        #expect(outcome.tokens.prefix(2) == reference.tokens.prefix(2))
        await Self.stop(pipeline)
    }

    /// A prefill too big for one message (here: over 5 rows) goes on in pieces, with the same
    /// result and still one response per step.
    @Test func largeActivationsGoOnInPieces() async throws {
        let pipeline = try await Self.threeWorkerPipeline(maxActivationBytes: 5 * 576 * 4)
        let prompt = try WorkerFixtures.prompt("chat-fact")  // 37 tokens: pieces of 5, 5, ..., 2
        let reference = try WorkerFixtures.referenceTokens(prompt: prompt, count: 6)
        let outcome = await ForwardDriver.generate(
            pipeline, open: pipeline.open(), prompt: prompt, count: 6, prefillLogits: true)
        #expect(outcome.error == nil)
        #expect(outcome.tokens == reference.tokens)
        // Later stages now run the prompt in pieces of 5 (small batches round differently than
        // 37 rows at once), so compare with the engine doing exactly that.
        let file = try WorkerFixtures.modelFile()
        let stages = try [0..<10, 10..<20, 20..<30].map {
            try TransformerStage(file: file, layers: $0, threads: 1)
        }
        let sessions = try stages.map { try $0.makeSession(contextLength: 64) }
        guard case .hidden(let h0, _) = try stages[0].forward(.tokens(prompt), session: sessions[0])
        else { throw Unexpected() }
        var expected: [Float] = []
        for start in stride(from: 0, to: prompt.count, by: 5) {
            let rows = min(5, prompt.count - start)
            let piece = Array(h0[(start * 576)..<((start + rows) * 576)])
            guard
                case .hidden(let h1, _) = try stages[1].forward(
                    .hidden(piece, count: rows), session: sessions[1])
            else {
                throw Unexpected()
            }
            expected = try stages[2].forward(.hidden(h1, count: rows), session: sessions[2]).values
        }
        let logits = try #require(outcome.responses.first).logits
        let identical = logits.map(\.bitPattern) == expected.map(\.bitPattern)
        #expect(identical, "pieced prefill logits differ from the engine run in the same pieces")
        let prefill = try #require(outcome.responses.first).timings
        #expect(prefill.count == 3)
        #expect(prefill[0].bytesSent > UInt64(prompt.count * 576 * 4))  // all rows, in 8 messages
        #expect(prefill[1].bytesSent > UInt64(prompt.count * 576 * 4))
        await Self.stop(pipeline)
    }

    struct Unexpected: Error {}

    @Test func concurrentSessionsKeepTheirOwnCaches() async throws {
        let pipeline = try await Self.threeWorkerPipeline()
        let prompts = try Self.prompts.map { try WorkerFixtures.prompt($0) }
        let references = try prompts.map {
            try WorkerFixtures.referenceTokens(prompt: $0, count: 12).tokens
        }
        let outcomes = await withTaskGroup(of: (Int, ForwardOutcome).self) { group in
            for (index, prompt) in prompts.enumerated() {
                group.addTask {
                    (
                        index,
                        await ForwardDriver.generate(
                            pipeline, open: pipeline.open(), prompt: prompt, count: 12)
                    )
                }
            }
            var outcomes: [Int: ForwardOutcome] = [:]
            for await (index, outcome) in group { outcomes[index] = outcome }
            return outcomes
        }
        for index in prompts.indices {
            #expect(outcomes[index]?.error == nil)
            #expect(outcomes[index]?.tokens == references[index])
        }
        await Self.stop(pipeline)
    }
}
