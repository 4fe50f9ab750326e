import CKernels

/// Activations quantized to 8-bit blocks of 32, ready for integer dot products against
/// quantized weights (the same idea as ggml's Q8_0/Q8_1 activation blocks).
///
/// Layout per token and block: 32 `Int16` (16 even-indexed values, then 16 odd-indexed
/// values), a float scale and scale × (sum of the quantized values), which weight formats
/// with an offset (Q4_1's min, Q4_0's -8) need. Storing the values
/// already widened and split by parity lets the dot kernels multiply with plain 16-bit
/// lane-wise products, matching the lane order the weight unpacking produces.
// @unchecked: raw buffers filled once per matmul before the pool threads read them; the
// pool's dispatch orders the writes before the reads.
public final class Q8Activations: @unchecked Sendable {
    public static let blockSize = 32

    public let columns: Int
    public let capacity: Int
    public let blocksPerRow: Int
    public private(set) var tokenCount = 0
    let values: UnsafeMutablePointer<Int16>
    let scales: UnsafeMutablePointer<Float>
    let scaledSums: UnsafeMutablePointer<Float>
    /// The same quantized values as bytes in natural order, for the native kernels (CKernels).
    let bytes: UnsafeMutablePointer<Int8>

    /// `columns` must be a multiple of 32 (checked by the matrix multiplier).
    public init(columns: Int, capacity: Int) {
        self.columns = columns
        self.capacity = max(capacity, 1)
        blocksPerRow = columns / Self.blockSize
        values = .allocate(capacity: self.capacity * blocksPerRow * Self.blockSize)
        scales = .allocate(capacity: self.capacity * blocksPerRow)
        scaledSums = .allocate(capacity: self.capacity * blocksPerRow)
        bytes = .allocate(capacity: self.capacity * blocksPerRow * Self.blockSize)
    }

    deinit {
        values.deallocate()
        scales.deallocate()
        scaledSums.deallocate()
        bytes.deallocate()
    }

    /// Quantizes `tokens` rows of `columns` floats (row `t` starts at `input + t * columns`).
    public func quantize(_ input: UnsafePointer<Float>, tokens: Int) {
        quantize(input, tokens: tokens, native: IntegerDotKernels.nativeLevel > 0)
    }

    /// `native`: CKernels' vector loop (the same bits as the loop below, eight values at a
    /// time; under batched decode the loop below took a tenth of the step).
    func quantize(_ input: UnsafePointer<Float>, tokens: Int, native: Bool) {
        precondition(tokens <= capacity, "Q8Activations capacity \(capacity) exceeded")
        tokenCount = tokens
        let blocks = tokens * blocksPerRow  // rows are contiguous: block i at input + 32 i
        if native, tessera_quantize_q8(input, Int32(blocks), values, bytes, scales, scaledSums) == 1
        {
            // It leaves each block's full-precision scale and integer sum.
            for index in 0..<blocks {
                storeScale(scales[index], sum: scaledSums[index], index: index)
            }
            return
        }
        for token in 0..<tokens {
            for block in 0..<blocksPerRow {
                let index = token * blocksPerRow + block
                quantizeBlock(input + token * columns + block * Self.blockSize, index: index)
            }
        }
    }

    @inline(__always)
    private func quantizeBlock(_ source: UnsafePointer<Float>, index: Int) {
        let raw = UnsafeRawPointer(source)
        var magnitude = SIMD8<Float>()
        for part in 0..<4 {
            // |x| by clearing the sign bit; the generic pointwiseMax/abs do not vectorize well.
            let bits =
                raw.loadUnaligned(fromByteOffset: part * 32, as: SIMD8<UInt32>.self) & 0x7FFF_FFFF
            let chunk = unsafeBitCast(bits, to: SIMD8<Float>.self)
            magnitude.replace(with: chunk, where: chunk .> magnitude)
        }
        // Lane by lane: `SIMD8.max()` stays an out-of-line generic call (1.4% of a decode step).
        var largest = magnitude[0]
        for lane in 1..<8 { largest = Swift.max(largest, magnitude[lane]) }
        let scale = largest / 127
        let inverse: Float = scale > 0 ? 1 / scale : 0
        let out = values + index * Self.blockSize
        let natural = bytes + index * Self.blockSize
        var sum: Int32 = 0
        for pair in 0..<16 {
            let even = quantizeValue(source[2 * pair] * inverse)
            let odd = quantizeValue(source[2 * pair + 1] * inverse)
            out[pair] = even
            out[16 + pair] = odd
            natural[2 * pair] = Int8(truncatingIfNeeded: even)
            natural[2 * pair + 1] = Int8(truncatingIfNeeded: odd)
            sum += Int32(even) + Int32(odd)
        }
        storeScale(scale, sum: Float(sum), index: index)
    }

    /// Stored as llama.cpp's Q8_0/Q8_1 activation blocks store them: half precision (the
    /// values were quantized with the full-precision scale, as there).
    @inline(__always)
    private func storeScale(_ scale: Float, sum: Float, index: Int) {
        scales[index] = Float(Float16(scale))
        scaledSums[index] = Float(Float16(scale * sum))
    }

    @inline(__always)
    private func quantizeValue(_ scaled: Float) -> Int16 {
        // Non-finite activations become 0 rather than trapping; the result is then garbage, not a crash.
        guard scaled.isFinite else { return 0 }
        return Int16(min(max(scaled, -127), 127).rounded(.toNearestOrEven))
    }

    @inline(__always) func blockValues(token: Int, block: Int) -> UnsafeRawPointer {
        UnsafeRawPointer(values + (token * blocksPerRow + block) * Self.blockSize)
    }
}
