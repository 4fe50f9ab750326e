/// ggml Q4_0: blocks of 32 values, `{ f16 d; uint8 nibbles[16] }` (18 bytes).
/// Byte j holds element j in its low nibble and element j+16 in its high nibble;
/// value = (nibble - 8) * d.
public enum Q4_0Blocks {
    public static let blockSize = 32
    public static let blockBytes = 18

    public static func dequantize(
        _ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        for block in 0..<(count / blockSize) {
            let base = source + block * blockBytes
            let scale = loadHalf(base, 0)
            let packed = base.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self)
            let low = SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: packed & 0x0F) &- 8) * scale
            let high = SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: packed &>> 4) &- 8) * scale
            let out = UnsafeMutableRawPointer(destination + block * blockSize)
            out.storeBytes(of: low, as: SIMD16<Float>.self)
            out.storeBytes(of: high, toByteOffset: 64, as: SIMD16<Float>.self)
        }
    }

    /// ggml's reference quantizer: d = (value with the largest magnitude) / -8,
    /// q = min(15, trunc(x / d + 8.5)).
    public static func quantize(
        _ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutableRawPointer
    ) {
        for block in 0..<(count / blockSize) {
            let input = source + block * blockSize
            let base = destination + block * blockBytes
            var absoluteMax: Float = 0
            var signedMax: Float = 0
            for index in 0..<blockSize where abs(input[index]) > absoluteMax {
                absoluteMax = abs(input[index])
                signedMax = input[index]
            }
            let scale = signedMax / -8
            let inverse: Float = scale != 0 ? 1 / scale : 0
            base.storeBytes(of: halfBitsFromFloat(scale), as: UInt16.self)
            for index in 0..<16 {
                let low = truncatedNibble(input[index] * inverse + 8.5)
                let high = truncatedNibble(input[index + 16] * inverse + 8.5)
                base.storeBytes(of: low | (high << 4), toByteOffset: 2 + index, as: UInt8.self)
            }
        }
    }
}
