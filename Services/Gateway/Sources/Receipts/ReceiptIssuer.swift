import Cluster
import Foundation
import Inference
import Integrity
import Logging

/// Signs each finished generation's receipt with the gateway's key and hands the record to
/// the verifier uplink (when one is configured). The key lives as long as the process: a
/// restarted gateway is a new gateway id with a new key, registered with the verifier anew.
final class ReceiptIssuer: Sendable {
    let gatewayID: String
    let identity: SigningIdentity
    let uplink: VerifierUplink?

    init(
        gatewayID: String = RandomID.make(prefix: "gw-", digits: 12),
        identity: SigningIdentity = SigningIdentity(), uplink: VerifierUplink? = nil
    ) {
        self.gatewayID = gatewayID
        self.identity = identity
        self.uplink = uplink
    }

    /// The signed receipt for one generation; queues its record for the verifier.
    func issue(
        ledger: ReceiptLedger, model: ModelReference, prompt: [Int32], output: [Int32],
        sampling: SamplingParameters
    ) -> ReceiptBody {
        let record = ReceiptRecord(
            receipt: ReceiptBody(
                receiptID: RandomID.make(prefix: "rcpt-", digits: 16)
                    + RandomID.make(prefix: "", digits: 16),
                merkleRoot: [],
                modelName: model.name, modelSHA256: model.sha256, stages: ledger.stages,
                leafCount: ledger.leafCount,
                unixMilliseconds: Int64(Date().timeIntervalSince1970 * 1000),
                gatewayID: gatewayID, gatewayPublicKey: identity.publicKey),
            promptTokens: prompt, outputTokens: output, chains: ledger.chains)
        var signed = record
        signed.receipt.merkleRoot = record.merkleTree.root
        signed.receipt.sign(with: identity)
        uplink?.submit(signed, sampling: sampling)
        GatewayMetrics.receiptsIssued.increment()
        return signed.receipt
    }
}
