import GGUF

/// The numbers a model manifest carries, computed from a GGUF header (no tensor is read):
/// shape, dominant quantization, and per-layer costs for placement.
///
/// Named `ModelCostProfile` (not `ModelProfile`) so that code importing both ModelStore
/// and Placement, whose optimizer input is `Placement.ModelProfile`, stays unambiguous.
public struct ModelCostProfile: Sendable, Equatable, Codable {
    /// Per-token cost of one piece of the model.
    public struct Cost: Sendable, Equatable, Codable {
        /// Bytes of the piece's tensors as stored (what hosting it costs in memory).
        public var weightBytes: Int
        /// Floating-point operations per token (2 per multiply-add).
        public var flopsPerToken: Int
        /// KV-cache bytes per token of context (K and V, f16 cache).
        public var kvBytesPerToken: Int

        public init(weightBytes: Int, flopsPerToken: Int, kvBytesPerToken: Int) {
            self.weightBytes = weightBytes
            self.flopsPerToken = flopsPerToken
            self.kvBytesPerToken = kvBytesPerToken
        }
    }

    public enum ProfileError: Error, CustomStringConvertible, Equatable, Sendable {
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
    public var layerCount: Int
    public var embeddingLength: Int
    public var contextLength: Int
    public var vocabularySize: Int
    /// The tensor type holding most of the matrix parameters, e.g. "Q4_1".
    public var fileType: String
    public var layers: [Cost]
    /// The token embedding (travels with the first range).
    public var embedding: Cost
    /// Final norm + output projection (with the last range); for a tied output the
    /// projection is the token embedding, counted here again because the last range holds a copy.
    public var output: Cost
    public var tiedOutput: Bool
    public var activationBytesPerToken: Int
    /// Bytes of all tensors in the file (without alignment padding).
    public var tensorBytes: Int

    public init(model: GGUFFile) throws {
        let architecture = model.metadata["general.architecture"]?.string ?? "llama"
        func integer(_ key: String, default fallback: Int? = nil) throws -> Int {
            let full = "\(architecture).\(key)"
            guard let value = model.metadata[full]?.int ?? fallback else { throw ProfileError.missingMetadata(key: full) }
            guard value > 0 else { throw ProfileError.invalidMetadata(key: full, reason: "must be positive, is \(value)") }
            return value
        }
        self.architecture = architecture
        layerCount = try integer("block_count")
        embeddingLength = try integer("embedding_length")
        contextLength = try integer("context_length", default: 2048)
        let headCount = try integer("attention.head_count")
        let kvHeadCount = try integer("attention.head_count_kv", default: headCount)
        guard embeddingLength % headCount == 0 else {
            throw ProfileError.invalidMetadata(
                key: "\(architecture).attention.head_count", reason: "\(headCount) heads do not divide width \(embeddingLength)")
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
            guard let block = ShardCutter.blockIndex(of: tensor.name), block < layerCount else { continue }
            layerBytes[block] += tensor.byteCount
            if tensor.dimensions.count >= 2 { layerMatrixWeights[block] += tensor.elementCount }
        }
        let attentionFlops = 2 * headCount * (keyLength + valueLength) * Self.referenceContextTokens
        let kvBytes = kvHeadCount * (keyLength + valueLength) * Self.kvBytesPerElement
        layers = (0..<layerCount).map { block in
            Cost(
                weightBytes: layerBytes[block], flopsPerToken: 2 * layerMatrixWeights[block] + attentionFlops,
                kvBytesPerToken: kvBytes)
        }

        // The embedding is a row lookup: no arithmetic.
        let embeddingTensor = model.tensor(named: "token_embd.weight")
        embedding = Cost(weightBytes: embeddingTensor?.byteCount ?? 0, flopsPerToken: 0, kvBytesPerToken: 0)
        let projection = model.tensor(named: "output.weight")
        tiedOutput = projection == nil
        let head = projection ?? embeddingTensor
        let normBytes = model.tensor(named: "output_norm.weight")?.byteCount ?? 0
        output = Cost(
            weightBytes: normBytes + (head?.byteCount ?? 0),
            flopsPerToken: 2 * (head?.elementCount ?? vocabularySize * embeddingLength) + 4 * embeddingLength,
            kvBytesPerToken: 0)
        activationBytesPerToken = embeddingLength * Self.activationBytesPerElement
    }

    private static func vocabularySize(model: GGUFFile, architecture: String) throws -> Int {
        if let tokens = model.metadata["tokenizer.ggml.tokens"]?.array, !tokens.isEmpty { return tokens.count }
        if let size = model.metadata["\(architecture).vocab_size"]?.int, size > 0 { return size }
        if let embedding = model.tensor(named: "token_embd.weight"), embedding.dimensions.count == 2 {
            return embedding.dimensions[1]
        }
        throw ProfileError.missingMetadata(key: "tokenizer.ggml.tokens")
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
