/// ggml Q4_K: super-blocks of 256 values, `{ f16 d; f16 dmin; uint8 scales[12]; uint8 nibbles[128] }`
/// (144 bytes). Eight sub-blocks of 32 each have a 6-bit scale and a 6-bit min packed into
/// `scales`; value = d * scale * nibble - dmin * min. Each 32 bytes of nibbles hold two
/// consecutive sub-blocks: low nibbles the first, high nibbles the second.
public enum Q4_KBlocks {
    public static let blockSize = 256
    public static let blockBytes = 144

    /// Unpacks the 6-bit scale and min of sub-block `index` (0..<8).
    @inline(__always)
    static func scaleAndMin(_ packed: UnsafeRawPointer, _ index: Int) -> (scale: UInt8, min: UInt8)
    {
        @inline(__always) func byte(_ offset: Int) -> UInt8 {
            packed.load(fromByteOffset: offset, as: UInt8.self)
        }
        if index < 4 {
            return (byte(index) & 63, byte(index + 4) & 63)
        }
        let scale = (byte(index + 4) & 0x0F) | ((byte(index - 4) >> 6) << 4)
        let minimum = (byte(index + 4) >> 4) | ((byte(index) >> 6) << 4)
        return (scale, minimum)
    }

    public static func dequantize(
        _ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        for block in 0..<(count / blockSize) {
            let base = source + block * blockBytes
            let superScale = loadHalf(base, 0)
            let superMin = loadHalf(base, 2)
            let packedScales = base + 4
            let nibbles = base + 16
            let out = destination + block * blockSize
            for pair in 0..<4 {
                let (scaleLow, minLow) = scaleAndMin(packedScales, pair * 2)
                let (scaleHigh, minHigh) = scaleAndMin(packedScales, pair * 2 + 1)
                // Same operation order as ggml / gguf-py: (d * sc) * q - (dmin * m), no fused multiply-add.
                let lowScale = superScale * Float(scaleLow)
                let lowMin = superMin * Float(minLow)
                let highScale = superScale * Float(scaleHigh)
                let highMin = superMin * Float(minHigh)
                for index in 0..<32 {
                    let byte = nibbles.load(fromByteOffset: pair * 32 + index, as: UInt8.self)
                    out[pair * 64 + index] = lowScale * Float(byte & 0x0F) - lowMin
                    out[pair * 64 + 32 + index] = highScale * Float(byte >> 4) - highMin
                }
            }
        }
    }
}
