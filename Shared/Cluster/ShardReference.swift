/// A shard: a GGUF file holding one layer range of one model (with the embedding when it
/// starts at layer 0, the output head when it ends the model), named by its bytes' SHA-256.
public struct ShardReference: Sendable, Hashable {
    public var sha256: String
    public var model: ModelReference?
    /// nil when the sender did not say (a whole-model file: the worker reads the range from it).
    public var layers: Range<Int>?
    public var sizeBytes: UInt64
    public var hasEmbedding: Bool
    public var hasOutput: Bool

    public init(
        sha256: String, model: ModelReference? = nil, layers: Range<Int>? = nil,
        sizeBytes: UInt64 = 0,
        hasEmbedding: Bool = false, hasOutput: Bool = false
    ) {
        self.sha256 = sha256
        self.model = model
        self.layers = layers
        self.sizeBytes = sizeBytes
        self.hasEmbedding = hasEmbedding
        self.hasOutput = hasOutput
    }

    /// A shard hash as every service expects it: 64 lowercase hexadecimal digits.
    public static func isValidHash(_ text: String) -> Bool {
        text.utf8.count == 64
            && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}

extension Range where Bound == Int {
    /// `[first, last)` as logs and error messages print a layer range.
    public var layerSpan: String { "[\(lowerBound), \(upperBound))" }
}
