/// ggml Q5_K: super-blocks of 256 values,
/// `{ f16 d; f16 dmin; uint8 scales[12]; uint8 qh[32]; uint8 nibbles[128] }` (176 bytes).
/// Scales, mins and nibbles are laid out as in Q4_K; the fifth bit of element e is bit
/// (e / 32) of `qh[e % 32]`. value = d * scale * q - dmin * min, q in 0...31.
public enum Q5_KBlocks {
    public static let blockSize = 256
    public static let blockBytes = 176

    static let scalesOffset = 4
    static let highBitsOffset = 16
    static let nibblesOffset = 48

    /// The 5-bit quant of `element` (0..<256).
    @inline(__always)
    static func quant(_ base: UnsafeRawPointer, _ element: Int) -> Int32 {
        let pair = element / 64
        let within = element % 32
        let byte = base.load(fromByteOffset: nibblesOffset + pair * 32 + within, as: UInt8.self)
        let nibble = (element / 32) % 2 == 0 ? byte & 0x0F : byte >> 4
        let high = base.load(fromByteOffset: highBitsOffset + within, as: UInt8.self)
        let fifth = (high >> UInt8(element / 32)) & 1
        return Int32(nibble | (fifth << 4))
    }

    public static func dequantize(
        _ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        for block in 0..<(count / blockSize) {
            let base = source + block * blockBytes
            let superScale = loadHalf(base, 0)
            let superMin = loadHalf(base, 2)
            let out = destination + block * blockSize
            for sub in 0..<8 {
                let (scaleBits, minBits) = Q4_KBlocks.scaleAndMin(base + scalesOffset, sub)
                // Same operation order as ggml / gguf-py: (d * sc) * q - (dmin * m).
                let scale = superScale * Float(scaleBits)
                let minimum = superMin * Float(minBits)
                for index in 0..<32 {
                    let element = sub * 32 + index
                    out[element] = scale * Float(quant(base, element)) - minimum
                }
            }
        }
    }
}
