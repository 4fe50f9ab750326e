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
    /// Search-node budget for the whole plan, primary first, replicas from what is left. A
    /// node costs roughly 5-50 µs with 64 workers and 80 layers (the benchmark's hardest
    /// case needs about 20 000 for the whole plan). The plan is exact when every search
    /// finishes within it (`Plan.provenOptimal`); past it the best pipeline found so far is
    /// returned and no further replicas are planned.
    public var maxSearchNodes: Int

    public init(
        contextLength: Int = 4096, loadPenaltyPerSession: Double = 1, maxPipelines: Int = 64,
        replicaLatencyFactor: Double = 2, maxSearchNodes: Int = 500_000
    ) {
        self.contextLength = contextLength
        self.loadPenaltyPerSession = loadPenaltyPerSession
        self.maxPipelines = maxPipelines
        self.replicaLatencyFactor = replicaLatencyFactor
        self.maxSearchNodes = maxSearchNodes
    }
}
