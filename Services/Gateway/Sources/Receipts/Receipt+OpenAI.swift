import Integrity

/// A receipt in the HTTP API's JSON (a Tessera extension to OpenAI's shapes): in a whole
/// completion's body and on each choice, and on a stream's finishing chunk. Byte strings are
/// lowercase hex; `tessera verify ID` checks it against the verifier.
struct OpenAIReceipt: Encodable, Equatable {
    struct Model: Encodable, Equatable {
        var name: String
        var sha256: String
    }

    struct Stage: Encodable, Equatable {
        var workerId: String
        var shardSha256: String
        /// [first, last) layers.
        var layers: [Int]
    }

    var id: String
    var merkleRoot: String
    var model: Model
    var stages: [Stage]
    var leafCount: Int
    var createdMs: Int64
    var gatewayId: String
    var gatewayPublicKey: String
    var signature: String

    init(_ receipt: ReceiptBody) {
        id = receipt.receiptID
        merkleRoot = Digests.hex(receipt.merkleRoot)
        model = Model(name: receipt.modelName, sha256: receipt.modelSHA256)
        stages = receipt.stages.map {
            Stage(
                workerId: $0.workerID, shardSha256: $0.shardSHA256,
                layers: [$0.layers.lowerBound, $0.layers.upperBound])
        }
        leafCount = receipt.leafCount
        createdMs = receipt.unixMilliseconds
        gatewayId = receipt.gatewayID
        gatewayPublicKey = Digests.hex(receipt.gatewayPublicKey)
        signature = Digests.hex(receipt.signature)
    }

    /// The response header naming a whole completion's receipts (one per choice).
    static let header = "x-tessera-receipt"
}
