import ArgumentParser
import Foundation
import Integrity
import ServiceKit
import TesseraProto

/// `tessera verify RECEIPT`: what the verifier says about a receipt. Exit status 0 when it is
/// verified, 1 when it failed (or on an error), 2 while it is pending (not replayed yet);
/// `--audit` replays it now, `--proof STEP` prints that step's commitments with their Merkle
/// proofs and checks them here, against the receipt's root and the gateway's signature.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Show (or audit) the verdict on a receipt; check a step's Merkle proof.")

    @Argument(help: "The receipt id (a response's `receipt.id`, or its x-tessera-receipt header).")
    var receipt: String
    @Flag(help: "Replay the receipt now, whatever the sampling rate, and wait for the verdict.")
    var audit = false
    @Option(help: "Print the commitments of this step with their inclusion proofs, checked here.")
    var proof: UInt64?
    @OptionGroup var verifier: VerifierAddressOption

    func run() async throws {
        let id = receipt
        if let step = proof {
            let response = try await verifier.call { client in
                try await client.getInclusionProof(
                    .with {
                        $0.receiptID = id
                        $0.step = step
                    }, options: .timeout(.seconds(10)))
            }
            let (text, valid) = Self.describe(proof: response, step: step)
            print(text)
            if !valid { throw ExitCode(1) }
            return
        }
        let status = try await verifier.call { client in
            audit
                ? try await client.auditReceipt(
                    .with { $0.receiptID = id }, options: .timeout(.seconds(600)))
                : try await client.getReceipt(
                    .with { $0.receiptID = id }, options: .timeout(.seconds(10)))
        }
        print(Self.describe(status))
        switch status.state {
        case .verified: return
        case .pending: throw ExitCode(2)
        default: throw ExitCode(1)
        }
    }

    static func describe(_ status: Tessera_V1_ReceiptStatus) -> String {
        let receipt = status.receipt
        var lines = [
            "receipt   \(receipt.receiptID)\(status.canary ? " (canary)" : "")",
            "state     \(name(status.state))",
            "model     \(receipt.model.name) \(receipt.model.sha256.prefix(16))",
            "root      \(Digests.hex(receipt.merkleRoot))  (\(receipt.leafCount) commitments)",
            "gateway   \(receipt.gatewayID)  signature \(receipt.domain.hasValidSignature ? "valid" : "INVALID")",
        ]
        for stage in receipt.stages {
            lines.append(
                "stage     layers \(stage.layers.first)..<\(stage.layers.last)  worker \(stage.workerID)  shard \(stage.shardSha256.prefix(16))"
            )
        }
        if status.state == .failed {
            lines.append(
                "fault     worker \(status.faultWorkerID), layers \(status.faultLayers.first)..<\(status.faultLayers.last)"
            )
        }
        if !status.reason.isEmpty { lines.append("reason    \(status.reason)") }
        for check in status.stageChecks {
            lines.append(
                String(
                    format:
                        "check     layers %d..<%d  worker %@  %d steps  min cosine %.9f  max rel. error %.2e  max norm error %.2e  %@",
                    check.layers.first, check.layers.last, check.workerID, check.steps,
                    check.minCosine,
                    check.maxRelativeError, check.maxNormError, check.passed ? "passed" : "FAILED"))
        }
        return lines.joined(separator: "\n")
    }

    static func name(_ state: Tessera_V1_ReceiptState) -> String {
        switch state {
        case .pending: "pending (signatures and hash chain checked; not replayed yet)"
        case .verified: "verified"
        case .failed: "FAILED"
        case .unverifiable: "unverifiable (computed by another engine arithmetic; no verdict)"
        default: "unknown"
        }
    }

    /// The proof, leaf by leaf, checked offline: each leaf's audit path must lead to the
    /// receipt's root, and the receipt must carry a valid gateway signature over that root.
    static func describe(proof response: Tessera_V1_GetInclusionProofResponse, step: UInt64)
        -> (String, Bool)
    {
        let receipt = response.receipt.domain
        var valid = receipt.hasValidSignature
        var lines = [
            "receipt   \(receipt.receiptID)",
            "root      \(Digests.hex(receipt.merkleRoot))  gateway signature \(valid ? "valid" : "INVALID")",
            "step      \(step): \(response.proofs.count) commitment(s)",
        ]
        for leaf in response.proofs {
            let commitment = leaf.commitment.domain
            let included = MerkleTree.verify(
                leaf: commitment.leafBytes, index: Int(leaf.leafIndex),
                leafCount: receipt.leafCount,
                path: leaf.path.map { Array($0) }, root: receipt.merkleRoot)
            valid = valid && included
            lines.append(
                "leaf \(leaf.leafIndex)  layers \(commitment.layers.lowerBound)..<\(commitment.layers.upperBound)  "
                    + "worker \(commitment.workerID)  tokens \(commitment.position)..<\(commitment.position + commitment.count)"
                    + (commitment.isLastStage ? "  sampled \(commitment.sampledToken)" : "")
                    + "  in: \(Digests.hex(commitment.inputDigest).prefix(16))  out: \(Digests.hex(commitment.outputDigest).prefix(16))"
                    + "  proof (\(leaf.path.count) hashes) \(included ? "valid" : "INVALID")")
        }
        lines.append(valid ? "proof valid" : "proof INVALID")
        return (lines.joined(separator: "\n"), valid)
    }
}
