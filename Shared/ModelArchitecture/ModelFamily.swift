/// The model families Tessera runs, named as GGUF's `general.architecture` names them.
///
/// Adding a family: a case here, its `BlockStructure` below, its tensors in `TensorLayout`
/// (when it has some the others lack), and in the engine a step where its block differs
/// (see Shared/Inference/README.md, "Adding a model family").
public enum ModelFamily: String, CaseIterable, Sendable, Codable {
    /// Llama 1/2/3.x, SmolLM, Mistral 7B / Nemo and other models converted as `llama`.
    case llama
    /// Qwen2 and Qwen2.5: Q/K/V projection biases.
    case qwen2
    /// Qwen3 (dense): RMS norms on each query and key head.
    case qwen3
    /// Phi-3 / Phi-3.5 mini: fused QKV and fused gate-up projections.
    case phi3
    /// Gemma 3: pre- and post-norms, Q/K norms, GELU-tanh gating, scaled embeddings,
    /// interleaved sliding-window and global attention with their own RoPE bases.
    case gemma3

    /// "llama, qwen2, …", for messages that refuse another architecture.
    public static var supportedList: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// How one transformer block of this family is built.
    public var block: BlockStructure {
        switch self {
        case .llama:
            BlockStructure(ropeStyle: .adjacentPairs)
        case .qwen2:
            BlockStructure(ropeStyle: .halves, attentionBiases: true)
        case .qwen3:
            BlockStructure(ropeStyle: .halves, queryKeyNorms: true)
        case .phi3:
            BlockStructure(ropeStyle: .halves, fusedProjections: true)
        case .gemma3:
            BlockStructure(
                ropeStyle: .halves, queryKeyNorms: true, postNorms: true,
                activation: .geluTanh, scaledEmbedding: true, slidingWindowPeriod: 6)
        }
    }
}
