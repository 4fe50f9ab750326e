/// ggml Q8_0: blocks of 32 values, `{ f16 d; int8 q[32] }` (34 bytes), value = q * d.
public enum Q8_0Blocks {
    public static let blockSize = 32
    public static let blockBytes = 34

    public static func dequantize(
        _ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        for block in 0..<(count / blockSize) {
            let base = source + block * blockBytes
            let scale = loadHalf(base, 0)
            let out = destination + block * blockSize
            for half in 0..<2 {
                let quants = base.loadUnaligned(
                    fromByteOffset: 2 + half * 16, as: SIMD16<Int8>.self)
                let values = SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: quants)) * scale
                UnsafeMutableRawPointer(out + half * 16).storeBytes(
                    of: values, as: SIMD16<Float>.self)
            }
        }
    }

    /// Matches ggml's reference quantizer bit for bit: d = max|x| / 127, q = roundf(x / d).
    public static func quantize(
        _ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutableRawPointer
    ) {
        for block in 0..<(count / blockSize) {
            let input = source + block * blockSize
            let base = destination + block * blockBytes
            var absoluteMax: Float = 0
            for index in 0..<blockSize { absoluteMax = max(absoluteMax, abs(input[index])) }
            let scale = absoluteMax / 127
            let inverse: Float = scale != 0 ? 1 / scale : 0
            base.storeBytes(of: halfBitsFromFloat(scale), as: UInt16.self)
            for index in 0..<blockSize {
                let quant = roundedInt8(input[index] * inverse)
                base.storeBytes(of: quant, toByteOffset: 2 + index, as: Int8.self)
            }
        }
    }
}
