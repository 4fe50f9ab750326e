import Cluster
import Integrity

/// What a generation collects for its receipt: the commitments of every reply from every
/// pipeline it used (in the order received: the Merkle tree's leaf order) and the stages
/// that computed them. Part of `GenerationProgress`, so it survives failovers.
struct ReceiptLedger: Sendable {
    private(set) var chains: [CommitmentChain] = []
    private(set) var stages: [ReceiptStage] = []

    /// The stages of a pipeline the generation leased (once each, in order of first use).
    mutating func use(_ route: PipelineRoute) {
        for stage in route.stages {
            let named = ReceiptStage(
                workerID: stage.workerID, shardSHA256: stage.shard.sha256, layers: stage.layers)
            if !stages.contains(named) { stages.append(named) }
        }
    }

    /// One reply's commitments; `attempt` counts the failovers before the pipeline that sent it.
    mutating func record(_ commitments: [StepCommitment], attempt: Int) {
        guard !commitments.isEmpty else { return }
        chains.append(CommitmentChain(attempt: attempt, commitments: commitments))
    }

    var leafCount: Int { chains.reduce(0) { $0 + $1.commitments.count } }
}
