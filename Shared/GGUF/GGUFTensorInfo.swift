/// Where one tensor lives in a GGUF file and what shape and type it has.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// ggml order: `dimensions[0]` (ne0) is the contiguous row length.
    public let dimensions: [Int]
    public let type: GGMLType
    /// Relative to the aligned start of the tensor-data section.
    public let offset: Int
    public let byteCount: Int

    public init(name: String, dimensions: [Int], type: GGMLType, offset: Int, byteCount: Int) {
        self.name = name
        self.dimensions = dimensions
        self.type = type
        self.offset = offset
        self.byteCount = byteCount
    }

    public var elementCount: Int { dimensions.reduce(1, *) }
}
