import Integrity

/// The commitments of one step of a receipt (every stage, every attempt), each with its
/// RFC 6962 audit path to the receipt's Merkle root: what a client needs to check that a
/// commitment is part of what the gateway signed.
struct InclusionProof: Sendable {
    struct Leaf: Sendable {
        var commitment: StepCommitment
        var index: Int
        var path: [[UInt8]]
    }

    var receipt: ReceiptBody
    var leaves: [Leaf]

    /// nil when the record has no commitment for `step`.
    init?(record: ReceiptRecord, step: UInt64) {
        let leaves = record.leaves
        let indices = leaves.indices.filter { leaves[$0].step == step }
        guard !indices.isEmpty else { return nil }
        let tree = record.merkleTree
        receipt = record.receipt
        self.leaves = indices.map {
            Leaf(commitment: leaves[$0], index: $0, path: tree.auditPath(forLeaf: $0))
        }
    }
}
