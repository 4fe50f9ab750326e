import Foundation
import GGUF
import Integrity
import TesseraProto
import Testing

@testable import InferenceWorker

/// The test-only faults (`WorkerFaults`, the `tessera-faulty-worker`): each one's effect on
/// the outputs and commitments, the evidence the verifier's checks work from (its detection
/// is tested with the verifier).
@Suite(.serialized) struct FaultyWorkerTests {
    static let generated = 5

    @Test func faultsParseAsTheFlagTakesThem() throws {
        let parsed = try [
            "skip-layer=7", "low-bit", "noise=0.05", "tamper-output", "wrong-token-every=3",
            "forge-signature", "replay-commitment", "swap-layers=3,20", "tamper-prompt",
        ].map(WorkerFaults.Fault.init(parsing:))
        #expect(
            parsed == [
                .skipLayer(7), .lowBit, .noise(relative: 0.05), .tamperOutput, .wrongTokenEvery(3),
                .forgeSignature, .replayCommitment, .swapLayers(3, 20), .tamperPrompt,
            ])
        for bad in [
            "skip-layer", "skip-layer=-1", "noise=0", "low-bit=2", "wrong-token-every=0", "fast",
            "swap-layers=3", "swap-layers=4,4", "tamper-prompt=1",
        ] {
            #expect(throws: FaultSyntaxError.self, "\(bad)") {
                try WorkerFaults.Fault(parsing: bad)
            }
        }
        #expect(
            WorkerFaults([.skipLayer(3), .lowBit, .noise(relative: 1)]).weights?.tag
                == "skip3-lowbit")
        #expect(WorkerFaults([.tamperOutput]).weights == nil)
        #expect(WorkerFaults([.swapLayers(3, 20)]).weights?.tag == "swap3x20")
    }

    /// Swapped layers trade every tensor's bytes; the rest of the shard is untouched.
    @Test func swappedLayersTradeTheirTensors() throws {
        let shard = try WorkerFixtures.shard(0..<15)
        let original = try GGUFFile(path: WorkerFixtures.path(of: shard))
        let copy = try GGUFFile(
            path: ShardWeightFaults(swappedLayers: [[2, 9]]).copy(
                of: WorkerFixtures.path(of: shard), sha: shard.sha256))
        for tensor in original.tensors {
            let name = tensor.name
            let partner =
                name.hasPrefix("blk.2.")
                ? "blk.9." + name.dropFirst(6)
                : name.hasPrefix("blk.9.") ? "blk.2." + name.dropFirst(6) : name
            let source = try #require(original.tensor(named: partner))
            #expect(Array(copy.bytes(of: tensor)) == Array(original.bytes(of: source)), "\(name)")
        }
    }

    /// The modified copy zeroes the skipped layer's output projections' scales and clears the
    /// quants' lowest bits; everything else is the shard's bytes.
    @Test func weightFaultsRewriteTheShardFileAsDocumented() throws {
        let shard = try WorkerFixtures.shard(0..<15)
        let original = try GGUFFile(path: WorkerFixtures.path(of: shard))
        let path = try ShardWeightFaults(skippedLayers: [5], lowBit: true).copy(
            of: WorkerFixtures.path(of: shard), sha: shard.sha256)
        let copy = try GGUFFile(path: path)
        #expect(copy.fileSize == original.fileSize)
        for tensor in original.tensors {
            let before = Array(original.bytes(of: tensor))
            let after = Array(copy.bytes(of: tensor))
            let blocks = stride(from: 0, to: before.count, by: tensor.type.blockBytes)
            switch (tensor.name, tensor.type) {
            case ("blk.5.attn_output.weight", .q4_1), ("blk.5.ffn_down.weight", .q4_1):
                #expect(blocks.allSatisfy { after[$0..<($0 + 4)].allSatisfy { $0 == 0 } })
            case (_, .q4_1):
                #expect(blocks.allSatisfy { after[$0..<($0 + 4)] == before[$0..<($0 + 4)] })
                #expect(
                    blocks.allSatisfy { block in
                        (4..<20).allSatisfy { after[block + $0] == before[block + $0] & 0xEE }
                    }, "\(tensor.name)")
            default:
                #expect(after == before, "\(tensor.name)")
            }
        }
    }

    @Test func forgeSignatureSignsWithAnotherKeyAfterTheHonestSteps() async throws {
        let pipeline = try await CommittingPipeline.start(
            [0..<30], ids: ["forger"], faults: ["forger": WorkerFaults([.forgeSignature], after: 2)]
        )
        let outcome = try await Self.generate(pipeline)
        let verifies = outcome.responses.map {
            $0.commitments[0].domain.hasValidSignature(publicKey: pipeline.publicKeys[0])
        }
        #expect(verifies == [true, true, false, false, false])
        await pipeline.stop()
    }

    @Test func tamperOutputBreaksTheDigestChain() async throws {
        let pipeline = try await CommittingPipeline.start(
            [0..<15, 15..<30], ids: ["tamperer", "honest"],
            faults: ["tamperer": WorkerFaults([.tamperOutput])])
        let outcome = try await Self.generate(pipeline)
        for response in outcome.responses {
            let commitments = response.commitments.map(\.domain)
            #expect(commitments.count == 2)
            #expect(commitments[1].inputDigest != commitments[0].outputDigest)
            for (commitment, key) in zip(commitments, pipeline.publicKeys) {
                #expect(commitment.hasValidSignature(publicKey: key))
            }
        }
        await pipeline.stop()
    }

    /// Noise before the commitment: the chain holds (the stage committed to what it sent), but
    /// the fingerprint is far from a replay of the stage on the same input.
    @Test func noiseIsCommittedToAndFarFromAReplay() async throws {
        let pipeline = try await CommittingPipeline.start(
            [0..<15, 15..<30], ids: ["noisy", "honest"],
            faults: ["noisy": WorkerFaults([.noise(relative: 0.05)])])
        let prompt = try WorkerFixtures.prompt("chat-fact")
        let outcome = try await Self.generate(pipeline, prompt: prompt)
        let prefill = try #require(outcome.responses.first).commitments.map(\.domain)
        #expect(prefill[1].inputDigest == prefill[0].outputDigest)
        let replayed = try WorkerCommitmentTests.replayFirstStage(prompt: prompt)
        #expect(prefill[0].outputDigest != Digests.floats(replayed))
        let distance = try ActivationFingerprint(encoded: prefill[0].fingerprint)
            .distance(toReplayed: replayed)
        #expect(!distance.within(FingerprintTolerance()), "\(distance)")
        await pipeline.stop()
    }

    @Test func wrongTokenEveryNSendsAndCommitsToAnotherToken() async throws {
        let pipeline = try await CommittingPipeline.start(
            [0..<30], ids: ["liar"], faults: ["liar": WorkerFaults([.wrongTokenEvery(3)])])
        let prompt = try WorkerFixtures.prompt("plain-story")
        let outcome = try await Self.generate(pipeline, prompt: prompt)
        let reference = try WorkerFixtures.referenceTokens(prompt: prompt, count: Self.generated)
        #expect(Array(outcome.tokens.prefix(2)) == Array(reference.tokens.prefix(2)))
        #expect(outcome.tokens[2] != reference.tokens[2])
        for response in outcome.responses {
            let commitment = response.commitments[0].domain
            #expect(commitment.sampledToken == response.token)
            #expect(commitment.outputDigest == StepCommitment.tokenDigest(response.token))
        }
        await pipeline.stop()
    }

    @Test func replayCommitmentSendsTheFirstStepsCommitmentAgain() async throws {
        let pipeline = try await CommittingPipeline.start(
            [0..<30], ids: ["replayer"], faults: ["replayer": WorkerFaults([.replayCommitment])])
        let outcome = try await Self.generate(pipeline)
        let first = try #require(outcome.responses.first).commitments
        #expect(first.count == 1 && first[0].step == 0)
        #expect(outcome.responses.dropFirst().allSatisfy { $0.commitments == first })
        await pipeline.stop()
    }

    /// Weight faults change what the stage computes while it keeps claiming the verified
    /// shard's hash, with valid signatures and an intact chain.
    @Test(arguments: [WorkerFaults.Fault.skipLayer(5), .lowBit])
    func weightFaultsChangeTheOutputUnderTheOriginalHash(_ fault: WorkerFaults.Fault) async throws {
        let pipeline = try await CommittingPipeline.start(
            [0..<15, 15..<30], ids: ["cheap", "honest"], faults: ["cheap": WorkerFaults([fault])])
        let prompt = try WorkerFixtures.prompt("chat-fact")
        let outcome = try await Self.generate(pipeline, prompt: prompt, prefillLogits: true)
        let reference = try WorkerFixtures.referenceTokens(prompt: prompt, count: 1)
        let logits = try #require(outcome.responses.first).logits
        #expect(logits.count == reference.prefillLogits.count)
        #expect(logits != reference.prefillLogits)
        let prefill = try #require(outcome.responses.first).commitments.map(\.domain)
        #expect(prefill[0].shardSHA256 == pipeline.pipeline.stages[0].shard.sha256)
        #expect(prefill[0].hasValidSignature(publicKey: pipeline.publicKeys[0]))
        #expect(prefill[1].inputDigest == prefill[0].outputDigest)
        #expect(
            prefill[0].outputDigest
                != Digests.floats(try WorkerCommitmentTests.replayFirstStage(prompt: prompt)))
        await pipeline.stop()
    }

    static func generate(
        _ pipeline: CommittingPipeline, prompt: [Int32]? = nil, prefillLogits: Bool = false
    ) async throws -> ForwardOutcome {
        let prompt = try prompt ?? WorkerFixtures.prompt("plain-story")
        let outcome = await ForwardDriver.generate(
            pipeline.pipeline, open: pipeline.pipeline.open(), prompt: prompt,
            count: Self.generated, prefillLogits: prefillLogits)
        #expect(outcome.error == nil)
        #expect(outcome.responses.count == Self.generated)
        return outcome
    }
}
