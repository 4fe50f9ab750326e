import GGUF

/// What one block costs per token, in the optimizer's terms, from the architecture and the
/// file's tensor sizes: the weight bytes a step streams, the arithmetic it does, and the KV
/// cache it adds.
public struct LayerCostEstimate: Sendable, Equatable {
    public var weightBytes: Int
    public var flopsPerToken: Double
    public var kvBytesPerToken: Int
}

extension TensorLayout {
    /// Per block: its tensors' bytes; 2 flops per matrix weight; and attention's scores and
    /// weighted sum of values over `contextTokens` of context (a sliding-window layer never
    /// looks further back than its window), 2 flops per element each. KV bytes: keys and
    /// values of every KV head at `kvBytesPerElement`.
    public func layerCosts(in file: GGUFFile, contextTokens: Int, kvBytesPerElement: Int)
        -> [LayerCostEstimate]
    {
        let a = architecture
        var bytes = [Int](repeating: 0, count: a.layerCount)
        var matrixWeights = [Int](repeating: 0, count: a.layerCount)
        for tensor in file.tensors {
            guard let block = Self.blockIndex(of: tensor.name), block < a.layerCount else {
                continue
            }
            bytes[block] += tensor.byteCount
            if tensor.dimensions.count >= 2 { matrixWeights[block] += tensor.elementCount }
        }
        let kvBytes = 2 * a.kvWidth * kvBytesPerElement
        var costs: [LayerCostEstimate] = []
        for layer in 0..<a.layerCount {
            var attended = contextTokens
            if a.usesSlidingWindow(layer: layer), let window = a.slidingWindow {
                attended = min(attended, window)
            }
            let attentionFlops = 2 * a.headCount * 2 * a.headDimension * attended
            costs.append(
                LayerCostEstimate(
                    weightBytes: bytes[layer],
                    flopsPerToken: Double(2 * matrixWeights[layer] + attentionFlops),
                    kvBytesPerToken: kvBytes))
        }
        return costs
    }
}
