/// One worker's share of a pipeline.
public struct Stage: Sendable, Hashable, Codable {
    public var workerID: String
    /// Layers [first, last) this stage runs.
    public var layers: Range<Int>
    /// Weight bytes the worker loads: its blocks plus the embedding and/or output head.
    public var shardBytes: Int
    /// KV-cache bytes reserved for the expected sessions.
    public var kvReserveBytes: Int
    public var hostsEmbedding: Bool
    public var hostsOutputHead: Bool
    /// Bytes read and FLOPs per token, so a new speed estimate can re-predict the stage.
    public var bytesReadPerToken: Double
    public var flopsPerToken: Double
    /// Predicted seconds per token of compute on this worker (contention included).
    public var computeSeconds: Double
    /// Predicted seconds to send this stage's output onward: to the next stage, or back to
    /// the gateway for the last one.
    public var outgoingLinkSeconds: Double
    /// The variant this stage runs (its catalog name), nil for the model's own precision.
    public var variant: String? = nil
    /// The stage's predicted KL divergence against the reference (0 at its own precision).
    public var predictedKL: Double = 0

    public var secondsPerToken: Double { computeSeconds + outgoingLinkSeconds }
    public var millisecondsPerToken: Double { secondsPerToken * 1000 }
}

/// An ordered chain of stages covering every layer once.
public struct Pipeline: Sendable, Hashable, Codable {
    public var stages: [Stage]
    /// Gateway → first stage.
    public var ingressSeconds: Double

    /// Single-stream decode latency: ingress + Σ (stage compute + outgoing link).
    public var secondsPerToken: Double { stages.reduce(ingressSeconds) { $0 + $1.secondsPerToken } }
    /// The slowest stage bounds throughput when many sessions keep every stage busy.
    public var bottleneckSeconds: Double { stages.map(\.secondsPerToken).max() ?? 0 }
    public var workerIDs: [String] { stages.map(\.workerID) }
    /// Predicted mean KL divergence of the whole pipeline against the reference: the sum of
    /// its stages' (sensitivities are additive over ranges; docs/evaluation.md).
    public var predictedKL: Double { stages.reduce(0) { $0 + $1.predictedKL } }
}

/// The optimizer's answer: the primary pipeline first, then replicas.
public struct Plan: Sendable, Hashable, Codable {
    public var pipelines: [Pipeline]
    public var layerCount: Int
    /// Every worker offered to the optimizer, as it assumed them (for drift checks).
    public var assumedWorkers: [WorkerProfile]
    public var options: PlacementOptions
    /// True when every search finished within the node budget: the primary is optimal under
    /// the cost model, each replica optimal over the workers left to it, and replica
    /// planning stopped for a reason (cap, latency limit, no pipeline fits), not the budget.
    public var provenOptimal: Bool
    /// Lower bound on the primary's seconds per token (equal to it when proven optimal).
    public var primaryLowerBoundSeconds: Double
    /// Search nodes expanded over all pipelines.
    public var searchNodes: Int
    /// The model's quality budget the plan was made under (nil: none, every stage at the
    /// model's own precision).
    public var maxMeanKL: Double? = nil

    public var primary: Pipeline { pipelines[0] }
    public var usedWorkerIDs: Set<String> { Set(pipelines.flatMap(\.workerIDs)) }
    /// Single-stream tokens per second summed over pipelines (one session each).
    public var aggregateTokensPerSecond: Double {
        pipelines.reduce(0) { $0 + 1 / $1.secondsPerToken }
    }

    /// The stage a worker runs, if any.
    public func stage(of workerID: String) -> (pipeline: Int, stage: Stage)? {
        for (index, pipeline) in pipelines.enumerated() {
            if let stage = pipeline.stages.first(where: { $0.workerID == workerID }) {
                return (index, stage)
            }
        }
        return nil
    }
}
