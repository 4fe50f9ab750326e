import GGUF

/// Errors from kernels fed with input they cannot handle.
public enum KernelError: Error, CustomStringConvertible, Equatable, Sendable {
    case unsupportedType(GGMLType, operation: String)
    case notWholeBlocks(GGMLType, elements: Int)
    case shapeMismatch(String)

    public var description: String {
        switch self {
        case .unsupportedType(let type, let operation):
            "tensor type \(type.name) is not supported for \(operation)"
        case .notWholeBlocks(let type, let elements):
            "\(elements) elements is not a whole number of \(type.name) blocks of \(type.blockSize)"
        case .shapeMismatch(let detail): "shape mismatch: \(detail)"
        }
    }
}

/// Converts rows between ggml block layouts and f32, for the types the engine runs.
public enum TensorRows {
    /// Types `dequantize` understands.
    public static let dequantizableTypes: Set<GGMLType> = [
        .f32, .f16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
    ]
    /// Types `quantize` can produce.
    public static let quantizableTypes: Set<GGMLType> = dequantizableTypes

    /// Decodes `count` values of `type` starting at `source` into `destination`.
    public static func dequantize(
        _ type: GGMLType, _ source: UnsafeRawPointer, count: Int,
        into destination: UnsafeMutablePointer<Float>
    ) throws {
        guard count >= 0, count % type.blockSize == 0 else {
            throw KernelError.notWholeBlocks(type, elements: count)
        }
        guard decode(type, source, count: count, into: destination) else {
            throw KernelError.unsupportedType(type, operation: "dequantization")
        }
    }

    /// Unchecked decode for callers that validated type and count; false for unsupported types.
    @inline(__always)
    static func decode(
        _ type: GGMLType, _ source: UnsafeRawPointer, count: Int,
        into destination: UnsafeMutablePointer<Float>
    ) -> Bool {
        switch type {
        case .f32:
            destination.update(from: source.assumingMemoryBound(to: Float.self), count: count)
        case .f16: HalfRows.dequantize(source, count: count, into: destination)
        case .q8_0: Q8_0Blocks.dequantize(source, count: count, into: destination)
        case .q4_0: Q4_0Blocks.dequantize(source, count: count, into: destination)
        case .q4_1: Q4_1Blocks.dequantize(source, count: count, into: destination)
        case .q5_0: Q5_0Blocks.dequantize(source, count: count, into: destination)
        case .q5_1: Q5_1Blocks.dequantize(source, count: count, into: destination)
        case .q2_K: Q2_KBlocks.dequantize(source, count: count, into: destination)
        case .q3_K: Q3_KBlocks.dequantize(source, count: count, into: destination)
        case .q4_K: Q4_KBlocks.dequantize(source, count: count, into: destination)
        case .q5_K: Q5_KBlocks.dequantize(source, count: count, into: destination)
        case .q6_K: Q6_KBlocks.dequantize(source, count: count, into: destination)
        default: return false
        }
        return true
    }

    /// Array convenience: checks that `bytes` holds exactly `count` values of `type`.
    public static func dequantize(_ type: GGMLType, bytes: [UInt8], count: Int) throws -> [Float] {
        let expected = try byteCount(type, count: count)
        guard bytes.count == expected else {
            throw KernelError.shapeMismatch(
                "\(bytes.count) bytes given, \(count) \(type.name) values need \(expected)")
        }
        var values = [Float](repeating: 0, count: count)
        try bytes.withUnsafeBytes { raw in
            try values.withUnsafeMutableBufferPointer { out in
                guard let base = raw.baseAddress, let outBase = out.baseAddress else { return }
                try dequantize(type, base, count: count, into: outBase)
            }
        }
        return values
    }

    /// Encodes `count` floats as `type`, bit-identical to ggml's reference quantizers
    /// (`ggml_quantize_chunk` without an importance matrix; K-quants: Shared/Kernels/Quantizers).
    public static func quantize(
        _ type: GGMLType, _ source: UnsafePointer<Float>, count: Int,
        into destination: UnsafeMutableRawPointer
    ) throws {
        guard count >= 0, count % type.blockSize == 0 else {
            throw KernelError.notWholeBlocks(type, elements: count)
        }
        switch type {
        case .f32: destination.copyMemory(from: source, byteCount: count * 4)
        case .f16: HalfRows.quantize(source, count: count, into: destination)
        case .q8_0: Q8_0Blocks.quantize(source, count: count, into: destination)
        case .q4_0: Q4_0Blocks.quantize(source, count: count, into: destination)
        case .q4_1: Q4_1Blocks.quantize(source, count: count, into: destination)
        case .q5_0: Q5_0Blocks.quantize(source, count: count, into: destination)
        case .q5_1: Q5_1Blocks.quantize(source, count: count, into: destination)
        case .q2_K: Q2_KBlocks.quantize(source, count: count, into: destination)
        case .q3_K: Q3_KBlocks.quantize(source, count: count, into: destination)
        case .q4_K: Q4_KBlocks.quantize(source, count: count, into: destination)
        case .q5_K: Q5_KBlocks.quantize(source, count: count, into: destination)
        case .q6_K: Q6_KBlocks.quantize(source, count: count, into: destination)
        default: throw KernelError.unsupportedType(type, operation: "quantization")
        }
    }

    /// The one entry point for making blocks: `floats` (a whole number of blocks) as `type`.
    public static func quantize(_ floats: [Float], as type: GGMLType) throws -> [UInt8] {
        try quantize(type, floats)
    }

    public static func quantize(_ type: GGMLType, _ values: [Float]) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: try byteCount(type, count: values.count))
        try values.withUnsafeBufferPointer { input in
            try bytes.withUnsafeMutableBytes { raw in
                guard let base = raw.baseAddress, let inBase = input.baseAddress else { return }
                try quantize(type, inBase, count: values.count, into: base)
            }
        }
        return bytes
    }

    static func byteCount(_ type: GGMLType, count: Int) throws -> Int {
        do { return try type.byteCount(elements: count) } catch {
            throw KernelError.notWholeBlocks(type, elements: count)
        }
    }
}
