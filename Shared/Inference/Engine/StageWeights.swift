import GGUF
import Kernels

/// The weights of one transformer block, referenced in place in the GGUF mapping.
struct LayerWeights {
    let attentionNorm: [Float]
    let query: WeightMatrix
    let key: WeightMatrix
    let value: WeightMatrix
    let attentionOutput: WeightMatrix
    let feedForwardNorm: [Float]
    let gate: WeightMatrix
    let up: WeightMatrix
    let down: WeightMatrix
}

/// Exactly the tensors a stage needs: its layers, plus the token embedding for the first
/// stage and the final norm and output projection for the last. Nothing else is looked up,
/// so a shard GGUF holding only these tensors loads as well as the full model.
struct StageWeights {
    let layers: [LayerWeights]
    let embedding: WeightMatrix?
    let outputNorm: [Float]?
    let output: WeightMatrix?

    init(file: GGUFFile, hyperparameters hp: ModelHyperparameters, layers range: Range<Int>) throws
    {
        let loader = TensorLoader(file: file)
        let isFirst = range.lowerBound == 0
        let isLast = range.upperBound == hp.layerCount
        layers = try range.map { index in
            let prefix = "blk.\(index)."
            let width = hp.embeddingLength
            return LayerWeights(
                attentionNorm: try loader.vector(prefix + "attn_norm.weight", length: width),
                query: try loader.matrix(prefix + "attn_q.weight", rows: width, columns: width),
                key: try loader.matrix(prefix + "attn_k.weight", rows: hp.kvWidth, columns: width),
                value: try loader.matrix(
                    prefix + "attn_v.weight", rows: hp.kvWidth, columns: width),
                attentionOutput: try loader.matrix(
                    prefix + "attn_output.weight", rows: width, columns: width),
                feedForwardNorm: try loader.vector(prefix + "ffn_norm.weight", length: width),
                gate: try loader.matrix(
                    prefix + "ffn_gate.weight", rows: hp.feedForwardLength, columns: width),
                up: try loader.matrix(
                    prefix + "ffn_up.weight", rows: hp.feedForwardLength, columns: width),
                down: try loader.matrix(
                    prefix + "ffn_down.weight", rows: width, columns: hp.feedForwardLength))
        }
        embedding =
            isFirst
            ? try loader.matrix(
                "token_embd.weight", rows: hp.vocabularySize, columns: hp.embeddingLength) : nil
        if isLast {
            outputNorm = try loader.vector("output_norm.weight", length: hp.embeddingLength)
            // Models with tied embeddings (SmolLM2) have no output.weight and reuse token_embd.
            let outputName =
                file.tensor(named: "output.weight") != nil ? "output.weight" : "token_embd.weight"
            output = try loader.matrix(
                outputName, rows: hp.vocabularySize, columns: hp.embeddingLength)
        } else {
            outputNorm = nil
            output = nil
        }
    }
}

/// Looks tensors up by ggml name and checks type and shape, naming the tensor on failure.
private struct TensorLoader {
    let file: GGUFFile

    func info(_ name: String) throws -> GGUFTensorInfo {
        guard let info = file.tensor(named: name) else {
            throw InferenceError.missingTensor(name: name)
        }
        return info
    }

    /// A rows × columns matrix (ggml dimensions [columns, rows]).
    func matrix(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
        let tensor = try info(name)
        guard tensor.dimensions == [columns, rows] else {
            throw InferenceError.tensorShapeMismatch(
                tensor: name, expected: [columns, rows], actual: tensor.dimensions)
        }
        guard WeightMatrix.supportedTypes.contains(tensor.type) else {
            throw InferenceError.unsupportedTensorType(tensor: name, type: tensor.type.name)
        }
        do {
            return try WeightMatrix(
                type: tensor.type, rows: rows, columns: columns, bytes: file.bytes(of: tensor))
        } catch {
            throw InferenceError.unsupportedTensorType(
                tensor: name, type: "\(tensor.type.name) (\(error))")
        }
    }

    /// A 1-D vector such as a norm gain, converted to f32 (these are tiny).
    func vector(_ name: String, length: Int) throws -> [Float] {
        let tensor = try info(name)
        guard tensor.dimensions == [length] else {
            throw InferenceError.tensorShapeMismatch(
                tensor: name, expected: [length], actual: tensor.dimensions)
        }
        guard tensor.type == .f32 || tensor.type == .f16 else {
            throw InferenceError.unsupportedTensorType(tensor: name, type: tensor.type.name)
        }
        let bytes = file.bytes(of: tensor)
        guard bytes.count >= (try? tensor.type.byteCount(elements: length)) ?? Int.max,
            let base = bytes.baseAddress
        else {
            throw InferenceError.tensorShapeMismatch(
                tensor: name, expected: [length], actual: tensor.dimensions)
        }
        var values = [Float](repeating: 0, count: length)
        try values.withUnsafeMutableBufferPointer {
            try TensorRows.dequantize(tensor.type, base, count: length, into: $0.baseAddress!)
        }
        return values
    }
}
