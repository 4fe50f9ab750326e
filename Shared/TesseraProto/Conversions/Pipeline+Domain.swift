import Cluster

extension PipelineRoute {
    /// A granted pipeline as requests use it. Throws when a stage cannot be reached or run
    /// (no address, no shard, no layer range): the gateway then asks for another pipeline.
    public init(_ pipeline: Tessera_V1_Pipeline) throws(InvalidMessage) {
        guard !pipeline.stages.isEmpty else { throw InvalidMessage("pipeline.stages", "is empty") }
        var stages: [Stage] = []
        for (index, stage) in pipeline.stages.enumerated() {
            let field = "pipeline.stages[\(index)]"
            guard let address = ListenAddress(peer: stage.address) else {
                throw InvalidMessage("\(field).address", "'\(stage.address)' is not host:port")
            }
            guard !stage.shard.sha256.isEmpty else {
                throw InvalidMessage("\(field).shard", "is missing")
            }
            guard let layers = stage.layers.range, !layers.isEmpty else {
                throw InvalidMessage("\(field).layers", "is missing")
            }
            stages.append(
                Stage(
                    workerID: stage.workerID, address: address, layers: layers,
                    shard: stage.shard.domain))
        }
        self.init(
            id: pipeline.pipelineID, stages: stages,
            contextLength: pipeline.contextLength > 0 ? Int(pipeline.contextLength) : nil,
            predictedSecondsPerToken: pipeline.predictedMsPerToken > 0
                ? pipeline.predictedMsPerToken / 1000 : nil)
    }
}
