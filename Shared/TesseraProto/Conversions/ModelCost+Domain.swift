import Placement

// A model's cost travels in its manifest as the optimizer's `ModelProfile`: the
// cache-manager writes it from the GGUF analysis and the scheduler plans with what it
// reads back. This is the only place the two forms meet.
extension Tessera_V1_ModelManifest {
    /// Sets the per-layer costs, the embedding, the output head, the activation size and
    /// `tied_output` (the head reuses the embedding table) from `cost`.
    public mutating func setCost(_ cost: ModelProfile) {
        layerCount = UInt32(clamping: cost.layerCount)
        layers = cost.layers.map {
            Tessera_V1_LayerCost(
                weightBytes: $0.weightBytes, flopsPerToken: $0.flopsPerToken,
                kvBytesPerToken: $0.kvBytesPerToken)
        }
        embedding = Tessera_V1_LayerCost(
            weightBytes: cost.embedding.weightBytes, flopsPerToken: cost.embedding.flopsPerToken)
        output = Tessera_V1_LayerCost(
            weightBytes: cost.outputHead.weightBytes, flopsPerToken: cost.outputHead.flopsPerToken)
        activationBytesPerToken = UInt32(clamping: cost.activationBytesPerToken)
        tiedOutput = cost.tiedEmbeddingBytes > 0
    }

    /// The most weight bytes a manifest's layer, embedding or head may claim (1 TiB), and KV
    /// bytes per token a layer may (16 MiB): far beyond any model, yet small enough that the
    /// planner's sums over every layer a message can hold, times a context, fit an `Int`. A
    /// larger value (only a broken or hostile cache-manager sends one) reads as the bound:
    /// such a model fits no worker and is refused by placement. Unbounded, two layers of
    /// 2^63 bytes trapped the scheduler's planner (Fuzz/regressions/protobuf).
    public static let maxWeightBytes: UInt64 = 1 << 40
    public static let maxKVBytesPerToken: UInt64 = 1 << 24

    /// The cost the manifest carries (byte counts bounded as above). The embedding reads one
    /// row per token (of `vocab_size`), the head all of its weights; a tied head shares the
    /// embedding's bytes with it, so a stage holding both stores the table once. Gateway hops
    /// carry a token id.
    public var cost: ModelProfile {
        let layers = layers.map {
            LayerCost(
                weightBytes: Int(min($0.weightBytes, Self.maxWeightBytes)),
                flopsPerToken: Double($0.flopsPerToken),
                kvBytesPerToken: Int(min($0.kvBytesPerToken, Self.maxKVBytesPerToken)))
        }
        let tableBytes = Int(min(embedding.weightBytes, Self.maxWeightBytes))
        let headBytes = Int(min(output.weightBytes, Self.maxWeightBytes))
        return ModelProfile(
            layers: layers,
            embedding: .tokenEmbedding(tableBytes: tableBytes, vocabularySize: Int(vocabSize)),
            outputHead: StageExtra(
                weightBytes: headBytes, bytesReadPerToken: headBytes,
                flopsPerToken: Double(output.flopsPerToken)),
            tiedEmbeddingBytes: tiedOutput ? min(tableBytes, headBytes) : 0,
            activationBytesPerToken: Int(activationBytesPerToken))
    }
}

extension Tessera_V1_LayerCost {
    init(weightBytes: Int, flopsPerToken: Double, kvBytesPerToken: Int = 0) {
        self.init()
        self.weightBytes = UInt64(clamping: weightBytes)
        // FLOP counts are whole numbers; the wire holds them as integers.
        self.flopsPerToken =
            flopsPerToken.isFinite && flopsPerToken > 0
            ? UInt64(min(flopsPerToken.rounded(), 1.8e19)) : 0
        self.kvBytesPerToken = UInt64(clamping: kvBytesPerToken)
    }
}
