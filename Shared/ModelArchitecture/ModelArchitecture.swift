import GGUF

/// A model's family and shape as its GGUF header declares them: the one place GGUF
/// hyperparameter keys (`<architecture>.*`) are read. The engine, the shard cutter, the
/// cost profile and the gateway all start from this.
///
/// Reading needs only metadata (a vocabulary shard has no tensors); `TensorLayout` then says
/// which tensors the model must hold and `validate` checks them.
public struct ModelArchitecture: Sendable, Equatable {
    public var family: ModelFamily
    public var layerCount: Int
    public var embeddingLength: Int
    public var feedForwardLength: Int
    public var headCount: Int
    public var kvHeadCount: Int
    /// Size of one query/key/value head (`attention.key_length`; by default width / heads,
    /// but Gemma 3, Qwen3 and Mistral Nemo declare their own).
    public var headDimension: Int
    public var contextLength: Int
    public var vocabularySize: Int
    public var rmsEpsilon: Float
    public var rope: RopeSettings
    /// Keys a sliding-window layer sees: its own position and the window − 1 before it.
    public var slidingWindow: Int?
    /// Which layers attend within the window (empty without a window): the GGUF's
    /// `attention.sliding_window_pattern` (one bool per layer, or a period), else the family's
    /// period (Gemma 3: every sixth layer is global).
    public var slidingWindowLayers: [Bool]
    /// Scale applied to query·key products.
    public var attentionScale: Float
    /// `final_logit_softcapping`: logits become cap · tanh(logits / cap) (Gemma 2-style).
    public var finalLogitSoftcap: Float?

    public var block: BlockStructure { family.block }
    /// Width of all query heads together (the attention output's width too).
    public var queryWidth: Int { headCount * headDimension }
    /// Width of the K and V projections (each KV head serves headCount / kvHeadCount queries).
    public var kvWidth: Int { kvHeadCount * headDimension }

    /// Whether `layer` attends only to the sliding window (Gemma 3: five of every six layers).
    public func usesSlidingWindow(layer: Int) -> Bool {
        layer < slidingWindowLayers.count && slidingWindowLayers[layer]
    }

    public init(gguf file: GGUFFile) throws(ArchitectureError) {
        let name = file.metadata["general.architecture"]?.string ?? "llama"
        guard let family = ModelFamily(rawValue: name) else {
            throw .unsupportedArchitecture(name)
        }
        self.family = family
        let keys = MetadataReader(file: file, prefix: name)

        layerCount = try keys.integer("block_count")
        embeddingLength = try keys.integer("embedding_length")
        feedForwardLength = try keys.integer("feed_forward_length")
        headCount = try keys.integer("attention.head_count")
        kvHeadCount = try keys.integer("attention.head_count_kv", default: headCount)
        contextLength = try keys.integer("context_length", default: 2048)
        guard headCount > 0 else { throw .invalidHyperparameters("attention.head_count is 0") }
        let defaultHead = embeddingLength % headCount == 0 ? embeddingLength / headCount : 0
        headDimension = try keys.integer("attention.key_length", default: defaultHead)
        let valueLength = try keys.integer("attention.value_length", default: headDimension)
        guard headDimension > 0 else {
            throw .invalidHyperparameters(
                "embedding \(embeddingLength) not divisible by \(headCount) heads")
        }
        guard valueLength == headDimension else {
            throw .invalidHyperparameters(
                "value heads of \(valueLength) differ from key heads of \(headDimension)")
        }
        rmsEpsilon = Float(keys.double("attention.layer_norm_rms_epsilon") ?? 1e-5)
        vocabularySize = try Self.vocabularySize(file: file, keys: keys)

        let block = family.block
        if let period = block.slidingWindowPeriod, period > 0,
            let window = keys.value("attention.sliding_window")?.int, window > 0
        {
            slidingWindow = window
            slidingWindowLayers = try Self.slidingWindowLayers(
                keys.value("attention.sliding_window_pattern"), period: period,
                layerCount: layerCount)
        } else {
            slidingWindow = nil
            slidingWindowLayers = []
        }
        let softcap = keys.double("final_logit_softcapping") ?? 0
        finalLogitSoftcap = softcap > 0 ? Float(softcap) : nil
        rope = try Self.rope(file: file, keys: keys, family: family, headDimension: headDimension)
        // Gemma 3 27B scales by width / heads instead of the head size (as llama.cpp does,
        // after gemma_pytorch's config); every other model by 1/√head.
        let scaleDimension =
            family == .gemma3 && layerCount == 62 ? embeddingLength / headCount : headDimension
        attentionScale = 1 / Float(scaleDimension).squareRoot()
        try validate()
    }

    /// As llama.cpp reads it: an array gives each layer; a number n (or the family's
    /// period) makes n − 1 sliding-window layers, then a global one, repeated.
    private static func slidingWindowLayers(_ pattern: GGUFValue?, period: Int, layerCount: Int)
        throws(ArchitectureError) -> [Bool]
    {
        if let values = pattern?.array {
            let layers = values.compactMap(\.bool)
            guard layers.count == layerCount else {
                throw .invalidHyperparameters(
                    "attention.sliding_window_pattern has \(values.count) entries for \(layerCount) layers"
                )
            }
            return layers
        }
        let n = pattern?.int ?? period
        return (0..<layerCount).map { layer in n == 0 || layer % n < n - 1 }
    }

    private static func rope(
        file: GGUFFile, keys: MetadataReader, family: ModelFamily, headDimension: Int
    ) throws(ArchitectureError) -> RopeSettings {
        let scalingType = keys.value("rope.scaling.type")?.string ?? "linear"
        guard ["linear", "none", "longrope"].contains(scalingType) else {
            throw .unsupportedRopeScaling("'\(scalingType)' (rope.scaling.type)")
        }
        let factor = keys.double("rope.scaling.factor") ?? keys.double("rope.scale_linear") ?? 0
        // As llama.cpp's graphs: llama applies rope_freqs, or with longrope scaling the
        // long/short factors; phi3 always takes long/short factors when the file has them.
        let longRope =
            (family == .phi3 || (family == .llama && scalingType == "longrope"))
            && file.tensor(named: RopeSettings.longFactorsName) != nil
        let factors =
            family == .llama && scalingType != "longrope"
                && file.tensor(named: RopeSettings.frequencyFactorsName) != nil
            ? RopeSettings.frequencyFactorsName : nil
        let contextLength = try keys.integer("context_length", default: 2048)
        return RopeSettings(
            style: family.block.ropeStyle,
            dimensions: try keys.integer("rope.dimension_count", default: headDimension),
            base: keys.double("rope.freq_base") ?? 10_000,
            scale: factor == 0 || scalingType == "none" ? 1 : 1 / factor,
            slidingWindowBase: keys.double("rope.freq_base_swa") ?? 10_000,
            frequencyFactorsTensor: factors,
            longFactorsTensor: longRope ? RopeSettings.longFactorsName : nil,
            shortFactorsTensor: longRope ? RopeSettings.shortFactorsName : nil,
            originalContextLength: try keys.integer(
                "rope.scaling.original_context_length", default: contextLength),
            attentionFactor: keys.double("rope.scaling.attn_factor") ?? 1)
    }

    private static func vocabularySize(file: GGUFFile, keys: MetadataReader)
        throws(ArchitectureError) -> Int
    {
        if let tokens = file.metadata["tokenizer.ggml.tokens"]?.array, !tokens.isEmpty {
            return tokens.count
        }
        if let size = keys.value("vocab_size")?.int, size > 0 { return size }
        if let embedding = file.tensor(named: "token_embd.weight"), embedding.dimensions.count == 2
        {
            return embedding.dimensions[1]
        }
        throw .missingMetadata(key: "tokenizer.ggml.tokens")
    }

    private func validate() throws(ArchitectureError) {
        let positive = [
            ("block_count", layerCount), ("embedding_length", embeddingLength),
            ("feed_forward_length", feedForwardLength), ("attention.head_count_kv", kvHeadCount),
            ("context_length", contextLength), ("vocabulary size", vocabularySize),
        ]
        for (name, value) in positive where value <= 0 {
            throw .invalidHyperparameters("\(name) must be positive, got \(value)")
        }
        guard headCount % kvHeadCount == 0 else {
            throw .invalidHyperparameters(
                "\(headCount) query heads not divisible by \(kvHeadCount) KV heads")
        }
        let rotary = rope.dimensions
        guard rotary > 0, rotary <= headDimension, rotary % 2 == 0 else {
            throw .invalidHyperparameters(
                "rope.dimension_count \(rotary) for head size \(headDimension)")
        }
        guard rmsEpsilon > 0, rmsEpsilon.isFinite, rope.base > 0, rope.base.isFinite,
            rope.slidingWindowBase > 0, rope.scale > 0, rope.scale.isFinite,
            rope.attentionFactor > 0, rope.attentionFactor.isFinite
        else {
            throw .invalidHyperparameters(
                "rms epsilon \(rmsEpsilon), rope base \(rope.base), rope scale \(rope.scale)")
        }
    }
}

/// `<architecture>.<key>` lookups with the full key named when one is missing.
struct MetadataReader {
    let file: GGUFFile
    let prefix: String

    func value(_ key: String) -> GGUFValue? { file.metadata["\(prefix).\(key)"] }

    func double(_ key: String) -> Double? { value(key)?.double }

    func integer(_ key: String, default fallback: Int? = nil) throws(ArchitectureError) -> Int {
        if let value = value(key)?.int { return value }
        if let fallback { return fallback }
        throw .missingMetadata(key: "\(prefix).\(key)")
    }
}
