import Foundation
import Inference
import Integrity
import Testing
import Verifier

/// Commitments that cannot be replayed as they say are a verdict against the worker that
/// signed them, never a crash; a shard the verifier cannot get is its own trouble (a throw).
@Suite struct ReplayRobustnessTests {
    static func honest() throws -> ReceiptRecord {
        try ReplayVerdictTests.record(count: 3)
    }

    /// Applies `change` to every commitment of `worker`.
    static func changing(
        _ record: ReceiptRecord, worker: String, _ change: (inout StepCommitment) -> Void
    ) -> ReceiptRecord {
        var record = record
        for chain in record.chains.indices {
            for index in record.chains[chain].commitments.indices
            where record.chains[chain].commitments[index].workerID == worker {
                change(&record.chains[chain].commitments[index])
            }
        }
        return record
    }

    static func replay(_ record: ReceiptRecord) async throws -> ReplayOutcome {
        try await ReplayFixtures.replayer().replay(record, sampling: .greedy)
    }

    @Test func malformedFingerprintIsItsWorkersFault() async throws {
        var record = try Self.honest()
        record.chains[1].commitments[1].fingerprint.removeLast()
        let outcome = try await Self.replay(record)
        #expect(outcome.fault?.workerID == "w2")
        #expect(outcome.fault?.reason.contains("malformed fingerprint") == true)
        #expect(outcome.stages[0].passed)

        var wide = try Self.honest()
        wide.chains[1].commitments[0].fingerprint =
            ActivationFingerprint(
                values: [Float](repeating: 1, count: 64), width: 64
            ).encoded
        let wrongWidth = try await Self.replay(wide)
        #expect(wrongWidth.fault?.workerID == "w1")
        #expect(wrongWidth.fault?.reason.contains("64 wide") == true)
    }

    @Test func layersTheNamedShardDoesNotHoldAreAFault() async throws {
        // A gap in the pipeline: [0, 15) then [16, 30).
        let gap = Self.changing(try Self.honest(), worker: "w2") { $0.layers = 16..<30 }
        let gapOutcome = try await Self.replay(gap)
        #expect(gapOutcome.fault?.workerID == "w2")
        #expect(gapOutcome.fault?.reason.contains("the stage before it stops at layer 15") == true)

        // Contiguous layers, but the shard w1 names holds [0, 15), not [0, 10).
        var moved = Self.changing(try Self.honest(), worker: "w1") { $0.layers = 0..<10 }
        moved = Self.changing(moved, worker: "w2") { $0.layers = 10..<30 }
        let movedOutcome = try await Self.replay(moved)
        #expect(movedOutcome.fault?.workerID == "w1" && movedOutcome.fault?.layers == 0..<10)
        #expect(movedOutcome.fault?.reason.contains("holds layers [0, 15), not [0, 10)") == true)

        // A shard name that is no hash.
        let named = Self.changing(try Self.honest(), worker: "w2") { $0.shardSHA256 = "nope" }
        #expect(try await Self.replay(named).fault?.workerID == "w2")
    }

    @Test func shardsOfAnotherModelAreAFault() async throws {
        var record = try Self.honest()
        record.receipt.modelSHA256 = String(repeating: "0", count: 64)
        let outcome = try await Self.replay(record)
        #expect(outcome.fault?.workerID == "w1")
        #expect(outcome.fault?.reason.contains("was cut from model") == true)
    }

    @Test func piecesThatDoNotCoverTheStepAreAFault() async throws {
        var missing = try Self.honest()
        missing.chains[1].commitments.removeAll { $0.workerID == "w2" }
        let missingOutcome = try await Self.replay(missing)
        #expect(missingOutcome.fault?.workerID == "w2")
        #expect(missingOutcome.fault?.reason.contains("carries no commitment") == true)

        // The last stage claims other pieces than the first stage sent.
        var merged = try Self.honest()
        merged.chains[0].commitments.removeAll { $0.workerID == "w2" && $0.position > 0 }
        let index = try #require(merged.chains[0].commitments.firstIndex { $0.workerID == "w2" })
        merged.chains[0].commitments[index].count = merged.promptTokens.count
        let mergedOutcome = try await Self.replay(merged)
        #expect(mergedOutcome.fault?.workerID == "w2")
        #expect(mergedOutcome.fault?.reason.contains("but the stage before sent") == true)
    }

    @Test func countsBeyondTheTokensOrTheContextAreAFault() async throws {
        var beyond = try Self.honest()
        let last = beyond.chains.count - 1
        for index in beyond.chains[last].commitments.indices {
            beyond.chains[last].commitments[index].count = 100_000
        }
        let beyondOutcome = try await Self.replay(beyond)
        #expect(beyondOutcome.fault?.workerID == "w1")
        #expect(beyondOutcome.fault?.reason.contains("but the receipt holds") == true)

        // One step of 8,200 tokens: more than SmolLM2's context of 8,192.
        var long = try Self.honest()
        long.promptTokens = [Int32](repeating: 1, count: 8_200)
        long.outputTokens = []
        var chain = long.chains[1]
        chain.commitments = chain.commitments.map {
            var commitment = $0
            commitment.position = 0
            commitment.count = 8_200
            return commitment
        }
        long.chains = [chain]
        let longOutcome = try await Self.replay(long)
        #expect(longOutcome.fault?.workerID == "w1")
        #expect(longOutcome.fault?.reason.contains("exceed the model's context of 8192") == true)
    }

    @Test func aShardTheVerifierCannotGetIsNoVerdict() async throws {
        let unknown = String(repeating: "ab", count: 32)
        let record = Self.changing(try Self.honest(), worker: "w2") { $0.shardSHA256 = unknown }
        await #expect(throws: ReplayFixtures.Unknown.self) { try await Self.replay(record) }
    }
}
