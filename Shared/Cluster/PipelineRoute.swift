/// A pipeline as a request sees it: the stages in order, each a worker hosting one shard of
/// one layer range, and the context the scheduler reserved per session.
public struct PipelineRoute: Sendable, Hashable {
    public struct Stage: Sendable, Hashable {
        public var workerID: String
        public var address: ListenAddress
        public var layers: Range<Int>
        public var shard: ShardReference

        public init(
            workerID: String, address: ListenAddress, layers: Range<Int>, shard: ShardReference
        ) {
            self.workerID = workerID
            self.address = address
            self.layers = layers
            self.shard = shard
        }
    }

    public var id: String
    public var stages: [Stage]
    /// Tokens per session the pipeline reserved KV memory for (nil: the model's own context).
    public var contextLength: Int?
    /// What the scheduler predicts one decode step takes on it (nil: no prediction).
    public var predictedSecondsPerToken: Double?

    public init(
        id: String, stages: [Stage], contextLength: Int?, predictedSecondsPerToken: Double? = nil
    ) {
        self.id = id
        self.stages = stages
        self.contextLength = contextLength
        self.predictedSecondsPerToken = predictedSecondsPerToken
    }
}
