/// ggml Q3_K: super-blocks of 256 values,
/// `{ uint8 hmask[32]; uint8 qs[64]; uint8 scales[12]; f16 d }` (110 bytes).
/// A value's low 2 bits are in `qs` (laid out as in Q2_K); its third bit is bit
/// (element / 32) of `hmask[element % 32]`, and a clear bit means minus 4. Sixteen sub-blocks
/// of 16 have 6-bit signed scales (stored + 32): the low nibbles in `scales[0..<8]` (sub-block
/// j < 8 in the low nibble of byte j, j ≥ 8 in the high nibble of byte j - 8), the top two
/// bits in `scales[8..<12]` (bits 2(j/4) of byte 8 + j%4). value = d * (scale - 32) * q, q in -4...3.
public enum Q3_KBlocks {
    public static let blockSize = 256
    public static let blockBytes = 110

    static let highMaskOffset = 0
    static let quantsOffset = 32
    static let scalesOffset = 96
    static let scaleOffset = 108

    /// The signed scale of sub-block `index` (0..<16), -32...31.
    @inline(__always)
    static func subScale(_ packed: UnsafeRawPointer, _ index: Int) -> Int32 {
        let lowByte = packed.load(fromByteOffset: index % 8, as: UInt8.self)
        let low = index < 8 ? lowByte & 0x0F : lowByte >> 4
        let highByte = packed.load(fromByteOffset: 8 + index % 4, as: UInt8.self)
        let high = (highByte >> UInt8(2 * (index / 4))) & 3
        return Int32(low | (high << 4)) - 32
    }

    /// The signed quant (-4...3) of `element` (0..<256).
    @inline(__always)
    static func quant(_ base: UnsafeRawPointer, _ element: Int) -> Int32 {
        let low = Int32(Q2_KBlocks.twoBitQuant(base + quantsOffset, element))
        let mask = base.load(fromByteOffset: highMaskOffset + element % 32, as: UInt8.self)
        let highBitSet = (mask >> UInt8(element / 32)) & 1 != 0
        return highBitSet ? low : low - 4
    }

    public static func dequantize(
        _ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        for block in 0..<(count / blockSize) {
            let base = source + block * blockBytes
            let superScale = loadHalf(base, scaleOffset)
            let out = destination + block * blockSize
            for sub in 0..<16 {
                // ggml: dl = d * (scale - 32) in float, then dl * q.
                let scale = superScale * Float(subScale(base + scalesOffset, sub))
                // Sub-block `sub` lies in one quarter (bit pair) of one half.
                let half = sub / 8
                let quarter = (sub % 8) / 2
                for index in 0..<16 {
                    let within = (sub % 2) * 16 + index
                    let low = base.load(
                        fromByteOffset: quantsOffset + half * 32 + within, as: UInt8.self)
                    let mask = base.load(fromByteOffset: highMaskOffset + within, as: UInt8.self)
                    let highBit = Int32((mask >> UInt8(half * 4 + quarter)) & 1)
                    let quant = Int32((low >> UInt8(2 * quarter)) & 3) - 4 + 4 * highBit
                    out[sub * 16 + index] = scale * Float(quant)
                }
            }
        }
    }
}
