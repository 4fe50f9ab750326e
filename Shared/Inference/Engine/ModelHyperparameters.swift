import GGUF
import Kernels
import ModelArchitecture

/// The engine's view of a model's shape: the shared `ModelArchitecture` (the one reading of
/// GGUF keys), with its errors in the engine's terms and its RoPE in the kernels' terms.
public struct ModelHyperparameters: Sendable, Equatable {
    public let model: ModelArchitecture

    public var family: ModelFamily { model.family }
    public var architecture: String { model.family.rawValue }
    public var block: BlockStructure { model.block }
    public var layerCount: Int { model.layerCount }
    public var embeddingLength: Int { model.embeddingLength }
    public var feedForwardLength: Int { model.feedForwardLength }
    public var headCount: Int { model.headCount }
    public var kvHeadCount: Int { model.kvHeadCount }
    public var headDimension: Int { model.headDimension }
    public var rotaryDimensions: Int { model.rope.dimensions }
    public var contextLength: Int { model.contextLength }
    public var vocabularySize: Int { model.vocabularySize }
    public var rmsEpsilon: Float { model.rmsEpsilon }
    public var ropeBase: Double { model.rope.base }
    public var ropeStyle: RotaryEmbedding.Style {
        model.rope.style == .adjacentPairs ? .adjacentPairs : .halves
    }
    /// Width of all query heads (equal to the embedding width except where a family declares
    /// its own head size: Gemma 3, Qwen3, Mistral Nemo).
    public var queryWidth: Int { model.queryWidth }
    /// Width of the K and V projections (grouped-query attention shares each KV head
    /// among headCount / kvHeadCount query heads).
    public var kvWidth: Int { model.kvWidth }

    public init(gguf file: GGUFFile) throws {
        do {
            model = try ModelArchitecture(gguf: file)
        } catch {
            throw InferenceError(error)
        }
    }
}

extension InferenceError {
    /// The one translation of the shared architecture errors into the engine's.
    init(_ error: ArchitectureError) {
        switch error {
        case .unsupportedArchitecture(let name): self = .unsupportedArchitecture(name)
        case .missingMetadata(let key): self = .missingMetadata(key: key)
        case .invalidHyperparameters(let detail): self = .invalidHyperparameters(detail)
        case .missingTensor(let name): self = .missingTensor(name: name)
        case .tensorShapeMismatch(let tensor, let expected, let actual):
            self = .tensorShapeMismatch(tensor: tensor, expected: expected, actual: actual)
        case .unsupportedRopeScaling, .unexpectedTensor:
            self = .modelMismatch(error.description)
        }
    }
}
