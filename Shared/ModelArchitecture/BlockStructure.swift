/// What sets one family's transformer block apart from llama's (pre-norm RMSNorm, grouped-query
/// attention with RoPE, SwiGLU feed-forward). Every field's default is llama's.
public struct BlockStructure: Sendable, Equatable {
    /// Which elements of a head RoPE rotates together.
    public enum RopeStyle: Sendable, Equatable {
        /// (x[2i], x[2i+1]): ggml's normal mode; `llama` GGUFs have Q/K permuted for it.
        case adjacentPairs
        /// (x[i], x[i + d/2]): ggml's NeoX mode, used by every other family here.
        case halves
    }

    /// The gate's nonlinearity in the gated feed-forward: act(gate · x) ⊙ (up · x).
    public enum Activation: Sendable, Equatable {
        case silu
        /// GELU with the tanh approximation (Gemma).
        case geluTanh
    }

    public var ropeStyle: RopeStyle
    /// The converter writes `attn_q.bias`, `attn_k.bias`, `attn_v.bias` (Qwen2). As in
    /// llama.cpp, any family may carry these biases and they are added when present.
    public var attentionBiases: Bool
    /// `attn_q_norm` / `attn_k_norm`: an RMS norm over each head of Q and K before RoPE.
    public var queryKeyNorms: Bool
    /// `attn_post_norm` / `ffn_post_norm`: the attention and feed-forward outputs are
    /// normalized again before they are added to the residual stream.
    public var postNorms: Bool
    public var activation: Activation
    /// `attn_qkv` (rows Q, K, V) and `ffn_up` holding gate then up, 2 × feed_forward_length rows.
    public var fusedProjections: Bool
    /// Token embeddings are multiplied by √(embedding width) (Gemma).
    public var scaledEmbedding: Bool
    /// With a sliding window: layers i where (i + 1) is not a multiple of this period attend
    /// only to the window, with their own RoPE base; every period-th layer attends globally.
    public var slidingWindowPeriod: Int?

    public init(
        ropeStyle: RopeStyle, attentionBiases: Bool = false, queryKeyNorms: Bool = false,
        postNorms: Bool = false, activation: Activation = .silu, fusedProjections: Bool = false,
        scaledEmbedding: Bool = false, slidingWindowPeriod: Int? = nil
    ) {
        self.ropeStyle = ropeStyle
        self.attentionBiases = attentionBiases
        self.queryKeyNorms = queryKeyNorms
        self.postNorms = postNorms
        self.activation = activation
        self.fusedProjections = fusedProjections
        self.scaledEmbedding = scaledEmbedding
        self.slidingWindowPeriod = slidingWindowPeriod
    }
}
