import Foundation
import Inference
import Integrity
import Testing
import Verifier

/// Receipts replayed on the shards their workers named: honest ones pass, and a wrong stage
/// is named, even when it poisoned the stages after it.
@Suite struct ReplayVerdictTests {
    static let split: [Range<Int>] = [0..<15, 15..<30]

    static func record(
        _ configure: (inout SimulatedPipeline) -> Void = { _ in }, count: Int = 6,
        sampling: SamplingParameters = .greedy
    ) throws -> ReceiptRecord {
        var pipeline = try ReplayFixtures.pipeline(
            split, workers: ["w1", "w2"], sampling: sampling)
        configure(&pipeline)
        return try ReplayFixtures.record(
            prompt: try WorkerFixtures.prompt("plain-story"), count: count, pipelines: [pipeline])
    }

    @Test func honestRecordPassesEveryStage() async throws {
        let record = try Self.record()
        let outcome = try await ReplayFixtures.replayer().replay(record, sampling: .greedy)
        #expect(outcome.fault == nil)
        #expect(outcome.stages.map(\.workerID) == ["w1", "w2"])
        #expect(outcome.stages.allSatisfy { $0.passed })
        // Three prefill pieces and five decode steps per stage; a token per last-stage one.
        #expect(outcome.stages.map(\.steps) == [8, 8])
        #expect(outcome.stages[1].tokensChecked == 8 && outcome.stages[1].tokensUnchecked == 0)
        // Same kernels, same paths, same pieces: the replay gives the workers' bits.
        #expect(outcome.stages.allSatisfy { $0.maxRelativeError == 0 && $0.maxNormError == 0 })
        #expect(outcome.computeSeconds > 0)
    }

    /// Commitments computed by another engine arithmetic (a worker of another version) are
    /// not replayed: honest bits of another arithmetic would fail here and be slashed.
    @Test func anotherArithmeticIsUnverifiableNotFailed() async throws {
        var record = try Self.record()
        record.chains[2].commitments[1].arithmetic = EngineArithmetic.version - 1
        let outcome = try await ReplayFixtures.replayer().replay(record, sampling: .greedy)
        #expect(outcome.fault == nil && outcome.stages.isEmpty && outcome.computeSeconds == 0)
        let reason = try #require(outcome.unverifiableReason)
        #expect(reason.contains("worker w2 computed with engine arithmetic 1"))
        #expect(reason.contains("this verifier replays arithmetic 2"))
    }

    @Test func noisyFirstStageIsNamedThoughItPoisonedTheLast() async throws {
        let record = try Self.record { $0.stages[0].noise = 1e-2 }
        let outcome = try await ReplayFixtures.replayer().replay(record, sampling: .greedy)
        let fault = try #require(outcome.fault)
        #expect(fault.workerID == "w1" && fault.layers == 0..<15)
        #expect(fault.reason.contains("step 0, positions [0, 8): relative error"))
        #expect(outcome.stages[0].passed == false)
        #expect(outcome.stages[0].maxRelativeError > 1e-3)
    }

    @Test func noisyLastStageIsNamedAndTheFirstPasses() async throws {
        let record = try Self.record { $0.stages[1].noise = 1e-2 }
        let outcome = try await ReplayFixtures.replayer().replay(record, sampling: .greedy)
        let fault = try #require(outcome.fault)
        #expect(fault.workerID == "w2" && fault.layers == 15..<30)
        #expect(outcome.stages[0].passed && !outcome.stages[1].passed)
    }

    @Test func wrongGreedyTokenFailsAtTheLastStage() async throws {
        let record = try Self.record { $0.wrongTokens = [2] }
        let outcome = try await ReplayFixtures.replayer().replay(record, sampling: .greedy)
        let fault = try #require(outcome.fault)
        #expect(fault.workerID == "w2")
        #expect(fault.reason.contains("step 2, position 21: sampled token"))
        #expect(fault.reason.contains("but greedy decoding picks token"))
        // The logits themselves were honest.
        #expect(outcome.stages.allSatisfy { $0.maxRelativeError == 0 })
        #expect(outcome.stages[0].passed)
    }

    @Test func seededSamplingIsCheckedWithTheDeclaredSampler() async throws {
        let sampling = SamplingParameters(temperature: 0.9, repeatPenalty: 1.1, seed: 42)
        let honest = try Self.record(sampling: sampling)
        let passed = try await ReplayFixtures.replayer().replay(honest, sampling: sampling)
        #expect(passed.fault == nil)
        #expect(passed.stages[1].tokensChecked == 8)

        // Another seed draws other tokens from the same logits.
        var other = sampling
        other.seed = 7
        let wrongSeed = try await ReplayFixtures.replayer().replay(honest, sampling: other)
        #expect(wrongSeed.fault?.workerID == "w2")
        #expect(wrongSeed.fault?.reason.contains("the declared sampler draws token") == true)
    }

    @Test func constrainedTokensAreCheckedAgainstTheResponseFormat() async throws {
        var sampling = SamplingParameters.greedy
        sampling.responseFormat = .jsonObject
        let record = try Self.record(count: 5, sampling: sampling)
        #expect(record.outputTokens.count == 5)
        let outcome = try await ReplayFixtures.replayer().replay(record, sampling: sampling)
        #expect(outcome.fault == nil)
        #expect(outcome.stages[1].tokensChecked == 7 && outcome.stages[1].tokensUnchecked == 0)

        // Replayed as free text, the first token (`{` forced by the format) is not the argmax.
        let free = try await ReplayFixtures.replayer().replay(record, sampling: .greedy)
        #expect(free.fault?.workerID == "w2")
    }

    @Test func failoverRecordReplaysBothPipelines() async throws {
        let first = try ReplayFixtures.pipeline(Self.split, workers: ["w1", "w2"])
        let second = try ReplayFixtures.pipeline([0..<10, 10..<30], workers: ["w3", "w4"])
        let record = try ReplayFixtures.record(
            prompt: try WorkerFixtures.prompt("plain-story"), count: 7,
            pipelines: [first, second], failAfter: [3])
        #expect(Set(record.chains.map(\.attempt)) == [0, 1])
        #expect(record.leaves.contains { $0.replay && $0.count == 3 })
        let outcome = try await ReplayFixtures.replayer().replay(record, sampling: .greedy)
        #expect(outcome.fault == nil)
        // By layers: [0, 10), [0, 15), [10, 30), [15, 30).
        #expect(outcome.stages.map(\.workerID) == ["w3", "w1", "w4", "w2"])
        #expect(outcome.stages.allSatisfy { $0.passed })
        // The second pipeline: the prompt in three pieces, the replayed output, three decodes.
        #expect(outcome.stages.first { $0.workerID == "w4" }?.tokensChecked == 3 + 1 + 3)
    }
}
