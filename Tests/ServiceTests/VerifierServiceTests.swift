import Foundation
import GRPCCore
import Integrity
import TesseraProto
import Testing

@testable import Verifier

/// The verifier's API in-process: key pinning, SubmitReceipts' outcomes, the checker's and
/// AuditReceipt's verdicts with their reputations and ledger, inclusion proofs, and the
/// status of each bad request.
@Suite(.serialized, .timeLimit(.minutes(3))) struct VerifierServiceTests {
    typealias H = VerifierHarness

    // MARK: Keys

    @Test func workerKeysArePinnedUntilRemoved() async throws {
        let directory = H.stateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = SigningIdentity().publicKey
        let other = SigningIdentity().publicKey
        try await H.serving(H.configuration(stateDirectory: directory), replayer: .init()) { api in
            func register(_ key: [UInt8], deposit: UInt64 = 500) async throws -> Bool {
                try await api.registerWorkerKey(
                    .with {
                        $0.workerID = "w-1"
                        $0.publicKey = .init(key)
                        $0.deposit = deposit
                    }
                ).newlyRegistered
            }
            #expect(try await register(key))
            #expect(try await !register(key))  // the same key again: fine, nothing changes
            let denied = await rpcFailure { _ = try await register(other) }
            #expect(denied?.code == .permissionDenied)
            #expect(denied?.message.contains("worker w-1 is pinned to another key") == true)
            let short = await rpcFailure { _ = try await register(Array(key.prefix(31))) }
            #expect(short?.code == .invalidArgument)
            #expect(short?.message.contains("32-byte") == true)
            let unnamed = await rpcFailure {
                _ = try await api.registerWorkerKey(.with { $0.publicKey = .init(key) })
            }
            #expect(unnamed?.code == .invalidArgument)

            var reputation = try await H.reputation("w-1", api)
            #expect(reputation.deposit == 500 && reputation.balance == 500)
            #expect(Array(reputation.publicKey) == key)
            #expect(reputation.trust == .new && reputation.score == 1)

            _ = try await api.removeWorker(.with { $0.workerID = "w-1" })
            reputation = try await H.reputation("w-1", api)  // history stays, the key does not
            #expect(reputation.publicKey.isEmpty && reputation.deposit == 500)
            #expect(try await register(other, deposit: 100))
            reputation = try await H.reputation("w-1", api)
            #expect(Array(reputation.publicKey) == other)
            #expect(reputation.deposit == 600 && reputation.balance == 600)

            let unknown = await rpcFailure {
                _ = try await api.removeWorker(.with { $0.workerID = "w-9" })
            }
            #expect(unknown?.code == .notFound)
            let noReputation = await rpcFailure { _ = try await H.reputation("w-9", api) }
            #expect(noReputation?.code == .notFound)
        }
    }

    @Test func gatewayKeysArePinned() async throws {
        let directory = H.stateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await H.serving(H.configuration(stateDirectory: directory), replayer: .init()) { api in
            let key = SigningIdentity().publicKey
            for _ in 0..<2 {
                _ = try await api.registerGatewayKey(
                    .with {
                        $0.gatewayID = "gw-1"
                        $0.publicKey = .init(key)
                    })
            }
            let denied = await rpcFailure {
                _ = try await api.registerGatewayKey(
                    .with {
                        $0.gatewayID = "gw-1"
                        $0.publicKey = .init(SigningIdentity().publicKey)
                    })
            }
            #expect(denied?.code == .permissionDenied)
            let long = await rpcFailure {
                _ = try await api.registerGatewayKey(
                    .with {
                        $0.gatewayID = "gw-2"
                        $0.publicKey = .init(key + [0])
                    })
            }
            #expect(long?.code == .invalidArgument)
        }
    }

    // MARK: Submitting

    @Test func batchesAreBounded() async throws {
        let directory = H.stateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = H.configuration(stateDirectory: directory)
        configuration.maxBatchBytes = 20_000
        let fixture = VerifierFixture()
        try await H.serving(configuration, replayer: .init()) { api in
            let tooMany = await rpcFailure {
                _ = try await api.submitReceipts(
                    .with { $0.records = Array(repeating: .init(), count: 257) })
            }
            #expect(tooMany?.code == .invalidArgument)
            #expect(tooMany?.message.contains("at most 256") == true)
            let records = (0..<20).map { fixture.record(id: "rcpt-\($0)") }
            let tooLarge = await rpcFailure { _ = try await H.submit(records, api) }
            #expect(tooLarge?.code == .resourceExhausted)
            #expect(tooLarge?.message.contains("at most 20000") == true)
            // Nothing of a refused batch was stored.
            let absent = await rpcFailure { _ = try await H.state("rcpt-0", api) }
            #expect(absent?.code == .notFound)
        }
    }

    @Test func soundRecordsAreReplayedAndRewarded() async throws {
        let directory = H.stateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixture = VerifierFixture()
        let replayer = ScriptedReplayer(.pass)
        try await H.serving(H.configuration(stateDirectory: directory), replayer: replayer) { api in
            try await H.register(fixture, api)
            let response = try await H.submit([fixture.record()], api)
            #expect(response.accepted == 1 && response.rejected == 0)
            // New workers: every receipt is selected, and the checker replays it.
            #expect(try await eventually { try await H.state("rcpt-1", api) == .verified })
            let status = try await api.getReceipt(.with { $0.receiptID = "rcpt-1" })
            #expect(status.stageChecks.count == 2 && status.stageChecks.allSatisfy { $0.passed })
            #expect(status.checkedUnixMs > 0 && status.faultWorkerID.isEmpty)
            #expect(status.receipt.receiptID == "rcpt-1" && !status.canary)
            for worker in ["w-a", "w-b"] {
                let reputation = try await H.reputation(worker, api)
                #expect(reputation.checksPassed == 1 && reputation.checksFailed == 0)
                #expect(reputation.balance == 1001 && !reputation.slashed)
            }
            let list = try await api.listReputations(.init())
            #expect(list.reputations.map(\.workerID) == ["w-a", "w-b"])
            // 0.25 s of replay over 0.24 s of serving (first to last commitment).
            #expect(abs(list.checkComputeShare - 0.25 / 0.24) < 1e-9)

            // The gateway retrying the same record: accepted again, nothing counted twice.
            let again = try await H.submit([fixture.record()], api)
            #expect(again.accepted == 1 && again.rejected == 0)
            #expect(replayer.replays == ["rcpt-1"])
            // Another record under the same id is a replayed receipt.
            var other = fixture
            other.output = [21, 22, 24]
            let replayed = try await H.submit([other.record()], api)
            #expect(replayed.accepted == 0 && replayed.rejected == 1)
            #expect(replayed.errors.first?.contains("rcpt-1: replayed receipt") == true)
        }
    }

    @Test func gatewayProblemsAreRejectedAndWorkerFaultsFailAtOnce() async throws {
        let directory = H.stateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fixture = VerifierFixture()
        let replayer = ScriptedReplayer(.pass)
        try await H.serving(H.configuration(stateDirectory: directory), replayer: replayer) { api in
            // Before the gateway registered: rejected, naming it.
            let early = try await H.submit([fixture.record(id: "rcpt-early")], api)
            #expect(early.accepted == 0 && early.rejected == 1)
            #expect(
                early.errors == [
                    "rcpt-early: gateway gw-test has not registered its key (RegisterGatewayKey)"
                ])
            try await H.register(fixture, api)

            var unsigned = fixture.record(id: "rcpt-unsigned")
            unsigned.receipt.signature[3] ^= 1
            let liar = fixture.record(id: "rcpt-liar") { chain, commitment in
                if chain == 1, commitment.isLastStage {
                    commitment.sampledToken = 66
                    commitment.outputDigest = StepCommitment.tokenDigest(66)
                }
            }
            let broken = fixture.record(id: "rcpt-broken") { chain, commitment in
                if chain == 1, commitment.workerID == "w-b" { commitment.inputDigest[0] ^= 1 }
            }
            let response = try await H.submit(
                [unsigned, liar, broken, fixture.record(id: "rcpt-ok")], api)
            #expect(response.accepted == 3 && response.rejected == 1)
            #expect(response.errors.count == 1 && response.errors[0].hasPrefix("rcpt-unsigned:"))
            let unsignedState = await rpcFailure { _ = try await H.state("rcpt-unsigned", api) }
            #expect(unsignedState?.code == .notFound)

            let lied = try await api.getReceipt(.with { $0.receiptID = "rcpt-liar" })
            #expect(lied.state == .failed && lied.faultWorkerID == "w-b")
            #expect(lied.faultLayers.first == 15 && lied.faultLayers.last == 30)
            #expect(lied.reason.contains("sampled token 66"))
            let failed = try await api.getReceipt(.with { $0.receiptID = "rcpt-broken" })
            #expect(failed.state == .failed && failed.faultWorkerID == "w-a")
            #expect(failed.reason.contains("broken hash chain"))
            #expect(try await eventually { try await H.state("rcpt-ok", api) == .verified })
            #expect(replayer.replays == ["rcpt-ok"])  // a FAILED receipt is not replayed
            // The wrong token is proven (slashed); the broken link counts against its
            // sender, unproven (not slashed).
            let sender = try await H.reputation("w-a", api)
            #expect(sender.checksFailed == 1 && !sender.slashed)
            let faulty = try await H.reputation("w-b", api)
            #expect(faulty.checksFailed == 1 && faulty.checksPassed == 1 && faulty.slashed)
            #expect(faulty.balance == 1000 - 100 + 1)
            #expect(faulty.trust == .quarantined)
            let ledger = try await ledgerReasons("w-b", directory)
            #expect(ledger == ["deposit 1000", "slash -100", "reward 1"])
        }
    }

    /// A receipt whose workers computed with another engine arithmetic gets no verdict:
    /// UNVERIFIABLE, final, with the reason, and nobody's reputation or balance moves.
    @Test func anotherArithmeticIsUnverifiableAndCountsNothing() async throws {
        let directory = H.stateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = H.configuration(stateDirectory: directory)
        configuration.newWorkerRate = 0
        let fixture = VerifierFixture()
        let replayer = ScriptedReplayer(.fail(workerID: "w-a"))
        try await H.serving(configuration, replayer: replayer) { api in
            try await H.register(fixture, api)
            let old = fixture.record(id: "rcpt-old") { _, commitment in
                commitment.arithmetic = 0  // a worker from before the field
            }
            _ = try await H.submit([old], api)
            let status = try await api.auditReceipt(.with { $0.receiptID = "rcpt-old" })
            #expect(status.state == .unverifiable)
            #expect(status.reason.contains("computed with engine arithmetic 0"))
            #expect(status.faultWorkerID.isEmpty && status.stageChecks.isEmpty)
            for worker in ["w-a", "w-b"] {
                let reputation = try await H.reputation(worker, api)
                #expect(reputation.checksPassed == 0 && reputation.checksFailed == 0)
                #expect(reputation.balance == 1000 && !reputation.slashed)
            }
            // Final: asked again, the same answer without another replay.
            let again = try await api.auditReceipt(.with { $0.receiptID = "rcpt-old" })
            #expect(again.state == .unverifiable && replayer.replays == ["rcpt-old"])
        }
    }

    /// A worker's ledger as "reason delta", read from the store after the service stopped
    /// using it (the database allows a second reader).
    private func ledgerReasons(_ worker: String, _ directory: String) async throws -> [String] {
        try await VerifierStore(directory: directory).ledger(of: worker).map {
            "\($0.reason.rawValue) \($0.delta)"
        }
    }

    // MARK: Auditing

    @Test func auditReplaysWhateverTheRate() async throws {
        let directory = H.stateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = H.configuration(stateDirectory: directory)
        configuration.newWorkerRate = 0  // nothing selected by sampling
        let fixture = VerifierFixture()
        let replayer = ScriptedReplayer(.fail(workerID: "w-a"))
        try await H.serving(configuration, replayer: replayer) { api in
            try await H.register(fixture, api)
            _ = try await H.submit(
                [fixture.record(id: "rcpt-a"), fixture.record(id: "rcpt-b")], api)
            try await Task.sleep(for: .milliseconds(300))
            #expect(replayer.replays.isEmpty)
            #expect(try await H.state("rcpt-a", api) == .pending)

            let audited = try await api.auditReceipt(.with { $0.receiptID = "rcpt-a" })
            #expect(audited.state == .failed)
            #expect(audited.faultWorkerID == "w-a" && audited.faultLayers.last == 15)
            #expect(audited.reason.contains("honest band"))
            #expect(audited.stageChecks.map(\.passed) == [false, true])
            let cheat = try await H.reputation("w-a", api)
            #expect(cheat.checksFailed == 1 && cheat.slashed && cheat.balance == 900)
            #expect(cheat.trust == .quarantined)
            let honest = try await H.reputation("w-b", api)
            #expect(honest.checksPassed == 1 && honest.balance == 1001 && !honest.slashed)

            // A verdict is final: auditing again answers it without replaying.
            let again = try await api.auditReceipt(.with { $0.receiptID = "rcpt-a" })
            #expect(again.state == .failed && replayer.replays == ["rcpt-a"])

            // The verifier's own trouble: UNAVAILABLE, and the receipt stays pending.
            replayer.script = .error
            let unavailable = await rpcFailure {
                _ = try await api.auditReceipt(.with { $0.receiptID = "rcpt-b" })
            }
            #expect(unavailable?.code == .unavailable)
            #expect(unavailable?.message.contains("stays pending") == true)
            #expect(try await H.state("rcpt-b", api) == .pending)

            let unknown = await rpcFailure {
                _ = try await api.auditReceipt(.with { $0.receiptID = "rcpt-none" })
            }
            #expect(unknown?.code == .notFound)
            let missing = await rpcFailure { _ = try await H.state("rcpt-none", api) }
            #expect(missing?.code == .notFound)
        }
    }

    // MARK: Proofs

    @Test func inclusionProofsVerifyAgainstTheReceiptRoot() async throws {
        let directory = H.stateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = H.configuration(stateDirectory: directory)
        configuration.newWorkerRate = 0
        var fixture = VerifierFixture()
        fixture.prefillPieces = 2
        fixture.output = [21, 22, 23, 24, 25]
        try await H.serving(configuration, replayer: .init()) { api in
            try await H.register(fixture, api)
            _ = try await H.submit([fixture.record()], api)
            for step: UInt64 in [0, 1, 4] {
                let response = try await api.getInclusionProof(
                    .with {
                        $0.receiptID = "rcpt-1"
                        $0.step = step
                    })
                let receipt = response.receipt.domain
                #expect(receipt.hasValidSignature)
                // Both stages; the prefill's two pieces at each.
                #expect(response.proofs.count == (step == 0 ? 4 : 2))
                for proof in response.proofs {
                    let commitment = proof.commitment.domain
                    #expect(commitment.step == step)
                    #expect(
                        MerkleTree.verify(
                            leaf: commitment.leafBytes, index: Int(proof.leafIndex),
                            leafCount: receipt.leafCount, path: proof.path.map { Array($0) },
                            root: receipt.merkleRoot))
                    // A proof for another leaf does not verify this one.
                    #expect(
                        !MerkleTree.verify(
                            leaf: commitment.leafBytes, index: Int(proof.leafIndex) ^ 1,
                            leafCount: receipt.leafCount, path: proof.path.map { Array($0) },
                            root: receipt.merkleRoot))
                }
            }
            let noStep = await rpcFailure {
                _ = try await api.getInclusionProof(
                    .with {
                        $0.receiptID = "rcpt-1"
                        $0.step = 9
                    })
            }
            #expect(noStep?.code == .notFound)
            #expect(noStep?.message.contains("step 9") == true)
            let noReceipt = await rpcFailure {
                _ = try await api.getInclusionProof(.with { $0.receiptID = "rcpt-9" })
            }
            #expect(noReceipt?.code == .notFound)
        }
    }
}
