import GGUF

/// A read-only view of a 2-D weight tensor in its ggml block layout: `rows` rows of
/// `columns` values, each row stored contiguously (ggml's ne0 = columns, ne1 = rows).
/// The bytes are not copied; the owner (usually an mmapped GGUFFile) must outlive the view.
// @unchecked: a read-only raw pointer into weights that never change while the owner lives.
public struct WeightMatrix: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let columns: Int
    public let rowBytes: Int
    let base: UnsafeRawPointer
    /// The rows repacked for the AVX-512 VNNI kernels, made on first multiplication.
    private let packing = PackedRowsSlot()

    /// Types the multiplier can run, with or without the integer path.
    public static let supportedTypes: Set<GGMLType> = TensorRows.dequantizableTypes

    public init(type: GGMLType, rows: Int, columns: Int, bytes: UnsafeRawBufferPointer) throws {
        guard Self.supportedTypes.contains(type) else {
            throw KernelError.unsupportedType(type, operation: "matrix multiplication")
        }
        guard rows > 0, columns > 0, columns % type.blockSize == 0 else {
            throw KernelError.shapeMismatch("\(rows)x\(columns) is not a valid \(type.name) matrix")
        }
        let rowBytes = try TensorRows.byteCount(type, count: columns)
        guard bytes.count >= rows * rowBytes, let base = bytes.baseAddress else {
            throw KernelError.shapeMismatch(
                "\(type.name) \(rows)x\(columns) needs \(rows * rowBytes) bytes, got \(bytes.count)"
            )
        }
        self.type = type
        self.rows = rows
        self.columns = columns
        self.rowBytes = rowBytes
        self.base = base
    }

    /// Whether rows are dotted in integers against 8-bit activations.
    var usesIntegerPath: Bool { IntegerDotKernels.supports(type) }

    /// The packed copy of the rows when the packed kernels run for this type here, else nil.
    var packedRows: PackedRows? { packing.rows(of: self) }

    /// Whether rows are dotted in integers against Q8_K activations (the K-quants).
    var usesSuperBlockPath: Bool { KQuantDotKernels.supports(type) }

    /// Dequantizes one row into `destination` (columns floats), e.g. for an embedding lookup.
    public func decodeRow(_ row: Int, into destination: UnsafeMutablePointer<Float>) throws {
        guard row >= 0, row < rows else {
            throw KernelError.shapeMismatch("row \(row) out of range 0..<\(rows)")
        }
        try TensorRows.dequantize(type, base + row * rowBytes, count: columns, into: destination)
    }
}
