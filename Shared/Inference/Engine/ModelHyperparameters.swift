import GGUF
import Kernels

/// The shape of a llama-style model, read from GGUF metadata (`<arch>.*` keys).
public struct ModelHyperparameters: Sendable, Equatable {
    public var architecture: String
    public var layerCount: Int
    public var embeddingLength: Int
    public var feedForwardLength: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDimension: Int
    public var rotaryDimensions: Int
    public var contextLength: Int
    public var vocabularySize: Int
    public var rmsEpsilon: Float
    public var ropeBase: Double
    public var ropeStyle: RotaryEmbedding.Style

    /// Width of the K and V projections (grouped-query attention shares each KV head
    /// among headCount / kvHeadCount query heads).
    public var kvWidth: Int { kvHeadCount * headDimension }

    public init(gguf file: GGUFFile) throws {
        let architecture = file.metadata["general.architecture"]?.string ?? "llama"
        guard architecture == "llama" else {
            throw InferenceError.unsupportedArchitecture(architecture)
        }
        self.architecture = architecture

        func integer(_ key: String, default fallback: Int? = nil) throws -> Int {
            if let value = file.metadata["\(architecture).\(key)"]?.int { return value }
            if let fallback { return fallback }
            throw InferenceError.missingMetadata(key: "\(architecture).\(key)")
        }
        layerCount = try integer("block_count")
        embeddingLength = try integer("embedding_length")
        feedForwardLength = try integer("feed_forward_length")
        headCount = try integer("attention.head_count")
        kvHeadCount = try integer("attention.head_count_kv", default: headCount)
        contextLength = try integer("context_length", default: 2048)
        guard headCount > 0, embeddingLength % headCount == 0 else {
            throw InferenceError.invalidHyperparameters(
                "embedding \(embeddingLength) not divisible by \(headCount) heads")
        }
        headDimension = embeddingLength / headCount
        rotaryDimensions = try integer("rope.dimension_count", default: headDimension)
        rmsEpsilon = Float(
            file.metadata["\(architecture).attention.layer_norm_rms_epsilon"]?.double ?? 1e-5)
        ropeBase = file.metadata["\(architecture).rope.freq_base"]?.double ?? 10_000
        ropeStyle = .adjacentPairs

        if let tokens = file.metadata["tokenizer.ggml.tokens"]?.array {
            vocabularySize = tokens.count
        } else if let size = file.metadata["\(architecture).vocab_size"]?.int {
            vocabularySize = size
        } else if let embedding = file.tensor(named: "token_embd.weight"),
            embedding.dimensions.count == 2
        {
            vocabularySize = embedding.dimensions[1]
        } else {
            throw InferenceError.missingMetadata(key: "tokenizer.ggml.tokens")
        }
        try validate()
    }

    private func validate() throws {
        let positive = [
            ("block_count", layerCount), ("embedding_length", embeddingLength),
            ("feed_forward_length", feedForwardLength), ("attention.head_count_kv", kvHeadCount),
            ("context_length", contextLength), ("vocabulary size", vocabularySize),
        ]
        for (name, value) in positive where value <= 0 {
            throw InferenceError.invalidHyperparameters("\(name) must be positive, got \(value)")
        }
        guard headCount % kvHeadCount == 0 else {
            throw InferenceError.invalidHyperparameters(
                "\(headCount) query heads not divisible by \(kvHeadCount) KV heads")
        }
        guard rotaryDimensions > 0, rotaryDimensions <= headDimension, rotaryDimensions % 2 == 0
        else {
            throw InferenceError.invalidHyperparameters(
                "rope.dimension_count \(rotaryDimensions) for head size \(headDimension)")
        }
        guard rmsEpsilon > 0, rmsEpsilon.isFinite, ropeBase > 0, ropeBase.isFinite else {
            throw InferenceError.invalidHyperparameters(
                "rms epsilon \(rmsEpsilon), rope base \(ropeBase)")
        }
    }
}
