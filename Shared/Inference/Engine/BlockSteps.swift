import Foundation
import Kernels

// The steps where model families' blocks differ from llama's, each applied to the batch rows
// in the workspace. `runLayer` (StageForward.swift) calls them where a family needs them.
// Every step works row by row, so batch invariance is kept.

extension TransformerStage {
    /// Q, K and V of every row into the workspace: three products, or one fused product
    /// split by rows (Phi-3); then the biases, when the model has them (Qwen2).
    func projectQueryKeyValue(_ layer: LayerWeights, batch: Int, path: MatmulPath) throws {
        let ws = workspace
        let hp = hyperparameters
        switch layer.attentionInput {
        case .separate(let query, let key, let value):
            try multiplier.multiply(
                [
                    MatmulTarget(query, output: ws.queries), MatmulTarget(key, output: ws.keys),
                    MatmulTarget(value, output: ws.values),
                ],
                input: ws.normalized, tokens: batch, path: path)
        case .fused(let qkv):
            try multiplier.multiply(
                [MatmulTarget(qkv, output: ws.fused)], input: ws.normalized, tokens: batch,
                path: path)
            Self.split(
                ws.fused, rows: batch,
                into: [(ws.queries, hp.queryWidth), (ws.keys, hp.kvWidth), (ws.values, hp.kvWidth)])
        }
        Self.addBias(layer.queryBias, to: ws.queries, rows: batch)
        Self.addBias(layer.keyBias, to: ws.keys, rows: batch)
        Self.addBias(layer.valueBias, to: ws.values, rows: batch)
    }

    /// Gate and up of every row into the workspace: two products, or one fused `ffn_up`
    /// whose first half is the gate (Phi-3).
    func projectGateUp(_ layer: LayerWeights, batch: Int, path: MatmulPath) throws {
        let ws = workspace
        switch layer.feedForwardInput {
        case .separate(let gate, let up):
            try multiplier.multiply(
                [MatmulTarget(gate, output: ws.gate), MatmulTarget(up, output: ws.up)],
                input: ws.normalized, tokens: batch, path: path)
        case .fused(let gateUp):
            try multiplier.multiply(
                [MatmulTarget(gateUp, output: ws.fused)], input: ws.normalized, tokens: batch,
                path: path)
            let width = hyperparameters.feedForwardLength
            Self.split(ws.fused, rows: batch, into: [(ws.gate, width), (ws.up, width)])
        }
    }

    /// The RMS norm of each head of `vectors` (rows × heads × head size) with one gain
    /// vector for all heads (Qwen3 and Gemma 3 normalize queries and keys this way).
    func normalizeHeads(
        _ vectors: UnsafeMutablePointer<Float>, gains: [Float]?, heads: Int, rows: Int
    ) {
        guard let gains else { return }
        RMSNorm.apply(
            vectors, weight: gains, width: hyperparameters.headDimension, rows: rows * heads,
            epsilon: hyperparameters.rmsEpsilon, output: vectors)
    }

    /// An output's own norm before it joins the residual stream (Gemma 3's post-norms).
    func postNormalize(_ rows: UnsafeMutablePointer<Float>, gains: [Float]?, batch: Int) {
        guard let gains else { return }
        RMSNorm.apply(
            rows, weight: gains, width: hyperparameters.embeddingLength, rows: batch,
            epsilon: hyperparameters.rmsEpsilon, output: rows)
    }

    /// gate ← act(gate) ⊙ up, with the family's activation.
    func gatedActivation(batch: Int) {
        let ws = workspace
        let count = batch * hyperparameters.feedForwardLength
        switch hyperparameters.block.activation {
        case .silu: SwiGLU.apply(gate: ws.gate, up: ws.up, count: count, output: ws.gate)
        case .geluTanh: GeluTanhGate.apply(gate: ws.gate, up: ws.up, count: count)
        }
    }

    /// Gemma scales token embeddings by √width (in f32, as llama.cpp's `ggml_scale`).
    func scaleEmbeddings(_ rows: UnsafeMutablePointer<Float>, count: Int) {
        guard hyperparameters.block.scaledEmbedding else { return }
        let factor = Float(hyperparameters.embeddingLength).squareRoot()
        for index in 0..<(count * hyperparameters.embeddingLength) { rows[index] *= factor }
    }

    /// logits ← cap · tanh(logits / cap) when the model declares a final soft cap.
    func softcapLogits(_ logits: UnsafeMutablePointer<Float>, count: Int) {
        guard let cap = hyperparameters.model.finalLogitSoftcap else { return }
        for index in 0..<count { logits[index] = cap * tanh(logits[index] / cap) }
    }

    /// The RoPE of absolute layer `layer` for a session of `contextLength` tokens (LongRoPE
    /// models rotate sessions beyond their original context with the long factors).
    func rotaryEmbedding(layer: Int, contextLength: Int) -> RotaryEmbedding {
        let model = hyperparameters.model
        if model.usesSlidingWindow(layer: layer) { return slidingRotary }
        if model.rope.longFactorsTensor != nil,
            contextLength > model.rope.originalContextLength
        {
            return longContextRotary
        }
        return rotary
    }

    /// The window absolute layer `layer` attends within, nil for global attention.
    func attentionWindow(layer: Int) -> Int? {
        hyperparameters.model.usesSlidingWindow(layer: layer)
            ? hyperparameters.model.slidingWindow : nil
    }

    /// Copies each row of a fused output (parts side by side) into the parts' own buffers.
    static func split(
        _ fused: UnsafePointer<Float>, rows: Int, into parts: [(UnsafeMutablePointer<Float>, Int)]
    ) {
        var total = 0
        for part in parts { total += part.1 }
        for row in 0..<rows {
            var source = fused + row * total
            for (destination, width) in parts {
                (destination + row * width).update(from: source, count: width)
                source += width
            }
        }
    }

    static func addBias(_ bias: [Float]?, to rows: UnsafeMutablePointer<Float>, rows count: Int) {
        guard let bias else { return }
        bias.withUnsafeBufferPointer { b in
            for row in 0..<count {
                VectorAdd.apply(rows + row * b.count, adding: b.baseAddress!, count: b.count)
            }
        }
    }
}

/// gate ← GELU(gate) ⊙ up with GELU's tanh approximation,
/// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as Gemma's feed-forward uses it.
enum GeluTanhGate {
    static func apply(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        let c: Float = 0.797_884_560_802_865_4  // √(2/π)
        for index in 0..<count {
            let x = gate[index]
            let inner = c * (x + 0.044_715 * x * x * x)
            gate[index] = 0.5 * x * (1 + tanh(inner)) * up[index]
        }
    }
}
