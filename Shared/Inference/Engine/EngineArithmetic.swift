/// Which arithmetic the engine's served forward pass performs, as a number that workers put in
/// every commitment they sign and that the verifier compares with its own before replaying.
///
/// A replay is exact only when both sides compute the same operations in the same order, and
/// a change of that order is invisible in a model's outputs (greedy tokens match) while moving
/// hidden states by 1e-2 relative — far outside the verifier's 1e-4 tolerance. Without a
/// version, receipts signed before such a change were replayed by a newer verifier, judged
/// wrong and their honest workers slashed. Bump `version` with every change that alters any
/// bit of a served step's hidden states or logits (kernel accumulation order, activation
/// quantization, which path prefill takes, norms, RoPE); the kernels' parity tests and the
/// batch-invariance tests are what notice such a change.
public enum EngineArithmetic {
    /// 1: prefill on the tiled float path, decode on the row-wise 8-bit path (until
    ///    2026-11-30; never stated in commitments, which decode as 0).
    /// 2: every row on the row-wise 8-bit path, activation scales in half precision, the
    ///    integer block sums then the float work in the C kernels' order.
    public static let version: UInt32 = 2
}
