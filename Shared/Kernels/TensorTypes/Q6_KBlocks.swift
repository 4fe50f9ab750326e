/// ggml Q6_K: super-blocks of 256 values, `{ uint8 ql[128]; uint8 qh[64]; int8 scales[16]; f16 d }`
/// (210 bytes). Each value has 4 low bits in `ql` and 2 high bits in `qh`, minus 32, and one
/// int8 scale per 16 values: value = d * scale * (q - 32).
public enum Q6_KBlocks {
    public static let blockSize = 256
    public static let blockBytes = 210

    static let scalesOffset = 192
    static let scaleOffset = 208

    /// The signed quant (-32...31) of `element` (0..<256): per half of 128, quarter k of 32
    /// takes its low 4 bits from `ql[half * 64 + (k % 2) * 32 + l]` (low nibble for k < 2)
    /// and its high 2 bits from bits 2k of `qh[half * 32 + l]`.
    @inline(__always)
    static func quant(_ base: UnsafeRawPointer, _ element: Int) -> Int32 {
        let half = element / 128
        let quarter = (element % 128) / 32
        let within = element % 32
        let low = base.load(
            fromByteOffset: half * 64 + (quarter % 2) * 32 + within, as: UInt8.self)
        let nibble = quarter < 2 ? low & 0x0F : low >> 4
        let high = base.load(fromByteOffset: 128 + half * 32 + within, as: UInt8.self)
        return Int32(nibble | (((high >> UInt8(2 * quarter)) & 3) << 4)) - 32
    }

    public static func dequantize(
        _ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        for block in 0..<(count / blockSize) {
            let base = source + block * blockBytes
            let superScale = loadHalf(base, 208)
            // Two halves of 128 values; each uses 64 bytes of ql, 32 of qh and 8 scales.
            for half in 0..<2 {
                let low = base + half * 64
                let high = base + 128 + half * 32
                let scales = base + 192 + half * 8
                let out = destination + block * blockSize + half * 128
                for index in 0..<32 {
                    let lowA = low.load(fromByteOffset: index, as: UInt8.self)
                    let lowB = low.load(fromByteOffset: index + 32, as: UInt8.self)
                    let highBits = high.load(fromByteOffset: index, as: UInt8.self)
                    let quants =
                        SIMD4<Int32>(
                            Int32((lowA & 0x0F) | ((highBits & 3) << 4)),
                            Int32((lowB & 0x0F) | (((highBits >> 2) & 3) << 4)),
                            Int32((lowA >> 4) | (((highBits >> 4) & 3) << 4)),
                            Int32((lowB >> 4) | (((highBits >> 6) & 3) << 4))) &- 32
                    for quarter in 0..<4 {
                        let scale = Float(
                            scales.load(fromByteOffset: index / 16 + quarter * 2, as: Int8.self))
                        out[quarter * 32 + index] = (superScale * scale) * Float(quants[quarter])
                    }
                }
            }
        }
    }
}
