import Foundation
import TesseraProto

#if !_endian(little)
    #error("activations are exchanged as little-endian bytes copied as is")
#endif

/// Hidden states on the wire: `Tensor{dtype, shape [tokens, width], data}` little-endian,
/// F32 (exact) or F16 (half the bytes, rounded).
enum TensorCoding {
    static func encode(_ values: [Float], rows: Int, width: Int, as encoding: ActivationEncoding)
        -> Tessera_V1_Tensor
    {
        var tensor = Tessera_V1_Tensor()
        tensor.shape = [UInt32(rows), UInt32(width)]
        if encoding == .f16 {
            tensor.dtype = .f16
            let halves = values.map { Float16($0).bitPattern.littleEndian }
            tensor.data = halves.withUnsafeBytes { Data($0) }
        } else {
            tensor.dtype = .f32
            // every supported host is little-endian
            tensor.data = values.withUnsafeBytes { Data($0) }
        }
        return tensor
    }

    /// The rows of `tensor` as floats; INVALID_ARGUMENT when its shape is not
    /// `[rows, width]` or its bytes do not match the shape.
    static func decode(_ tensor: Tessera_V1_Tensor, width: Int) throws -> (
        values: [Float], rows: Int
    ) {
        guard tensor.shape.count == 2, tensor.shape[0] > 0 else {
            throw WorkerError.invalidRequest(
                "hidden must have shape [tokens, width] with tokens > 0; got \(tensor.shape)")
        }
        let rows = Int(tensor.shape[0])
        guard Int(tensor.shape[1]) == width else {
            throw WorkerError.invalidRequest(
                "hidden width \(tensor.shape[1]) does not match this model's embedding width \(width)"
            )
        }
        let count = rows * width
        switch tensor.dtype {
        case .f32, .unspecified:
            try checkBytes(tensor, count: count, bytesPerValue: 4)
            let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                tensor.data.withUnsafeBytes { raw in
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw)
                }
                initialized = count
            }
            return (values, rows)
        case .f16:
            try checkBytes(tensor, count: count, bytesPerValue: 2)
            return (
                tensor.data.withUnsafeBytes { raw in
                    (0..<count).map {
                        Float(
                            Float16(
                                bitPattern: UInt16(
                                    littleEndian: raw.loadUnaligned(
                                        fromByteOffset: $0 * 2, as: UInt16.self))))
                    }
                }, rows
            )
        case .UNRECOGNIZED(let value):
            throw WorkerError.invalidRequest("hidden dtype \(value) is not F32 or F16")
        }
    }

    private static func checkBytes(_ tensor: Tessera_V1_Tensor, count: Int, bytesPerValue: Int)
        throws
    {
        guard tensor.data.count == count * bytesPerValue else {
            throw WorkerError.invalidRequest(
                "hidden has \(tensor.data.count) bytes; shape \(tensor.shape) in \(tensor.dtype) needs \(count * bytesPerValue)"
            )
        }
    }
}
