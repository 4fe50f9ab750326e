import ArgumentParser
import Foundation
import Integrity
import TesseraProto

/// `tessera reputation`: every worker the verifier knows, with its score, checks, ledger
/// balance and trust (new, trusted, quarantined).
struct ReputationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reputation",
        abstract: "List workers' reputations: score, checks, balance and trust.")

    @OptionGroup var verifier: VerifierAddressOption

    func run() async throws {
        let response = try await verifier.call { client in
            try await client.listReputations(.init(), options: .timeout(.seconds(10)))
        }
        print(Self.table(response))
    }

    static func table(_ response: Tessera_V1_ListReputationsResponse) -> String {
        var rows = [["WORKER", "SCORE", "PASSED", "FAILED", "DEPOSIT", "BALANCE", "TRUST", "KEY"]]
        for reputation in response.reputations {
            rows.append([
                reputation.workerID, String(format: "%.3f", reputation.score),
                "\(reputation.checksPassed)", "\(reputation.checksFailed)", "\(reputation.deposit)",
                "\(reputation.balance)",
                trust(reputation.trust) + (reputation.slashed ? ", slashed" : ""),
                String(Digests.hex(reputation.publicKey).prefix(16)),
            ])
        }
        let lines = TextTable.lines(rows)
        return
            (lines + [
                String(
                    format: "%d worker(s); checking costs %.1f%% of serving compute",
                    response.reputations.count, response.checkComputeShare * 100)
            ]).joined(separator: "\n")
    }

    static func trust(_ trust: Tessera_V1_WorkerTrust) -> String {
        switch trust {
        case .new: "new"
        case .trusted: "trusted"
        case .quarantined: "QUARANTINED"
        default: "unknown"
        }
    }
}
