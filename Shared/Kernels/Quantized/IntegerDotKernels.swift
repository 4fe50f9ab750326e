/// Dot products of quantized weight rows with Q8Activations, in integers per block and
/// floats across blocks. Generic over the weight format so each format gets its own
/// specialized loop. Used for decode-sized batches, where every weight byte is read once
/// per token and the cost is streaming the weights.
enum IntegerDotKernels {
    /// Bytes of Q8Activations values per block (32 Int16).
    static let activationBlockBytes = 64

    /// out[token * outputStride + row] = row · activations[token], for `rows` and every token.
    static func multiply<Format: IntegerDotFormat>(
        _ format: Format.Type, weights: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>,
        activations: Q8Activations, output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        for row in rows {
            let rowBase = weights + row * rowBytes
            for token in 0..<activations.tokenCount {
                output[token * outputStride + row] = dotRow(format, row: rowBase, activations: activations, token: token)
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
        // Two independent accumulator chains: one chain would wait on the FMA latency every block.
        var accumulators = (SIMD8<Float>(), SIMD8<Float>())
        var offsets = SIMD2<Float>()
        var block = 0
        while block + 2 <= blocks {
            let first = Format.unpack(row + block &* Format.blockBytes)
            let second = Format.unpack(row + (block &+ 1) &* Format.blockBytes)
            let partialFirst = blockPartialSums(format, first, values + block &* activationBlockBytes)
            let partialSecond = blockPartialSums(format, second, values + (block &+ 1) &* activationBlockBytes)
            accumulators.0 = accumulators.0.addingProduct(partialFirst, first.scale * scales[block])
            accumulators.1 = accumulators.1.addingProduct(partialSecond, second.scale * scales[block &+ 1])
            offsets = offsets.addingProduct(
                SIMD2(first.offset, second.offset), SIMD2(scaledSums[block], scaledSums[block &+ 1]))
            block &+= 2
        }
        if block < blocks {
            let last = Format.unpack(row + block &* Format.blockBytes)
            let partial = blockPartialSums(format, last, values + block &* activationBlockBytes)
            accumulators.0 = accumulators.0.addingProduct(partial, last.scale * scales[block])
            offsets[0] = offsets[0].addingProduct(last.offset, scaledSums[block])
        }
        return (accumulators.0 + accumulators.1).sum() + offsets.sum()
    }
}
