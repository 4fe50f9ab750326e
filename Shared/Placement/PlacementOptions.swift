/// Serving choices that shape a plan.
public struct PlacementOptions: Sendable, Hashable, Codable {
    /// Tokens of context each reserved session may use; sizes the KV reservation
    /// (contextLength × Σ kvBytesPerToken over the range × sessions).
    public var contextLength: Int
    /// Slowdown per session a worker already runs for other work: stage time is multiplied by
    /// 1 + penalty × activeSessions. 1 means plain time-slicing (no batching across them).
    public var loadPenaltyPerSession: Double
    /// Upper bound on pipelines in a plan (primary included).
    public var maxPipelines: Int
    /// A replica is added only if its predicted time per token is at most this multiple of
    /// the primary's: requests routed to it must not be served much slower.
    public var replicaLatencyFactor: Double
    /// Search-node budget for one pipeline. The search is exact when it finishes within it
    /// (`Plan.provenOptimal`); past it the best pipeline found so far is returned.
    public var maxSearchNodes: Int

    public init(
        contextLength: Int = 4096, loadPenaltyPerSession: Double = 1, maxPipelines: Int = 64,
        replicaLatencyFactor: Double = 2, maxSearchNodes: Int = 2_000_000
    ) {
        self.contextLength = contextLength
        self.loadPenaltyPerSession = loadPenaltyPerSession
        self.maxPipelines = maxPipelines
        self.replicaLatencyFactor = replicaLatencyFactor
        self.maxSearchNodes = maxSearchNodes
    }
}
