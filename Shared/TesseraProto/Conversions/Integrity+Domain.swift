import Integrity

// Commitments, receipts and receipt records between the wire and the Integrity types, in one
// place. Signatures cover the canonical encodings in Shared/Integrity, so a message that
// survives this round trip verifies exactly as it was signed.

extension Tessera_V1_Commitment {
    public init(_ commitment: StepCommitment) {
        self.init()
        workerID = commitment.workerID
        sessionID = commitment.sessionID
        step = commitment.step
        layers = Tessera_V1_LayerRange(commitment.layers)
        shardSha256 = commitment.shardSHA256
        position = UInt32(commitment.position)
        count = UInt32(commitment.count)
        inputDigest = .init(commitment.inputDigest)
        outputDigest = .init(commitment.outputDigest)
        fingerprint = .init(commitment.fingerprint)
        lastStage = commitment.isLastStage
        sampledToken = UInt32(bitPattern: commitment.sampledToken)
        replay = commitment.replay
        arithmetic = commitment.arithmetic
        unixMs = commitment.unixMilliseconds
        signature = .init(commitment.signature)
    }

    public var domain: StepCommitment {
        StepCommitment(
            workerID: workerID, sessionID: sessionID, step: step,
            layers: Int(layers.first)..<Int(max(layers.first, layers.last)),
            shardSHA256: shardSha256, position: Int(position), count: Int(count),
            inputDigest: Array(inputDigest), outputDigest: Array(outputDigest),
            fingerprint: Array(fingerprint), isLastStage: lastStage,
            sampledToken: Int32(bitPattern: sampledToken), replay: replay,
            arithmetic: arithmetic, unixMilliseconds: unixMs, signature: Array(signature))
    }
}

extension Tessera_V1_ReceiptStage {
    public init(_ stage: ReceiptStage) {
        self.init()
        workerID = stage.workerID
        shardSha256 = stage.shardSHA256
        layers = Tessera_V1_LayerRange(stage.layers)
    }

    public var domain: ReceiptStage {
        ReceiptStage(
            workerID: workerID, shardSHA256: shardSha256,
            layers: Int(layers.first)..<Int(max(layers.first, layers.last)))
    }
}

extension Tessera_V1_Receipt {
    public init(_ receipt: ReceiptBody) {
        self.init()
        receiptID = receipt.receiptID
        merkleRoot = .init(receipt.merkleRoot)
        model = Tessera_V1_ModelRef.with {
            $0.name = receipt.modelName
            $0.sha256 = receipt.modelSHA256
        }
        stages = receipt.stages.map(Tessera_V1_ReceiptStage.init)
        leafCount = UInt32(receipt.leafCount)
        unixMs = receipt.unixMilliseconds
        gatewayID = receipt.gatewayID
        gatewayPublicKey = .init(receipt.gatewayPublicKey)
        signature = .init(receipt.signature)
    }

    public var domain: ReceiptBody {
        ReceiptBody(
            receiptID: receiptID, merkleRoot: Array(merkleRoot), modelName: model.name,
            modelSHA256: model.sha256, stages: stages.map(\.domain), leafCount: Int(leafCount),
            unixMilliseconds: unixMs, gatewayID: gatewayID,
            gatewayPublicKey: Array(gatewayPublicKey), signature: Array(signature))
    }
}

extension Tessera_V1_CommitmentChain {
    public init(_ chain: CommitmentChain) {
        self.init()
        attempt = UInt32(chain.attempt)
        commitments = chain.commitments.map(Tessera_V1_Commitment.init)
    }

    public var domain: CommitmentChain {
        CommitmentChain(attempt: Int(attempt), commitments: commitments.map(\.domain))
    }
}

extension Tessera_V1_ReceiptRecord {
    /// The record without its sampler settings (set `sampling` from the engine's parameters).
    public init(_ record: ReceiptRecord) {
        self.init()
        receipt = Tessera_V1_Receipt(record.receipt)
        promptTokens = record.promptTokens.wireTokenIDs
        outputTokens = record.outputTokens.wireTokenIDs
        chains = record.chains.map(Tessera_V1_CommitmentChain.init)
    }

    public var domain: ReceiptRecord {
        ReceiptRecord(
            receipt: receipt.domain, promptTokens: promptTokens.tokenIDs,
            outputTokens: outputTokens.tokenIDs, chains: chains.map(\.domain))
    }
}
