/// A change applied to one layer weight (as floats, row-major: `rows` output rows of
/// `columns` inputs each) before it is quantized into a variant: pruning, for example.
/// `name` is the tensor's GGUF name (`blk.3.ffn_down.weight`).
public typealias TensorTransform =
    @Sendable (_ name: String, _ values: inout [Float], _ rows: Int, _ columns: Int) throws -> Void
