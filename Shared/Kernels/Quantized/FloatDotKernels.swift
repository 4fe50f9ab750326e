import GGUF

/// Fallback for weight formats without an integer path (F32, F16): each row is
/// dequantized into a small scratch buffer (never the whole matrix) and dotted in floats.
enum FloatDotKernels {
    static func multiply(
        type: GGMLType, weights: UnsafeRawPointer, rowBytes: Int, columns: Int, rows: Range<Int>,
        input: UnsafePointer<Float>, tokens: Int, output: UnsafeMutablePointer<Float>,
        outputStride: Int
    ) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: columns) { scratch in
            let rowValues = scratch.baseAddress!
            for row in rows {
                let rowBase = weights + row * rowBytes
                if type == .f32 {
                    for token in 0..<tokens {
                        output[token * outputStride + row] = dot(
                            rowBase.assumingMemoryBound(to: Float.self), input + token * columns,
                            count: columns)
                    }
                    continue
                }
                // WeightMatrix accepted only dequantizable types, so this cannot fail.
                _ = TensorRows.decode(type, rowBase, count: columns, into: rowValues)
                for token in 0..<tokens {
                    output[token * outputStride + row] = dot(
                        rowValues, input + token * columns, count: columns)
                }
            }
        }
    }

    /// Float dot product with four independent SIMD8 accumulators.
    @inline(__always)
    static func dot(_ left: UnsafePointer<Float>, _ right: UnsafePointer<Float>, count: Int)
        -> Float
    {
        let leftRaw = UnsafeRawPointer(left)
        let rightRaw = UnsafeRawPointer(right)
        var acc0 = SIMD8<Float>()
        var acc1 = SIMD8<Float>()
        var acc2 = SIMD8<Float>()
        var acc3 = SIMD8<Float>()
        var index = 0
        while index + 32 <= count {
            let offset = index * 4
            acc0 = acc0.addingProduct(
                leftRaw.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self),
                rightRaw.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self))
            acc1 = acc1.addingProduct(
                leftRaw.loadUnaligned(fromByteOffset: offset + 32, as: SIMD8<Float>.self),
                rightRaw.loadUnaligned(fromByteOffset: offset + 32, as: SIMD8<Float>.self))
            acc2 = acc2.addingProduct(
                leftRaw.loadUnaligned(fromByteOffset: offset + 64, as: SIMD8<Float>.self),
                rightRaw.loadUnaligned(fromByteOffset: offset + 64, as: SIMD8<Float>.self))
            acc3 = acc3.addingProduct(
                leftRaw.loadUnaligned(fromByteOffset: offset + 96, as: SIMD8<Float>.self),
                rightRaw.loadUnaligned(fromByteOffset: offset + 96, as: SIMD8<Float>.self))
            index += 32
        }
        var total = ((acc0 + acc1) + (acc2 + acc3)).sum()
        while index < count {
            total = total.addingProduct(left[index], right[index])
            index += 1
        }
        return total
    }
}
