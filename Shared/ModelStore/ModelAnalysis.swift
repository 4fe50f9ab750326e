import GGUF
import Placement

/// What a GGUF header says about a model (no tensor is read): its shape, its dominant
/// quantization, and its cost in the optimizer's own terms. `cost` is the one cost type
/// from the file to the plan: the catalog stores it, the manifest carries it (see
/// TesseraProto's `ModelCost+Domain.swift`) and the scheduler plans with it as is.
public struct ModelAnalysis: Sendable, Equatable, Codable {
    public enum AnalysisError: Error, CustomStringConvertible, Equatable, Sendable {
        case missingMetadata(key: String)
        case invalidMetadata(key: String, reason: String)

        public var description: String {
            switch self {
            case .missingMetadata(let key): "the model has no metadata key \(key)"
            case .invalidMetadata(let key, let reason): "invalid metadata \(key): \(reason)"
            }
        }
    }

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

    public init(model: GGUFFile) throws {
        let architecture = model.metadata["general.architecture"]?.string ?? "llama"
        func integer(_ key: String, default fallback: Int? = nil) throws -> Int {
            let full = "\(architecture).\(key)"
            guard let value = model.metadata[full]?.int ?? fallback else {
                throw AnalysisError.missingMetadata(key: full)
            }
            guard value > 0 else {
                throw AnalysisError.invalidMetadata(
                    key: full, reason: "must be positive, is \(value)")
            }
            return value
        }
        self.architecture = architecture
        let layerCount = try integer("block_count")
        embeddingLength = try integer("embedding_length")
        contextLength = try integer("context_length", default: 2048)
        let headCount = try integer("attention.head_count")
        let kvHeadCount = try integer("attention.head_count_kv", default: headCount)
        guard embeddingLength % headCount == 0 else {
            throw AnalysisError.invalidMetadata(
                key: "\(architecture).attention.head_count",
                reason: "\(headCount) heads do not divide width \(embeddingLength)")
        }
        let keyLength = try integer("attention.key_length", default: embeddingLength / headCount)
        let valueLength = try integer("attention.value_length", default: keyLength)
        vocabularySize = try Self.vocabularySize(model: model, architecture: architecture)
        fileType = Self.dominantType(model: model)
        tensorBytes = model.tensors.reduce(0) { $0 + $1.byteCount }

        // Per layer: its tensors' bytes, 2 flops per matrix weight, plus attention scores and
        // the weighted sum of values over the reference context (2 flops each per element).
        var layerBytes = [Int](repeating: 0, count: layerCount)
        var layerMatrixWeights = [Int](repeating: 0, count: layerCount)
        for tensor in model.tensors {
            guard let block = ShardCutter.blockIndex(of: tensor.name), block < layerCount else {
                continue
            }
            layerBytes[block] += tensor.byteCount
            if tensor.dimensions.count >= 2 { layerMatrixWeights[block] += tensor.elementCount }
        }
        let attentionFlops = 2 * headCount * (keyLength + valueLength) * Self.referenceContextTokens
        let kvBytes = kvHeadCount * (keyLength + valueLength) * Self.kvBytesPerElement
        let layers = (0..<layerCount).map { block in
            LayerCost(
                weightBytes: layerBytes[block],
                flopsPerToken: Double(2 * layerMatrixWeights[block] + attentionFlops),
                kvBytesPerToken: kvBytes)
        }

        let embeddingTensor = model.tensor(named: "token_embd.weight")
        let tableBytes = embeddingTensor?.byteCount ?? 0
        let projection = model.tensor(named: "output.weight")
        let head = projection ?? embeddingTensor
        let headBytes =
            (model.tensor(named: "output_norm.weight")?.byteCount ?? 0) + (head?.byteCount ?? 0)
        cost = ModelProfile(
            layers: layers,
            embedding: .tokenEmbedding(tableBytes: tableBytes, vocabularySize: vocabularySize),
            outputHead: StageExtra(
                weightBytes: headBytes, bytesReadPerToken: headBytes,
                flopsPerToken: Double(
                    2 * (head?.elementCount ?? vocabularySize * embeddingLength) + 4
                        * embeddingLength)),
            tiedEmbeddingBytes: projection == nil ? tableBytes : 0,
            activationBytesPerToken: embeddingLength * Self.activationBytesPerElement)
    }

    private static func vocabularySize(model: GGUFFile, architecture: String) throws -> Int {
        if let tokens = model.metadata["tokenizer.ggml.tokens"]?.array, !tokens.isEmpty {
            return tokens.count
        }
        if let size = model.metadata["\(architecture).vocab_size"]?.int, size > 0 { return size }
        if let embedding = model.tensor(named: "token_embd.weight"), embedding.dimensions.count == 2
        {
            return embedding.dimensions[1]
        }
        throw AnalysisError.missingMetadata(key: "tokenizer.ggml.tokens")
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
