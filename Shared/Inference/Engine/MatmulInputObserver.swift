/// Where a transformer block's linear layers read their input. Q, K and V (or a fused QKV)
/// share one input, as do gate and up: one site each.
public enum MatmulInputSite: Int, Sendable, CaseIterable {
    /// The normalized hidden state that Q, K and V (or the fused QKV) multiply.
    case attentionInput
    /// The attention heads' output that `attn_output` multiplies.
    case attentionOutput
    /// The normalized hidden state that gate and up (or the fused gate-up) multiply.
    case feedForwardInput
    /// act(gate) ⊙ up, which `ffn_down` multiplies.
    case feedForwardDown
}

/// Sees the float input rows of a block's matrix products before the multiplier quantizes
/// them (calibration, e.g. Wanda's input norms): `rows` holds `count` rows of `width` values
/// for absolute layer `layer`. Called on the thread running `forward`, once per site and batch.
public typealias MatmulInputObserver =
    (
        _ layer: Int, _ site: MatmulInputSite, _ rows: UnsafePointer<Float>, _ count: Int,
        _ width: Int
    )
    -> Void

extension TransformerStage {
    /// Hands the rows to the observer, when one is set (a nil check otherwise).
    @inline(__always)
    func observeInput(
        _ site: MatmulInputSite, layer: Int, rows: UnsafeMutablePointer<Float>, count: Int,
        width: Int
    ) {
        guard let observer = matmulInputObserver else { return }
        observer(layer, site, rows, count, width)
    }
}
