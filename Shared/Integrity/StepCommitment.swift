/// A worker's signed statement about one step of one session at one stage: which shard it
/// ran on which tokens, the digests of what it received and sent, and a tolerant fingerprint
/// of its output that a replay can compare against (docs/verification.md, "Commitments").
public struct StepCommitment: Sendable, Equatable {
    public var workerID: String
    public var sessionID: String
    public var step: UInt64
    /// Layers [first, last) of the stage.
    public var layers: Range<Int>
    public var shardSHA256: String
    /// Position of the step's first token and the number of tokens.
    public var position: Int
    public var count: Int
    public var inputDigest: [UInt8]
    public var outputDigest: [UInt8]
    /// `ActivationFingerprint.encoded` of the output rows (the last row's logits at the last stage).
    public var fingerprint: [UInt8]
    public var isLastStage: Bool
    /// The token the last stage sampled (0 elsewhere).
    public var sampledToken: Int32
    /// A failover replay, computed token by token.
    public var replay: Bool
    /// The engine arithmetic that computed the step (`EngineArithmetic.version` in Inference;
    /// 0 from workers that predate the field): a verifier replays only its own.
    public var arithmetic: UInt32
    public var unixMilliseconds: Int64
    public var signature: [UInt8] = []

    public init(
        workerID: String, sessionID: String, step: UInt64, layers: Range<Int>,
        shardSHA256: String, position: Int, count: Int, inputDigest: [UInt8],
        outputDigest: [UInt8], fingerprint: [UInt8], isLastStage: Bool, sampledToken: Int32,
        replay: Bool, arithmetic: UInt32, unixMilliseconds: Int64, signature: [UInt8] = []
    ) {
        self.workerID = workerID
        self.sessionID = sessionID
        self.step = step
        self.layers = layers
        self.shardSHA256 = shardSHA256
        self.position = position
        self.count = count
        self.inputDigest = inputDigest
        self.outputDigest = outputDigest
        self.fingerprint = fingerprint
        self.isLastStage = isLastStage
        self.sampledToken = sampledToken
        self.replay = replay
        self.arithmetic = arithmetic
        self.unixMilliseconds = unixMilliseconds
        self.signature = signature
    }

    /// What the signature covers: every field but the signature.
    public var signedBytes: [UInt8] {
        // v2 added `arithmetic`: a v1 signature can never be read as a statement about it.
        var encoder = CanonicalEncoder(domain: "tessera.commitment.v2")
        encoder.string(workerID)
        encoder.string(sessionID)
        encoder.uint64(step)
        encoder.uint32(UInt32(layers.lowerBound))
        encoder.uint32(UInt32(layers.upperBound))
        encoder.string(shardSHA256)
        encoder.uint32(UInt32(position))
        encoder.uint32(UInt32(count))
        encoder.data(inputDigest)
        encoder.data(outputDigest)
        encoder.data(fingerprint)
        encoder.bool(isLastStage)
        encoder.uint32(UInt32(bitPattern: sampledToken))
        encoder.bool(replay)
        encoder.uint32(arithmetic)
        encoder.int64(unixMilliseconds)
        return encoder.bytes
    }

    /// The Merkle leaf: the signed bytes and the signature, so a proof covers both.
    public var leafBytes: [UInt8] {
        var encoder = CanonicalEncoder(domain: "tessera.leaf.v1")
        encoder.data(signedBytes)
        encoder.data(signature)
        return encoder.bytes
    }

    public mutating func sign(with identity: SigningIdentity) {
        signature = identity.sign(signedBytes)
    }

    public func hasValidSignature(publicKey: [UInt8]) -> Bool {
        SigningIdentity.isValid(signature: signature, of: signedBytes, publicKey: publicKey)
    }

    /// The last stage's output digest: the sampled token.
    public static func tokenDigest(_ token: Int32) -> [UInt8] { Digests.tokens([token]) }
}
