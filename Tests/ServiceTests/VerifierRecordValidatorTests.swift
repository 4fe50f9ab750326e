import Foundation
import Integrity
import Testing

@testable import Verifier

/// Each kind of tampering with a receipt record, and what the structural checks make of it:
/// the gateway's part wrong → rejected; a worker's signed statements wrong → FAILED against
/// that worker.
@Suite struct VerifierRecordValidatorTests {
    let fixture = VerifierFixture()

    private func rejection(_ check: RecordCheck) -> String? {
        if case .rejected(let why) = check { return why }
        return nil
    }

    private func fault(_ check: RecordCheck) -> WorkerFault? {
        if case .faulty(let fault) = check { return fault }
        return nil
    }

    // MARK: The gateway's part: rejected

    @Test func anUnknownGatewayIsRejected() {
        var validator = fixture.validator
        validator.gatewayKey = nil
        let why = rejection(validator.check(fixture.record()))
        #expect(why?.contains("gateway gw-test has not registered") == true)
    }

    @Test func aGatewayKeyOtherThanThePinnedOneIsRejected() {
        var validator = fixture.validator
        validator.gatewayKey = SigningIdentity().publicKey
        #expect(
            rejection(validator.check(fixture.record()))?.contains("other than the one") == true)
    }

    @Test func aBadGatewaySignatureIsRejected() {
        var record = fixture.record()
        record.receipt.modelName = "another-model"  // after signing
        #expect(rejection(fixture.validator.check(record))?.contains("signature") == true)
    }

    @Test func aRootThatDoesNotMatchTheChainsIsRejected() {
        var record = fixture.record()
        // The gateway signed a root, then the chains changed under it.
        record.chains.swapAt(0, 1)
        #expect(rejection(fixture.validator.check(record))?.contains("Merkle root") == true)
        // A receipt signed over the wrong leaf count.
        var counted = fixture.record()
        counted.receipt.leafCount += 1
        counted.receipt.sign(with: fixture.gateway)
        #expect(rejection(fixture.validator.check(counted))?.contains("leaf_count") == true)
    }

    @Test func anUnknownWorkerIsRejectedByName() {
        var validator = fixture.validator
        validator.workerKeys["w-b"] = nil
        #expect(
            rejection(validator.check(fixture.record()))?.contains("unknown worker w-b") == true)
    }

    @Test func aChainWithAMissingStageIsRejected() {
        var chains = fixture.chains()
        chains[1].commitments.removeAll { $0.workerID == "w-a" }
        let record = fixture.record(chains: chains)
        #expect(rejection(fixture.validator.check(record))?.contains("nothing before") == true)
        var tail = fixture.chains()
        tail[2].commitments.removeAll { $0.workerID == "w-b" }
        #expect(
            rejection(fixture.validator.check(fixture.record(chains: tail)))?.contains(
                "nothing after") == true)
    }

    // MARK: A worker's statements: FAILED against it

    @Test func aBadWorkerSignatureFailsThatWorkerUnproven() {
        var chains = fixture.chains()
        for c in chains.indices {
            for i in chains[c].commitments.indices { fixture.sign(&chains[c].commitments[i]) }
        }
        chains[1].commitments[1].signature[0] ^= 1  // B's decode-step signature, then the receipt
        let found = fault(fixture.validator.check(fixture.receipt(id: "rcpt-1", over: chains)))
        #expect(found?.workerID == "w-b")
        #expect(found?.layers == 15..<30)
        #expect(found?.proven == false)
        #expect(found?.reason.contains("signature") == true)
    }

    @Test func aBrokenHashChainFailsTheSendingStage() {
        // A sender that signs an output other than the one the next stage received (it sent
        // other bytes than it signed: a tampered hop) is the one blamed.
        let sender = fixture.record { chain, commitment in
            if chain == 1, commitment.workerID == "w-a" { commitment.outputDigest[5] ^= 1 }
        }
        let found = fault(fixture.validator.check(sender))
        #expect(found?.workerID == "w-a")
        #expect(found?.layers == 0..<15)
        #expect(found?.proven == false)  // which of the two lied is not provable
        #expect(found?.reason.contains("broken hash chain") == true)
        // A receiver misstating its input breaks the same link; the sender is still named
        // (unprovable either way, so nobody is slashed for it).
        let receiver = fixture.record { chain, commitment in
            if chain == 2, commitment.workerID == "w-b" { commitment.inputDigest[0] ^= 1 }
        }
        #expect(fault(fixture.validator.check(receiver))?.workerID == "w-a")
    }

    @Test func aFirstStageThatReadOtherTokensFails() {
        let record = fixture.record { chain, commitment in
            if chain == 1, commitment.workerID == "w-a" {
                commitment.inputDigest = Digests.tokens([99])
            }
        }
        let found = fault(fixture.validator.check(record))
        #expect(found?.workerID == "w-a")
        #expect(found?.layers == 0..<15)
        #expect(found?.reason.contains("recorded tokens") == true)
    }

    @Test func aWrongSampledTokenFailsTheLastStage() {
        let record = fixture.record { chain, commitment in
            if chain == 1, commitment.isLastStage {
                commitment.sampledToken = 77
                commitment.outputDigest = StepCommitment.tokenDigest(77)
            }
        }
        let found = fault(fixture.validator.check(record))
        #expect(found?.workerID == "w-b")
        #expect(found?.reason.contains("sampled token 77") == true)
        // The same token but an output digest of another: the worker contradicts itself.
        let digest = fixture.record { chain, commitment in
            if chain == 0, commitment.isLastStage {
                commitment.outputDigest = StepCommitment.tokenDigest(5)
            }
        }
        #expect(fault(fixture.validator.check(digest))?.reason.contains("output digest") == true)
    }

    @Test func aFailoverReplayStepIsNotHeldToTheRecordedToken() {
        // Attempt 1 replays the last decode step after a failover, and samples something else:
        // the record's token came from attempt 0, which the replay check covers.
        var chains = fixture.chains()
        var replayed = fixture.chain(step: 2, pieces: [(5, 1)], replay: true)
        for i in replayed.indices where replayed[i].isLastStage {
            replayed[i].sampledToken = 99
            replayed[i].outputDigest = StepCommitment.tokenDigest(99)
        }
        for i in replayed.indices { replayed[i].sessionID = "sess-2" }
        chains.append(CommitmentChain(attempt: 1, commitments: replayed))
        #expect(fixture.validator.check(fixture.record(chains: chains)) == .sound)
    }

    @Test func afterAFailoverOnlyNewSamplesAreHeldToTheRecord() {
        // Attempt 0 produced output 0 and 1, then its pipeline died. Attempt 1 prefills the
        // prompt (sampling output 0 again, differently: the gateway keeps what it sent),
        // replays outputs 0 and 1, and decodes on: its new samples are checked.
        var fixture = self.fixture
        fixture.output = [21, 22, 23, 24, 25]
        let prompt = fixture.prompt.count
        func attempt1(lastToken: Int32) -> [CommitmentChain] {
            var resumed = fixture
            resumed.sessionID = "sess-2"
            var prefill = resumed.chain(step: 0, pieces: [(0, prompt)])
            for i in prefill.indices where prefill[i].isLastStage {
                prefill[i].sampledToken = 99
                prefill[i].outputDigest = StepCommitment.tokenDigest(99)
            }
            var decode = resumed.chain(step: 2, pieces: [(prompt + 2, 1)])
            for i in decode.indices where decode[i].isLastStage {
                decode[i].sampledToken = lastToken
                decode[i].outputDigest = StepCommitment.tokenDigest(lastToken)
            }
            return [
                CommitmentChain(attempt: 1, commitments: prefill),
                CommitmentChain(
                    attempt: 1,
                    commitments: resumed.chain(step: 1, pieces: [(prompt, 2)], replay: true)),
                CommitmentChain(attempt: 1, commitments: decode),
            ]
        }
        let before = Array(fixture.chains().prefix(2))
        let honest = fixture.record(chains: before + attempt1(lastToken: 24))
        #expect(fixture.validator.check(honest) == .sound)
        let wrong = fixture.record(chains: before + attempt1(lastToken: 77))
        #expect(fault(fixture.validator.check(wrong))?.reason.contains("sampled token 77") == true)
    }

    @Test func aCommitmentTwiceInOneRecordIsReplayed() {
        var chains = fixture.chains()
        for c in chains.indices {
            for i in chains[c].commitments.indices { fixture.sign(&chains[c].commitments[i]) }
        }
        chains.append(chains[1])  // the same reply again, signatures and all
        let found = fault(fixture.validator.check(fixture.receipt(id: "rcpt-1", over: chains)))
        #expect(found?.reason.contains("appears twice") == true)
        #expect(found?.proven == true)
    }

    @Test func aCommitmentFromAnotherReceiptIsReplayed() {
        let record = fixture.record()
        var validator = fixture.validator
        validator.storedSignatures = [record.chains[2].commitments[0].signature]
        let found = fault(validator.check(record))
        #expect(found?.workerID == "w-a")
        #expect(found?.reason.contains("another receipt") == true)
    }

    @Test func aCommitmentOfAnotherSessionIsReplayed() {
        let record = fixture.record { chain, commitment in
            if chain == 2, commitment.workerID == "w-b" { commitment.sessionID = "sess-old" }
        }
        let found = fault(fixture.validator.check(record))
        #expect(found?.workerID == "w-b")
        #expect(found?.reason.contains("session sess-old") == true)
    }

    @Test func aShardOtherThanTheStagesFailsItsWorker() {
        let record = fixture.record { _, commitment in
            if commitment.workerID == "w-a" {
                commitment.shardSHA256 = String(repeating: "f", count: 64)
            }
        }
        let found = fault(fixture.validator.check(record))
        #expect(found?.workerID == "w-a")
        #expect(found?.reason.contains("names shard") == true)
    }

    @Test func gatewayProblemsComeBeforeWorkerFaults() {
        // A broken chain inside a record whose gateway is unknown proves nothing: rejected.
        let record = fixture.record { chain, commitment in
            if chain == 2, commitment.workerID == "w-b" { commitment.inputDigest[0] ^= 1 }
        }
        var validator = fixture.validator
        validator.gatewayKey = nil
        #expect(rejection(validator.check(record)) != nil)
    }
}
