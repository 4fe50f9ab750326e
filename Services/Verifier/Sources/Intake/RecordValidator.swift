import Integrity

/// What checking a submitted record found, before any replay.
enum RecordCheck: Sendable, Equatable {
    /// The gateway's part does not hold (its key or signature, the Merkle root, the chains'
    /// shape, a worker nobody registered): the record is not stored.
    case rejected(String)
    /// A worker's own signed statements contradict each other or the record: stored FAILED
    /// against that worker at once.
    case faulty(WorkerFault)
    /// Consistent: stored PENDING, and replayed if selected.
    case sound
}

/// The structural checks of a receipt record: a pure function of the record, the pinned
/// keys and the commitment signatures that other stored receipts already hold. Gateway-level
/// problems are looked for first: a record the gateway did not vouch for properly proves
/// nothing about the workers in it.
struct RecordValidator: Sendable {
    /// The key pinned for the receipt's gateway id; nil when that gateway never registered.
    var gatewayKey: [UInt8]?
    /// Pinned keys of the workers (those without one are unknown).
    var workerKeys: [String: [UInt8]]
    /// Signatures of commitments already stored with other receipts.
    var storedSignatures: Set<[UInt8]> = []

    func check(_ record: ReceiptRecord) -> RecordCheck {
        if let why = gatewayRejection(record) ?? shapeRejection(record) {
            return .rejected(why)
        }
        if let fault = signatureFault(record) ?? replayedCommitment(record) ?? shardFault(record)
            ?? linkFault(record) ?? tokenFault(record)
        {
            return .faulty(fault)
        }
        return .sound
    }

    // MARK: The gateway's part

    private func gatewayRejection(_ record: ReceiptRecord) -> String? {
        let receipt = record.receipt
        guard let gatewayKey else {
            return "gateway \(receipt.gatewayID) has not registered its key (RegisterGatewayKey)"
        }
        guard receipt.gatewayPublicKey == gatewayKey else {
            return "the receipt names a key for gateway \(receipt.gatewayID) other than the one "
                + "pinned for it"
        }
        guard receipt.hasValidSignature else { return "the gateway's signature does not verify" }
        let leaves = record.leaves
        guard !leaves.isEmpty else { return "the record holds no commitments" }
        guard receipt.leafCount == leaves.count else {
            return "leaf_count is \(receipt.leafCount) but the chains hold \(leaves.count) "
                + "commitments"
        }
        guard record.merkleTree.root == receipt.merkleRoot else {
            return "the Merkle root does not match the commitments"
        }
        return nil
    }

    /// Every commitment is by a registered worker, of a stage the receipt names, and each
    /// chain reaches from layer 0 to a last stage for every piece: the gateway assembled the
    /// chains, so a gap is its doing (or cannot be pinned on one worker).
    private func shapeRejection(_ record: ReceiptRecord) -> String? {
        for commitment in record.leaves {
            guard workerKeys[commitment.workerID] != nil else {
                return "commitment by unknown worker \(commitment.workerID) (it has no key "
                    + "registered with RegisterWorkerKey)"
            }
            guard !commitment.layers.isEmpty else {
                return "commitment \(commitment.label) covers no layers"
            }
            guard
                record.receipt.stages.contains(where: {
                    $0.workerID == commitment.workerID && $0.layers == commitment.layers
                })
            else {
                return "commitment \(commitment.label) is of a stage the receipt does not name"
            }
        }
        for chain in record.chains {
            let pieces = ChainPieces(chain)
            for commitment in chain.commitments {
                if commitment.layers.lowerBound > 0, pieces.before(commitment).isEmpty {
                    return "attempt \(chain.attempt): nothing before commitment "
                        + "\(commitment.label) (no stage ends at layer "
                        + "\(commitment.layers.lowerBound) for those positions)"
                }
                if !commitment.isLastStage, pieces.after(commitment).isEmpty {
                    return "attempt \(chain.attempt): nothing after commitment "
                        + "\(commitment.label), which is not of a last stage"
                }
            }
        }
        return nil
    }
}

/// One chain's commitments by the layer they start and end at and the rows they cover, to
/// find the stage before and after a piece.
struct ChainPieces {
    private struct Key: Hashable {
        var layer: Int
        var position: Int
        var count: Int

        init(_ layer: Int, _ commitment: StepCommitment) {
            self.layer = layer
            position = commitment.position
            count = commitment.count
        }
    }

    private var byStart: [Key: [StepCommitment]] = [:]
    private var byEnd: [Key: [StepCommitment]] = [:]

    init(_ chain: CommitmentChain) {
        for commitment in chain.commitments {
            byStart[Key(commitment.layers.lowerBound, commitment), default: []].append(commitment)
            byEnd[Key(commitment.layers.upperBound, commitment), default: []].append(commitment)
        }
    }

    /// The previous stage's commitments for the same rows.
    func before(_ commitment: StepCommitment) -> [StepCommitment] {
        byEnd[Key(commitment.layers.lowerBound, commitment)] ?? []
    }

    /// The next stage's commitments for the same rows.
    func after(_ commitment: StepCommitment) -> [StepCommitment] {
        byStart[Key(commitment.layers.upperBound, commitment)] ?? []
    }
}

extension StepCommitment {
    /// How errors name a commitment: its worker, layers, step and rows.
    var label: String {
        "\(workerID) layers \(layers.lowerBound)..<\(layers.upperBound) step \(step) "
            + "positions \(position)..<\(position + count)"
    }
}
