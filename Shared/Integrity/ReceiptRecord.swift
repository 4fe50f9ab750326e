/// The commitments one reply from a pipeline carried: one per stage (and per piece, when a
/// prefill's activations were cut into several messages), first stage first.
public struct CommitmentChain: Sendable, Equatable {
    /// 0 for the first pipeline, then one more after each failover.
    public var attempt: Int
    public var commitments: [StepCommitment]

    public init(attempt: Int, commitments: [StepCommitment]) {
        self.attempt = attempt
        self.commitments = commitments
    }
}

/// What a verifier needs to check one request (besides its sampler settings, which the
/// engine's types describe): the signed receipt, the tokens, and every commitment in the
/// order the Merkle tree's leaves take them.
public struct ReceiptRecord: Sendable, Equatable {
    public var receipt: ReceiptBody
    public var promptTokens: [Int32]
    public var outputTokens: [Int32]
    public var chains: [CommitmentChain]

    public init(
        receipt: ReceiptBody, promptTokens: [Int32], outputTokens: [Int32],
        chains: [CommitmentChain]
    ) {
        self.receipt = receipt
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.chains = chains
    }

    /// Every commitment, leaf order.
    public var leaves: [StepCommitment] { chains.flatMap(\.commitments) }

    public var merkleTree: MerkleTree { MerkleTree(leaves: leaves.map(\.leafBytes)) }
}
