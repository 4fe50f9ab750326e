/// Dot products of quantized weight rows with Q8Activations, in integers per block and
/// floats across blocks. Generic over the weight format so each format gets its own
/// specialized loop.
enum IntegerDotKernels {
    /// Bytes of Q8Activations values per block (32 Int16).
    static let activationBlockBytes = 64

    /// out[token * outputStride + row] = row · activations[token], for `rows` and every token.
    static func multiply<Format: IntegerDotFormat>(
        _ format: Format.Type, weights: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>,
        activations: Q8Activations, output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        let tokens = activations.tokenCount
        for row in rows {
            let rowBase = weights + row * rowBytes
            var token = 0
            // Four tokens at a time reuse each unpacked weight block four times.
            while token + 4 <= tokens {
                let sums = dotRowFourTokens(format, row: rowBase, activations: activations, firstToken: token)
                for lane in 0..<4 { output[(token + lane) * outputStride + row] = sums[lane] }
                token += 4
            }
            while token < tokens {
                output[token * outputStride + row] = dotRow(format, row: rowBase, activations: activations, token: token)
                token += 1
            }
        }
    }

    @inline(__always)
    static func dotRow<Format: IntegerDotFormat>(
        _ format: Format.Type, row: UnsafeRawPointer, activations: Q8Activations, token: Int
    ) -> Float {
        let blocks = activations.blocksPerRow
        let scales = activations.scales + token * blocks
        let scaledSums = activations.scaledSums + token * blocks
        let values = activations.blockValues(token: token, block: 0)
        var accumulator = SIMD8<Float>()
        var offsetTotal: Float = 0
        for block in 0..<blocks {
            let weights = Format.unpack(row + block * Format.blockBytes)
            let partial = blockPartialSums(weights, values + block * activationBlockBytes)
            accumulator = accumulator.addingProduct(partial, weights.scale * scales[block])
            offsetTotal = offsetTotal.addingProduct(weights.offset, scaledSums[block])
        }
        return accumulator.sum() + offsetTotal
    }

    @inline(__always)
    static func dotRowFourTokens<Format: IntegerDotFormat>(
        _ format: Format.Type, row: UnsafeRawPointer, activations: Q8Activations, firstToken: Int
    ) -> SIMD4<Float> {
        let blocks = activations.blocksPerRow
        let scales = activations.scales + firstToken * blocks
        let scaledSums = activations.scaledSums + firstToken * blocks
        let values = activations.blockValues(token: firstToken, block: 0)
        let tokenStride = blocks * activationBlockBytes
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>(), acc2 = SIMD8<Float>(), acc3 = SIMD8<Float>()
        var offsets = SIMD4<Float>()
        for block in 0..<blocks {
            let weights = Format.unpack(row + block * Format.blockBytes)
            let base = values + block * activationBlockBytes
            let tokenScales = SIMD4<Float>(
                scales[block], scales[block + blocks], scales[block + 2 * blocks], scales[block + 3 * blocks])
            let tokenSums = SIMD4<Float>(
                scaledSums[block], scaledSums[block + blocks], scaledSums[block + 2 * blocks],
                scaledSums[block + 3 * blocks])
            let combined = tokenScales * weights.scale
            acc0 = acc0.addingProduct(blockPartialSums(weights, base), combined[0])
            acc1 = acc1.addingProduct(blockPartialSums(weights, base + tokenStride), combined[1])
            acc2 = acc2.addingProduct(blockPartialSums(weights, base + 2 * tokenStride), combined[2])
            acc3 = acc3.addingProduct(blockPartialSums(weights, base + 3 * tokenStride), combined[3])
            offsets = offsets.addingProduct(tokenSums, weights.offset)
        }
        return SIMD4(acc0.sum(), acc1.sum(), acc2.sum(), acc3.sum()) + offsets
    }
}
