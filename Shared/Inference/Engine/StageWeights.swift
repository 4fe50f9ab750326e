import GGUF
import Kernels
import ModelArchitecture

/// The Q, K and V projections: three matrices, or one fused `attn_qkv` whose rows are Q, K, V.
enum AttentionInput {
    case separate(query: WeightMatrix, key: WeightMatrix, value: WeightMatrix)
    case fused(WeightMatrix)
}

/// The gate and up projections: two matrices, or one fused `ffn_up` holding gate then up.
enum FeedForwardInput {
    case separate(gate: WeightMatrix, up: WeightMatrix)
    case fused(WeightMatrix)
}

/// The weights of one transformer block, referenced in place in the GGUF mapping. Optional
/// members are the steps only some families take (see `BlockStructure`).
struct LayerWeights {
    let attentionNorm: [Float]
    let attentionInput: AttentionInput
    /// Q, K and V biases (Qwen2), each split out of a fused bias at load time.
    let queryBias: [Float]?
    let keyBias: [Float]?
    let valueBias: [Float]?
    /// Per-head RMS norm gains for queries and keys (Qwen3, Gemma 3).
    let queryNorm: [Float]?
    let keyNorm: [Float]?
    let attentionOutput: WeightMatrix
    let attentionPostNorm: [Float]?
    let feedForwardNorm: [Float]
    let feedForwardInput: FeedForwardInput
    let down: WeightMatrix
    let feedForwardPostNorm: [Float]?

    /// Rows of the widest fused projection (its output waits in the workspace to be split).
    var fusedOutputWidth: Int {
        var width = 0
        if case .fused(let qkv) = attentionInput { width = qkv.rows }
        if case .fused(let gateUp) = feedForwardInput { width = max(width, gateUp.rows) }
        return width
    }

    var matrices: [WeightMatrix] {
        var all: [WeightMatrix] = []
        switch attentionInput {
        case .separate(let q, let k, let v): all += [q, k, v]
        case .fused(let qkv): all.append(qkv)
        }
        all.append(attentionOutput)
        switch feedForwardInput {
        case .separate(let gate, let up): all += [gate, up]
        case .fused(let gateUp): all.append(gateUp)
        }
        all.append(down)
        return all
    }
}

/// Exactly the tensors a stage needs, as the model's `TensorLayout` lists them: its layers,
/// plus the token embedding for the first stage and the final norm and output projection for
/// the last. Nothing else is looked up, so a shard GGUF holding only these loads as well as
/// the full model.
struct StageWeights {
    let layers: [LayerWeights]
    let embedding: WeightMatrix?
    let outputNorm: [Float]?
    let output: WeightMatrix?
    let ropeFrequencyFactors: [Float]?
    let ropeLongFactors: [Float]?
    let ropeShortFactors: [Float]?

    init(file: GGUFFile, hyperparameters hp: ModelHyperparameters, layers range: Range<Int>) throws
    {
        let layout = TensorLayout(hp.model)
        do {
            try layout.validate(file, layers: range)
        } catch {
            throw InferenceError(error)
        }
        let loader = TensorLoader(file: file)
        layers = try range.map { index in
            try Self.layer(
                loader.present(layout.layerTensors(index, in: file)), loader: loader, hp: hp)
        }
        let global = loader.present(layout.globalTensors(layers: range, in: file))
        embedding = try global[.tokenEmbedding].map { try loader.matrix($0) }
        outputNorm = try global[.outputNorm].map { try loader.vector($0) }
        output = try global[.output].map { try loader.matrix($0) }
        ropeFrequencyFactors = try global[.ropeFrequencyFactors].map { try loader.vector($0) }
        ropeLongFactors = try global[.ropeLongFactors].map { try loader.vector($0) }
        ropeShortFactors = try global[.ropeShortFactors].map { try loader.vector($0) }
    }

    private static func layer(
        _ tensors: [TensorRole: TensorSpec], loader: TensorLoader, hp: ModelHyperparameters
    ) throws -> LayerWeights {
        func matrix(_ role: TensorRole) throws -> WeightMatrix {
            guard let spec = tensors[role] else {
                throw InferenceError.missingTensor(name: "\(role)")
            }
            return try loader.matrix(spec)
        }
        func vector(_ role: TensorRole) throws -> [Float]? {
            try tensors[role].map { try loader.vector($0) }
        }
        let attentionInput: AttentionInput
        var biases: [[Float]?] = [
            try vector(.queryBias), try vector(.keyBias), try vector(.valueBias),
        ]
        if tensors[.fusedQKV] != nil {
            attentionInput = .fused(try matrix(.fusedQKV))
            if let fused = try vector(.fusedQKVBias) {
                let q = hp.queryWidth
                let kv = hp.kvWidth
                biases = [
                    Array(fused[0..<q]), Array(fused[q..<(q + kv)]), Array(fused[(q + kv)...]),
                ]
            }
        } else {
            attentionInput = .separate(
                query: try matrix(.query), key: try matrix(.key), value: try matrix(.value))
        }
        let feedForwardInput: FeedForwardInput =
            tensors[.fusedGateUp] != nil
            ? .fused(try matrix(.fusedGateUp))
            : .separate(gate: try matrix(.gate), up: try matrix(.up))
        guard let attentionNorm = try vector(.attentionNorm),
            let feedForwardNorm = try vector(.feedForwardNorm)
        else { throw InferenceError.missingTensor(name: "attn_norm.weight") }
        return LayerWeights(
            attentionNorm: attentionNorm, attentionInput: attentionInput,
            queryBias: biases[0], keyBias: biases[1], valueBias: biases[2],
            queryNorm: try vector(.queryNorm), keyNorm: try vector(.keyNorm),
            attentionOutput: try matrix(.attentionOutput),
            attentionPostNorm: try vector(.attentionPostNorm),
            feedForwardNorm: feedForwardNorm, feedForwardInput: feedForwardInput,
            down: try matrix(.down), feedForwardPostNorm: try vector(.feedForwardPostNorm))
    }
}

/// Loads tensors the layout has already checked (presence and shape), converting types.
private struct TensorLoader {
    let file: GGUFFile

    /// The specs whose tensors the file holds, by role.
    func present(_ specs: [TensorSpec]) -> [TensorRole: TensorSpec] {
        var byRole: [TensorRole: TensorSpec] = [:]
        for spec in specs where file.tensor(named: spec.name) != nil { byRole[spec.role] = spec }
        return byRole
    }

    func info(_ name: String) throws -> GGUFTensorInfo {
        guard let info = file.tensor(named: name) else {
            throw InferenceError.missingTensor(name: name)
        }
        return info
    }

    /// A rows × columns matrix (ggml dimensions [columns, rows]).
    func matrix(_ spec: TensorSpec) throws -> WeightMatrix {
        let name = spec.name
        let tensor = try info(name)
        guard tensor.dimensions.count == 2, tensor.dimensions == spec.dimensions else {
            throw InferenceError.tensorShapeMismatch(
                tensor: name, expected: spec.dimensions, actual: tensor.dimensions)
        }
        let columns = tensor.dimensions[0]
        let rows = tensor.dimensions[1]
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

    /// A 1-D vector such as a norm gain or a bias, converted to f32 (these are tiny).
    func vector(_ spec: TensorSpec) throws -> [Float] {
        let name = spec.name
        let tensor = try info(name)
        guard tensor.dimensions.count == 1, tensor.dimensions == spec.dimensions else {
            throw InferenceError.tensorShapeMismatch(
                tensor: name, expected: spec.dimensions, actual: tensor.dimensions)
        }
        let length = tensor.dimensions[0]
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
