import Foundation
import Integrity
import TesseraProto
import Testing

@testable import Verifier

/// The verifier stopped and started again on the same state directory: pins, receipts,
/// verdicts, reputations and the ledger are as they were, and a receipt selected but not
/// yet checked when it stopped is checked after the restart (no verdict lost or invented).
@Suite(.serialized, .timeLimit(.minutes(3))) struct VerifierPersistenceTests {
    typealias H = VerifierHarness

    @Test func everythingSurvivesARestart() async throws {
        let directory = H.stateDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = H.configuration(stateDirectory: directory)
        let fixture = VerifierFixture()
        let first = ScriptedReplayer(.pass)
        let before = try await H.serving(configuration, replayer: first) { api in
            try await H.register(fixture, api)
            _ = try await H.submit([fixture.record(id: "rcpt-v")], api)
            #expect(try await eventually { try await H.state("rcpt-v", api) == .verified })
            first.script = .fail(workerID: "w-a")
            _ = try await H.submit([fixture.record(id: "rcpt-f")], api)
            #expect(try await eventually { try await H.state("rcpt-f", api) == .failed })
            let broken = fixture.record(id: "rcpt-s") { chain, commitment in
                if chain == 0, commitment.isLastStage { commitment.sampledToken = 99 }
            }
            _ = try await H.submit([broken], api)
            #expect(try await H.state("rcpt-s", api) == .failed)
            // Selected, and its replay under way when the verifier stops.
            first.script = .hang
            _ = try await H.submit([fixture.record(id: "rcpt-h")], api)
            #expect(try await eventually { first.replays.contains("rcpt-h") })
            return try await api.listReputations(.init()).reputations
        }
        #expect(before.map(\.workerID) == ["w-a", "w-b"])
        // w-a: deposit, rcpt-v's reward, rcpt-f's slash; w-b: two rewards and rcpt-s's slash.
        let balances: [Int64] = [901, 902]
        #expect(before.map(\.balance) == balances)

        let second = ScriptedReplayer(.pass)
        try await H.serving(configuration, replayer: second) { api in
            let verified = try await api.getReceipt(.with { $0.receiptID = "rcpt-v" })
            #expect(verified.state == .verified && verified.stageChecks.count == 2)
            #expect(verified.stageChecks.allSatisfy { $0.passed })
            let failed = try await api.getReceipt(.with { $0.receiptID = "rcpt-f" })
            #expect(failed.state == .failed && failed.faultWorkerID == "w-a")
            #expect(failed.stageChecks.map(\.passed) == [false, true])
            let structural = try await api.getReceipt(.with { $0.receiptID = "rcpt-s" })
            #expect(structural.state == .failed && structural.faultWorkerID == "w-b")
            #expect(structural.reason.contains("sampled token 99"))

            // The interrupted replay is done again, and only it.
            #expect(try await eventually { try await H.state("rcpt-h", api) == .verified })
            #expect(second.replays == ["rcpt-h"])
            let after = try await api.listReputations(.init()).reputations
            #expect(after.map(\.balance) == before.map { $0.balance + 1 })
            #expect(after.map(\.checksPassed) == before.map { $0.checksPassed + 1 })
            #expect(after.map(\.checksFailed) == before.map(\.checksFailed))
            #expect(after.map(\.slashed) == [true, true])

            // Keys are still pinned: the gateway's records are accepted without registering
            // again, and a worker cannot swap its key.
            let accepted = try await H.submit([fixture.record(id: "rcpt-late")], api)
            #expect(accepted.accepted == 1)
            #expect(try await eventually { try await H.state("rcpt-late", api) == .verified })
            let swapped = await rpcFailure {
                _ = try await api.registerWorkerKey(
                    .with {
                        $0.workerID = "w-a"
                        $0.publicKey = .init(SigningIdentity().publicKey)
                    })
            }
            #expect(swapped?.code == .permissionDenied)
        }
        let ledger = try await VerifierStore(directory: directory).ledger(of: "w-a")
        #expect(
            ledger.map { "\($0.reason.rawValue) \($0.delta) \($0.receiptId ?? "-")" } == [
                "deposit 1000 -", "reward 1 rcpt-v", "slash -100 rcpt-f", "reward 1 rcpt-h",
                "reward 1 rcpt-late",
            ])
    }
}
