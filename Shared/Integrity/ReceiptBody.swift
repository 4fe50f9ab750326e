/// One stage of a pipeline that served a request.
public struct ReceiptStage: Sendable, Equatable, Hashable {
    public var workerID: String
    public var shardSHA256: String
    public var layers: Range<Int>

    public init(workerID: String, shardSHA256: String, layers: Range<Int>) {
        self.workerID = workerID
        self.shardSHA256 = shardSHA256
        self.layers = layers
    }
}

/// What a gateway signs for one request: the Merkle root over the request's commitments,
/// the model and the stages that served it (docs/verification.md, "Receipts").
public struct ReceiptBody: Sendable, Equatable {
    public var receiptID: String
    public var merkleRoot: [UInt8]
    public var modelName: String
    public var modelSHA256: String
    public var stages: [ReceiptStage]
    public var leafCount: Int
    public var unixMilliseconds: Int64
    public var gatewayID: String
    public var gatewayPublicKey: [UInt8]
    public var signature: [UInt8] = []

    public init(
        receiptID: String, merkleRoot: [UInt8], modelName: String, modelSHA256: String,
        stages: [ReceiptStage], leafCount: Int, unixMilliseconds: Int64, gatewayID: String,
        gatewayPublicKey: [UInt8], signature: [UInt8] = []
    ) {
        self.receiptID = receiptID
        self.merkleRoot = merkleRoot
        self.modelName = modelName
        self.modelSHA256 = modelSHA256
        self.stages = stages
        self.leafCount = leafCount
        self.unixMilliseconds = unixMilliseconds
        self.gatewayID = gatewayID
        self.gatewayPublicKey = gatewayPublicKey
        self.signature = signature
    }

    public var signedBytes: [UInt8] {
        var encoder = CanonicalEncoder(domain: "tessera.receipt.v1")
        encoder.string(receiptID)
        encoder.data(merkleRoot)
        encoder.string(modelName)
        encoder.string(modelSHA256)
        encoder.uint32(UInt32(stages.count))
        for stage in stages {
            encoder.string(stage.workerID)
            encoder.string(stage.shardSHA256)
            encoder.uint32(UInt32(stage.layers.lowerBound))
            encoder.uint32(UInt32(stage.layers.upperBound))
        }
        encoder.uint32(UInt32(leafCount))
        encoder.int64(unixMilliseconds)
        encoder.string(gatewayID)
        encoder.data(gatewayPublicKey)
        return encoder.bytes
    }

    public mutating func sign(with identity: SigningIdentity) {
        gatewayPublicKey = identity.publicKey
        signature = identity.sign(signedBytes)
    }

    /// Checked against the key the receipt names; who that key belongs to is the verifier's
    /// (pinned gateway keys) or the client's business.
    public var hasValidSignature: Bool {
        SigningIdentity.isValid(signature: signature, of: signedBytes, publicKey: gatewayPublicKey)
    }
}
