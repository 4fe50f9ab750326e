/// ggml Q5_1: blocks of 32 values, `{ f16 d; f16 m; uint8 qh[4]; uint8 nibbles[16] }`
/// (24 bytes), quants packed as in Q5_0; value = q * d + m.
public enum Q5_1Blocks {
    public static let blockSize = 32
    public static let blockBytes = 24

    public static func dequantize(
        _ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        for block in 0..<(count / blockSize) {
            let base = source + block * blockBytes
            let scale = loadHalf(base, 0)
            let minimum = loadHalf(base, 2)
            let highBits = base.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
            let out = destination + block * blockSize
            // Same operation order as ggml: q * d + m, no fused multiply-add.
            for index in 0..<16 {
                // As Q5_0Blocks.quantPair, written here so that it inlines (see IntegerDotKernels).
                let byte = Int32(base.load(fromByteOffset: 8 + index, as: UInt8.self))
                let fifthLow = Int32(truncatingIfNeeded: (highBits >> UInt32(index)) & 1) << 4
                let fifthHigh = Int32(truncatingIfNeeded: (highBits >> UInt32(index + 16)) & 1) << 4
                out[index] = Float((byte & 0x0F) | fifthLow) * scale + minimum
                out[index + 16] = Float((byte >> 4) | fifthHigh) * scale + minimum
            }
        }
    }

    /// ggml's reference quantizer: d = (max - min) / 31, m = min,
    /// q = trunc((x - min) / d + 0.5) (never above 31 for finite input).
    public static func quantize(
        _ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutableRawPointer
    ) {
        for block in 0..<(count / blockSize) {
            let input = source + block * blockSize
            let base = destination + block * blockBytes
            var minimum = Float.greatestFiniteMagnitude
            var maximum = -Float.greatestFiniteMagnitude
            for index in 0..<blockSize {
                if input[index] < minimum { minimum = input[index] }
                if input[index] > maximum { maximum = input[index] }
            }
            let scale = (maximum - minimum) / 31
            let inverse: Float = scale != 0 ? 1 / scale : 0
            base.storeBytes(of: halfBitsFromFloat(scale), as: UInt16.self)
            base.storeBytes(of: halfBitsFromFloat(minimum), toByteOffset: 2, as: UInt16.self)
            var quants = [UInt8](repeating: 0, count: 32)
            for index in 0..<32 {
                // ggml casts to uint8_t and keeps 5 bits; clamping to 31 only differs for NaN/inf.
                quants[index] = truncatedNibble(
                    (input[index] - minimum) * inverse + 0.5, upperBound: 31)
            }
            storeFiveBitQuants(quants, highBitsAt: base + 4, nibblesAt: base + 8)
        }
    }
}
