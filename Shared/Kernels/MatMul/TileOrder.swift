import GGUF

/// The element order the float GEMM uses inside each block of 32: indices ≡ 0, 2, 1, 3 (mod 4),
/// i.e. [0,4,…,28], [2,6,…,30], [1,5,…,29], [3,7,…,31]. It is the order in which the integer
/// unpacking of Q4_0/Q4_1/Q8_0 blocks naturally yields values, so decoding needs no shuffles;
/// the activations are permuted the same way once per product (a dot product does not care
/// about the order of its terms).
enum TileOrder {
    static let blockSize = 32

    /// Copies `count` floats (a multiple of 32) into tile order.
    static func permute(
        _ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        var base = 0
        while base < count {
            for index in 0..<blockSize {
                let group = (index & 1) * 2 + (index & 2) / 2  // 0→0, 1→2, 2→1, 3→3
                destination[base + group * 8 + index / 4] = source[base + index]
            }
            base += blockSize
        }
    }

    /// Decodes a weight row into tile order; fast paths for the integer formats.
    static func decodeRow(
        _ type: GGMLType, _ row: UnsafeRawPointer, columns: Int,
        into destination: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>
    ) {
        if IntegerDotKernels.decodeRowInTileOrder(type, row, columns: columns, into: destination) {
            return
        }
        _ = TensorRows.decode(type, row, count: columns, into: scratch)
        permute(scratch, count: columns, into: destination)
    }
}
