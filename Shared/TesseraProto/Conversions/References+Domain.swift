import Cluster

extension Tessera_V1_ModelRef {
    public init(_ model: ModelReference) {
        self.init()
        name = model.name
        sha256 = model.sha256
    }

    public var domain: ModelReference { ModelReference(name: name, sha256: sha256) }
}

extension Tessera_V1_ShardRef {
    public init(_ shard: ShardReference) {
        self.init()
        sha256 = shard.sha256
        if let model = shard.model { self.model = Tessera_V1_ModelRef(model) }
        if let range = shard.layers { layers = Tessera_V1_LayerRange(range) }
        sizeBytes = shard.sizeBytes
        hasEmbedding_p = shard.hasEmbedding
        hasOutput_p = shard.hasOutput
    }

    /// The shard as the domain sees it; the hash is lowercased (hex digits compare as text).
    public var domain: ShardReference {
        ShardReference(
            sha256: sha256.lowercased(),
            model: hasModel && !model.sha256.isEmpty ? model.domain : nil,
            layers: hasLayers ? layers.range : nil, sizeBytes: sizeBytes,
            hasEmbedding: hasEmbedding_p,
            hasOutput: hasOutput_p)
    }
}
