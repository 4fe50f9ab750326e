/// Per-layer cost of one transformer block, as the placement optimizer sees it.
///
/// Decode is memory-bound: every generated token streams the whole block's weights once,
/// so `weightBytes` is both what the block occupies in memory and what a step reads.
public struct LayerCost: Sendable, Hashable, Codable {
    /// Bytes the block's tensors occupy (and are read once per decoded token).
    public var weightBytes: Int
    /// Floating-point operations per token (about 2 × parameters for a dense block).
    public var flopsPerToken: Double
    /// KV-cache bytes one token of context occupies in this block (K and V together).
    public var kvBytesPerToken: Int

    public init(weightBytes: Int, flopsPerToken: Double, kvBytesPerToken: Int) {
        self.weightBytes = weightBytes
        self.flopsPerToken = flopsPerToken
        self.kvBytesPerToken = kvBytesPerToken
    }
}

/// A piece of the model outside the repeated blocks: the token embedding (it goes with the
/// first range) or the output head (final norm + output projection; goes with the last).
public struct StageExtra: Sendable, Hashable, Codable {
    /// Bytes it occupies in memory.
    public var weightBytes: Int
    /// Bytes it reads per token. The embedding reads one row, not the whole table; the
    /// output projection reads all of its weights.
    public var bytesReadPerToken: Int
    public var flopsPerToken: Double

    public init(weightBytes: Int, bytesReadPerToken: Int? = nil, flopsPerToken: Double = 0) {
        self.weightBytes = weightBytes
        self.bytesReadPerToken = bytesReadPerToken ?? weightBytes
        self.flopsPerToken = flopsPerToken
    }

    public static let none = StageExtra(weightBytes: 0, bytesReadPerToken: 0, flopsPerToken: 0)

    /// A token embedding table of `tableBytes` over `vocabularySize` rows: a lookup (no
    /// arithmetic) that reads one row per token.
    public static func tokenEmbedding(tableBytes: Int, vocabularySize: Int) -> StageExtra {
        StageExtra(
            weightBytes: tableBytes, bytesReadPerToken: tableBytes / max(1, vocabularySize),
            flopsPerToken: 0)
    }
}

/// The cost profile of one model: what the optimizer needs and nothing about tensors.
public struct ModelProfile: Sendable, Hashable, Codable {
    public var layers: [LayerCost]
    public var embedding: StageExtra
    public var outputHead: StageExtra
    /// Bytes shared by embedding and output head when the weights are tied. A stage that
    /// hosts both (a single-stage pipeline) stores them once; split pipelines store two copies.
    public var tiedEmbeddingBytes: Int
    /// Bytes of the hidden state passed between stages per token (hidden × 4 for f32, × 2 for f16).
    public var activationBytesPerToken: Int
    /// Bytes the gateway sends to the first stage per token (a token id).
    public var ingressBytesPerToken: Int
    /// Bytes the last stage returns per token (a sampled id, or vocab × 4 if logits go back).
    public var egressBytesPerToken: Int

    public init(
        layers: [LayerCost], embedding: StageExtra = .none, outputHead: StageExtra = .none,
        tiedEmbeddingBytes: Int = 0, activationBytesPerToken: Int,
        ingressBytesPerToken: Int = 4, egressBytesPerToken: Int = 4
    ) {
        self.layers = layers
        self.embedding = embedding
        self.outputHead = outputHead
        self.tiedEmbeddingBytes = tiedEmbeddingBytes
        self.activationBytesPerToken = activationBytesPerToken
        self.ingressBytesPerToken = ingressBytesPerToken
        self.egressBytesPerToken = egressBytesPerToken
    }

    public var layerCount: Int { layers.count }

    /// A dense decoder with `layerCount` identical blocks, sized from its hyper-parameters.
    /// `bytesPerWeight` is the storage cost of one parameter (2 for f16, about 0.56 for Q4_K).
    public static func denseDecoder(
        layerCount: Int, hiddenSize: Int, intermediateSize: Int, vocabularySize: Int,
        headCount: Int, kvHeadCount: Int, bytesPerWeight: Double, kvBytesPerElement: Int = 2,
        activationBytesPerElement: Int = 4, tiedEmbeddings: Bool = false
    ) -> ModelProfile {
        let headDim = hiddenSize / max(1, headCount)
        let kvWidth = kvHeadCount * headDim
        let attention = hiddenSize * hiddenSize * 2 + hiddenSize * kvWidth * 2
        let mlp = 3 * hiddenSize * intermediateSize
        let parameters = Double(attention + mlp + 2 * hiddenSize)
        let layer = LayerCost(
            weightBytes: Int((parameters * bytesPerWeight).rounded(.up)),
            flopsPerToken: 2 * parameters,
            kvBytesPerToken: 2 * kvWidth * kvBytesPerElement)
        let tableBytes = Int((Double(vocabularySize * hiddenSize) * bytesPerWeight).rounded(.up))
        let rowBytes = Int((Double(hiddenSize) * bytesPerWeight).rounded(.up))
        let normBytes = hiddenSize * 4
        return ModelProfile(
            layers: Array(repeating: layer, count: layerCount),
            embedding: StageExtra(weightBytes: tableBytes, bytesReadPerToken: rowBytes),
            outputHead: StageExtra(
                weightBytes: tableBytes + normBytes, bytesReadPerToken: tableBytes + normBytes,
                flopsPerToken: 2 * Double(vocabularySize * hiddenSize)),
            tiedEmbeddingBytes: tiedEmbeddings ? tableBytes : 0,
            activationBytesPerToken: hiddenSize * activationBytesPerElement)
    }
}
