import GGUF
import ModelArchitecture
import Placement

/// What a GGUF header says about a model (no tensor is read): its shape, its dominant
/// quantization, and its cost in the optimizer's own terms. `cost` is the one cost type
/// from the file to the plan: the catalog stores it, the manifest carries it (see
/// TesseraProto's `ModelCost+Domain.swift`) and the scheduler plans with it as is.
public struct ModelAnalysis: Sendable, Equatable, Codable {
    /// The attention cost per token grows with the context; costs are quoted at this many
    /// tokens of context, a typical chat turn (weights dominate a layer's cost below ~1k).
    public static let referenceContextTokens = 512
    /// The KV cache stores f16 (as llama.cpp does by default).
    public static let kvBytesPerElement = 2
    /// Activations travel between stages as f32.
    public static let activationBytesPerElement = 4

    public var architecture: String
    public var embeddingLength: Int
    public var contextLength: Int
    public var vocabularySize: Int
    /// The tensor type holding most of the matrix parameters, e.g. "Q4_1".
    public var fileType: String
    /// Bytes of all tensors in the file (without alignment padding).
    public var tensorBytes: Int
    /// Per-layer costs, the embedding (with the first range) and the output head (final
    /// norm + projection, with the last range). A tied output (no `output.weight`: the head
    /// reuses `token_embd.weight`) is counted in the head too, because a split pipeline's
    /// last stage holds its own copy; `tiedEmbeddingBytes` takes it off again for a stage
    /// that holds both ends, which stores the table once (see `ShardCutter`).
    public var cost: ModelProfile

    public var layerCount: Int { cost.layerCount }
    /// The output projection is the token embedding.
    public var tiedOutput: Bool { cost.tiedEmbeddingBytes > 0 }

    /// Refuses, naming the key or tensor, a model whose architecture is not supported or
    /// whose tensors do not match it (`ArchitectureError`).
    public init(model: GGUFFile) throws {
        let description = try ModelArchitecture(gguf: model)
        let layout = TensorLayout(description)
        try layout.validate(model, layers: 0..<description.layerCount)
        architecture = description.family.rawValue
        embeddingLength = description.embeddingLength
        contextLength = description.contextLength
        vocabularySize = description.vocabularySize
        fileType = Self.dominantType(model: model)
        tensorBytes = model.tensors.reduce(0) { $0 + $1.byteCount }
        let layers = layout.layerCosts(
            in: model, contextTokens: Self.referenceContextTokens,
            kvBytesPerElement: Self.kvBytesPerElement
        ).map {
            LayerCost(
                weightBytes: $0.weightBytes, flopsPerToken: $0.flopsPerToken,
                kvBytesPerToken: $0.kvBytesPerToken)
        }

        // The ends, as the layout names them (a tied head is the embedding table itself).
        let ends = layout.globalTensors(layers: 0..<description.layerCount, in: model)
        func tensor(_ role: TensorRole) -> GGUFTensorInfo? {
            ends.first { $0.role == role }.flatMap { model.tensor(named: $0.name) }
        }
        let embeddingTensor = tensor(.tokenEmbedding)
        let tableBytes = embeddingTensor?.byteCount ?? 0
        let head = tensor(.output)
        let tied = head != nil && head?.name == embeddingTensor?.name
        let headBytes = (tensor(.outputNorm)?.byteCount ?? 0) + (head?.byteCount ?? 0)
        cost = ModelProfile(
            layers: layers,
            embedding: .tokenEmbedding(tableBytes: tableBytes, vocabularySize: vocabularySize),
            outputHead: StageExtra(
                weightBytes: headBytes, bytesReadPerToken: headBytes,
                flopsPerToken: Double(
                    2 * (head?.elementCount ?? vocabularySize * embeddingLength) + 4
                        * embeddingLength)),
            tiedEmbeddingBytes: tied ? tableBytes : 0,
            activationBytesPerToken: embeddingLength * Self.activationBytesPerElement)
    }

    /// The type with the most parameters among matrices (norm vectors stay f32 in every file).
    /// Ties go to the type listed first in the file, so the answer is stable.
    private static func dominantType(model: GGUFFile) -> String {
        var elements: [GGMLType: Int] = [:]
        var order: [GGMLType] = []
        for tensor in model.tensors where tensor.dimensions.count >= 2 {
            if elements[tensor.type] == nil { order.append(tensor.type) }
            elements[tensor.type, default: 0] += tensor.elementCount
        }
        var best: GGMLType?
        for type in order where best == nil || elements[type]! > elements[best!]! { best = type }
        return best?.name ?? (model.tensors.first?.type.name ?? "unknown")
    }
}
