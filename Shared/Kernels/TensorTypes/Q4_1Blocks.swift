/// ggml Q4_1: blocks of 32 values, `{ f16 d; f16 m; uint8 nibbles[16] }` (20 bytes).
/// Byte j holds element j (low nibble) and element j+16 (high nibble); value = nibble * d + m.
public enum Q4_1Blocks {
    public static let blockSize = 32
    public static let blockBytes = 20

    public static func dequantize(
        _ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        for block in 0..<(count / blockSize) {
            let base = source + block * blockBytes
            let scale = loadHalf(base, 0)
            let minimum = loadHalf(base, 2)
            let packed = base.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
            let low =
                SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: packed & 0x0F)) * scale + minimum
            let high =
                SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: packed &>> 4)) * scale + minimum
            let out = UnsafeMutableRawPointer(destination + block * blockSize)
            out.storeBytes(of: low, as: SIMD16<Float>.self)
            out.storeBytes(of: high, toByteOffset: 64, as: SIMD16<Float>.self)
        }
    }

    /// ggml's reference quantizer: d = (max - min) / 15, m = min, q = min(15, trunc((x - min) / d + 0.5)).
    public static func quantize(
        _ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutableRawPointer
    ) {
        for block in 0..<(count / blockSize) {
            let input = source + block * blockSize
            let base = destination + block * blockBytes
            var minimum = Float.greatestFiniteMagnitude
            var maximum = -Float.greatestFiniteMagnitude
            for index in 0..<blockSize {
                minimum = min(minimum, input[index])
                maximum = max(maximum, input[index])
            }
            let scale = (maximum - minimum) / 15
            let inverse: Float = scale != 0 ? 1 / scale : 0
            base.storeBytes(of: halfBitsFromFloat(scale), as: UInt16.self)
            base.storeBytes(of: halfBitsFromFloat(minimum), toByteOffset: 2, as: UInt16.self)
            for index in 0..<16 {
                let low = truncatedNibble((input[index] - minimum) * inverse + 0.5)
                let high = truncatedNibble((input[index + 16] - minimum) * inverse + 0.5)
                base.storeBytes(of: low | (high << 4), toByteOffset: 4 + index, as: UInt8.self)
            }
        }
    }
}
