import GGUF
import Kernels
import ModelArchitecture

/// What happens to each tensor of the parent: copied as it is, or dequantized to floats
/// (optionally pruned) and quantized to a type. Decided from the header alone, before any
/// tensor data is read, so the output's layout is known up front.
struct VariantPlan {
    enum Action: Equatable {
        case copy
        /// Decode, apply the method's transform when `prune`, encode as `type`.
        case convert(to: GGMLType, prune: Bool)
    }

    struct Step {
        let tensor: GGUFTensorInfo
        let action: Action

        var storedType: GGMLType {
            if case .convert(let type, _) = action { return type }
            return tensor.type
        }
    }

    let steps: [Step]
    let fallbacks: [VariantFallback]

    /// Roles whose tensors are matrix multiplications inside a block: the "layer weights".
    static let layerWeightRoles: Set<TensorRole> = [
        .query, .key, .value, .fusedQKV, .attentionOutput, .gate, .up, .fusedGateUp, .down,
    ]
    static let embeddingRoles: Set<TensorRole> = [.tokenEmbedding, .output]

    init(model: GGUFFile, layout: TensorLayout, method: VariantMethod) throws(VariantBuildError) {
        var roles: [String: TensorRole] = [:]
        for spec in layout.stageTensors(layers: 0..<layout.architecture.layerCount, in: model) {
            roles[spec.name] = spec.role
        }
        var steps: [Step] = []
        var fallbacks: [VariantFallback] = []
        for tensor in model.tensors {
            let role = roles[tensor.name]
            let wanted: GGMLType?
            let prune: Bool
            if let role, Self.layerWeightRoles.contains(role), tensor.dimensions.count == 2 {
                wanted = method.layerType
                prune = method.pruning != nil
            } else if let role, Self.embeddingRoles.contains(role) {
                wanted = method.embeddingType
                prune = false
            } else {
                wanted = nil  // norms, biases, RoPE factors: as they are
                prune = false
            }
            guard let wanted else {
                steps.append(Step(tensor: tensor, action: .copy))
                continue
            }
            let rowLength = tensor.dimensions[0]
            guard let stored = BlockTypeFallback.storedType(wanted: wanted, rowLength: rowLength)
            else {
                throw .noTypeFits(tensor: tensor.name, wanted: wanted.name, rowLength: rowLength)
            }
            if stored != wanted {
                fallbacks.append(VariantFallback(tensor: tensor.name, wanted: wanted, used: stored))
            }
            // As llama-quantize: a tensor already in the type it would get is kept bit for
            // bit (quantizing its decoded values again could only lose precision).
            if stored == tensor.type && !prune {
                steps.append(Step(tensor: tensor, action: .copy))
                continue
            }
            guard TensorRows.dequantizableTypes.contains(tensor.type) else {
                throw .undecodableTensor(tensor: tensor.name, type: tensor.type.name)
            }
            steps.append(Step(tensor: tensor, action: .convert(to: stored, prune: prune)))
        }
        self.steps = steps
        self.fallbacks = fallbacks
    }
}
