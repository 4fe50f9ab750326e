/// How a model rotates queries and keys: for pair i of a head at position p the angle is
/// p · scale · base^(−2i / dimensions) / factor[i], as ggml's `rope_ext` computes it without YaRN.
public struct RopeSettings: Sendable, Equatable {
    public var style: BlockStructure.RopeStyle
    /// Rotated elements per head (`rope.dimension_count`, at most the head size).
    public var dimensions: Int
    /// `rope.freq_base`: global-attention layers (all layers when there is no sliding window).
    public var base: Double
    /// 1 / `rope.scaling.factor` when `rope.scaling.type` is linear (position interpolation).
    public var scale: Double
    /// `rope.freq_base_swa` (default 10000) for sliding-window layers; they are never scaled.
    public var slidingWindowBase: Double
    /// The global `rope_freqs.weight` tensor (dimensions / 2 values) divides each pair's
    /// frequency: how converters store Llama 3.1/3.2's `rope_scaling` of type llama3.
    public var frequencyFactorsTensor: String?
    /// LongRoPE (Phi-3 128k, Phi-3.5): `rope_factors_long.weight` for sessions whose context
    /// exceeds `originalContextLength`, `rope_factors_short.weight` for the others, as
    /// llama.cpp chooses them per context.
    public var longFactorsTensor: String?
    public var shortFactorsTensor: String?
    /// `rope.scaling.original_context_length` (default: the context length).
    public var originalContextLength: Int
    /// `rope.scaling.attn_factor`: multiplies cos and sin (default 1).
    public var attentionFactor: Double

    public static let frequencyFactorsName = "rope_freqs.weight"
    public static let longFactorsName = "rope_factors_long.weight"
    public static let shortFactorsName = "rope_factors_short.weight"

    /// The frequency-factor tensor a session of `contextLength` tokens uses, if any.
    public func frequencyFactors(contextLength: Int) -> String? {
        if let frequencyFactorsTensor { return frequencyFactorsTensor }
        return contextLength > originalContextLength ? longFactorsTensor : shortFactorsTensor
    }

    /// Base and scale of one layer.
    public func parameters(slidingWindow: Bool) -> (base: Double, scale: Double) {
        slidingWindow ? (slidingWindowBase, 1) : (base, scale)
    }
}
