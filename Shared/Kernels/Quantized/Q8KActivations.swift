/// Activations quantized as ggml's Q8_K blocks (quantize_row_q8_K_ref), for the K-quant
/// kernels: per token and super-block of 256 values, int8 values in -127...127 with a float
/// scale d = max / -127 (`max` the value of largest magnitude, with its sign), and the sum of
/// each 16 values (`blockSums`), which the weight mins need. This is the activation format
/// llama.cpp pairs with Q2_K...Q6_K weights.
// @unchecked: raw buffers filled once per matmul before the pool threads read them; the
// pool's dispatch orders the writes before the reads.
public final class Q8KActivations: @unchecked Sendable {
    public static let blockSize = 256

    public let columns: Int
    public let capacity: Int
    public let blocksPerRow: Int
    public private(set) var tokenCount = 0
    /// tokens × columns values, natural order.
    let values: UnsafeMutablePointer<Int8>
    /// tokens × blocksPerRow scales.
    let scales: UnsafeMutablePointer<Float>
    /// tokens × (columns / 16) sums of 16 consecutive values.
    let blockSums: UnsafeMutablePointer<Int16>

    /// `columns` must be a multiple of 256 (K-quant rows always are).
    public init(columns: Int, capacity: Int) {
        self.columns = columns
        self.capacity = max(capacity, 1)
        blocksPerRow = columns / Self.blockSize
        values = .allocate(capacity: self.capacity * columns)
        scales = .allocate(capacity: self.capacity * blocksPerRow)
        blockSums = .allocate(capacity: self.capacity * columns / 16)
    }

    deinit {
        values.deallocate()
        scales.deallocate()
        blockSums.deallocate()
    }

    /// Quantizes `tokens` rows of `columns` floats (row `t` starts at `input + t * columns`).
    public func quantize(_ input: UnsafePointer<Float>, tokens: Int) {
        precondition(tokens <= capacity, "Q8KActivations capacity \(capacity) exceeded")
        tokenCount = tokens
        for token in 0..<tokens {
            for block in 0..<blocksPerRow {
                let offset = token * columns + block * Self.blockSize
                quantizeBlock(
                    input + offset, values: values + offset,
                    sums: blockSums + offset / 16, scale: scales + token * blocksPerRow + block)
            }
        }
    }

    @inline(__always)
    private func quantizeBlock(
        _ x: UnsafePointer<Float>, values: UnsafeMutablePointer<Int8>,
        sums: UnsafeMutablePointer<Int16>, scale: UnsafeMutablePointer<Float>
    ) {
        let (maximum, magnitude) = KQuantSearch.signedMaximum(x, count: Self.blockSize)
        // Non-finite activations give a zero block rather than garbage (ggml has no such case).
        guard magnitude > 0, magnitude.isFinite else {
            scale.pointee = 0
            values.update(repeating: 0, count: Self.blockSize)
            sums.update(repeating: 0, count: Self.blockSize / 16)
            return
        }
        let inverse: Float = -127 / maximum
        for index in 0..<Self.blockSize {
            let scaled = inverse * x[index]
            // NaN among finite values: 0, as Q8Activations does.
            let level = scaled.isNaN ? 0 : min(127, KQuantSearch.nearestInt(scaled))
            values[index] = Int8(truncatingIfNeeded: level)
        }
        for group in 0..<(Self.blockSize / 16) {
            var sum: Int32 = 0
            for index in 0..<16 { sum += Int32(values[group * 16 + index]) }
            sums[group] = Int16(truncatingIfNeeded: sum)
        }
        scale.pointee = 1 / inverse
    }
}
