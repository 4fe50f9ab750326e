/// ggml Q2_K: super-blocks of 256 values, `{ uint8 scales[16]; uint8 qs[64]; f16 d; f16 dmin }`
/// (84 bytes). Sixteen sub-blocks of 16 each have a 4-bit scale (low nibble of `scales[i]`)
/// and a 4-bit min (high nibble): value = d * scale * q - dmin * min, q in 0...3.
/// Each half of 128 values uses 32 bytes of `qs`: byte l holds, in bit pairs 0-1, 2-3, 4-5,
/// 6-7, elements l, l+32, l+64 and l+96 of the half.
public enum Q2_KBlocks {
    public static let blockSize = 256
    public static let blockBytes = 84

    /// Offsets of the fields inside a block.
    static let scalesOffset = 0
    static let quantsOffset = 16
    static let scaleOffset = 80
    static let minOffset = 82

    public static func dequantize(
        _ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        for block in 0..<(count / blockSize) {
            let base = source + block * blockBytes
            let superScale = loadHalf(base, scaleOffset)
            let superMin = loadHalf(base, minOffset)
            let out = destination + block * blockSize
            for sub in 0..<16 {
                let packed = base.load(fromByteOffset: scalesOffset + sub, as: UInt8.self)
                // Same operation order as ggml / gguf-py: (d * sc) * q - (dmin * m).
                let scale = superScale * Float(packed & 0x0F)
                let minimum = superMin * Float(packed >> 4)
                for index in 0..<16 {
                    let element = sub * 16 + index
                    let quant = twoBitQuant(base + quantsOffset, element)
                    out[element] = scale * Float(quant) - minimum
                }
            }
        }
    }

    /// The 2-bit quant of `element` (0..<256) in the Q2_K / Q3_K low-bit layout.
    @inline(__always)
    static func twoBitQuant(_ quants: UnsafeRawPointer, _ element: Int) -> UInt8 {
        let half = element / 128
        let within = element % 128
        let byte = quants.load(fromByteOffset: half * 32 + within % 32, as: UInt8.self)
        return (byte >> UInt8(2 * (within / 32))) & 3
    }
}
