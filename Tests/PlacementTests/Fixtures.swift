import Placement

/// Hand-sized instances: bytes in plain units, speeds in bytes per second.
enum Fixtures {
    /// `count` identical blocks of `bytes` each, no embedding, head, KV or FLOPs.
    static func uniformModel(layers count: Int, bytes: Int = 100, kvBytesPerToken: Int = 0)
        -> ModelProfile
    {
        ModelProfile(
            layers: Array(
                repeating: LayerCost(
                    weightBytes: bytes, flopsPerToken: 0, kvBytesPerToken: kvBytesPerToken),
                count: count),
            activationBytesPerToken: 16)
    }

    static func worker(
        _ id: String, memory: Int, bytesPerSecond: Double = 1000, overhead: Double = 0,
        active: Int = 0,
        sessions: Int = 1
    ) -> WorkerProfile {
        WorkerProfile(
            id: id, memoryBudgetBytes: memory,
            speed: WorkerSpeed(bytesPerSecond: bytesPerSecond, overheadSeconds: overhead),
            activeSessions: active,
            expectedSessions: sessions)
    }

    /// 1 ms, 1 MB/s links everywhere (gateway included).
    static let links = LinkModel.uniform(Link(latencySeconds: 0.001, bytesPerSecond: 1_000_000))

    static func layerCounts(_ pipeline: Pipeline) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: pipeline.stages.map { ($0.workerID, $0.layers.count) })
    }
}
